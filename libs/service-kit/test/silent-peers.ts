import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';

/**
 * Peers that fail as networks really fail, for the tests of the calls that reach them: a port
 * that refuses, a server that accepts and never answers, a host that drops new connections.
 */

/** A port nothing listens on (connections are refused): bound once by the OS, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface SilentServer {
  url: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Accepted connections the client has not closed yet. */
  readonly open: number;
  close(): Promise<void>;
}

/** A server that accepts TCP connections and holds them without ever answering, as a hung process does. */
export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    // Reads and drops the request, so that it sees the client hang up.
    socket.resume();
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A server in a process of its own: the script prints its port once it listens. */
async function spawnListener(script: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
  });
  return { child, port };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

const PRINT_PORT = 'function () { console.log(this.address().port) }';

export interface PeerProcess {
  url: string;
  /** SIGSTOP: the process keeps its port, the kernel still accepts connections, nothing answers. */
  freeze(): void;
  /** SIGCONT. */
  thaw(): void;
  close(): Promise<void>;
}

/** A real HTTP server in a process of its own, answering `{"ok":true}` to every request, that a test can freeze. */
export async function startPeerProcess(): Promise<PeerProcess> {
  const { child, port } = await spawnListener(
    `require('node:http').createServer((req, res) => res.setHeader('content-type', 'application/json').end('{"ok":true}')).listen(0, '127.0.0.1', ${PRINT_PORT})`,
  );
  return {
    url: `http://127.0.0.1:${port}`,
    freeze: () => child.kill('SIGSTOP'),
    thaw: () => child.kill('SIGCONT'),
    close: () => kill(child),
  };
}

export interface DroppingPeer {
  url: string;
  close(): Promise<void>;
}

/**
 * A port whose new connections never complete, as behind a partition that drops packets: a
 * process listening with the smallest accept queue is frozen (SIGSTOP) and its queue filled;
 * the kernel then drops every further SYN, so a client waits for its connect timeout.
 */
export async function startDroppingPeer(): Promise<DroppingPeer> {
  const { child, port } = await spawnListener(`require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, ${PRINT_PORT})`);
  child.kill('SIGSTOP');
  const fillers: Socket[] = [];
  for (;;) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => socket.destroy());
    fillers.push(socket);
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 300);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!connected) break;
    if (fillers.length > 64) throw new Error('the accept queue never filled');
  }
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const socket of fillers) socket.destroy();
      await kill(child);
    },
  };
}
