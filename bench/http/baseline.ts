import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort, ROOT } from '../../e2e/src/processes';
import { sleep } from './counters';

export interface Baseline {
  url: string;
  stop(): Promise<void>;
}

/** The bare Fastify app (baseline-server.ts) on a free port, answering `body`; resolves once it does. */
export async function startBaseline(body: string): Promise<Baseline> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'baseline-server.ts')], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), BENCH_BASELINE_BODY: body },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  for (const deadline = Date.now() + 30_000; ; await sleep(100)) {
    if (child.exitCode !== null) throw new Error(`the baseline app exited with ${child.exitCode} before it answered`);
    const res = await fetch(`${url}/v1/orders/x`).catch(() => undefined);
    if (res?.status === 200) return { url, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error('the baseline app did not answer within 30 s');
    }
  }
}
