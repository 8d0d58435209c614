import { spawn, spawnSync } from 'node:child_process';

/**
 * wrk (Debian's package), driven with a Lua script of the bench's own whose `done()` prints
 * one JSON line: requests, duration, p50/p99 and wrk's error counts. Spawned asynchronously:
 * the bench's process hosts the e2e harness's balancers, which payment-service calls through
 * while wrk runs, so its event loop must stay free.
 */

/** wrk's version on PATH, or undefined when there is none. */
export function wrkVersion(): string | undefined {
  const probe = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  if (probe.error) return undefined;
  return /wrk (\S+)/.exec(`${probe.stdout}${probe.stderr}`)?.[1] ?? 'unknown';
}

const apt = (...args: string[]) =>
  spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;

/**
 * wrk on PATH. When it is missing and this runs as root on a machine with apt-get, Debian's
 * package is installed (`apt-get update` only if the first install cannot find it);
 * otherwise the error says what to install.
 */
export function ensureWrk(): string {
  const found = wrkVersion();
  if (found) return found;
  const hasApt = !spawnSync('apt-get', ['--version']).error;
  if (process.getuid?.() !== 0 || !hasApt) {
    throw new Error('bench:http needs wrk on PATH. Install it (Debian/Ubuntu: `sudo apt-get install wrk`; macOS: `brew install wrk`) and run it again.');
  }
  console.log('wrk is not on PATH; installing Debian\'s package (apt-get install -y wrk)');
  if (!apt('install', '-y', '--no-install-recommends', 'wrk') && !(apt('update') && apt('install', '-y', '--no-install-recommends', 'wrk'))) {
    throw new Error('apt-get could not install wrk; install it by hand (apt-get install wrk) and run the bench again');
  }
  const installed = wrkVersion();
  if (!installed) throw new Error('apt-get installed wrk, but `wrk` still cannot be run');
  return installed;
}

export interface WrkSettings {
  threads: number;
  connections: number;
  seconds: number;
}

export interface WrkErrors {
  connect: number;
  read: number;
  write: number;
  /** Answers with a status of 400 or more (wrk's "Non-2xx or 3xx responses"; no route here redirects). */
  status: number;
  timeout: number;
}

export interface WrkResult {
  requests: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: WrkErrors;
  /** Pooled scripts: requests made by the busiest thread, to move the pool's offset on. */
  maxUsed: number;
  /** Pooled scripts: requests that found their thread's share of the pool used up (and reused an entry). */
  exhausted: number;
  /** Pooled scripts: the status and start of the body of the first answer that was not a 2xx. */
  firstBad: string;
}

interface DoneLine extends WrkErrors {
  requests: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  maxUsed: number;
  exhausted: number;
  firstBad: string;
}

/** Runs wrk against `url` with the script; `args` reach the script's `init`. */
export function runWrk(url: string, script: string, s: WrkSettings, args: string[] = []): Promise<WrkResult> {
  // prettier-ignore
  const argv = [
    '-t', String(s.threads), '-c', String(s.connections), '-d', `${s.seconds}s`,
    // A slow answer is measured, not dropped as a timeout: wrk's default is 2 s.
    '--timeout', '30s', '--latency', '-s', script, url, '--', ...args,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = /^BENCH_JSON (.*)$/m.exec(out)?.[1];
      if (code !== 0 || !line) return reject(new Error(`wrk ${argv.join(' ')} exited with ${code}:\n${out.slice(-2_000)}`));
      const d = JSON.parse(line) as DoneLine;
      const { connect, read, write, status, timeout } = d;
      resolve({
        requests: d.requests,
        perSecond: d.requests / (d.durationUs / 1e6),
        p50Ms: d.p50Us / 1000,
        p99Ms: d.p99Us / 1000,
        errors: { connect, read, write, status, timeout },
        maxUsed: d.maxUsed,
        exhausted: d.exhausted,
        firstBad: d.firstBad,
      });
    });
  });
}

/** Every error wrk counted, e.g. `status 12, timeout 1`; empty when there was none. */
export function errorsOf(r: WrkResult): string {
  const parts = Object.entries(r.errors).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  if (r.exhausted > 0) parts.push(`pool used up ${r.exhausted}`);
  if (parts.length > 0 && r.firstBad) parts.push(`first: ${r.firstBad}`);
  return parts.join(', ');
}
