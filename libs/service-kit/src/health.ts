import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { sendProblem } from './error-handler';
import { ProblemSchema } from './problem';

/** A readiness check resolves when its dependency answers and rejects (or times out) when not. */
export type HealthCheck = () => Promise<unknown>;

declare module 'fastify' {
  interface FastifyInstance {
    health: { addCheck(name: string, check: HealthCheck): void };
  }
}

const CHECK_TIMEOUT_MS = 1_000;

function withTimeout(check: HealthCheck, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  // Called inside a promise, so a check that throws synchronously is a failed check, not a 500
  // followed by an unhandled rejection of the orphaned timeout.
  const answer = new Promise((resolve) => resolve(check()));
  return Promise.race([answer, timeout]).finally(() => clearTimeout(timer));
}

const Checks = Type.Record(Type.String(), Type.Union([Type.Literal('ok'), Type.Literal('fail')]));

async function healthPlugin(app: FastifyInstance): Promise<void> {
  const checks = new Map<string, HealthCheck>();
  app.decorate('health', {
    addCheck(name: string, check: HealthCheck) {
      checks.set(name, check);
    },
  });

  app.get(
    '/health/live',
    { schema: { tags: ['health'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        tags: ['health'],
        response: { 200: Type.Object({ status: Type.Literal('ok'), checks: Checks }), 503: ProblemSchema },
      },
    },
    async (request, reply) => {
      const names = [...checks.keys()];
      const results = await Promise.allSettled([...checks.values()].map((c) => withTimeout(c, CHECK_TIMEOUT_MS)));
      const report: Record<string, 'ok' | 'fail'> = {};
      const failed: string[] = [];
      results.forEach((r, i) => {
        const name = names[i] as string;
        report[name] = r.status === 'fulfilled' ? 'ok' : 'fail';
        if (r.status === 'rejected') {
          failed.push(name);
          request.log.warn({ check: name, err: r.reason }, 'readiness check failed');
        }
      });
      if (failed.length === 0) return { status: 'ok' as const, checks: report };
      return sendProblem(reply, {
        status: 503,
        code: 'DEPENDENCY_UNAVAILABLE',
        detail: `Not ready: ${failed.join(', ')} not answering.`,
        extensions: { checks: report },
      });
    },
  );
}

export const health = fp(healthPlugin, { name: 'health', fastify: '5.x' });
