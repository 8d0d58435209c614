import { binaryToUuid, uuidToBinary } from '@platform/db';
import type { DataSource, EntityManager } from 'typeorm';

export interface User {
  id: string;
  email: string;
  name: string;
  passwordHash: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

interface UserRow {
  id: Buffer;
  email: string;
  name: string;
  password_hash: string;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, email, name, password_hash, version, created_at, updated_at';

function toUser(row: UserRow): User {
  return {
    id: binaryToUuid(row.id),
    email: row.email,
    name: row.name,
    passwordHash: row.password_hash,
    version: Number(row.version),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** MySQL's duplicate-key error, e.g. a second account for one email. */
export function isDuplicateKey(err: unknown): boolean {
  const e = err as { code?: string; driverError?: { code?: string } };
  return e.code === 'ER_DUP_ENTRY' || e.driverError?.code === 'ER_DUP_ENTRY';
}

type Db = DataSource | EntityManager;

/** `ds` is read per query: the pool may connect after start (libs/db mysql plugin). */
export function usersRepository(ds: () => DataSource) {
  async function one(db: Db, where: string, param: unknown): Promise<User | undefined> {
    const rows = (await db.query(`SELECT ${COLUMNS} FROM users WHERE ${where}`, [param])) as UserRow[];
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  return Object.freeze({
    findById: (id: string, db: Db = ds()) => one(db, 'id = ?', uuidToBinary(id)),
    findByEmail: (email: string, db: Db = ds()) => one(db, 'email = ?', email),

    /** Throws a duplicate-key error (see isDuplicateKey) when the email is taken. */
    async insert(user: Omit<User, 'version'>, db: Db = ds()): Promise<User> {
      await db.query(
        'INSERT INTO users (id, email, name, password_hash, version, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)',
        [uuidToBinary(user.id), user.email, user.name, user.passwordHash, user.createdAt, user.updatedAt],
      );
      return { ...user, version: 1 };
    },

    /**
     * Sets the given fields and bumps the version, in one statement, then reads the user (undefined
     * if gone). With `versions`, only from one of them (optimistic concurrency): `changed` says
     * whether the row was updated.
     */
    async update(
      id: string,
      change: { name?: string; passwordHash?: string },
      { db = ds(), versions }: { db?: Db; versions?: readonly number[] } = {},
    ): Promise<{ changed: boolean; user: User | undefined }> {
      const fields = [
        ['name', change.name],
        ['password_hash', change.passwordHash],
      ].filter(([, value]) => value !== undefined) as [string, string][];
      const sets = fields.map(([column]) => `${column} = ?`);
      const params: unknown[] = [...fields.map(([, value]) => value), new Date(), uuidToBinary(id)];
      let changed = false;
      if (versions?.length !== 0) {
        const condition = versions ? ` AND version IN (${versions.map(() => '?').join(', ')})` : '';
        // query() answers an UPDATE with mysql2's result header.
        const { affectedRows } = (await db.query(`UPDATE users SET ${[...sets, 'version = version + 1', 'updated_at = ?'].join(', ')} WHERE id = ?${condition}`, [
          ...params,
          ...(versions ?? []),
        ])) as { affectedRows: number };
        changed = affectedRows === 1;
      }
      return { changed, user: await one(db, 'id = ?', uuidToBinary(id)) };
    },
  });
}

export type UsersRepository = ReturnType<typeof usersRepository>;
