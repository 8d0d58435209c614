import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort, ROOT, sleep } from '../../e2e/src/processes';

export interface Baseline {
  url: string;
  /** The app's own process (node runs it with tsx's loader in the same process: its CPU is this pid's). */
  pid: number;
  /** False once the process has exited. */
  running(): boolean;
  stop(): Promise<void>;
}

/** The bare Fastify app (baseline-server.ts) on a free port, answering `body`; resolves once it does. */
export function startBaseline(body: string): Promise<Baseline> {
  return startNodeApp(join(__dirname, 'baseline-server.ts'), 'the baseline app', { BENCH_BASELINE_BODY: body });
}

/** The one-command floor (floor-server.ts) on a free port and `redisUrl`, answering `body`; resolves once it does. */
export function startFloor(body: string, redisUrl: string): Promise<Baseline> {
  return startNodeApp(join(__dirname, 'floor-server.ts'), 'the floor app', { BENCH_BASELINE_BODY: body, REDIS_URL: redisUrl });
}

/**
 * A TypeScript app of the benches (`file`, absolute) as a process of its own on a free port (PORT),
 * from its source with tsx's loader; resolves once `readyPath` answers 200.
 */
export async function startNodeApp(file: string, what: string, env: Record<string, string>, readyPath = '/v1/orders/x'): Promise<Baseline> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
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
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before it answered`);
    const res = await fetch(`${url}${readyPath}`).catch(() => undefined);
    if (res?.status === 200) return { url, pid: child.pid as number, running: () => child.exitCode === null && child.signalCode === null, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${what} did not answer within 30 s`);
    }
  }
}
