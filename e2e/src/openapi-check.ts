import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
// The kit's problem shape itself; relative, as the global setup loads this without path aliases.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { ProblemSchema } from '../../libs/service-kit/src/problem';

/**
 * An answer held against the OpenAPI 3.0 document of the service that gave it: the operation
 * its method and path name, then the status, the media type, the body's schema and the headers
 * the document describes for that status. Pure: the documents come from openapi-documents.ts.
 */

type Json = Record<string, unknown>;
interface Response {
  description?: string;
  content?: Record<string, { schema?: unknown }>;
  headers?: Record<string, { required?: boolean; schema?: unknown; $ref?: string }>;
  $ref?: string;
}
interface Operation {
  responses?: Record<string, Response>;
}
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components?: Json;
}

/** What the client saw: the request's method and path (query included or not), and the answer. */
export interface Observed {
  method: string;
  path: string;
  status: number;
  headers: Headers;
  text: string;
}

/** Headers a client acts on (CONTRACT.md, CORS): present in an answer, they must be documented for its status. */
export const DOCUMENTED_HEADERS = ['x-request-id', 'location', 'etag', 'ratelimit', 'ratelimit-policy', 'retry-after', 'idempotent-replayed'];

/**
 * Routes every process serves outside its document (CONTRACT.md, "Processes and ports"): their
 * successes have the media type given here; their errors are problem+json like any other.
 */
const OUTSIDE_THE_DOCUMENT: { method: string; path: RegExp; type: RegExp }[] = [
  { method: 'GET', path: /^\/metrics$/, type: /^text\/plain$/ },
  { method: 'GET', path: /^\/docs\/json$/, type: /^application\/json$/ },
  // Swagger UI: its page, its redirects and its static files.
  { method: 'GET', path: /^\/docs(\/.*)?$/, type: /^(text|application|image)\/[\w.+-]+$/ },
];

const isJson = (type: string) => type === 'application/json' || type.endsWith('+json');
const pointer = (...parts: string[]) => parts.map((p) => encodeURIComponent(p.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');

/** OpenAPI 3.0's `nullable` as JSON Schema says it, on a copy, so that ajv reads every schema the same way. */
function withNulls(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withNulls);
  if (node === null || typeof node !== 'object') return node;
  const copy = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, withNulls(v)]));
  // Not a boolean: a property named "nullable" in a `properties` map.
  if (typeof copy['nullable'] !== 'boolean') return copy;
  const { nullable, ...schema } = copy;
  if (!nullable) return schema;
  // As client generators read it (`T | null`), an enum included.
  const withNull = schema['enum'] ? { ...schema, enum: [...(schema['enum'] as unknown[]), null] } : schema;
  if (typeof schema['type'] === 'string') return { ...withNull, type: [schema['type'], 'null'] };
  return { anyOf: [schema, { type: 'null' }] };
}

/** Path templates of the document that the concrete path fits, the most specific first (a static segment beats a parameter). */
export function templatesOf(doc: OpenApiDocument, path: string): string[] {
  const segments = (path.split('?')[0] as string).split('/');
  const fits = Object.keys(doc.paths).flatMap((template) => {
    const parts = template.split('/');
    if (parts.length !== segments.length) return [];
    const rank = parts.map((part, i) => {
      const segment = segments[i] as string;
      if (!part.includes('{')) return part === segment || (decodable(segment) && part === decodeURIComponent(segment)) ? '1' : undefined;
      const pattern = part.split(/\{[^}]+\}/).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+');
      return new RegExp(`^${pattern}$`).test(segment) ? '0' : undefined;
    });
    return rank.includes(undefined) ? [] : [{ template, rank: rank.join('') }];
  });
  return fits.sort((a, b) => b.rank.localeCompare(a.rank)).map((f) => f.template);
}

export class DocumentCheck {
  private readonly doc: OpenApiDocument;
  private readonly ajv: Ajv;
  /** Header values are strings on the wire: this one reads `3` as the integer a schema may say. */
  private readonly headerAjv: Ajv;
  private readonly problem: ValidateFunction;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(doc: OpenApiDocument) {
    this.doc = withNulls(doc) as OpenApiDocument;
    const make = (coerceTypes: boolean) => {
      const ajv = new Ajv({ strict: false, allErrors: true, coerceTypes, validateSchema: false });
      addFormats(ajv);
      ajv.addSchema(this.doc as object, 'openapi');
      return ajv;
    };
    this.ajv = make(false);
    this.headerAjv = make(true);
    this.problem = this.ajv.compile(ProblemSchema);
  }

  /** What in the answer the document does not describe; empty when it conforms. */
  violations(answer: Observed): string[] {
    const method = answer.method.toLowerCase();
    // A path that is not valid percent-encoding names no operation: the router refuses it, 400, before any route.
    if (!decodable(answer.path)) return [...(answer.status === 400 ? [] : [`status ${answer.status} for an undecodable path, where 400 problem+json is expected`]), ...this.asProblem(answer)];
    const templates = templatesOf(this.doc, answer.path);
    const template = templates.find((t) => this.doc.paths[t]?.[method]);
    if (template) return this.againstOperation(answer, template, method);
    const outside = OUTSIDE_THE_DOCUMENT.find((r) => r.method === answer.method.toUpperCase() && r.path.test(answer.path.split('?')[0] as string));
    if (outside && answer.status < 400) {
      const type = mediaType(answer);
      return answer.text === '' || outside.type.test(type) ? [] : [`media type "${type}" is not what ${answer.method} ${answer.path} serves`];
    }
    // No operation: the answer can only be the kit's refusal of it.
    const allowed = templates.length > 0 ? 405 : 404;
    const found: string[] = [];
    if (!outside && answer.status !== allowed) {
      found.push(`status ${answer.status}: the document has no ${answer.method} ${templates[0] ?? answer.path}, so only ${allowed} problem+json is expected`);
    }
    if (answer.status === 405 && !answer.headers.get('allow')) found.push('a 405 without Allow');
    return [...found, ...this.asProblem(answer)];
  }

