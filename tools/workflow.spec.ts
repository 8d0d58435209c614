import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/**
 * The e2e workflow cannot run here (no Docker engine), so what it promises is checked
 * against the files: it brings the compose stack up and waits, points the suite at the
 * ports docker-compose.yml publishes, runs npm run test:e2e, and always tears down.
 */
const root = join(__dirname, '..');
type Step = { name?: string; uses?: string; run?: string; if?: string; with?: Record<string, unknown>; env?: Record<string, unknown> };
type Workflow = { on: Record<string, unknown>; env?: Record<string, unknown>; jobs: Record<string, { env?: Record<string, unknown>; steps: Step[] }> };
type Compose = { services: Record<string, { ports?: string[]; environment?: Record<string, unknown> }> };

const workflow = parse(readFileSync(join(root, '.github/workflows/e2e.yml'), 'utf8')) as Workflow;
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
const [jobName, job] = Object.entries(workflow.jobs)[0] as [string, Workflow['jobs'][string]];
const steps = job.steps;

/** The step whose `run` matches, with the environment it sees (workflow, job, then its own). */
function stepRunning(command: RegExp): { index: number; step: Step; env: Record<string, string> } {
  const index = steps.findIndex((s) => command.test(s.run ?? ''));
  expect(index).toBeGreaterThanOrEqual(0);
  const step = steps[index] as Step;
  const env = Object.fromEntries(Object.entries({ ...workflow.env, ...job.env, ...step.env }).map(([k, v]) => [k, String(v)]));
  return { index, step, env };
}

/** The host port docker-compose.yml publishes for a service ("3001:3001" -> 3001). */
function publishedPort(service: string): number {
  const ports = compose.services[service]?.ports ?? [];
  expect(ports).toHaveLength(1);
  return Number((ports[0] as string).split(':').at(-2));
}

const URL_OF = { E2E_USER_URLS: 'user-service', E2E_ORDER_URLS: 'order-service', E2E_PAYMENT_URLS: 'payment-service', E2E_SANDBOX_URL: 'gateway-sandbox' };

describe(`.github/workflows/e2e.yml (job ${jobName})`, () => {
  it('when code is pushed or a pull request opened, then it runs', () => {
    expect(Object.keys(workflow.on)).toEqual(expect.arrayContaining(['push', 'pull_request']));
  });

  it('when it uses an action, then pinned by major version', () => {
    const uses = steps.flatMap((s) => (s.uses ? [s.uses] : []));
    expect(uses.filter((u) => !/^[\w.-]+\/[\w.-]+@v\d+$/.test(u))).toEqual([]);
    expect(uses).toEqual(expect.arrayContaining(['actions/checkout@v4', 'actions/setup-node@v4']));
    const node = steps.find((s) => s.uses?.startsWith('actions/setup-node@'));
    expect(node?.with).toEqual(expect.objectContaining({ 'node-version': 20, cache: 'npm' }));
  });

  it('when it starts the stack, then after npm ci, with compose up --build --wait and TRUST_PROXY', () => {
    const install = stepRunning(/^npm ci\b/);
    const up = stepRunning(/\bdocker compose up\b/);
    expect(up.index).toBeGreaterThan(install.index);
    expect(up.step.run?.split(/\s+/)).toEqual(expect.arrayContaining(['-d', '--build', '--wait']));
    expect(up.env['TRUST_PROXY']).toBe('true');
  });

  it('when it runs npm run test:e2e, then against the ports docker-compose.yml publishes, with a Chrome', () => {
    const up = stepRunning(/\bdocker compose up\b/);
    const e2e = stepRunning(/^npm run test:e2e$/);
    expect(e2e.index).toBeGreaterThan(up.index);
    for (const [variable, service] of Object.entries(URL_OF)) {
      expect([variable, e2e.env[variable]]).toEqual([variable, `http://127.0.0.1:${publishedPort(service)}`]);
    }
    expect(e2e.env['CHROMIUM_PATH']).toMatch(/^\//);
  });

  it('when it runs the CORS test, then its page is on the origin the stack allows', () => {
    const up = stepRunning(/\bdocker compose up\b/);
    const e2e = stepRunning(/^npm run test:e2e$/);
    expect(e2e.env['E2E_BROWSER_ORIGIN']).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(up.env['CORS_ALLOWED_ORIGINS']).toBe(e2e.env['E2E_BROWSER_ORIGIN']);
    expect(compose.services['order-service']?.environment?.['CORS_ALLOWED_ORIGINS']).toBe('${CORS_ALLOWED_ORIGINS:-}');
  });

  it('when the tests fail, then the service logs are printed', () => {
    const logs = stepRunning(/\bdocker compose logs\b/);
    expect(logs.step.if).toMatch(/failure\(\)/);
  });

  it('when the job ends, whatever happened, then the artifacts are uploaded and the stack is torn down last', () => {
    const upload = steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'));
    expect(upload?.if).toMatch(/always\(\)/);
    expect(upload?.with?.['path']).toBe('e2e/artifacts');
    const down = stepRunning(/\bdocker compose down -v\b/);
    expect(down.step.if).toMatch(/always\(\)/);
    expect(down.index).toBe(steps.length - 1);
  });
});

describe('docker-compose.yml for the e2e workflow', () => {
  it.each(['user-service', 'order-service', 'payment-service'])('when %s starts, then it gets TRUST_PROXY from the environment', (service) => {
    expect(String(compose.services[service]?.environment?.['TRUST_PROXY'])).toMatch(/^\$\{TRUST_PROXY\b/);
  });
});
