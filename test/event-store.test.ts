import type { DataSource } from 'typeorm';
import { openStore, rebuildProjections, VersionConflictError, type PgEventStore } from '@locus/eventstore';
import { storeFor } from '../apps/mobility-manager/src/start-mobility-manager';
import { cleanup, eventually, startTestLab, testConfig } from './support/harness';

const meta = { correlationId: 'test', component: 'test', at: new Date(0).toISOString() };
const placed = (vm: string, n: number) => ({
  type: 'VmPlaced',
  data: { vm, ip: `10.9.${Math.floor(n / 250)}.${(n % 250) + 2}`, mac: `52:54:00:09:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`, l2Domain: 'lab', site: 'dc1', hypervisor: 'dc1-hv1', memoryMb: 1024, locationVersion: 1 },
  metadata: meta,
});

describe('event store: expected-version appends against real Postgres', () => {
  const config = testConfig();
  let ds: DataSource;
  let store: PgEventStore;
  beforeAll(async () => {
    ds = await openStore(config.databaseUrl);
    store = storeFor(ds, config.subjectPrefix);
  });
  afterAll(async () => {
    await ds.destroy();
    await cleanup(config).catch(() => undefined);
  });

  it('of 20 concurrent appends at the same expected version exactly one wins; the rest get a version conflict', async () => {
    await store.append('vm:race-01', 0, [placed('race-01', 1)]);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        store.append('vm:race-01', 1, [{ type: 'MoveAccepted', data: { moveId: `7f3a0000-0000-4000-8000-${String(i).padStart(12, '0')}`, vm: 'race-01', mode: 'cold', from: { site: 'dc1', hypervisor: 'dc1-hv1' }, to: { site: 'dc2', hypervisor: 'dc2-hv1' }, locationVersion: 1, cause: 'operator', warnings: [], planes: [] }, metadata: meta }]),
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

  it('keeps events append-only: UPDATE and DELETE are refused by the database', async () => {
    await expect(ds.query(`UPDATE events SET type = 'Tampered' WHERE stream_id = 'vm:race-02'`)).rejects.toThrow(/append-only/);
    await expect(ds.query(`DELETE FROM events WHERE stream_id = 'vm:race-02'`)).rejects.toThrow(/append-only/);
  });

  it('refuses a second VM with the same IP in the location DB (one authoritative location per address)', async () => {
    const dup = placed('race-03', 2); // same IP and MAC as race-02
    await expect(store.append('vm:race-03', 0, [dup])).rejects.toThrow(/vm_location_(ip|mac)_unique/);
    // The whole transaction rolled back: no event, no outbox row, no stream row.
    expect((await store.readStream('vm:race-03')).version).toBe(0);
    expect((await ds.query(`SELECT count(*)::int AS n FROM streams WHERE stream_id = 'vm:race-03'`))[0].n).toBe(0);
  });
});

describe('projections rebuilt from the log equal the live ones', () => {
  it('after a series of moves (completed, failed and compensated, moved back), a rebuild gives identical vm_location and moves', async () => {
    const lab = await startTestLab({ hypervisors: ['dc1-hv1', 'dc1-hv2', 'dc2-hv1', 'dc2-hv2', 'cloud-hv1'], agentRetries: 0, agentTimeoutMs: 200 });
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
      });
      // The failed move's compensation (restart at the source) ends with the VM running again.
      await eventually(async () => (await lab.req('vm.get', { vm: toCloud2 })).vm.state === 'running', 15_000, 'restart at source');
      const live = await snapshot();
      const report = await rebuildProjections(lab.manager.dataSource);
      const rebuilt = await snapshot();
      expect(report.vms).toBe(live.locations.length);
      expect(report.moves).toBe(5);
      expect(rebuilt).toEqual(live);
      expect(live.locations.find((l: any) => l.name === 'web-01')).toMatchObject({ hypervisor: 'dc1-hv1', location_version: 3 });
    } finally {
      await lab.stop();
    }
  });
});
