// How npm start shows its processes' JSON log lines on a terminal: pino-pretty, one coloured
// line each, and one line per request (its completion line, which names the method and URL;
// the "incoming request" line is left out). Anything that is not a JSON log line passes as is.
import { prettyFactory } from 'pino-pretty';

export function terminalLines({ colorize = true } = {}) {
  const pretty = prettyFactory({
    colorize,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    // The prefix names the process; the request line spells out what these fields hold.
    ignore: 'pid,hostname,service,req,res,responseTime',
  });
  /** The line to print, or undefined to print nothing. */
  return (line) => {
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      return line;
    }
    if (entry === null || typeof entry !== 'object' || typeof entry.level !== 'string') return line;
    if (entry.msg === 'incoming request') return undefined;
    if (entry.msg === 'request completed' && entry.req && entry.res) {
      entry.msg = `${entry.req.method} ${entry.req.url} ${entry.res.statusCode} ${entry.responseTime.toFixed(1)} ms`;
    }
    return pretty(entry).trimEnd();
  };
}
