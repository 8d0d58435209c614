import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** @nx/enforce-module-boundaries, run as `npm run lint` runs it, on probe files that are never written. */
const root = join(__dirname, '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);

type LintMessage = { ruleId: string | null; message: string };

function lint(file: string, source: string): LintMessage[] {
  const run = spawnSync(bin('eslint'), ['--stdin', '--stdin-filename', join(root, file), '--format', 'json'], {
    cwd: root,
    input: source,
    encoding: 'utf8',
    env: { ...process.env, NX_DAEMON: 'false' },
  });
  if (run.status !== 0 && run.status !== 1) throw new Error(`eslint failed: ${run.stderr}`);
  const [result] = JSON.parse(run.stdout) as { messages: LintMessage[] }[];
  return (result?.messages ?? []).filter((m) => m.ruleId === '@nx/enforce-module-boundaries');
}

beforeAll(() => {
  // The rule reads the cached project graph; this writes it, as `npm run lint` does.
  execFileSync(bin('nx'), ['show', 'projects'], { cwd: root, stdio: 'ignore', env: { ...process.env, NX_DAEMON: 'false' } });
}, 60_000);

describe('module boundaries', () => {
  it('when an app imports another app, then lint fails', () => {
    const errors = lint('apps/user-service/src/probe.ts', "export { default } from '../../order-service/src/app';\n");
    expect(errors).not.toHaveLength(0);
  });

  it("when an app imports another service's migrations, then lint fails", () => {
    const errors = lint('apps/user-service/src/probe.ts', "export { migrations } from '@platform/migrations/order-service';\n");
    expect(errors.map((e) => e.message).join('\n')).toMatch(/scope:user/);
  });

  it('when the shared contracts import an app, then lint fails', () => {
    const errors = lint('libs/contracts/src/probe.ts', "export { orderRoutes } from '../../../apps/order-service/src/routes/orders';\n");
    expect(errors).not.toHaveLength(0);
  });

  it('when a shared lib imports an app, then lint fails', () => {
    const errors = lint('libs/db/src/probe.ts', "export { definition } from '../../../apps/user-service/src/app';\n");
    expect(errors).not.toHaveLength(0);
  });

  it('when an app imports shared libs and its own migrations, then lint passes', () => {
    const source = [
      "export { serviceDefaults } from '@platform/service-kit';",
      "export { OrderView } from '@platform/contracts';",
      "export { migrations } from '@platform/migrations/user-service';",
      '',
    ].join('\n');
    expect(lint('apps/user-service/src/probe.ts', source)).toEqual([]);
  });
});
