// npm test: lint and the type-check run beside the jest projects, which spend most of their time
// waiting on MySQL and Redis; then the end-to-end suite. jest's progress shows as it goes; lint's and
// tsc's output is shown when they finish. The first step that fails decides the exit code, and the
// end-to-end suite runs only when everything before it passed.
import { spawn } from 'node:child_process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(script, { quiet = false } = {}) {
  const child = spawn(npm, ['run', '--silent', script], { stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
  let output = '';
  if (quiet) for (const stream of [child.stdout, child.stderr]) stream.on('data', (d) => (output += d));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ script, code: code ?? 1, signal, output })));
}

function report({ script, code, output }) {
  const verdict = code === 0 ? 'passed' : `failed (exit code ${code})`;
  process.stdout.write(`\n== ${script}: ${verdict}\n${output}`);
}

const checks = ['lint', 'typecheck'].map((script) => run(script, { quiet: true }).then((result) => (report(result), result)));
const results = [await run('test:jest'), ...(await Promise.all(checks))];
const failed = results.find((r) => r.code !== 0);
if (failed) process.exit(failed.code);
const e2e = await run('test:e2e');
process.exit(e2e.code);
