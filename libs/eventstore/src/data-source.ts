import { Client } from 'pg';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { provisionServiceRole } from './service-role';
import { MIGRATIONS } from './migrations';
import { MoveEntity, VmLocationEntity } from './projections/entities';

export function createDataSource(databaseUrl: string, poolSize = 10): DataSource {
  return new DataSource({
    type: 'postgres',
    url: databaseUrl,
    entities: [VmLocationEntity, MoveEntity],
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    // `min`: the connections a burst opened stay open between bursts (a new one costs a backend's
    // start, its catalog caches and every prepared statement's first plan again).
    extra: { max: poolSize, min: poolSize },
  });
}

/** The tables every step of a move reads or writes: planning one statement over them loads their and their indexes' catalog entries. */
const HOT_TABLES = ['streams', 'events', 'outbox', 'vm_location', 'moves', 'host_load'];

/**
 * Opens every connection of the pool now, each with the hot tables' catalog entries loaded, so a
 * service that says it is ready does not start its first burst of work by starting database
 * backends (on a 2-core guest the pool grew from 2 to 16 backends in the first 3 s of a
 * 50-moves/s load, each a backend's start while the load waited).
 */
export async function warmPool(ds: DataSource, size: number): Promise<void> {
  const runners = Array.from({ length: size }, () => ds.createQueryRunner());
  try {
    await Promise.all(runners.map((r) => r.connect()));
    await Promise.all(runners.map((r) => r.query(`SELECT 1 FROM ${HOT_TABLES.join(', ')} WHERE false`)));
  } finally {
    await Promise.all(runners.map((r) => r.release()));
  }
}

/** Creates the database named in the URL when it does not exist yet (the lab's first start). */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`database name "${name}" must be letters, digits and underscores`);
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    await client.query(`CREATE DATABASE "${name}"`);
    return true;
  } catch (err) {
    // Two services starting at once may race to create it.
    if ((err as { code?: string }).code === '42P04') return false;
    throw err;
  } finally {
    await client.end();
  }
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export interface OpenStoreOptions {
  /**
   * The services' login (same cluster and database as `databaseUrl`): the returned pool connects
   * as it, after the owner in `databaseUrl` has migrated and granted it exactly what it needs
   * (`provisionServiceRole`). Without it the pool is the owner's (tools, tests of the store itself).
   */
  serviceUrl?: string;
  logger?: Logger;
  /** Open every connection of the pool before returning (`warmPool`): for services, not for one-off tools. */
  warm?: boolean;
}

/**
 * Creates and migrates the database as needed, as the owner (migration) role of `databaseUrl`,
 * then opens the pool: the service role's when `serviceUrl` is given, else the owner's.
 */
export async function openStore(databaseUrl: string, poolSize = 10, options: OpenStoreOptions = {}): Promise<DataSource> {
  await ensureDatabase(databaseUrl);
  const owner = createDataSource(databaseUrl, options.serviceUrl ? 1 : poolSize);
  await owner.initialize();
  try {
    await owner.runMigrations({ transaction: 'each' });
  } catch (err) {
    await owner.destroy();
    throw err;
  }
  if (!options.serviceUrl) return owner;
  await owner.destroy();
  await provisionServiceRole(databaseUrl, options.serviceUrl, options.logger);
  const ds = createDataSource(options.serviceUrl, poolSize);
  await ds.initialize();
  if (options.warm) await warmPool(ds, poolSize);
  return ds;
}
