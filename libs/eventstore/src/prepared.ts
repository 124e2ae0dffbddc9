import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';

const names = new Map<string, string>();

/**
 * Runs `text` as a statement each pooled session prepares once (node-postgres named statements,
 * named by a hash of the text): Postgres parses and plans it at its first executions in a session
 * and then reuses the plan, instead of planning every call of a statement the services run for every
 * move. The text must be constant (parameters carry what varies). Logged as TypeORM logs its queries.
 */
export async function preparedQuery<R>(dataSource: DataSource, text: string, values: unknown[]): Promise<R[]> {
  let name = names.get(text);
  if (!name) {
    name = `locus-${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    names.set(text, name);
  }
  const pool = (dataSource.driver as unknown as { master: Pool }).master;
  dataSource.logger.logQuery(text, values);
  const result = await pool.query({ name, text, values });
  return result.rows as R[];
}

/** Whether `db` is a DataSource (its pool can prepare statements), not a transaction's EntityManager. */
export function isDataSource(db: unknown): db is DataSource {
  return typeof db === 'object' && db !== null && 'driver' in db && 'manager' in db && typeof (db as { driver?: { master?: unknown } }).driver?.master === 'object';
}