  private againstOperation(answer: Observed, template: string, method: string): string[] {
    const responses = this.doc.paths[template]?.[method]?.responses ?? {};
    const key = [String(answer.status), `${String(answer.status)[0]}XX`, 'default'].find((k) => responses[k]);
    if (!key) return [`status ${answer.status} is not documented (documented: ${Object.keys(responses).join(', ') || 'none'})`];
    const at = ['paths', template, method, 'responses', key];
    const response = this.resolve<Response>(responses[key] as Response, at);
    return [...this.content(answer, response.at, response.value), ...this.headers(answer, response.at, response.value)];
  }

  private content(answer: Observed, at: string[], response: Response): string[] {
    const documented = Object.keys(response.content ?? {});
    if (answer.text === '') return documented.length === 0 ? [] : [`no body, but the document describes ${documented.join(', ')}`];
    const type = mediaType(answer);
    if (documented.length === 0) return [`a body (${type || 'no content-type'}), but the document describes none`];
    const key = documented.find((d) => d === type) ?? documented.find((d) => d === `${type.split('/')[0]}/*`) ?? documented.find((d) => d === '*/*');
    if (!key) return [`media type "${type || 'none'}" is not documented (documented: ${documented.join(', ')})`];
    if (!response.content?.[key]?.schema || !isJson(type)) return [];
    const body = parse(answer.text);
    if (body === undefined) return [`the body is not JSON`];
    const validate = this.validator(this.ajv, [...at, 'content', key, 'schema']);
    return validate(body) ? [] : [`the body is off its schema: ${errorsOf(validate, 'body')}`];
  }

  private headers(answer: Observed, at: string[], response: Response): string[] {
    const documented = new Map(Object.entries(response.headers ?? {}).map(([name, header]) => [name.toLowerCase(), { name, header }]));
    const found: string[] = [];
    for (const [lower, { name, header }] of documented) {
      const { value, at: headerAt } = this.resolve(header, [...at, 'headers', name]);
      const actual = answer.headers.get(lower);
      if (actual === null) {
        if (value.required) found.push(`the required header ${name} is missing`);
        continue;
      }
      if (!value.schema) continue;
      const validate = this.validator(this.headerAjv, [...headerAt, 'schema']);
      if (!validate(actual)) found.push(`header ${name}: ${JSON.stringify(actual)} ${errorsOf(validate, 'value')}`);
    }
    for (const name of DOCUMENTED_HEADERS) {
      if (answer.headers.get(name) !== null && !documented.has(name)) found.push(`header ${name} is not documented for ${answer.status}`);
    }
    return found;
  }

  /** The kit's problem details (libs/service-kit problem.ts), as problem+json, naming the answer's status and request id. */
  private asProblem(answer: Observed): string[] {
    const type = mediaType(answer);
    if (type !== 'application/problem+json') return [`media type "${type || 'none'}" where application/problem+json is expected`];
    const body = parse(answer.text) as Json | undefined;
    if (!this.problem(body)) return [`not the problem shape: ${errorsOf(this.problem, 'body')}`];
    const found: string[] = [];
    if (body?.['status'] !== answer.status) found.push(`the problem's status ${String(body?.['status'])} is not the answer's`);
    if (body?.['requestId'] !== answer.headers.get('x-request-id')) found.push(`the problem's requestId is not the x-request-id header`);
    return found;
  }

  /** The schema at `at` in the document, compiled once. */
  private validator(ajv: Ajv, at: string[]): ValidateFunction {
    const ref = `openapi#/${pointer(...at)}`;
    const key = `${ajv === this.ajv ? 'body' : 'header'} ${ref}`;
    let validate = this.compiled.get(key);
    if (!validate) this.compiled.set(key, (validate = ajv.compile({ $ref: ref })));
    return validate;
  }

  /** A response or header object, through its `$ref` when it has one, and where it is in the document. */
  private resolve<T extends { $ref?: string }>(node: T, at: string[]): { value: T; at: string[] } {
    if (!node.$ref?.startsWith('#/')) return { value: node, at };
    const parts = node.$ref.slice(2).split('/').map((p) => decodeURIComponent(p).replace(/~1/g, '/').replace(/~0/g, '~'));
    const value = parts.reduce<unknown>((n, p) => (n as Json | undefined)?.[p], this.doc) as T | undefined;
    return value ? this.resolve(value, parts) : { value: node, at };
  }
}

export function mediaType(answer: Pick<Observed, 'headers'>): string {
  return (answer.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function decodable(path: string): boolean {
  try {
    decodeURIComponent(path.split('?')[0] as string);
    return true;
  } catch {
    return false;
  }
}

/** ajv's errors, each once (the branches of an anyOf repeat them). */
function errorsOf(validate: ValidateFunction, name: string): string {
  return [...new Set((validate.errors ?? []).map((e) => `${name}${e.instancePath} ${e.message ?? 'is invalid'}`))].join('; ');
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
