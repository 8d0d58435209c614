// npm start's last step: the four built processes in the foreground, each output line prefixed
// with the process name: on a terminal, readable coloured lines (log-lines.mjs), elsewhere the
// JSON lines as the processes write them. Ctrl-C or SIGTERM sends each process one SIGTERM, and
// they shut down gracefully; if one exits on its own, the others are stopped too and the exit
// code is 1.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { terminalLines } from './log-lines.mjs';
import { serviceEnv, warnIgnored } from './service-env.mjs';

const APPS = [
  ['user', 'user-service', 34],
  ['order', 'order-service', 32],
  ['payment', 'payment-service', 35],
  ['sandbox', 'gateway-sandbox', 33],
];
const width = Math.max(...APPS.map(([name]) => name.length));
const colors = process.stdout.isTTY && !process.env.NO_COLOR;
const color = (code, text) => (colors ? `\x1b[${code}m${text}\x1b[0m` : text);
const show = process.stdout.isTTY ? terminalLines({ colorize: colors }) : (line) => line;

warnIgnored('npm start', ['PORT', 'DATABASE_URL']);

// The services vouch for the calls they make for a user's request with a secret they share
// (PEER_SECRET); unless one is set, this run makes one for its four processes.
const peerSecret = { PEER_SECRET: process.env.PEER_SECRET || randomBytes(32).toString('base64url') };

let stopping = false;
let failed = false;

const children = APPS.map(([name, app, code]) => {
  const prefix = color(code, `[${name.padEnd(width)}]`);
  // A process group of its own: the terminal's Ctrl-C reaches only this script, which then
  // signals each process once (a second signal would cut a graceful shutdown short).
  const child = spawn(process.execPath, ['--enable-source-maps', `dist/apps/${app}/main.js`], {
    env: { ...peerSecret, ...serviceEnv(app) },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      const shown = show(line);
      if (shown !== undefined) process.stdout.write(`${prefix} ${shown}\n`);
    });
  }
  const exited = new Promise((resolve) => child.on('exit', (status, signal) => resolve({ status, signal })));
  exited.then(({ status, signal }) => {
    process.stdout.write(`${prefix} exited with ${signal ?? `code ${status}`}\n`);
    if (status !== 0 || !stopping) failed = true;
    stop();
  });
  return { child, exited };
});

function stop() {
  if (stopping) return;
  stopping = true;
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}

process.on('SIGINT', stop);
process.on('SIGTERM', stop);
// If this script dies, its processes must not outlive it.
process.on('exit', () => children.forEach(({ child }) => child.exitCode === null && child.kill('SIGKILL')));

await Promise.all(children.map((c) => c.exited));
process.exit(failed ? 1 : 0);
