import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../src/client';
import { topologyFromEnv } from '../src/platform';

/**
 * The README's walkthrough, run as a reader runs it: the fenced block after the walkthrough
 * marker, in bash with -euo pipefail, against this run's platform (its base URLs in place of
 * the defaults the block names). So the guide cannot rot: a renamed route, a changed body or a
 * broken step fails here. The block needs curl and jq; CI has both (.ci/run installs them), so
 * only outside CI is a missing one a reason to skip.
 */
const README = join(__dirname, '..', '..', 'README.md');
const MARKER = '<!-- walkthrough';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

const topology = topologyFromEnv();
const tools = spawnSync('bash', ['-c', 'command -v curl && command -v jq'], { encoding: 'utf8' });
const missing = tools.status !== 0;
const skip = missing && process.env['CI'] !== 'true';
const reason = 'curl or jq is not installed (apt-get install curl jq)';
if (skip) console.warn(`README walkthrough skipped: ${reason}`);

/** The first ```sh block after the marker, without its fences. */
function walkthroughOf(markdown: string): string {
  const at = markdown.indexOf(MARKER);
  if (at < 0) throw new Error(`README.md has no "${MARKER}" marker before its walkthrough`);
  const block = /```sh\n([\s\S]*?)\n```/.exec(markdown.slice(at));
  if (!block?.[1]) throw new Error('README.md has no ```sh block after its walkthrough marker');
  return block[1];
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The block on bash's stdin, as if pasted, with the platform's base URLs. */
function runInBash(script: string, env: Record<string, string>, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(script);
  });
}

describe('README walkthrough', () => {
  it('when the README has a walkthrough, then it is one sh block whose base URLs can be overridden', () => {
    const block = walkthroughOf(readFileSync(README, 'utf8'));
    for (const name of ['USERS', 'ORDERS', 'PAYMENTS']) expect(block).toMatch(new RegExp(`^${name}=\\$\\{${name}:-http://127\\.0\\.0\\.1:\\d+\\}$`, 'm'));
    expect(block).not.toMatch(/127\.0\.0\.1:\d+\/v1/);
  });

  (skip ? it.skip : it)(
    skip ? `when the block runs in bash against the platform, then the order ends REFUNDED (skipped: ${reason})` : 'when the block runs in bash against the platform, then the order ends REFUNDED',
    async () => {
      if (missing) throw new Error(`CI=true and ${reason}: .ci/run installs them`);
      const block = walkthroughOf(readFileSync(README, 'utf8'));
      const urls = { USERS: topology.user[0] as string, ORDERS: topology.order[0] as string, PAYMENTS: topology.payment[0] as string };

      const run = await runInBash(block, urls, 50_000);

      const lines = run.stdout.trim().split('\n');
      expect({ code: run.code, stderr: run.stderr, last: lines.at(-1) }).toEqual({
        code: 0,
        stderr: '',
        last: expect.stringMatching(new RegExp(`^order ${UUID} is REFUNDED$`)),
      });
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^order ${UUID} is PAID$`)));

      // It ran against this platform: the provider charged the order once, and refunded all of it.
      const orderId = new RegExp(`^order (${UUID}) is REFUNDED$`).exec(lines.at(-1) as string)?.[1] as string;
      const ledger = (await (await fetch(`${topology.sandbox}/v1/charges?orderId=${orderId}`)).json()) as {
        data: { status: string; amount: number; refundedAmount: number }[];
      };
      expect(ledger.data).toEqual([expect.objectContaining({ status: 'succeeded', amount: 3998, refundedAmount: 3998 })]);
    },
    60_000,
  );
});

const CLIENT_MARKER = '<!-- client example';

/** The first ```ts block after the client example's marker, without its fences. */
function clientExampleOf(markdown: string): string {
  const at = markdown.indexOf(CLIENT_MARKER);
  if (at < 0) throw new Error(`README.md has no "${CLIENT_MARKER}" marker before its client example`);
  const block = /```ts\n([\s\S]*?)\n```/.exec(markdown.slice(at));
  if (!block?.[1]) throw new Error('README.md has no ```ts block after its client example marker');
  return block[1];
}

/**
 * The README's TypeScript example, as a reader would save it in this repository: an ES module
 * (top-level await), type-checked with the repository's compiler options, then run with tsx against
 * this run's platform, signed in as an account registered here in place of the one it names.
 */
describe("README's client example", () => {
  const root = join(__dirname, '..', '..');
  const dir = join(root, 'tmp', `readme-client-${process.pid}`);
  const email = `readme-${randomUUID()}@example.test`;
  const defaults = { user: 'http://127.0.0.1:3001', order: 'http://127.0.0.1:3002', payment: 'http://127.0.0.1:3003' } as const;

  beforeAll(async () => {
    let example = clientExampleOf(readFileSync(README, 'utf8'));
    for (const [service, url] of Object.entries(defaults)) example = example.replace(`'${url}'`, `'${topology[service as keyof typeof defaults][0]}'`);
    example = example.replace("'ada@example.com'", `'${email}'`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'pay.mts'), example);
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../../tsconfig.base.json', compilerOptions: { noEmit: true }, files: ['pay.mts'] }));
    const registered = await new Client(topology).api().user.POST('/v1/auth/register', { body: { email, password: 'correct horse', name: 'Ada' } });
    expect(registered.response.status).toBe(201);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('when the example is read, then it names the default base URLs and an account, which the test replaces', () => {
    const example = clientExampleOf(readFileSync(README, 'utf8'));
    for (const url of Object.values(defaults)) expect(example).toContain(`'${url}'`);
    expect(example).toContain("'ada@example.com'");
  });

  it('when the example is type-checked as an ES module of this repository, then tsc finds no error', async () => {
    const tsc = await runInBash(`cd '${root}' && node_modules/.bin/tsc -p '${dir}'`, {}, 50_000);
    expect({ code: tsc.code, out: tsc.stdout }).toEqual({ code: 0, out: '' });
  }, 60_000);

  it('when the example runs against the platform, then the order is paid and the provider charged it once', async () => {
    // Not spawnSync: the services reach each other through balancers that may run in this process (jest runs
    // a lone test file in band), and they must go on forwarding while the example waits for its answers.
    const run = await runInBash(`cd '${root}' && node_modules/.bin/tsx '${join(dir, 'pay.mts')}'`, {}, 30_000);

    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const paid = new RegExp(`^order (${UUID}): payment SUCCEEDED$`);
    expect(run.stdout.trim()).toMatch(paid);
    const charges = await new Client(topology).charges(paid.exec(run.stdout.trim())?.[1] as string);
    expect(charges).toEqual([expect.objectContaining({ status: 'succeeded', amount: 3998 })]);
  }, 60_000);
});
