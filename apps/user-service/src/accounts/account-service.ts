import { newId } from '@platform/db';
import { createCache, createFailureLockout, keySpace } from '@platform/redis';
import type { FastifyInstance } from 'fastify';
import { AccountGone, EmailTaken, InvalidCredentials, InvalidCurrentPassword, LoginLocked } from '../errors';
import type { TokenPair, UserView } from '../schemas';
import type { TokenIssuer } from '../tokens/token-issuer';
import { normalizeEmail } from './email';
import { hashPassword, verifyPassword } from './passwords';
import { isDuplicateKey, type User, type UsersRepository } from './users-repository';

export interface AccountSettings {
  loginFailureMax: number;
  loginFailureWindowSeconds: number;
  /** CONTRACT.md, Caching: users 5 minutes. */
  cacheTtlSeconds: number;
}

const toView = (u: User): UserView => ({ id: u.id, email: u.email, name: u.name, createdAt: u.createdAt.toISOString() });

/** Accounts: registration, sign-in with its per-account lockout, the profile (cached), the password. */
export function accountService(app: FastifyInstance, users: UsersRepository, tokens: TokenIssuer, s: AccountSettings) {
  const keys = keySpace(app.redisKeyPrefix);
  const lockout = createFailureLockout({
    client: app.redis,
    keys,
    name: 'login',
    maxFailures: s.loginFailureMax,
    windowSeconds: s.loginFailureWindowSeconds,
    failMode: 'closed',
    registry: app.metrics,
    logger: app.log,
  });
  const profiles = createCache<UserView>({ client: app.redis, keys, name: 'users', defaultTtlSeconds: s.cacheTtlSeconds, registry: app.metrics, logger: app.log });

  async function existing(userId: string): Promise<User> {
    const user = await users.findById(userId);
    // The caller's token was valid a moment ago: its user is gone (deleted) or it is revoked meanwhile.
    if (!user) throw new AccountGone();
    return user;
  }

  return Object.freeze({
    /** `input.email` as sent: every use case that takes an email normalises it (accounts/email.ts). */
    async register(input: { email: string; password: string; name: string }): Promise<UserView> {
      const email = normalizeEmail(input.email);
      const now = new Date();
      const passwordHash = await hashPassword(input.password);
      try {
        return toView(await users.insert({ id: newId(), email, name: input.name, passwordHash, createdAt: now, updatedAt: now }));
      } catch (err) {
        if (isDuplicateKey(err)) throw new EmailTaken();
        throw err;
      }
    },

    /** One argon2 verification whether or not the account exists, and the same answer for both failures. */
    async login(sentEmail: string, password: string): Promise<TokenPair> {
      // The lockout counts per account too: every spelling of an address is one key.
      const email = normalizeEmail(sentEmail);
      const state = await lockout.check(email);
      if (state.locked) throw new LoginLocked(state.retryAfterSeconds);
      const user = await users.findByEmail(email);
      if (!(await verifyPassword(user?.passwordHash, password)) || !user) {
        await lockout.recordFailure(email);
        throw new InvalidCredentials();
      }
      await lockout.reset(email);
      return tokens.signIn(user.id);
    },

    profile(userId: string): Promise<UserView> {
      return profiles.getOrLoad(userId, async () => toView(await existing(userId)));
    },

    async rename(userId: string, name: string): Promise<UserView> {
      const user = await users.update(userId, { name });
      if (!user) throw new AccountGone();
      // Invalidated before the answer: the caller's next read is never the old name.
      await profiles.delete(userId);
      return toView(user);
    },

    /** A new password ends every session of the user, this one included. */
    async changePassword(userId: string, current: string, next: string): Promise<void> {
      const user = await existing(userId);
      if (!(await verifyPassword(user.passwordHash, current))) throw new InvalidCurrentPassword();
      await users.update(userId, { passwordHash: await hashPassword(next) });
      await tokens.endAllSessions(userId, 'password-change');
      await profiles.delete(userId);
    },
  });
}

export type AccountService = ReturnType<typeof accountService>;
