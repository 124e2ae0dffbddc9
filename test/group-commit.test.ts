import type { DataSource } from 'typeorm';
import { GroupCommitter, rebuildProjections, VersionConflictError, type PgEventStore } from '@locus/eventstore';
import { asOwner, useTestStore } from './support/store';

const meta = { correlationId: 'test', component: 'test', at: new Date(0).toISOString() };
const placed = (vm: string, n: number, ip = `10.8.${Math.floor(n / 250)}.${(n % 250) + 2}`) => ({
  type: 'VmPlaced',
  data: {
    vm,
    ip,
    mac: `52:54:00:08:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`,
    l2Domain: 'lab',
    site: 'dc1',
    hypervisor: 'dc1-hv1',
    memoryMb: 1024,
    locationVersion: 1,
  },
  metadata: meta,
});

/**
 * Group commit against real Postgres: concurrent appends of different VMs share transactions,
 * and each append keeps its own expected-version check and its own failure.
 */
describe('group commit: concurrent appends share transactions, failures stay their own', () => {
  let ds: DataSource;
  let store: PgEventStore;
  const config = useTestStore((opened) => ({ ds, store } = opened));

  it('200 concurrent appends of different streams commit in far fewer transactions, every event once', async () => {
    const committer = new GroupCommitter(store, { maxInFlight: 1 });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => committer.append(`vm:gc-${i}`, 0, [placed(`gc-${i}`, i)])));
    expect(results.map((r) => r.length)).toEqual(Array(200).fill(1));
    expect(committer.stats.appends).toBe(200);
    expect(committer.stats.transactions).toBeLessThan(200);
    expect(committer.stats.largestBatch).toBeGreaterThan(1);
    const rows = await ds.query(`SELECT count(*)::int AS n FROM events WHERE stream_id LIKE 'vm:gc-%'`);
    expect(rows[0].n).toBe(200);
    const outbox = await ds.query(`SELECT count(*)::int AS n FROM outbox o JOIN events e USING (position) WHERE e.stream_id LIKE 'vm:gc-%'`);
    expect(outbox[0].n).toBe(200);
  });

  it('a stale expected version rejects only its own append; two appends of one stream never share a batch', async () => {
    await store.append('vm:gc-stale', 0, [placed('gc-stale', 900)]);
    const committer = new GroupCommitter(store, { maxInFlight: 1 });
    const outcomes = await Promise.allSettled([
      committer.append('vm:gc-a', 0, [placed('gc-a', 901)]),
      committer.append('vm:gc-stale', 0, [placed('gc-stale', 900)]),
      committer.append('vm:gc-b', 0, [placed('gc-b', 902)]),
      committer.append('vm:gc-a', 0, [placed('gc-a', 901)]),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(VersionConflictError);
    expect((outcomes[3] as PromiseRejectedResult).reason).toBeInstanceOf(VersionConflictError);
    expect((await store.readStream('vm:gc-a')).version).toBe(1);
    expect((await store.readStream('vm:gc-stale')).version).toBe(1);
  });

  it('a batch that breaks a projection constraint fails only the append at fault', async () => {
    const committer = new GroupCommitter(store, { maxInFlight: 1 });
    // Hold the committer busy so the next three queue up and go as one batch.
    const first = committer.append('vm:gc-hold', 0, [placed('gc-hold', 950)]);
    const batch = Promise.allSettled([
      committer.append('vm:gc-ok-1', 0, [placed('gc-ok-1', 951)]),
      committer.append('vm:gc-dup-ip', 0, [placed('gc-dup-ip', 952, '10.8.3.202')]), // gc-hold's IP (n = 950)
      committer.append('vm:gc-ok-2', 0, [placed('gc-ok-2', 953)]),
    ]);
    await first;
    const outcomes = await batch;
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await store.readStream('vm:gc-dup-ip')).version).toBe(0);
    expect((await store.readStream('vm:gc-ok-2')).version).toBe(1);
    // The projections are exactly what the log says.
    const live = await ds.query(`SELECT name, host(ip) AS ip FROM vm_location ORDER BY name`);
    await asOwner(config, rebuildProjections);
    expect(await ds.query(`SELECT name, host(ip) AS ip FROM vm_location ORDER BY name`)).toEqual(live);
  });
});
