import type { DataSource } from 'typeorm';

/**
 * The connection's own status counters (`SHOW SESSION STATUS`), for counting what a piece of
 * work costs MySQL: `Questions` (statements) and `Handler_read_*` (rows and index entries
 * read). Meaningful on a DataSource with a pool of one connection, so every statement of
 * the work runs on the connection asked. The cost of asking is measured and taken off.
 */
export async function sessionCounters(ds: DataSource): Promise<{ questions: number; rowsRead: number }> {
  const rows = (await ds.query("SHOW SESSION STATUS WHERE Variable_name = 'Questions' OR Variable_name LIKE 'Handler_read%'")) as {
    Variable_name: string;
    Value: string;
  }[];
  let questions = 0;
  let rowsRead = 0;
  for (const { Variable_name: name, Value: value } of rows) {
    if (name === 'Questions') questions = Number(value);
    else rowsRead += Number(value);
  }
  return { questions, rowsRead };
}

/** What `work` cost on the single connection of `ds`, less what reading the counters costs. */
export async function costOf(ds: DataSource, work: () => Promise<unknown>): Promise<{ questions: number; rowsRead: number }> {
  const a = await sessionCounters(ds);
  const b = await sessionCounters(ds);
  await work();
  const c = await sessionCounters(ds);
  const overhead = { questions: b.questions - a.questions, rowsRead: b.rowsRead - a.rowsRead };
  return { questions: c.questions - b.questions - overhead.questions, rowsRead: c.rowsRead - b.rowsRead - overhead.rowsRead };
}
