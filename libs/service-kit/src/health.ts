import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { sendProblem } from './error-handler';
import type { ProblemAnswer } from './openapi';

/** A readiness check resolves when its dependency answers and rejects (or times out) when not. */
export type HealthCheck = () => Promise<unknown>;

/**
 * What kind of failure a check met, as an operator reads it in the 503: the dependency is
 * down or unreachable, it refused the credentials, the schema (or database) is not there,
 * or it did not answer within the check's time. Never the error's message, which may name
 * internal hosts.
 */
export type DependencyFailure = 'not answering' | 'refused credentials' | 'unknown schema' | 'timeout' | 'failing';

/** Tells the kind of failure from a check's error; each dependency's library knows its own errors. */
export type FailureClassifier = (err: unknown) => DependencyFailure;

declare module 'fastify' {
  interface FastifyInstance {
    health: { addCheck(name: string, check: HealthCheck, classify?: FailureClassifier): void };
  }
}

const CHECK_TIMEOUT_MS = 1_000;

class CheckTimeout extends Error {}

function withTimeout(check: HealthCheck, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(`no answer within ${ms} ms`)), ms);
  });
  // Called inside a promise, so a check that throws synchronously is a failed check, not a 500
  // followed by an unhandled rejection of the orphaned timeout.
  const answer = new Promise((resolve) => resolve(check()));
  return Promise.race([answer, timeout]).finally(() => clearTimeout(timer));
}

const Checks = Type.Record(Type.String(), Type.Union([Type.Literal('ok'), Type.Literal('fail')]));

/** The 503 of /health/ready: which checks failed, and how (no Retry-After: a probe asks again anyway). */
const NOT_READY: ProblemAnswer = {
  codes: ['DEPENDENCY_UNAVAILABLE'],
  extensions: {
    checks: { type: 'object', description: 'Each check: ok or fail.', additionalProperties: { type: 'string', enum: ['ok', 'fail'] } },
    failures: {
      type: 'object',
      description: 'Each failed check: what kind of failure it met.',
      additionalProperties: { type: 'string', enum: ['not answering', 'refused credentials', 'unknown schema', 'timeout', 'failing'] },
    },
  },
};

interface Check {
  run: HealthCheck;
  classify: FailureClassifier;
}

async function healthPlugin(app: FastifyInstance): Promise<void> {
  const checks = new Map<string, Check>();
  app.decorate('health', {
    addCheck(name: string, run: HealthCheck, classify: FailureClassifier = () => 'failing') {
      checks.set(name, { run, classify });
    },
  });

  // A service without checks (the sandbox) is always ready; the document says 503 only where it can happen.
  app.openapi.describe((route) => (route.url === '/health/ready' && checks.size > 0 ? { problems: { 503: NOT_READY } } : undefined));

  app.get(
    '/health/live',
    { schema: { tags: ['health'], operationId: 'getLiveness', summary: 'Whether the process runs', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        tags: ['health'],
        operationId: 'getReadiness',
        summary: 'Whether every dependency of the service answers',
        response: { 200: Type.Object({ status: Type.Literal('ok'), checks: Checks }) },
      },
    },
    async (request, reply) => {
      const names = [...checks.keys()];
      const results = await Promise.allSettled([...checks.values()].map((c) => withTimeout(c.run, CHECK_TIMEOUT_MS)));
      const report: Record<string, 'ok' | 'fail'> = {};
      const failures: Record<string, DependencyFailure> = {};
      results.forEach((r, i) => {
        const name = names[i] as string;
        report[name] = r.status === 'fulfilled' ? 'ok' : 'fail';
        if (r.status === 'rejected') {
          failures[name] = r.reason instanceof CheckTimeout ? 'timeout' : (checks.get(name) as Check).classify(r.reason);
          request.log.warn({ check: name, failure: failures[name], err: r.reason }, 'readiness check failed');
        }
      });
      const failed = Object.entries(failures);
      if (failed.length === 0) return { status: 'ok' as const, checks: report };
      return sendProblem(reply, {
        status: 503,
        code: 'DEPENDENCY_UNAVAILABLE',
        detail: `Not ready: ${failed.map(([name, failure]) => `${name} (${failure})`).join(', ')}.`,
        extensions: { checks: report, failures },
      });
    },
  );
}

export const health = fp(healthPlugin, { name: 'health', fastify: '5.x', dependencies: ['docs'] });
