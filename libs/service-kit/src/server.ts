import { STATUS_CODES } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { TObject, TProperties, Static } from '@sinclair/typebox';
import closeWithGrace from 'close-with-grace';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { DestinationStream } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { ConfigError, loadConfig, trustProxyOption } from './config';
import { sendProblem, toProblem } from './error-handler';
import { acceptUtf8JsonOnly } from './json-body';
import { loggerOptions } from './logger';
import { genReqId, REQUEST_ID_HEADER } from './request-id';
import { PROBLEM_CONTENT_TYPE, problemBody } from './problem';
import { ROUTER_OPTIONS } from './route-methods';
import { createValidatorCompiler } from './validation';

export const BODY_LIMIT_BYTES = 64 * 1024;

export interface ServerOptions {
  service: string;
  logLevel: string;
  requestTimeoutMs: number;
  /** TRUST_PROXY; unset trusts no proxy. */
  trustProxy?: string;
  /** Where log lines go instead of stdout; tests read them from here. */
  logStream?: DestinationStream;
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (headers over the size limit,
 * malformed request lines, a request that took too long to arrive) are answered like every
 * other error: problem+json with a request id in the header and the body.
 */
function answerClientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'HEADERS_TOO_LARGE', 'The request headers are larger than the server accepts.']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'REQUEST_TIMEOUT', 'The request did not arrive in time.']
        : [400, 'MALFORMED_REQUEST', 'The request is not valid HTTP.'];
  const requestId = uuidv7();
  const body = JSON.stringify(problemBody({ status, code, detail }, requestId));
  this.log.debug({ err, requestId }, 'client error');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `${REQUEST_ID_HEADER}: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/**
 * Fastify's request lines, with the method and URL on the completion line too, so one line
 * tells what a request was and how it ended (`npm start`'s terminal view shows only that one).
 */
class RequestLines extends LogController {
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error || this.isLogDisabled(request)) return super.requestCompleted(error, request, reply);
    reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/** Fastify as every service runs it; tests build the very same instance. */
export function createServer(opts: ServerOptions) {
  const app = Fastify({
    logger: { ...loggerOptions({ service: opts.service, level: opts.logLevel }), stream: opts.logStream },
    genReqId,
    requestIdHeader: false,
    logController: new RequestLines({
      requestIdLogLabel: 'requestId',
      // Probes and scrapes arrive every few seconds; their lines would drown the rest.
      disableRequestLogging: (req: { url?: string }) => /^\/(health\/|metrics$)/.test(req.url ?? ''),
    }),
    bodyLimit: BODY_LIMIT_BYTES,
    requestTimeout: opts.requestTimeoutMs,
    trustProxy: trustProxyOption(opts.trustProxy ?? 'false'),
    // Longer than the usual 60 s idle timeout of load balancers, so they close first.
    keepAliveTimeout: 72_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ...ROUTER_OPTIONS },
    clientErrorHandler: answerClientError,
    frameworkErrors: (error, request, reply) => {
      reply.header('x-request-id', request.id);
      return sendProblem(reply, toProblem(error));
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(createValidatorCompiler());
  // JSON in and out: a text/plain body is a 415, not a string that fails validation later.
  app.removeContentTypeParser('text/plain');
  acceptUtf8JsonOnly(app);
  // Node's server.close() closes the connections idle at that moment only: a keep-alive client
  // (a load balancer, a peer's fetch) would keep the connection of a request in flight open after
  // its answer and hold close() up until the shutdown timeout. Answers sent while closing end it.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  return app;
}

export type App = ReturnType<typeof createServer>;

/** Loads the configuration or stops the process with a message naming each bad variable. */
export function configOrExit<P extends TProperties>(schema: TObject<P>): Static<TObject<P>> {
  try {
    return loadConfig(schema, process.env, { dotenv: true });
  } catch (err) {
    process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
    process.exit(1);
  }
}

/**
 * On SIGTERM/SIGINT: stop accepting, let in-flight requests finish, run every
 * onClose hook (pools, clients, pending work), then exit 0. A hang past
 * `timeoutMs`, or a crash, exits 1.
 */
export function closeGracefully(app: FastifyInstance, timeoutMs: number): void {
  closeWithGrace({ delay: timeoutMs, logger: app.log }, async ({ signal, err }) => {
    if (err) app.log.fatal({ err }, 'unexpected error; shutting down');
    else app.log.info({ signal }, 'shutting down');
    await app.close();
  });
}

export interface ServiceDefinition<P extends TProperties> {
  /** The process name, also the `service` field of every log line and metric. */
  service: string;
  configSchema: TObject<P>;
  plugin: FastifyPluginAsync<AppOptions<Static<TObject<P>>>>;
}

export interface AppOptions<C> {
  config: C;
  /** Process-level metrics; tests that build many apps in one process turn them off. */
  defaultMetrics?: boolean;
}

type BaseConfig = { LOG_LEVEL: string; REQUEST_TIMEOUT_MS: number; TRUST_PROXY?: string };

/** The service's app plugin on a server built with the shared options: what runs is what tests build. */
export async function createApp<P extends TProperties>(
  def: ServiceDefinition<P>,
  config: Static<TObject<P>>,
  opts: { defaultMetrics?: boolean } = {},
): Promise<App> {
  const { LOG_LEVEL, REQUEST_TIMEOUT_MS, TRUST_PROXY } = config as unknown as BaseConfig;
  const app = createServer({ service: def.service, logLevel: LOG_LEVEL, requestTimeoutMs: REQUEST_TIMEOUT_MS, trustProxy: TRUST_PROXY });
  await app.register(def.plugin, { config, defaultMetrics: opts.defaultMetrics });
  return app;
}

type ListenConfig = { PORT: number; HOST: string; SHUTDOWN_TIMEOUT_MS: number };

/** Resolves when HOST:PORT can be listened on, rejects (EADDRINUSE, EACCES, ...) when not. */
function portFree(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen({ port, host }, () => probe.close(() => resolve()));
  });
}

/**
 * main.ts of every service: validated config, the app, graceful shutdown, listen.
 * With `--check` it only validates the configuration and that its port is free, and exits
 * 0 or 1: `nx serve` runs it before its watcher, which would otherwise wait for a change
 * after a failed start instead of failing.
 */
export function startService<P extends TProperties>(def: ServiceDefinition<P>): void {
  const config = configOrExit(def.configSchema);
  const { PORT, HOST, SHUTDOWN_TIMEOUT_MS } = config as unknown as ListenConfig;
  if (process.argv.includes('--check')) {
    portFree(PORT, HOST).then(
      () => process.exit(0),
      (err: NodeJS.ErrnoException) => {
        process.stderr.write(`${def.service} cannot listen on ${HOST}:${PORT}: ${err.code ?? err.message}\n`);
        process.exit(1);
      },
    );
    return;
  }
  createApp(def, config)
    .then(async (app) => {
      closeGracefully(app, SHUTDOWN_TIMEOUT_MS);
      await app.listen({ port: PORT, host: HOST });
    })
    .catch((err: unknown) => {
      process.stderr.write(`${def.service} failed to start: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    });
}
