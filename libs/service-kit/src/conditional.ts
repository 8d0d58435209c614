import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Conditional requests (RFC 9110 §13, CONTRACT.md "Conditional requests"). A resource's strong
 * entity tag is `"<id>.<version>"`, its id and the row's optimistic version: it changes with every
 * update of the row, differs between resources served at one URL (`/v1/users/me`), and names the
 * version an `If-Match` expects, so that a conditional update is one `UPDATE … WHERE version IN (…)`
 * with no read before it (docs/adr/0017-entity-tags-from-row-versions.md).
 */

/** The strong, quoted tag of one version of a resource. */
export function entityTag(id: string, version: number): string {
  return `"${id}.${version}"`;
}

/** The entity tags of an `If-Match` / `If-None-Match` list, each with whether it is weak; `*` as itself. */
function parseTags(header: string): { any: boolean; tags: { weak: boolean; opaque: string }[] } {
  if (header.trim() === '*') return { any: true, tags: [] };
  const tags = [...header.matchAll(/(W\/)?"([^"]*)"/g)].map((m) => ({ weak: m[1] !== undefined, opaque: m[2] as string }));
  return { any: false, tags };
}

/**
 * `If-None-Match` against the current tag, by weak comparison: true when the client's copy is
 * current (the answer is then 304). `*` matches any current representation.
 */
export function notModified(request: FastifyRequest, tag: string): boolean {
  const header = request.headers['if-none-match'];
  if (header === undefined) return false;
  const { any, tags } = parseTags(header);
  const opaque = tag.slice(1, -1);
  return any || tags.some((t) => t.opaque === opaque);
}

/**
 * The versions of resource `id` that the request's `If-Match` accepts (strong comparison: weak
 * tags never match), for the update's `WHERE version IN (…)`; empty when it names none of them.
 * Undefined without a condition on the version: no `If-Match`, or `*` (the resource exists,
 * which the update finds out itself).
 */
export function expectedVersions(request: FastifyRequest, id: string): number[] | undefined {
  const header = request.headers['if-match'];
  if (header === undefined) return undefined;
  const { any, tags } = parseTags(header);
  if (any) return undefined;
  const prefix = `${id}.`;
  return tags
    .filter((t) => !t.weak && t.opaque.startsWith(prefix) && /^[1-9][0-9]{0,9}$/.test(t.opaque.slice(prefix.length)))
    .map((t) => Number(t.opaque.slice(prefix.length)));
}

/**
 * Answers a read with its tag: 304 with no body when `If-None-Match` names it, the body otherwise.
 * The serializer writes only what the route's response schema declares.
 */
export function sendTagged<T>(request: FastifyRequest, reply: FastifyReply, tag: string, body: T): FastifyReply | T {
  reply.header('etag', tag);
  if (notModified(request, tag)) return reply.code(304).send();
  return body;
}
