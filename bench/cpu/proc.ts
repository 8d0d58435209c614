import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { Redis } from 'ioredis';
import { createConnection, type Connection } from 'mysql2/promise';

/**
 * CPU time of processes from /proc: `utime + stime` of /proc/<pid>/stat, every thread of
 * the process included (MariaDB's and Redis's worker threads too). Counted in clock ticks,
 * usually 100 a second, so a reading is exact to 10 ms per process: fine over rounds of
 * seconds and thousands of requests.
 */

export type Group = 'services' | 'redis' | 'mysql';

export interface Watched {
  /** e.g. `order-service`, `redis-server`, `mariadbd`. */
  name: string;
  group: Group;
  pid: number;
}

/** Clock ticks per second of /proc's counters. */
export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

function ticksOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2, the command name, is in parentheses and may hold spaces: count from after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 (utime) and 15 (stime); fields[0] is field 3.
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU microseconds each process has used so far, by name. */
export function cpuNow(processes: Watched[]): Map<string, number> {
  return new Map(processes.map((p) => [p.name, (ticksOf(p.pid) * 1e6) / CLK_TCK]));
}

/** CPU microseconds each process used between two readings. */
export function cpuBetween(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  return new Map([...b].map(([name, us]) => [name, us - (a.get(name) ?? NaN)]));
}

/** The process must be on this machine and be what the server says it is, or every figure would be wrong. */
function watched(name: string, group: Group, pid: number, commands: RegExp): Watched {
  const comm = existsSync(`/proc/${pid}/comm`) ? readFileSync(`/proc/${pid}/comm`, 'utf8').trim() : '';
  if (!commands.test(comm)) {
    throw new Error(`${name} reports pid ${pid}, but /proc/${pid} is ${comm ? `\`${comm}\`` : 'not there'}: the bench must run on the machine (and PID namespace) of its servers`);
  }
  return { name, group, pid };
}

/** The redis-server process behind the connection (`INFO server`'s process_id). */
async function redisProcess(redis: Redis): Promise<Watched> {
  const info = (await redis.call('INFO', 'server')) as string;
  return watched('redis-server', 'redis', Number(/^process_id:(\d+)/m.exec(info)?.[1]), /^redis-server$/);
}

/** The MariaDB (or MySQL) server behind the connection, from its pid file. */
async function mysqlProcess(mysql: Connection): Promise<Watched> {
  const [rows] = await mysql.query('SELECT @@pid_file AS file, @@datadir AS datadir');
  const { file, datadir } = (rows as { file: string; datadir: string }[])[0] as { file: string; datadir: string };
  const path = isAbsolute(file) ? file : join(datadir, file);
  if (!existsSync(path)) throw new Error(`MariaDB's pid file ${path} is not readable here: the bench must run on the machine of its MariaDB`);
  return watched('mariadbd', 'mysql', Number(readFileSync(path, 'utf8').trim()), /^(mariadbd|mysqld)$/);
}

/** redis-server and mariadbd, as the servers themselves name their processes. */
export async function serverProcesses(redisUrl: string, mysqlAdminUrl: string): Promise<Watched[]> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const mysql = await createConnection({ uri: mysqlAdminUrl });
  try {
    return [await redisProcess(redis), await mysqlProcess(mysql)];
  } finally {
    redis.disconnect();
    await mysql.end();
  }
}
