import type { FastifyInstance } from 'fastify';
import { HttpProblem } from './problem';

/**
 * The `charset` parameter of a Content-Type, lower case and unquoted; undefined when the
 * header names none. `application/json; charset="UTF-8"` gives `utf-8`.
 */
export function charsetOf(contentType: string): string | undefined {
  for (const param of contentType.split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    return param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return undefined;
}

/**
 * JSON bodies are UTF-8 (RFC 8259): the body is read as UTF-8 whatever the header says, so a
 * client that names another charset would have its text misread. Such a request is a 415, at the
 * same step as any other unsupported media type; no charset, or utf-8 in any case, is parsed
 * by Fastify's own JSON parser, with its limits and prototype-poisoning checks.
 */
export function acceptUtf8JsonOnly(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const charset = charsetOf(request.headers['content-type'] ?? '');
    if (charset !== undefined && charset !== 'utf-8') {
      done(new HttpProblem({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', detail: `JSON bodies must be UTF-8; charset=${charset.slice(0, 40)} is not accepted.` }), undefined);
      return;
    }
    // parseAs 'string' gives a string; the parser's type allows a Buffer too.
    parseJson(request, typeof body === 'string' ? body : body.toString('utf8'), done);
  });
}
