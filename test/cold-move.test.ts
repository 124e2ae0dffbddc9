import { readStream, startTestLab, type TestLab } from './support/harness';

/**
 * The foundation's promise, end to end against the real NATS and Postgres: a cold move sent
 * as plain JSON moves the VM, the location DB says so, and every event is in Postgres and in
 * the JetStream stream exactly once.
 */
describe('cold move end to end', () => {
  let lab: TestLab;
  beforeAll(async () => {
    lab = await startTestLab();
  });
  afterAll(async () => {
    await lab.stop();
  });

  it('moves web-01 from dc1 to dc2: new hypervisor, higher location version, completed with agent steps', async () => {
    const before = await lab.req('vm.get', { vm: 'web-01' });
    expect(before).toMatchObject({ ok: true, vm: { hypervisor: 'dc1-hv1', site: 'dc1', locationVersion: 1, state: 'running' } });

    const accepted = await lab.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
    expect(accepted).toMatchObject({
      ok: true,
      vm: 'web-01',
      mode: 'cold',
      from: { hypervisor: 'dc1-hv1', site: 'dc1' },
      to: { hypervisor: 'dc2-hv1', site: 'dc2' },
    });

    const move = await lab.waitForMove(accepted.moveId);
    expect(move.state).toBe('completed');
    expect(move.locationVersion).toBe(2);
    expect(move.timeline.map((t: any) => `${t.component} ${t.event}`)).toEqual([
      'mobility-manager MoveAccepted',
      'mobility-manager MoveStarted',
      'agent:dc1-hv1 VmStoppedAtSource',
      'agent:dc2-hv1 VmConfigTransferred',
      'mobility-manager VmRelocated',
      'agent:dc2-hv1 VmStartedAtTarget',
      'agent:dc2-hv1 MoveCompleted',
    ]);
    // web profile: 8 s shutdown + config transfer + 20 s boot, in simulated time; the agents
    // measured at least that from the shutdown's start to the boot's end.
    expect(move.modelDowntimeMs).toBeGreaterThanOrEqual(28_000);
    expect(move.modelDowntimeMs).toBeLessThan(28_100);
    expect(move.downtimeMs).toBeGreaterThanOrEqual(move.modelDowntimeMs);

    const after = await lab.req('vm.get', { vm: 'web-01' });
    expect(after).toMatchObject({ ok: true, vm: { hypervisor: 'dc2-hv1', site: 'dc2', locationVersion: 2, state: 'running' } });

    // The agents agree: the VM runs at the target and is gone from the source.
    expect(lab.agents.host.agent('dc2-hv1')!.inventory.vms.get('web-01')).toEqual({ state: 'running', locationVersion: 2 });
    expect(lab.agents.host.agent('dc1-hv1')!.inventory.vms.has('web-01')).toBe(false);
  });

  it('has every committed event in Postgres and in JetStream exactly once', async () => {
    await lab.manager.relay.drained();
    const stored: { id: string; type: string; stream_id: string }[] = await lab.manager.dataSource.query('SELECT id, type, stream_id FROM events ORDER BY position');
    const moveEvents = stored.filter((e) => e.stream_id === 'vm:web-01');
    expect(moveEvents.map((e) => e.type)).toEqual(['VmPlaced', 'MoveAccepted', 'MoveStarted', 'VmStoppedAtSource', 'VmConfigTransferred', 'VmRelocated', 'VmStartedAtTarget', 'MoveCompleted']);
    const published = await readStream(lab.client, lab.config.streamName);
    expect(published.map((m) => m.msgId).sort()).toEqual(stored.map((e) => e.id).sort());
    expect(new Set(published.map((m) => m.msgId)).size).toBe(published.length);
    const relocated = published.find((m) => m.event.type === 'VmRelocated');
    // Location events on their own subject class (what agents and planes follow), the move's steps beside them.
    expect(relocated!.subject).toBe(`${lab.config.subjectPrefix}.evt.vm.web-01.loc.VmRelocated`);
    expect(published.find((m) => m.event.type === 'MoveStarted')!.subject).toBe(`${lab.config.subjectPrefix}.evt.vm.web-01.MoveStarted`);
    const outbox = await lab.manager.dataSource.query('SELECT count(*)::int AS n FROM outbox');
    expect(outbox[0].n).toBe(0);
  });

  it("records the start in the acceptance's append and the location commit in the transfer's: one transaction per step that asks someone", async () => {
    // web-01's move of the first test. events is append-only: xmin is the transaction that inserted each row.
    const rows: { type: string; tx: string }[] = await lab.manager.dataSource.query(
      `SELECT type, xmin::text AS tx FROM events WHERE stream_id = 'vm:web-01' AND type <> 'VmPlaced' AND type <> 'MoveConverged' ORDER BY position`,
    );
    expect(rows.map((r) => r.type)).toEqual(['MoveAccepted', 'MoveStarted', 'VmStoppedAtSource', 'VmConfigTransferred', 'VmRelocated', 'VmStartedAtTarget', 'MoveCompleted']);
    const tx = new Map(rows.map((r) => [r.type, r.tx]));
    expect(tx.get('VmRelocated')).toBe(tx.get('VmConfigTransferred'));
    // dc1-hv1 had a free outbound slot and nobody waiting: the move started in its acceptance's append
    expect(tx.get('MoveStarted')).toBe(tx.get('MoveAccepted'));
    // accepted and started, the stop, the transfer with the commit, the boot with the completion
    expect(new Set(rows.map((r) => r.tx)).size).toBe(4);
  });

  it('lists VMs by site from the location DB', async () => {
    const dc2 = await lab.vms({ site: 'dc2' });
    expect(dc2.map((v) => v.name)).toContain('web-01');
    expect(dc2.every((v) => v.site === 'dc2')).toBe(true);
    const all = await lab.vms();
    expect(all).toHaveLength(lab.manager.topology.topology.vms.length);
  });

  it('serves the topology', async () => {
    const reply = await lab.req('topology.get', {});
    expect(reply.ok).toBe(true);
    expect(reply.topology.sites.map((s: any) => s.name)).toEqual(expect.arrayContaining(['dc1', 'dc2', 'cloud', 'branch']));
    expect(reply.topology.hypervisors[0]).toEqual(expect.objectContaining({ name: expect.any(String), site: expect.any(String), l2Domains: expect.any(Array) }));
    expect(reply.topology.vms.length).toBeGreaterThanOrEqual(20);
  });
});
