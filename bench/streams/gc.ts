import { WebSocket } from 'undici';
import { sleep } from '../../e2e/src/processes';

/**
 * A full garbage collection inside another Node process, so that a memory reading counts what
 * is held and not what is merely not yet collected: SIGUSR1 opens the process's inspector on
 * 127.0.0.1:9229 (Node's default), and `HeapProfiler.collectGarbage` is sent over it. The
 * inspector stays open but idle between calls. Answers false (and the bench reads memory
 * without it) where that cannot be done, e.g. the port is taken outside a namespace.
 */
export class RemoteGc {
  private debuggerUrl?: string;

  constructor(private readonly pid: number) {}

  private async target(): Promise<string | undefined> {
    if (this.debuggerUrl) return this.debuggerUrl;
    process.kill(this.pid, 'SIGUSR1');
    for (let i = 0; i < 20; i++) {
      const list = await fetch('http://127.0.0.1:9229/json/list', { signal: AbortSignal.timeout(1_000) })
        .then((r) => r.json() as Promise<{ webSocketDebuggerUrl: string }[]>)
        .catch(() => undefined);
      const url = list?.[0]?.webSocketDebuggerUrl;
      if (url) return (this.debuggerUrl = url);
      await sleep(100);
    }
    return undefined;
  }

  async collect(): Promise<boolean> {
    const url = await this.target().catch(() => undefined);
    if (!url) return false;
    const ws = new WebSocket(url);
    try {
      return await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 10_000);
        ws.addEventListener('open', () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })));
        ws.addEventListener('message', (e) => {
          if ((JSON.parse(String(e.data)) as { id?: number }).id === 1) {
            clearTimeout(timer);
            resolve(true);
          }
        });
        ws.addEventListener('error', () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
    } finally {
      ws.close();
    }
  }
}
