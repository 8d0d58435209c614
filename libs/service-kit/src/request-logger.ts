import type { Bindings, ChildLoggerOptions, Level, Logger } from 'pino';

/**
 * Fastify gives every request a child logger. pino's child() serialises (and redacts) its
 * bindings at once, which cost a cached GET /v1/orders/{id} about 7% of its CPU under load
 * with LOG_LEVEL=warn, where nothing of the request is logged at all. This child is made on
 * the first call at a level the parent logs: the lines are the same, only their cost moves.
 */
export class RequestLogger {
  private made?: Logger;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
  ) {}

  /** The child pino would have made up front, made now. */
  private get logger(): Logger {
    return (this.made ??= this.parent.child(this.bindings));
  }

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  isLevelEnabled(level: string): boolean {
    return (this.made ?? this.parent).isLevelEnabled(level);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.logger.child(bindings, options);
  }

  /** pino's `silent` level logs nothing. */
  silent(): void {
    return undefined;
  }

  declare fatal: Logger['fatal'];
  declare error: Logger['error'];
  declare warn: Logger['warn'];
  declare info: Logger['info'];
  declare debug: Logger['debug'];
  declare trace: Logger['trace'];
}

const LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];
for (const level of LEVELS) {
  Object.defineProperty(RequestLogger.prototype, level, {
    value: function log(this: RequestLogger, ...args: unknown[]): void {
      if (!this.isLevelEnabled(level)) return;
      (this['logger'] as Logger)[level](...(args as [string]));
    },
  });
}

/**
 * Fastify's childLoggerFactory: a RequestLogger, unless the route sets options of its own
 * (a logLevel, serializers), which pino must apply up front.
 */
export function requestLogger(logger: Logger, bindings: Bindings, options: ChildLoggerOptions): Logger {
  if (Object.keys(options).length > 0) return logger.child(bindings, options);
  return new RequestLogger(logger, bindings) as unknown as Logger;
}
