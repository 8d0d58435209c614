import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { freePorts } from '../../libs/redis/test/redis-server';

export const ROOT = join(__dirname, '../..');

export const APPS = ['user-service', 'order-service', 'payment-service', 'gateway-sandbox'] as const;
export type AppName = (typeof APPS)[number];

/** A free port of 127.0.0.1 at the time of asking (libs/testing's, by path: global setups load this file). */
export const freePort = async (): Promise<number> => (await freePorts(1))[0] as number;

/**
 * `count` free ports, all different: a port just released may be handed out again at the
 * next ask, so ports asked one at a time for processes started later can repeat.
 */
export const distinctFreePorts = (count: number): Promise<number[]> => freePorts(count);

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One built app (`main.js` of its bundle, as `npm start` and the image run it) on a port of
 * its own. It keeps its port and environment across kill() and start(), as a restarted
 * instance behind a load balancer would, and its output, for failure messages.
 */
export class AppProcess {
  private child?: ChildProcess;
  private lines: string[] = [];
  /** Exits nobody asked for (a crash); kill() and stop() are asked for. */
  unexpectedExits: string[] = [];
  private expectingExit = false;

  constructor(
    readonly app: AppName,
    readonly name: string,
    /** The built entry point, `<dist>/<app>/main.js`. */
    private readonly main: string,
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  output(last = 60): string {
    return this.lines.slice(-last).join('\n');
  }

  /** Spawns the process and resolves once /health/ready answers 200. */
  async start(readyTimeoutMs = 30_000): Promise<void> {
    if (this.running) return;
    this.expectingExit = false;
    const child = spawn(process.execPath, ['--enable-source-maps', this.main], {
      cwd: ROOT,
      env: { ...process.env, ...this.env, PORT: String(this.port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (d: Buffer) => {
      this.lines.push(...d.toString().split('\n').filter(Boolean));
      if (this.lines.length > 2_000) this.lines.splice(0, this.lines.length - 1_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('exit', (code, signal) => {
      if (!this.expectingExit) this.unexpectedExits.push(`${this.name} exited with ${signal ?? `code ${code}`}`);
    });
    await this.waitReady(readyTimeoutMs);
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited before it was ready:\n${this.output()}`);
      const res = await fetch(`${this.url}/health/ready`).catch(() => undefined);
      if (res?.status === 200) return;
      if (Date.now() > deadline) throw new Error(`${this.name} was not ready after ${timeoutMs} ms:\n${this.output()}`);
      await sleep(100);
    }
  }

  /** Sends the signal and resolves with the exit code (null when a signal ended it). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.child;
    if (!child || !this.running) return child?.exitCode ?? null;
    this.expectingExit = true;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    return exited;
  }

  /** SIGKILL: no shutdown hook runs, nothing is flushed. */
  kill(): Promise<number | null> {
    return this.stop('SIGKILL');
  }
}
