import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');

/** Writes a bench's markdown report to bench/results/<file> and prints it. */
export function writeResults(file: string, report: string): void {
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results', file), `${report}\n`);
  console.log(`\n${report}\n\nWritten to bench/results/${file}`);
}

/**
 * Runs a bench's main to its end, or stops it after `deadlineMs` (releasing what it opened
 * and exiting 1), so a stuck bench never holds the machine. A failure sets exit code 1.
 */
export function runBench(name: string, deadlineMs: number, main: () => Promise<void>, release: () => Promise<void>): void {
  const deadline = setTimeout(() => {
    console.error(`${name} did not finish within ${deadlineMs / 60_000} minutes; stopping.`);
    void release().finally(() => process.exit(1));
  }, deadlineMs);
  deadline.unref();
  main().then(
    () => clearTimeout(deadline),
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      process.exitCode = 1;
      clearTimeout(deadline);
    },
  );
}
