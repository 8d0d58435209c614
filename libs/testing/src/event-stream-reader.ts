import { request, type IncomingHttpHeaders } from 'node:http';

/** One server-sent event as a client sees it. */
export interface ReadEvent {
  event: string;
  id?: string;
  data: string;
  /** When it arrived (Date.now()). */
  at: number;
}

/**
 * A `text/event-stream` answer read over real HTTP, as an EventSource reads it (the HTML
 * standard's parsing rules, kept to what the tests need): events, comments and the end.
 */
export interface EventStreamReader {
  status: number;
  headers: IncomingHttpHeaders;
  /** Every event so far, in order. */
  readonly events: readonly ReadEvent[];
  readonly comments: readonly string[];
  /**
   * Resolves once the server has ended the answer (or the connection broke); `at` is when,
   * `clean` whether the answer was complete (its last chunk came) rather than cut off.
   */
  readonly ended: Promise<{ at: number; clean: boolean }>;
  readonly isEnded: boolean;
  /** The `n`th event (0-based), waiting up to `timeoutMs` for it. */
  event(n: number, timeoutMs?: number): Promise<ReadEvent>;
  /** The body of an answer that is not a stream (a problem). */
  text(): Promise<string>;
  /** Drops the connection, as a client that goes away. */
  close(): void;
}

export function readEventStream(url: string, headers: Record<string, string> = {}): Promise<EventStreamReader> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: ReadEvent[] = [];
      const comments: string[] = [];
      const waiters = new Set<() => void>();
      let buffer = '';
      let raw = '';
      let isEnded = false;
      let endedAt = 0;
      const wake = () => {
        for (const w of waiters) w();
      };
      const stream = (res.headers['content-type'] ?? '').startsWith('text/event-stream');
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw += chunk;
        if (!stream) return;
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else {
              const colon = line.indexOf(':');
              const name = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              fields[name] = name === 'data' && fields['data'] !== undefined ? `${fields['data']}\n${value}` : value;
            }
          }
          if (fields['data'] !== undefined) events.push({ event: fields['event'] ?? 'message', id: fields['id'], data: fields['data'], at: Date.now() });
        }
        wake();
      });
      let resolveEnded!: (v: { at: number; clean: boolean }) => void;
      const ended = new Promise<{ at: number; clean: boolean }>((r) => (resolveEnded = r));
      const finish = (clean: boolean) => {
        if (isEnded) return;
        isEnded = true;
        endedAt = Date.now();
        resolveEnded({ at: endedAt, clean });
        wake();
      };
      res.on('end', () => finish(true));
      res.on('close', () => finish(false));
      res.on('error', () => finish(false));
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        comments,
        ended,
        get isEnded() {
          return isEnded;
        },
        event(n, timeoutMs = 5_000) {
          return new Promise((ok, fail) => {
            const check = () => {
              const found = events[n];
              if (found) return done(() => ok(found));
              if (isEnded) return done(() => fail(new Error(`the stream ended after ${events.length} event(s); event ${n} never came`)));
            };
            const timer = setTimeout(() => done(() => fail(new Error(`no event ${n} within ${timeoutMs} ms (had ${events.length})`))), timeoutMs);
            const done = (then: () => void) => {
              clearTimeout(timer);
              waiters.delete(check);
              then();
            };
            waiters.add(check);
            check();
          });
        },
        async text() {
          await ended;
          return raw;
        },
        close() {
          req.destroy();
          res.destroy();
        },
      });
    });
    req.on('error', reject);
    req.end();
  });
}
