import { isDeepStrictEqual } from 'node:util';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Answer, Target } from './client';
import { DocumentCheck, mediaType, type OpenApiDocument } from './openapi-check';
import type { Topology } from './platform';

/**
 * Every answer the e2e client receives is held against the served OpenAPI document of the
 * service that gave it (GET /docs/json). The global setup reads each document once per run,
 * checks that every instance serves the same one, and leaves them in E2E_OPENAPI_DIR for the
 * test files; a run without it (the chaos suite, one file started alone) reads them at its
 * first answer.
 */
const TARGETS: Target[] = ['user', 'order', 'payment', 'sandbox'];
const SERVICE: Record<Target, string> = { user: 'user-service', order: 'order-service', payment: 'payment-service', sandbox: 'gateway-sandbox' };
const instances = (topology: Topology, target: Target) => (target === 'sandbox' ? [topology.sandbox] : topology[target]);

async function documentAt(url: string): Promise<OpenApiDocument> {
  const res = await fetch(`${url}/docs/json`, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`${url}/docs/json answered ${res.status}`);
  return (await res.json()) as OpenApiDocument;
}

/** The global setup's step: each target's document, the same on each of its instances, written to `dir`. */
export async function publishDocuments(topology: Topology, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const target of TARGETS) {
    const urls = instances(topology, target);
    const docs = await Promise.all(urls.map(documentAt));
    const other = docs.findIndex((doc) => !isDeepStrictEqual(doc, docs[0]));
    if (other > 0) throw new Error(`${SERVICE[target]}: ${urls[other]} serves another OpenAPI document than ${urls[0]}`);
    writeFileSync(join(dir, `${target}.json`), JSON.stringify(docs[0]));
  }
  process.env['E2E_OPENAPI_DIR'] = dir;
}

/** The checks of a platform, by its first user-service URL (a chaos file starts platforms of its own). */
const checks = new Map<string, Promise<Record<Target, DocumentCheck>>>();

function checksOf(topology: Topology): Promise<Record<Target, DocumentCheck>> {
  const key = topology.user[0] as string;
  let found = checks.get(key);
  if (!found) {
    const dir = process.env['E2E_OPENAPI_DIR'];
    const read = (target: Target) =>
      dir ? Promise.resolve(JSON.parse(readFileSync(join(dir, `${target}.json`), 'utf8')) as OpenApiDocument) : documentAt(instances(topology, target)[0] as string);
    found = Promise.all(TARGETS.map(async (t) => [t, new DocumentCheck(await read(t))] as const)).then((entries) => Object.fromEntries(entries) as Record<Target, DocumentCheck>);
    found.catch(() => checks.delete(key));
    checks.set(key, found);
  }
  return found;
}

/** Violations thrown since the last `takeViolations()`, kept for tests that catch what a request throws. */
let unreported: string[] = [];
export function takeViolations(): string[] {
  const taken = unreported;
  unreported = [];
  return taken;
}

/** Throws when the answer is not one that the service's document describes for the request. */
export async function expectDocumented(topology: Topology, target: Target, method: string, path: string, answer: Answer<unknown>): Promise<void> {
  const check = (await checksOf(topology))[target];
  const found = check.violations({ method, path, ...answer });
  if (found.length === 0) return;
  const excerpt = answer.text.length > 400 ? `${answer.text.slice(0, 400)}…` : answer.text;
  const message = [
    `${SERVICE[target]} ${method} ${path} answered ${answer.status} ${mediaType(answer) || '(no content-type)'}, which its OpenAPI document does not describe:`,
    ...found.map((f) => `  - ${f}`),
    `  body: ${excerpt || '(empty)'}`,
  ].join('\n');
  unreported.push(message);
  throw new Error(message);
}
