/* eslint-disable @nx/enforce-module-boundaries -- a workspace test: it compares every app's config schema with the docs. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ConfigSchema as gatewayConfig } from '../apps/gateway-sandbox/src/config';
import { ConfigSchema as orderConfig } from '../apps/order-service/src/config';
import { ConfigSchema as paymentConfig } from '../apps/payment-service/src/config';
import { ConfigSchema as userConfig } from '../apps/user-service/src/config';

/**
 * The configuration tables (docs/configuration.md) and .env.example must name exactly what the
 * services and the commands read; the README's short table only variables documented there. The
 * docs' links inside the repository must lead somewhere, and no doc points at a commit or an issue.
 */
const root = join(__dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const readme = read('README.md');
const configuration = read('docs/configuration.md');
const envExample = read('.env.example');

const declared = new Set(
  [userConfig, orderConfig, paymentConfig, gatewayConfig].flatMap((schema) => Object.keys(schema.properties)),
);
// Read by the commands that drive every schema (npm start, db:setup, migrate, the tests), not by a service.
for (const name of ['MYSQL_ADMIN_URL', 'USER_SERVICE_DATABASE_URL', 'ORDER_SERVICE_DATABASE_URL', 'PAYMENT_SERVICE_DATABASE_URL']) declared.add(name);

/** Variables named in the first column of the markdown tables of `text`. */
const tabled = (text: string) => new Set([...text.matchAll(/^\| (.+?) \|/gm)].flatMap((m) => [...(m[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((v) => v[1] as string)));
const documented = tabled(configuration);
const readmeSection = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1));
const exampled = new Set([...envExample.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1] as string));

/** Words that look like short commit hashes and are not. */
const HEX_WORDS = new Set(['ed25519']);

/** README.md, docs/, bench/ and every app's and library's README. */
function docFiles(): string[] {
  const under = (dir: string): string[] =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? under(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : []));
  const readmes = ['apps', 'libs'].flatMap((dir) => readdirSync(join(root, dir)).map((p) => join(dir, p, 'README.md'))).filter((p) => existsSync(join(root, p)));
  return ['README.md', 'bench/README.md', 'deploy/k8s/README.md', ...under('docs'), ...readmes];
}

describe('configuration docs', () => {
  it('when a service reads a variable, then docs/configuration.md documents it', () => {
    expect([...declared].filter((v) => !documented.has(v))).toEqual([]);
  });

  it('when docs/configuration.md names a variable, then some service or command reads it', () => {
    expect([...documented].filter((v) => !declared.has(v))).toEqual([]);
  });

  it("when the README's configuration table names a variable, then docs/configuration.md documents it", () => {
    const named = tabled(readmeSection);
    expect(named.size).toBeGreaterThan(0);
    expect([...named].filter((v) => !documented.has(v))).toEqual([]);
    expect(readmeSection).toContain('(docs/configuration.md)');
  });

  it('when .env.example sets a variable, then some service reads it', () => {
    expect([...exampled].filter((v) => !declared.has(v))).toEqual([]);
  });
});

describe('docs', () => {
  const files = docFiles();

  it('when a doc links a file of the repository, then the file is there', () => {
    const broken = files.flatMap((file) =>
      [...read(file).matchAll(/\]\(([^)\s]+)\)/g)]
        .map((m) => (m[1] as string).split('#')[0] as string)
        .filter((target) => target !== '' && !/^[a-z]+:/.test(target))
        .map((target) => resolve(root, dirname(file), target))
        // Links beside the repository (the contract in ../shared) are not the repository's to check.
        .filter((path) => !relative(root, path).startsWith('..') && !existsSync(path))
        .map((path) => `${file} -> ${relative(root, path)}`),
    );
    expect(broken).toEqual([]);
  });

  it('when a doc is read, then it names no commit hash and no issue number', () => {
    const found = files.flatMap((file) => {
      // UUIDs in examples are hex too; they are not commits.
      const text = read(file).replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'UUID');
      const hashes = [...text.matchAll(/(?<![\w-])[0-9a-f]{7,40}(?![\w-])/g)].map((m) => m[0]).filter((h) => /[0-9]/.test(h) && /[a-f]/.test(h) && !HEX_WORDS.has(h));
      const issues = [...text.matchAll(/(?:^|[\s(])#\d+\b|\bissues?\s+#?\d+/gim)].map((m) => m[0].trim());
      return [...hashes, ...issues].map((hit) => `${file}: ${hit}`);
    });
    expect(found).toEqual([]);
  });

  it('when the README is measured, then it stays a guide: under 15,000 bytes, with the two commands', () => {
    expect(Buffer.byteLength(readme)).toBeLessThan(15_000);
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toMatch(/^npm test$/m);
  });
});
