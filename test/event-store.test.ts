import { Client } from 'pg';
import type { DataSource, Logger as OrmLogger } from 'typeorm';
import { createDataSource, rebuildProjections, VersionConflictError, type PgEventStore } from '@locus/eventstore';
import { OUTBOX_CHANNEL, storeFor } from '../apps/mobility-manager/src/start-mobility-manager';
import { eventually, startTestLab } from './support/harness';
import { asOwner, useTestStore } from './support/store';

const meta = { correlationId: 'test', component: 'test', at: new Date(0).toISOString() };
const placed = (vm: string, n: number) => ({
  type: 'VmPlaced',
  data: {
    vm,
    ip: `10.9.${Math.floor(n / 250)}.${(n % 250) + 2}`,
    mac: `52:54:00:09:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`,
    l2Domain: 'lab',
    site: 'dc1',
    hypervisor: 'dc1-hv1',
    memoryMb: 1024,
    locationVersion: 1,
  },
  metadata: meta,
});
const moveAccepted = (vm: string, n: number) => ({
  type: 'MoveAccepted',
  data: {
    moveId: `7f3b0000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    vm,
    mode: 'cold',
    from: { site: 'dc1', hypervisor: 'dc1-hv1' },
    to: { site: 'dc2', hypervisor: 'dc2-hv1' },
    locationVersion: 1,
    cause: 'operator',
    warnings: [],
    planes: [],
  },
  metadata: meta,
});
const moveStarted = (n: number) => ({ type: 'MoveStarted', data: { moveId: `7f3b0000-0000-4000-8000-${String(n).padStart(12, '0')}`, hypervisor: 'dc1-hv1' }, metadata: meta });

/** A second store on the same database whose every SQL statement (BEGIN and COMMIT included) is recorded. */
async function countingStore(databaseUrl: string): Promise<{ ds: DataSource; store: PgEventStore; statements: string[] }> {
  const statements: string[] = [];
  const ds = createDataSource(databaseUrl, 2);
  const logger: OrmLogger = {
    logQuery: (q) => void statements.push(q.trim().split(/\s+/).slice(0, 3).join(' ')),
    logQueryError: () => undefined,
    logQuerySlow: () => undefined,
    logSchemaBuild: () => undefined,
    logMigration: () => undefined,
    log: () => undefined,
  };
  (ds as unknown as { logger: OrmLogger }).logger = logger;
  await ds.initialize();
  statements.length = 0; // the connection's own start-up queries
  return { ds, store: storeFor(ds, 'count'), statements };
}

/** Notifications on the relay's channel, as the relay's LISTEN session sees them. */
async function listen(databaseUrl: string): Promise<{ payloads: string[]; stop: () => Promise<void> }> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  const payloads: string[] = [];
  client.on('notification', (n) => payloads.push(n.payload ?? ''));
  await client.query(`LISTEN "${OUTBOX_CHANNEL}"`);
  return { payloads, stop: () => client.end() };
}

const HOST_LOAD = `SELECT hypervisor, located_mb::int AS "locatedMb", heading_mb::int AS "headingMb", moves_running AS "movesRunning", moves_waiting AS "movesWaiting"
  FROM host_load WHERE located_mb <> 0 OR heading_mb <> 0 OR moves_running <> 0 OR moves_waiting <> 0 ORDER BY hypervisor`;
/**
 * host_load as vm_location and moves say it should be, per host: the memory of the VMs located there
 * and of the VMs located elsewhere whose active move heads there, the operator moves running from
 * there and the moves waiting there.
 */
const HOST_LOAD_FROM_PROJECTIONS = `SELECT hypervisor, sum(located)::int AS "locatedMb", sum(heading)::int AS "headingMb", sum(running)::int AS "movesRunning", sum(waiting)::int AS "movesWaiting" FROM (
    SELECT hypervisor, memory_mb AS located, 0 AS heading, 0 AS running, 0 AS waiting FROM vm_location
    UNION ALL
    SELECT m.to_hypervisor, 0, l.memory_mb, 0, 0 FROM moves m JOIN vm_location l ON l.name = m.vm WHERE m.state IN ('accepted', 'in-progress') AND l.hypervisor <> m.to_hypervisor
    UNION ALL
    SELECT from_hypervisor, 0, 0, CASE WHEN state = 'in-progress' AND cause <> 'ha-restart' THEN 1 ELSE 0 END, CASE WHEN state = 'accepted' THEN 1 ELSE 0 END
      FROM moves WHERE state IN ('accepted', 'in-progress')) per_vm
  GROUP BY hypervisor HAVING sum(located) <> 0 OR sum(heading) <> 0 OR sum(running) <> 0 OR sum(waiting) <> 0 ORDER BY hypervisor`;

const snapshot = async (ds: DataSource) => ({
  locations: await ds.query(`SELECT * FROM vm_location ORDER BY name`),
  moves: await ds.query(`SELECT * FROM moves ORDER BY move_id`),
  hostLoad: await ds.query(HOST_LOAD),
});

describe('event store: expected-version appends against real Postgres', () => {
  let ds: DataSource;
  let store: PgEventStore;
  const config = useTestStore((opened) => ({ ds, store } = opened));

  it('of 20 concurrent appends at the same expected version exactly one wins; the rest get a version conflict', async () => {
    await store.append('vm:race-01', 0, [placed('race-01', 1)]);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        store.append('vm:race-01', 1, [
          {
            type: 'MoveAccepted',
            data: {
              moveId: `7f3a0000-0000-4000-8000-${String(i).padStart(12, '0')}`,
              vm: 'race-01',
              mode: 'cold',
              from: { site: 'dc1', hypervisor: 'dc1-hv1' },
              to: { site: 'dc2', hypervisor: 'dc2-hv1' },
              locationVersion: 1,
              cause: 'operator',
              warnings: [],
              planes: [],
            },
            metadata: meta,
          },
        ]),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(19);
    expect(lost.every((r) => r.reason instanceof VersionConflictError)).toBe(true);
    const { version, events } = await store.readStream('vm:race-01');
    expect(version).toBe(2);
    expect(events.map((e) => e.streamVersion)).toEqual([1, 2]);
    const outbox = await ds.query(`SELECT count(*)::int AS n FROM outbox o JOIN events e USING (position) WHERE e.stream_id = 'vm:race-01'`);
    expect(outbox[0].n).toBe(2);
  });

  it('refuses a new stream appended twice at version 0', async () => {
    await store.append('vm:race-02', 0, [placed('race-02', 2)]);
    await expect(store.append('vm:race-02', 0, [placed('race-02', 2)])).rejects.toBeInstanceOf(VersionConflictError);
  });

  it('keeps events append-only: the owner meets the trigger on UPDATE and DELETE, and the services never get that far', async () => {
    const tamper = [`UPDATE events SET type = 'Tampered' WHERE stream_id = 'vm:race-02'`, `DELETE FROM events WHERE stream_id = 'vm:race-02'`];
    await asOwner(config, async (owner) => {
      for (const sql of tamper) await expect(owner.query(sql)).rejects.toThrow(/append-only/);
    });
    for (const sql of tamper) await expect(ds.query(sql)).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(/permission denied/) });
    expect((await store.readStream('vm:race-02')).events.map((e) => e.type)).toEqual(['VmPlaced']);
  });

  it('refuses a second VM with the same IP in the location DB (one authoritative location per address)', async () => {
    const dup = placed('race-03', 2); // same IP and MAC as race-02
    await expect(store.append('vm:race-03', 0, [dup])).rejects.toThrow(/vm_location_(ip|mac)_unique/);
    // The whole transaction rolled back: no event, no outbox row, no stream row.
    expect((await store.readStream('vm:race-03')).version).toBe(0);
    expect((await ds.query(`SELECT count(*)::int AS n FROM streams WHERE stream_id = 'vm:race-03'`))[0].n).toBe(0);
  });
});

describe('event store: round trips and group commit (appendMany)', () => {
  let ds: DataSource;
  let store: PgEventStore;
  const config = useTestStore((opened) => ({ ds, store } = opened));

  it('an append is one autocommit statement (projections inline), notifies the relay once, and a failed claim writes nothing', async () => {
    const counting = await countingStore(config.databaseUrl);
    const listener = await listen(config.databaseUrl);
    try {
      const placedEvents = await counting.store.append('vm:rt-01', 0, [placed('rt-01', 501)]);
      expect(counting.statements).toEqual(['WITH s AS']);
      counting.statements.length = 0;
      // This store wrote version 1: it folds the next events over the rows it remembers, no read.
      const moved = await counting.store.append('vm:rt-01', 1, [moveAccepted('rt-01', 501), moveStarted(501)]);
      expect(counting.statements).toEqual(['WITH s AS']);
      expect(moved.map((e) => [e.streamId, e.streamVersion, e.type])).toEqual([
        ['vm:rt-01', 2, 'MoveAccepted'],
        ['vm:rt-01', 3, 'MoveStarted'],
      ]);
      expect(BigInt(moved[1].position)).toBeGreaterThan(BigInt(moved[0].position));
      // The same shape as before: what readStream gives back.
      expect((await store.readStream('vm:rt-01')).events).toEqual([...placedEvents, ...moved]);
      await eventually(async () => listener.payloads.length === 2, 5000, 'two notifications');
      expect(listener.payloads).toEqual([placedEvents[0].position, moved[1].position]);

      counting.statements.length = 0;
      // An append at a version this store did not write reads the rows first; its failed claim writes nothing.
      await expect(counting.store.append('vm:rt-01', 1, [moveStarted(501)])).rejects.toBeInstanceOf(VersionConflictError);
      expect(counting.statements).toEqual(['SELECT name, host(ip)', 'WITH s AS']);
      expect((await store.readStream('vm:rt-01')).version).toBe(3);
      const move = await ds.query(`SELECT state FROM moves WHERE move_id = $1`, [(moved[0].data as { moveId: string }).moveId]);
      expect(move).toEqual([{ state: 'in-progress' }]);
      await new Promise((r) => setTimeout(r, 100));
      expect(listener.payloads).toHaveLength(2); // nothing committed, nothing notified
    } finally {
      await listener.stop();
      await counting.ds.destroy();
    }
  });

  it('a batch of 1,000 new streams commits in one transaction, with one notification', async () => {
    const counting = await countingStore(config.databaseUrl);
    const listener = await listen(config.databaseUrl);
    try {
      const batch = Array.from({ length: 1000 }, (_, i) => ({ streamId: `vm:batch-${i}`, expectedVersion: 0, events: [placed(`batch-${i}`, 1000 + i)] }));
      const results = await counting.store.appendMany(batch);
      expect(counting.statements).toEqual(['WITH s AS']);
      expect(results.map((r) => r.streamId)).toEqual(batch.map((b) => b.streamId));
      expect(results.every((r) => r.events?.length === 1 && r.events[0].streamVersion === 1 && !r.conflict)).toBe(true);
      const [row] = await ds.query(
        `SELECT count(*)::int AS events, count(DISTINCT e.xmin::text)::int AS transactions, count(o.position)::int AS outbox
           FROM events e LEFT JOIN outbox o USING (position) WHERE e.stream_id LIKE 'vm:batch-%'`,
      );
      expect(row).toEqual({ events: 1000, transactions: 1, outbox: 1000 });
      expect((await ds.query(`SELECT count(*)::int AS n FROM vm_location WHERE name LIKE 'batch-%'`))[0].n).toBe(1000);
      await eventually(async () => listener.payloads.length === 1, 5000, 'one notification');
      const last = results.map((r) => BigInt(r.events![0].position)).reduce((a, b) => (a > b ? a : b));
      expect(listener.payloads).toEqual([String(last)]);
    } finally {
      await listener.stop();
      await counting.ds.destroy();
    }
  });

  it('a batch where 2 of 10 streams are at the wrong version appends the other 8 and reports the 2', async () => {
    const setup = await store.appendMany(Array.from({ length: 10 }, (_, i) => ({ streamId: `vm:mix-${i}`, expectedVersion: 0, events: [placed(`mix-${i}`, 3000 + i)] })));
    expect(setup.every((r) => r.events)).toBe(true);
    const before = await snapshot(ds);
    const batch = Array.from({ length: 10 }, (_, i) => ({
      streamId: `vm:mix-${i}`,
      // mix-3 is asked to be new (it exists), mix-7 to be at version 5 (it is at 1)
      expectedVersion: i === 3 ? 0 : i === 7 ? 5 : 1,
      events: [moveAccepted(`mix-${i}`, 3000 + i), moveStarted(3000 + i)],
    }));
    const results = await store.appendMany(batch);

    expect(results.filter((r) => r.conflict).map((r) => r.streamId)).toEqual(['vm:mix-3', 'vm:mix-7']);
    for (const r of results.filter((x) => x.conflict)) {
      expect(r.conflict).toBeInstanceOf(VersionConflictError);
      expect(r.events).toBeUndefined();
    }
    expect(results[7].conflict).toMatchObject({ streamId: 'vm:mix-7', expectedVersion: 5 });
    for (const r of results.filter((x) => !x.conflict)) {
      expect(r.events!.map((e) => [e.streamId, e.streamVersion, e.type])).toEqual([
        [r.streamId, 2, 'MoveAccepted'],
        [r.streamId, 3, 'MoveStarted'],
      ]);
      expect(BigInt(r.events![1].position)).toBeGreaterThan(BigInt(r.events![0].position));
      expect((await store.readStream(r.streamId)).events.slice(1)).toEqual(r.events);
    }
    // Nothing of the two conflicting streams was written: no event, no outbox row, no projection change.
    const perStream = await ds.query(
      `SELECT s.stream_id, s.version, (SELECT count(*)::int FROM events e WHERE e.stream_id = s.stream_id) AS events,
              (SELECT count(*)::int FROM outbox o JOIN events e USING (position) WHERE e.stream_id = s.stream_id) AS outbox
         FROM streams s WHERE s.stream_id LIKE 'vm:mix-%' ORDER BY s.stream_id`,
    );
    for (const row of perStream) {
      const conflicted = row.stream_id === 'vm:mix-3' || row.stream_id === 'vm:mix-7';
      expect(row).toEqual({ stream_id: row.stream_id, version: conflicted ? 1 : 3, events: conflicted ? 1 : 3, outbox: conflicted ? 1 : 3 });
    }
    const after = await snapshot(ds);
    const mixLocation = (s: { locations: any[] }, vm: string) => s.locations.find((l) => l.name === vm);
    expect(mixLocation(after, 'mix-3')).toEqual(mixLocation(before, 'mix-3'));
    expect(mixLocation(after, 'mix-7')).toEqual(mixLocation(before, 'mix-7'));
    expect(mixLocation(after, 'mix-0')).toMatchObject({ state: 'moving', stream_version: 3 });
    expect(
      after.moves
        .filter((m: any) => m.vm.startsWith('mix-'))
        .map((m: any) => m.vm)
        .sort(),
    ).toEqual(['mix-0', 'mix-1', 'mix-2', 'mix-4', 'mix-5', 'mix-6', 'mix-8', 'mix-9']);
  });

  it('concurrent batches over the same streams, in different orders: each stream is appended by exactly one, none deadlocks', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => i);
    await store.appendMany(ids.map((i) => ({ streamId: `vm:race-many-${i}`, expectedVersion: 0, events: [placed(`race-many-${i}`, 5000 + i)] })));
    const shuffled = (k: number) => [...ids].sort((a, b) => ((a * 7919 + k * 104729) % 211) - ((b * 7919 + k * 104729) % 211));
    const outcomes = await Promise.all(
      [0, 1, 2, 3].map((k) => store.appendMany(shuffled(k).map((i) => ({ streamId: `vm:race-many-${i}`, expectedVersion: 1, events: [moveAccepted(`race-many-${i}`, 5000 + i + 1000 * k)] })))),
    );
    for (const i of ids) {
      const winners = outcomes.flat().filter((r) => r.streamId === `vm:race-many-${i}` && r.events);
      expect(winners).toHaveLength(1);
      expect((await store.readStream(`vm:race-many-${i}`)).version).toBe(2);
    }
  });

  it('a batch whose projection fails (a duplicate IP) writes nothing at all and throws', async () => {
    const batch = [
      { streamId: 'vm:half-1', expectedVersion: 0, events: [placed('half-1', 4001)] },
      { streamId: 'vm:half-2', expectedVersion: 0, events: [placed('half-2', 3000)] }, // mix-0's IP and MAC
      { streamId: 'vm:mix-1', expectedVersion: 3, events: [moveStarted(9999)] },
    ];
    await expect(store.appendMany(batch)).rejects.toThrow(/vm_location_(ip|mac)_unique/);
    const [row] = await ds.query(
      `SELECT (SELECT count(*)::int FROM streams WHERE stream_id LIKE 'vm:half-%') AS streams,
              (SELECT count(*)::int FROM events WHERE stream_id LIKE 'vm:half-%' OR (stream_id = 'vm:mix-1' AND stream_version > 3)) AS events,
              (SELECT version FROM streams WHERE stream_id = 'vm:mix-1') AS mix1`,
    );
    expect(row).toEqual({ streams: 0, events: 0, mix1: 3 });
    await expect(store.appendMany([batch[0], batch[0]])).rejects.toThrow(/twice/);
  });

  it('two writers on one stream (replicas): each folds its projection over rows at the expected version, read again when another wrote it', async () => {
    const other = await countingStore(config.databaseUrl);
    const mine = await countingStore(config.databaseUrl);
    try {
      await mine.store.append('vm:two-01', 0, [placed('two-01', 601)]);
      other.statements.length = 0;
      await other.store.append('vm:two-01', 1, [moveAccepted('two-01', 601)]); // never saw version 1: reads the rows
      expect(other.statements).toEqual(['SELECT name, host(ip)', 'WITH s AS']);
      mine.statements.length = 0;
      await mine.store.append('vm:two-01', 2, [moveStarted(601)]); // remembers version 1, not 2: reads again
      expect(mine.statements).toEqual(['SELECT name, host(ip)', 'WITH s AS']);
      const [move] = await ds.query(`SELECT state, view->>'vm' AS vm FROM moves WHERE move_id = $1`, ['7f3b0000-0000-4000-8000-000000000601']);
      expect(move).toEqual({ state: 'in-progress', vm: 'two-01' });
      const [row] = await ds.query(`SELECT stream_version FROM vm_location WHERE name = 'two-01'`);
      expect(row.stream_version).toBeLessThanOrEqual(3);
    } finally {
      await other.ds.destroy();
      await mine.ds.destroy();
    }
  });

  it("a host's heading memory follows a VM's active move, whether the VM's rows come from memory or from a read (another writer)", async () => {
    const mine = await countingStore(config.databaseUrl);
    const other = await countingStore(config.databaseUrl);
    const heading = async (host: string) => Number((await ds.query(`SELECT heading_mb FROM host_load WHERE hypervisor = $1`, [host]))[0]?.heading_mb ?? 0);
    const reasserted = (vm: string, hypervisor: string, locationVersion: number) => ({
      type: 'VmLocationReasserted',
      data: { repairId: '7f3c0000-0000-4000-8000-000000000001', vm, ip: '10.9.2.200', mac: '52:54:00:09:02:c8', site: 'dc2', hypervisor, locationVersion, previousVersion: 1, findings: [], evict: [] },
      metadata: meta,
    });
    try {
      const before = await heading('dc2-hv1');
      await mine.store.append('vm:head-01', 0, [placed('head-01', 701)]);
      await mine.store.append('vm:head-01', 1, [moveAccepted('head-01', 701)]); // from memory: 1024 MB now head to dc2-hv1
      expect(await heading('dc2-hv1')).toBe(before + 1024);
      await mine.store.append('vm:head-02', 0, [placed('head-02', 702)]);
      await mine.store.append('vm:head-02', 1, [moveAccepted('head-02', 702)]);
      expect(await heading('dc2-hv1')).toBe(before + 2048);

      // A writer that never saw head-01 relocates it (no event of its move in the batch): it reads the
      // VM's active move with its location, so the memory stops heading there as it arrives.
      other.statements.length = 0;
      await other.store.append('vm:head-01', 2, [reasserted('head-01', 'dc2-hv1', 5)]);
      expect(other.statements).toEqual(['SELECT name, host(ip)', 'WITH s AS']);
      expect(await heading('dc2-hv1')).toBe(before + 1024);
      // The writer that remembers head-02 (with its active move) does the same with no read.
      mine.statements.length = 0;
      await mine.store.append('vm:head-02', 2, [reasserted('head-02', 'dc2-hv1', 5)]);
      expect(mine.statements).toEqual(['WITH s AS']);
      expect(await heading('dc2-hv1')).toBe(before);
      expect(await ds.query(HOST_LOAD)).toEqual(await ds.query(HOST_LOAD_FROM_PROJECTIONS));
    } finally {
      await mine.ds.destroy();
      await other.ds.destroy();
    }
  });

  it('after single and batched appends, a rebuild gives identical vm_location and moves', async () => {
    const live = await snapshot(ds);
    expect(live.locations.length).toBeGreaterThan(1000);
    // The append statement keeps each host's load as vm_location and moves count and sum it.
    expect(live.hostLoad).toEqual(await ds.query(HOST_LOAD_FROM_PROJECTIONS));
    expect(live.hostLoad.some((h: { headingMb: number }) => h.headingMb > 0)).toBe(true);
    expect(live.hostLoad.some((h: { movesRunning: number }) => h.movesRunning > 0)).toBe(true);
    expect(live.hostLoad.some((h: { movesWaiting: number }) => h.movesWaiting > 0)).toBe(true);
    const report = await asOwner(config, rebuildProjections);
    expect(report.vms).toBe(live.locations.length);
    expect(await snapshot(ds)).toEqual(live);
  });
});

describe('projections rebuilt from the log equal the live ones', () => {
  it('after a series of moves (completed, failed and compensated, moved back), a rebuild gives identical vm_location and moves', async () => {
    const lab = await startTestLab({ hypervisors: ['dc1-hv1', 'dc1-hv2', 'dc2-hv1', 'dc2-hv2', 'cloud-hv1'], agentGiveUpMs: 200 });
    try {
      const moves = [
        await lab.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' }),
        await lab.req('vm.move', { vm: 'web-02', to: 'dc2-hv2', mode: 'cold', requestId: 'rebuild-1' }),
        await lab.req('vm.move', { vm: 'db-01', to: 'dc1-hv2', mode: 'cold' }),
      ];
      const toCloud2 = (await lab.req('vm.list', { hypervisor: 'cloud-hv1' })).vms[0].name;
      const failing = await lab.req('vm.move', { vm: toCloud2, to: 'cloud-hv2', mode: 'cold' }); // no agent there: fails
      for (const m of moves) expect((await lab.waitForMove(m.moveId)).state).toBe('completed');
      expect((await lab.waitForMove(failing.moveId, ['failed'])).error.code).toBe('UNAVAILABLE');
      const back = await lab.req('vm.move', { vm: 'web-01', to: 'dc1-hv1', mode: 'cold' });
      await lab.waitForMove(back.moveId);

      const snapshot = async () => ({
        locations: await lab.manager.dataSource.query(`SELECT * FROM vm_location ORDER BY name`),
        moves: await lab.manager.dataSource.query(`SELECT * FROM moves ORDER BY move_id`),
        hostLoad: await lab.manager.dataSource.query(HOST_LOAD),
      });
      // The failed move's compensation (restart at the source) ends with the VM running again.
      await eventually(async () => (await lab.req('vm.get', { vm: toCloud2 })).vm.state === 'running', 15_000, 'restart at source');
      const live = await snapshot();
      const report = await asOwner(lab.config, rebuildProjections);
      const rebuilt = await snapshot();
      expect(report.vms).toBe(live.locations.length);
      expect(report.moves).toBe(5);
      expect(rebuilt).toEqual(live);
      // Relocations moved memory between hosts and moves ran and ended: what the appends kept is what the rows say.
      expect(live.hostLoad).toEqual(await lab.manager.dataSource.query(HOST_LOAD_FROM_PROJECTIONS));
      expect(live.locations.find((l: any) => l.name === 'web-01')).toMatchObject({ hypervisor: 'dc1-hv1', location_version: 3 });
    } finally {
      await lab.stop();
    }
  });
});
