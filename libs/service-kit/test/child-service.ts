import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';

const TSX = join(__dirname, '../../../node_modules/.bin/tsx');

export interface ChildService {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first JSON log line that matches, or rejects after `timeoutMs` or on exit. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs a fixture through tsx in `cwd` with `env` over the test's environment. */
export function spawnFixture(fixture: string, env: Record<string, string>, cwd: string): ChildService {
  // The repository's path aliases, whatever `cwd` is.
  const proc = spawn(TSX, ['--tsconfig', join(__dirname, '../../../tsconfig.base.json'), join(__dirname, 'fixtures', fixture)], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let closed = false;
  proc.once('close', () => (closed = true));

  const logLines = () =>
    out
      .split('\n')
      .slice(0, -1) // the last piece is an unfinished line
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  function waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000) {
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const found = logLines().find(match);
        if (found) done(() => resolve(found));
      };
      // 'close', not 'exit': a child that logs and exits while this process is starved (a loaded
      // machine) can have its 'exit' handled before the last of its output is read; 'close' comes
      // after its output has all been read, so the line is looked for once more first.
      const onClose = () => {
        const found = logLines().find(match);
        done(() => (found ? resolve(found) : reject(new Error(`exited before the log line came; stderr: ${err}`))));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no such log line within ${timeoutMs} ms; stdout: ${out}`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        proc.stdout?.off('data', check);
        proc.off('close', onClose);
        settle();
      };
      proc.stdout?.on('data', check);
      proc.once('close', onClose);
      if (closed) onClose();
      else check();
    });
  }

  return { proc, stdout: () => out, stderr: () => err, waitForLog, exited };
}

/** The port from Fastify's "Server listening at http://host:port" line. */
export async function listeningPort(child: ChildService): Promise<number> {
  const line = await child.waitForLog((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('Server listening at '));
  return Number(new URL((line['msg'] as string).slice('Server listening at '.length)).port);
}

/** Resolves with the error code of a TCP connection attempt, or 'CONNECTED' when it succeeds. */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('CONNECTED');
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'ERROR'));
  });
}
