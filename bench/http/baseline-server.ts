/**
 * The baseline of `npm run bench:http`: a bare Fastify app, with nothing of the platform in
 * it, answering GET /v1/orders/:id with the same JSON a cached order's read answers
 * (BENCH_BASELINE_BODY). Started by the bench as a process of its own, on the same Node.
 */
import fastify from 'fastify';

const body = JSON.parse(process.env['BENCH_BASELINE_BODY'] ?? 'null') as unknown;
if (body === null) throw new Error('BENCH_BASELINE_BODY must hold the JSON to answer with');

const app = fastify();
app.get('/v1/orders/:id', async () => body);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' }).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
