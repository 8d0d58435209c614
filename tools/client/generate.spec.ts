import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

/**
 * libs/client is generated from the documents the apps serve; a route or schema changed without
 * regenerating would ship a client that disagrees with the services. The generator regenerates in
 * memory and compares with what is committed (in its own process: see generate.ts).
 */
describe('libs/client', () => {
  it('when the committed documents and types are compared with freshly generated ones, then they are the same', () => {
    const run = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), ['tools/client/generate.ts', '--check'], { cwd: root, encoding: 'utf8' });
    expect({ code: run.status, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  }, 60_000);
});
