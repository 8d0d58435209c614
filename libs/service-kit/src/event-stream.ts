import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';

/**
 * A `text/event-stream` answer (the HTML standard's server-sent events) written event by
 * event. It goes out as a streamed reply, so the kit's onSend hooks still set x-request-id and
 * the CORS fields. A client that reads too slowly to take what is written (more than
 * `MAX_BUFFERED_BYTES` waiting) is closed, not buffered for without end: it reconnects and
 * resumes from its Last-Event-ID.
 */
export interface EventStream {
  /** Writes one event, `data` as one line of JSON. False when the stream has closed. */
  send(event: { event: string; id: string; data: unknown }): boolean;
  /** A comment line: what keeps an idle connection open through proxies. */
  comment(text: string): void;
  /** Ends the answer; the client sees the stream end (and an EventSource reconnects). */
  close(): void;
  readonly closed: boolean;
  /** Runs once when the stream ends, whoever ended it (the client going away included). */
  onClose(listener: () => void): void;
}

export const EVENT_STREAM_TYPE = 'text/event-stream';
const MAX_BUFFERED_BYTES = 64 * 1024;

/** Sends the answer's head and `retry` (the client's reconnection delay), and returns the stream. */
export function openEventStream(reply: FastifyReply, { retryMs }: { retryMs: number }): EventStream {
  const body = new PassThrough();
  const listeners: (() => void)[] = [];
  let closed = false;
  const ended = () => {
    if (closed) return;
    closed = true;
    for (const listener of listeners.splice(0)) listener();
  };
  reply.raw.once('close', ended);
  body.once('error', ended);
  // Fastify destroys the body once the response has closed, a response that closed before the
  // stream was opened (the client went away while it was being answered) included: its 'close'
  // has been and gone, and without this the stream would count as open until something was
  // written on it after an error that never comes.
  body.once('close', ended);

  const write = (text: string): boolean => {
    if (closed) return false;
    if (body.readableLength + reply.raw.writableLength > MAX_BUFFERED_BYTES) {
      reply.log.info('event stream closed: the client does not read what it is sent');
      stream.close();
      return false;
    }
    body.write(text);
    return true;
  };

  const stream: EventStream = {
    send: ({ event, id, data }) => write(`event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`),
    comment: (text) => void write(`: ${text}\n\n`),
    close() {
      if (closed) return;
      body.end();
      ended();
    },
    get closed() {
      return closed;
    },
    onClose(listener) {
      if (closed) listener();
      else listeners.push(listener);
    },
  };

  reply
    .header('content-type', `${EVENT_STREAM_TYPE}; charset=utf-8`)
    .header('cache-control', 'no-store')
    // nginx and its kin buffer answers unless told not to: events must go out as written.
    .header('x-accel-buffering', 'no');
  void reply.send(body);
  write(`retry: ${retryMs}\n\n`);
  return stream;
}
