import { request, type ClientRequest, type IncomingMessage } from 'node:http';

/**
 * One open `GET /v1/orders/{id}/events`, read as little as a bench can: a connection of its own
 * (no agent, no keep-alive pool to share or warm), the body split into lines, each `event:` block
 * noted with the time it was complete. Cheap enough that a thousand of them leave the bench's
 * process mostly idle; the bench's own CPU is never counted.
 */
export interface StatusSeen {
  id: string;
  status: string;
  /** performance.now() when the blank line ending the event was read. */
  at: number;
}

export class OrderStream {
  readonly events: StatusSeen[] = [];
  comments = 0;
  ended = false;
  private req?: ClientRequest;
  private waiters: (() => void)[] = [];

  constructor(
    readonly orderId: string,
    private readonly url: string,
    private readonly token: string,
  ) {}

  /** Resolves once the head is in and the first event (the current state) has been read. */
  open(timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
        reject(new Error(`stream of ${this.orderId}: no first event within ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      const req = request(`${this.url}/v1/orders/${this.orderId}/events`, {
        agent: false,
        headers: { authorization: `Bearer ${this.token}`, accept: 'text/event-stream' },
      });
      this.req = req;
      req.on('error', (err) => {
        this.ended = true;
        this.wake();
        fail(err);
      });
      req.on('response', (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          res.resume();
          this.close();
          fail(new Error(`stream of ${this.orderId} answered ${res.statusCode}`));
          return;
        }
        this.read(res);
        void this.next(0, timeoutMs).then(
          () => {
            clearTimeout(timer);
            resolve();
          },
          (err: Error) => fail(err),
        );
      });
      req.end();
    });
  }

  private read(res: IncomingMessage): void {
    res.setEncoding('utf8');
    let buffer = '';
    let event: { name?: string; id?: string; data?: string } = {};
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line === '') {
          if (event.name === 'order.status' && event.data !== undefined) {
            const status = (JSON.parse(event.data) as { status: string }).status;
            this.events.push({ id: event.id ?? '', status, at: performance.now() });
            this.wake();
          }
          event = {};
        } else if (line.startsWith(':')) this.comments++;
        else if (line.startsWith('event: ')) event.name = line.slice(7);
        else if (line.startsWith('id: ')) event.id = line.slice(4);
        else if (line.startsWith('data: ')) event.data = line.slice(6);
      }
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    res.on('end', end);
    res.on('close', end);
    res.on('error', end);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The `n`th event (0: the first), once read. */
  async next(n: number, timeoutMs: number): Promise<StatusSeen> {
    const deadline = performance.now() + timeoutMs;
    while (this.events.length <= n) {
      if (this.ended) throw new Error(`stream of ${this.orderId} ended after ${this.events.length} events`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`stream of ${this.orderId}: no event ${n} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.events[n] as StatusSeen;
  }

  close(): void {
    this.req?.destroy();
  }
}
