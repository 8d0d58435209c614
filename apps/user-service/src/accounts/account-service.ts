import { newId, type Reads, type WriteMarks } from '@platform/db';
import { createCache, createFailureLockout, keySpace } from '@platform/redis';
import type { FastifyInstance } from 'fastify';
import { AccountChanged, AccountGone, EmailTaken, InvalidCredentials, InvalidCurrentPassword, LoginLocked } from '../errors';
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
  /** Where the profile's cache misses read (a replica where safe, libs/db readRouter). */
  reads: Reads;
  /** "This user wrote" (with replicas only): set before the profile's cache entry is dropped. */
  marks?: WriteMarks;
}

/**
 * The account as answered, with the row's version (its ETag; the body's schema leaves it out). The
 * profile cache holds this, so that a cached read answers If-None-Match without MySQL.
 */
export type VersionedUser = UserView & { version: number };

const toView = (u: User): VersionedUser => ({ id: u.id, email: u.email, name: u.name, createdAt: u.createdAt.toISOString(), version: u.version });

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
  const profiles = createCache<VersionedUser>({ client: app.redis, keys, name: 'users', defaultTtlSeconds: s.cacheTtlSeconds, registry: app.metrics, logger: app.log });

  async function existing(userId: string): Promise<User> {
    const user = await users.findById(userId);
    // The caller's token was valid a moment ago: its user is gone (deleted) or it is revoked meanwhile.
    if (!user) throw new AccountGone();
    return user;
  }

  /** Before a cache drop: a fill that began after it reads the mark, so it never stores a replica's older copy. */
  async function markWriter(userId: string): Promise<void> {
    await s.marks?.mark(userId).catch((err: unknown) => app.log.warn({ err }, 'user not marked as a writer; replicas may answer its next reads'));
  }

  return Object.freeze({
    /** `input.email` as sent: every use case that takes an email normalises it (accounts/email.ts). */
    async register(input: { email: string; password: string; name: string }): Promise<UserView> {
      const email = normalizeEmail(input.email);
      const now = new Date();
      const passwordHash = await hashPassword(input.password);
      try {
        const user = await users.insert({ id: newId(), email, name: input.name, passwordHash, createdAt: now, updatedAt: now });
        // No token yet, so no request hook marks this writer: its first profile read must find it.
        await markWriter(user.id);
        return toView(user);
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

    async profile(userId: string): Promise<VersionedUser> {
      const load = async () => {
        const user = await s.reads.run((db) => users.findById(userId, db), { users: [userId], ownersOf: (found) => (found ? [] : undefined) });
        if (!user) throw new AccountGone();
        return toView(user);
      };
      const profile = await profiles.getOrLoad(userId, load);
      if (typeof profile.version === 'number') return profile;
      // An entry written before entries carried the version: dropped, so the next read stores one that does.
      await profiles.delete(userId).catch(() => undefined);
      return load();
    },

    /** With `versions` (the request's If-Match), only from one of them, in the UPDATE itself: a rename since is AccountChanged. */
    async rename(userId: string, name: string, versions?: readonly number[]): Promise<VersionedUser> {
      const { changed, user } = await users.update(userId, { name }, { versions });
      if (!user) throw new AccountGone();
      if (!changed) throw new AccountChanged();
      // Invalidated before the answer: the caller's next read is never the old name.
      await markWriter(userId);
      await profiles.delete(userId);
      return toView(user);
    },

    /** A new password ends every session of the user, this one included. */
    async changePassword(userId: string, current: string, next: string): Promise<void> {
      const user = await existing(userId);
      if (!(await verifyPassword(user.passwordHash, current))) throw new InvalidCurrentPassword();
      await users.update(userId, { passwordHash: await hashPassword(next) });
      await tokens.endAllSessions(userId, 'password-change');
      await markWriter(userId);
      await profiles.delete(userId);
    },
  });
}

export type AccountService = ReturnType<typeof accountService>;
