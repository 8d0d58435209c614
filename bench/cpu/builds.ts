import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { buildApps } from '../../e2e/src/platform';
import { ROOT } from '../../e2e/src/processes';
import type { Cleanup } from '../http/platform';

/**
 * The two builds compared: B ("this") is the working tree, built as the e2e harness builds
 * it; A ("base") is a git ref, checked out in a temporary worktree under tmp/ and built there
 * with that tree's own scripts/build.mjs. The markdown names them in words, never by hash.
 */

export interface Build {
  label: 'A' | 'B';
  /** e.g. `HEAD of bench-cpu (“Subject line”)`. */
  description: string;
  /** The built apps, `<dist>/<app>/main.js` and `migrate.js`. */
  dist: string;
}

function git(args: string[], cwd = ROOT): string {
  const run = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`git ${args.join(' ')} failed:\n${run.stderr}`);
  return run.stdout.trim();
}

const SUBJECT_CHARS = 90;

function subjectOf(ref: string): string {
  const subject = git(['log', '-1', '--format=%s', ref]);
  return subject.length > SUBJECT_CHARS ? `${subject.slice(0, SUBJECT_CHARS - 1)}…` : subject;
}

const branch = () => git(['rev-parse', '--abbrev-ref', 'HEAD']);

/** `HEAD of bench-cpu`, `main`, `HEAD~3 of bench-cpu`, or `a commit` for a hash, with the commit's subject. */
function describe(ref: string): string {
  const name = /^[0-9a-f]{7,40}$/i.test(ref) ? 'a commit' : ref.startsWith('HEAD') ? `${ref} of ${branch()}` : ref;
  return `${name} (“${subjectOf(ref)}”)`;
}

/** The working tree: its branch's HEAD and any uncommitted change to what the apps are built from. */
export function buildThis(cleanup: Cleanup): Build {
  const dist = buildApps();
  cleanup(async () => rmSync(dist, { recursive: true, force: true }));
  const changed = git(['status', '--porcelain', '--', 'apps', 'libs', 'migrations', 'package-lock.json'])
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3));
  const changes = changed.length > 0 ? `, with uncommitted changes to ${changed.join(', ')}` : ', no uncommitted changes to apps/, libs/ or migrations/';
  return { label: 'B', description: `the working tree of ${branch()} (its HEAD: “${subjectOf('HEAD')}”${changes})`, dist };
}

/**
 * `ref` in a worktree of its own under tmp/, with node_modules: the working tree's, linked,
 * when both package-lock.json files are the same, else `npm ci` there (which needs the
 * registry: run it outside a network namespace). Removed by the cleanup.
 */
export function buildBase(ref: string, cleanup: Cleanup): Build {
  const description = describe(ref);
  mkdirSync(join(ROOT, 'tmp'), { recursive: true });
  const dir = join(ROOT, 'tmp', `bench-cpu-base-${randomBytes(4).toString('hex')}`);
  git(['worktree', 'add', '--detach', '--quiet', dir, ref]);
  cleanup(async () => git(['worktree', 'remove', '--force', dir]));
  const modules = join(dir, 'node_modules');
  const sameLock = readFileSync(join(dir, 'package-lock.json'), 'utf8') === readFileSync(join(ROOT, 'package-lock.json'), 'utf8');
  if (sameLock) {
    symlinkSync(join(ROOT, 'node_modules'), modules, 'dir');
    // Cleanups run last first: the link goes before the worktree, which then holds nothing of the working tree's.
    cleanup(async () => unlinkSync(modules));
  } else run('npm', ['ci', '--no-audit', '--no-fund'], dir, `npm ci for ${description}`);
  run(process.execPath, ['scripts/build.mjs'], dir, `the build of ${description}`);
  return { label: 'A', description: `${description}${sameLock ? '' : ', with its own node_modules (npm ci)'}`, dist: join(dir, 'dist', 'apps') };
}

function run(command: string, args: string[], cwd: string, what: string): void {
  const done = spawnSync(command, args, { cwd, encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`${what} failed:\n${done.stdout}${done.stderr}`);
}
