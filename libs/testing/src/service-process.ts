import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePorts } from '@platform/redis/testing';

const ROOT = join(__dirname, '../../..');

export interface ServiceProcess {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr), for failure messages. */
  output(): string;
  /** SIGTERM (or `signal`), then waits for the exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ServiceProcessOptions {
  /** `apps/<service>/src/main.ts` is run from sources with tsx. */
  service: string;
  env?: Record<string, string>;
  /** Run `apps/<service>/src/migrate.ts up` first with the same environment. */
  migrate?: boolean;
  /** Default 30 s. */
  readyTimeoutMs?: number;
  /** Default `/health/ready`. */
  readyPath?: string;
}

/**
 * One real service process, from its sources, on a free port of 127.0.0.1, resolved once
 * it answers its readiness check. Tests that need several services, or several instances
 * of one, start each with this and stop them in afterAll.
 */
export async function startServiceProcess(opts: ServiceProcessOptions): Promise<ServiceProcess> {
  const tsx = require.resolve('tsx/cli');
  const [port] = (await freePorts(1)) as [number];
  const env = { ...process.env, LOG_LEVEL: 'warn', ...opts.env, PORT: String(port), HOST: '127.0.0.1' };
  if (opts.migrate) {
    const migrated = spawnSync(process.execPath, [tsx, `apps/${opts.service}/src/migrate.ts`, 'up'], { cwd: ROOT, env, encoding: 'utf8' });
    if (migrated.status !== 0) throw new Error(`${opts.service} migrations failed:\n${migrated.stdout}${migrated.stderr}`);
  }
  const child = spawn(process.execPath, [tsx, `apps/${opts.service}/src/main.ts`], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  for (const stream of [child.stdout, child.stderr]) stream?.on('data', (d: Buffer) => chunks.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const output = () => chunks.join('');
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${opts.service} exited with ${child.exitCode} before it was ready:\n${output()}`);
    const res = await fetch(`${url}${opts.readyPath ?? '/health/ready'}`).catch(() => undefined);
    if (res?.status === 200) break;
    if (Date.now() > deadline) {
      await stop('SIGKILL');
      throw new Error(`${opts.service} did not become ready:\n${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  return { url, port, child, output, stop };
}
