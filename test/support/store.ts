import type { DataSource } from 'typeorm';
import { createDataSource, openStore, type PgEventStore } from '@locus/eventstore';
import { serviceDatabaseUrl, type LocusConfig } from '@locus/platform';
import { storeFor } from '../../apps/mobility-manager/src/start-mobility-manager';
import { cleanup, testConfig } from './harness';

/**
 * A database of its own with the manager's event store, for one describe block: migrated by the
 * owner and opened as the services' role (like the manager's) before its tests, handed to
 * `opened`, closed and dropped after them.
 */
export function useTestStore(opened: (s: { ds: DataSource; store: PgEventStore }) => void): LocusConfig {
  const config = testConfig();
  let ds: DataSource | undefined;
  beforeAll(async () => {
    ds = await openStore(config.databaseUrl, 10, { serviceUrl: serviceDatabaseUrl(config) });
    opened({ ds, store: storeFor(ds, config.subjectPrefix) });
  });
  afterAll(async () => {
    await ds?.destroy();
    await cleanup(config).catch(() => undefined);
  });
  return config;
}

/**
 * Runs `work` on a pool of the owner (migration) role of the test's database, for maintenance the
 * services' role may not do (a projection rebuild truncates the projections), then closes it.
 */
export async function asOwner<T>(config: Pick<LocusConfig, 'databaseUrl'>, work: (ds: DataSource) => Promise<T>): Promise<T> {
  const ds = createDataSource(config.databaseUrl, 2);
  await ds.initialize();
  try {
    return await work(ds);
  } finally {
    await ds.destroy();
  }
}
