import type { DataSource } from 'typeorm';
import { openStore, type PgEventStore } from '@locus/eventstore';
import type { LocusConfig } from '@locus/platform';
import { storeFor } from '../../apps/mobility-manager/src/start-mobility-manager';
import { cleanup, testConfig } from './harness';

/**
 * A database of its own with the manager's event store, for one describe block: opened (and
 * migrated) before its tests, handed to `opened`, closed and dropped after them.
 */
export function useTestStore(opened: (s: { ds: DataSource; store: PgEventStore }) => void): LocusConfig {
  const config = testConfig();
  let ds: DataSource | undefined;
  beforeAll(async () => {
    ds = await openStore(config.databaseUrl);
    opened({ ds, store: storeFor(ds, config.subjectPrefix) });
  });
  afterAll(async () => {
    await ds?.destroy();
    await cleanup(config).catch(() => undefined);
  });
  return config;
}
