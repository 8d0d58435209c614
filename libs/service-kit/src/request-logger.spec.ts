import pino, { type Logger } from 'pino';
import { captureLogs } from '../test/test-app';
import { loggerOptions } from './logger';
import { requestLogger } from './request-logger';

function parent(level: string) {
  const logs = captureLogs();
  const log = pino(loggerOptions({ service: 'kit-test', level }), logs.stream);
  const child = jest.spyOn(log, 'child');
  return { log, child, ...logs };
}

describe('requestLogger (the per-request child logger, made on first use)', () => {
  it('when a request logs nothing at the level in force, then no pino child is made', () => {
    const { log, child, lines } = parent('warn');
    const request = requestLogger(log, { requestId: 'r-1' }, {});
    request.info({ req: { url: '/x' } }, 'incoming request');
    request.debug('detail');
    expect(child).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
  });

  it('when it logs, then the line carries its bindings, once made, and redaction still applies', () => {
    const { log, child, lines, raw } = parent('info');
    const request = requestLogger(log, { requestId: 'r-2' }, {});
    request.info({ req: { headers: { authorization: 'Bearer secret-token' } } }, 'incoming request');
    request.warn('slow');
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines).toMatchObject([
      { level: 'info', requestId: 'r-2', service: 'kit-test', msg: 'incoming request', req: { headers: { authorization: '[REDACTED]' } } },
      { level: 'warn', requestId: 'r-2', msg: 'slow' },
    ]);
    expect(raw.join('')).not.toContain('secret-token');
  });

  it('when it is asked for a child or its level, then they are those of the child pino would have made', () => {
    const { log, lines } = parent('info');
    const request = requestLogger(log, { requestId: 'r-3' }, {});
    expect(request.level).toBe('info');
    expect(request.isLevelEnabled('debug')).toBe(false);
    request.child({ orderId: 'o-1' }).info('nested');
    expect(lines).toMatchObject([{ requestId: 'r-3', orderId: 'o-1', msg: 'nested' }]);
    request.level = 'error';
    request.warn('dropped');
    expect(lines).toHaveLength(1);
  });

  it('when the route sets options of its own (a log level), then the child is made at once with them', () => {
    const { log, child, lines } = parent('info');
    const request: Logger = requestLogger(log, { requestId: 'r-4' }, { level: 'error' });
    expect(child).toHaveBeenCalledWith({ requestId: 'r-4' }, { level: 'error' });
    request.warn('below the route level');
    expect(lines).toEqual([]);
  });
});
