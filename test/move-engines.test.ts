import { eventually, startTestLab, type TestLab } from './support/harness';

/**
 * Hot, warm and cold moves end to end against the real NATS and Postgres: each completes
 * with its phases, downtime and timeline, and what `move.plan` predicted is what the model of
 * the move reports (`modelDowntimeMs`). The downtime recorded is what the agents measured,
 * never less than the model: it also holds the manager's round trips between the steps (at
 * time scale 50 every real ms is 50 simulated ones). Time scale 50: a 20 s boot takes 0.4 s.
 */
describe('move engines', () => {
  let lab: TestLab;
  beforeAll(async () => {
    lab = await startTestLab({ timeScale: 50 });
  });
  afterAll(async () => {
    await lab.stop();
  });

  it('hot: pre-copy rounds while running, a short stop-and-copy, resume and RARP at the target, as predicted', async () => {
    const body = { vm: 'web-01', to: 'dc2-hv1', mode: 'hot' };
    const plan = await lab.req('move.plan', body);
    expect(plan).toMatchObject({ ok: true, allowed: true, planes: ['location', 'l2-announce', 'mapping', 'host-routes'] });
    const before = await lab.eventCount();
    await lab.req('move.plan', body);
    expect(await lab.eventCount()).toBe(before); // a plan appends nothing

    const accepted = await lab.req('vm.move', body);
    const move = await lab.waitForMove(accepted.moveId);
    expect(move.state).toBe('completed');
    expect(move.rounds.length).toBe(plan.prediction.rounds.length);
    expect(move.modelDowntimeMs).toBeCloseTo(plan.prediction.downtimeMs, 2);
    expect(move.totalMs).toBeCloseTo(plan.prediction.totalMs, 2);
    expect(move.modelDowntimeMs).toBeLessThanOrEqual(300 + 20);
    expect(move.downtimeMs).toBeGreaterThanOrEqual(move.modelDowntimeMs);
    expect(Object.keys(move.phases)).toEqual(expect.arrayContaining(['precopy', 'stop-and-copy', 'resume']));
    const events = move.timeline.map((t: any) => t.event);
    expect(events).toEqual(expect.arrayContaining(['PreCopyRoundCompleted', 'SwitchoverStarted', 'VmPausedAndCopied', 'VmRelocated', 'VmResumedAtTarget', 'RarpAnnounced', 'MoveCompleted']));
    expect(move.timeline.find((t: any) => t.event === 'RarpAnnounced').detail.offsetsMs).toEqual([50, 150, 250, 350, 450]);
    expect((await lab.req('vm.get', { vm: 'web-01' })).vm).toMatchObject({ hypervisor: 'dc2-hv1', locationVersion: 2, state: 'running' });
    // One progress line per pre-copy round.
    expect(lab.logs().filter((l) => l.moveId === accepted.moveId && /^pre-copy web-01 round/.test(l.msg))).toHaveLength(move.rounds.length);
    // The saga's own decisions go into the append of the answer before them: the switchover with
    // the last round, the location commit with the stop-and-copy; each still says so once.
    const tx = await transactionsOf(accepted.moveId);
    expect(tx.SwitchoverStarted).toBe(tx.lastRound);
    expect(tx.VmRelocated).toBe(tx.VmPausedAndCopied);
    expect(lab.logs().filter((l) => l.moveId === accepted.moveId && /^switchover of web-01/.test(l.msg))).toHaveLength(1);
    expect(lab.logs().filter((l) => l.moveId === accepted.moveId && /^location committed: web-01/.test(l.msg))).toHaveLength(1);
  });

  /** The transaction (xmin: events is append-only) of each event of a move, and of its last pre-copy round. */
  async function transactionsOf(moveId: string): Promise<Record<string, string>> {
    const rows: { type: string; tx: string }[] = await lab.manager.dataSource.query(`SELECT type, xmin::text AS tx FROM events WHERE data->>'moveId' = $1 ORDER BY position`, [moveId]);
    const out: Record<string, string> = {};
    for (const r of rows) {
      out[r.type] = r.tx;
      if (r.type === 'PreCopyRoundCompleted') out.lastRound = r.tx;
    }
    return out;
  }

  it('hot with a heavy writer: auto-converge throttles the vCPU round by round, and the plan said so', async () => {
    const body = { vm: 'db-01', to: 'dc1-hv2', mode: 'hot', options: { dirtyRateMBps: 1500, workingSetMb: 16384 } };
    const plan = await lab.req('move.plan', body);
    expect(plan.prediction.rounds.some((r: any) => r.throttlePct >= 20)).toBe(true);
    const move = await lab.waitForMove((await lab.req('vm.move', body)).moveId, undefined, 30_000);
    expect(move.state).toBe('completed');
    expect(move.rounds.map((r: any) => r.throttlePct)).toEqual(plan.prediction.rounds.map((r: any) => r.throttlePct));
    expect(move.modelDowntimeMs).toBeCloseTo(plan.prediction.downtimeMs, 2);
    expect(move.downtimeMs).toBeGreaterThanOrEqual(move.modelDowntimeMs);
  });

  it('hot that cannot converge with policy abort: failed NOT_CONVERGING, the VM still runs at the source', async () => {
    const body = { vm: 'db-02', to: 'dc1-hv1', mode: 'hot', options: { dirtyRateMBps: 4000, workingSetMb: 20000, policy: 'abort' } };
    expect((await lab.req('move.plan', body)).prediction.outcome).toBe('abort');
    const move = await lab.waitForMove((await lab.req('vm.move', body)).moveId, ['failed'], 30_000);
    expect(move.error.code).toBe('NOT_CONVERGING');
    expect((await lab.req('vm.get', { vm: 'db-02' })).vm).toMatchObject({ hypervisor: 'dc1-hv2', locationVersion: 1, state: 'running' });
    // The verdict is recorded with the round that called for it, and said once.
    const tx = await transactionsOf(move.moveId);
    expect(tx.MoveFailed).toBe(tx.lastRound);
    expect(lab.logs().filter((l) => l.moveId === move.moveId && /failed: NOT_CONVERGING$/.test(l.msg))).toHaveLength(1);
  });

  it('hot with policy postcopy: downtime is device state only; the rest is pulled after resume', async () => {
    const body = { vm: 'cache-01', to: 'dc2-hv1', mode: 'hot', options: { dirtyRateMBps: 4000, workingSetMb: 12000, policy: 'postcopy' } };
    const plan = await lab.req('move.plan', body);
    expect(plan.prediction.outcome).toBe('postcopy');
    const move = await lab.waitForMove((await lab.req('vm.move', body)).moveId, undefined, 30_000);
    expect(move.state).toBe('completed');
    expect(move.modelDowntimeMs).toBe(20);
    expect(move.downtimeMs).toBeGreaterThanOrEqual(20);
    expect(move.phases.postcopy).toBeGreaterThan(0);
    expect(move.totalMs).toBeCloseTo(plan.prediction.totalMs, 2);
  });

  it('warm: suspend to disk, state transfer, resume; downtime is the whole move, as predicted', async () => {
    const body = { vm: 'web-02', to: 'dc2-hv2', mode: 'warm' };
    const plan = await lab.req('move.plan', body);
    const move = await lab.waitForMove((await lab.req('vm.move', body)).moveId);
    expect(move.state).toBe('completed');
    expect(Object.keys(move.phases).sort()).toEqual(['resume', 'state-transfer', 'suspend']);
    expect(move.modelDowntimeMs).toBeCloseTo(plan.prediction.downtimeMs, 2);
    expect(move.modelDowntimeMs).toBe(move.totalMs);
    expect(move.downtimeMs).toBeGreaterThanOrEqual(move.modelDowntimeMs);
  });

  it('cold out of the subnet to the cloud, which carries the gateway: shutdown, transfer, boot', async () => {
    const body = { vm: 'app-01', to: 'cloud-hv1', mode: 'cold' };
    const plan = await lab.req('move.plan', body);
    expect(plan.planes).toEqual(['location', 'mapping', 'host-routes', 'arp-proxy']);
    const move = await lab.waitForMove((await lab.req('vm.move', body)).moveId);
    expect(Object.keys(move.phases).sort()).toEqual(['boot', 'shutdown', 'transfer']);
    expect(move.modelDowntimeMs).toBeCloseTo(plan.prediction.downtimeMs, 2);
    expect(move.downtimeMs).toBeGreaterThanOrEqual(move.modelDowntimeMs);
  });

  it('hot to an L3-capable cloud is allowed with a warning that says why', async () => {
    const accepted = await lab.req('vm.move', { vm: 'jump-01', to: 'cloud-hv2', mode: 'hot' });
    expect(accepted.warnings[0]).toMatch(/L3-capable/);
    const move = await lab.waitForMove(accepted.moveId);
    expect(move.warnings).toEqual(accepted.warnings);
  });

  it('cancel before the switchover leaves the VM running at the source', async () => {
    // A slow link makes pre-copy last: 4 GiB at 100 Mb/s is over five simulated minutes.
    const accepted = await lab.req('vm.move', { vm: 'web-05', to: 'dc2-hv2', mode: 'hot', options: { bandwidthMbps: 100 } });
    const cancelled = await lab.req('move.cancel', { moveId: accepted.moveId });
    expect(cancelled).toMatchObject({ ok: true, state: 'cancelled', restartAtSource: false });
    const move = await lab.waitForMove(accepted.moveId, ['cancelled']);
    expect(move.timeline.at(-1).event).toBe('MoveCancelled');
    expect((await lab.req('vm.get', { vm: 'web-05' })).vm).toMatchObject({ hypervisor: 'dc1-hv1', locationVersion: 1, state: 'running' });
    expect(lab.agents.host.agent('dc1-hv1')!.inventory.vms.get('web-05')?.state).toBe('running');
    expect(await lab.req('move.cancel', { moveId: accepted.moveId })).toMatchObject({ ok: false, error: { code: 'TOO_LATE' } });
  });

  it('cancel of a cold move after its stop restarts the VM at the source', async () => {
    // A 10 kb/s link keeps the config transfer (and so the move before its commit) going for 3.5 simulated minutes.
    const accepted = await lab.req('vm.move', { vm: 'api-01', to: 'dc2-hv1', mode: 'cold', options: { bandwidthMbps: 0.01 } });
    await eventually(async () => (await lab.req('move.get', { moveId: accepted.moveId })).move.timeline.some((t: any) => t.event === 'VmStoppedAtSource'), 10_000, 'the stop');
    const cancelled = await lab.req('move.cancel', { moveId: accepted.moveId });
    expect(cancelled).toMatchObject({ ok: true, state: 'cancelled', phase: 'source-stopped', restartAtSource: true });
    await eventually(async () => (await lab.req('vm.get', { vm: 'api-01' })).vm.state === 'running', 15_000, 'the restart');
    expect(lab.agents.host.agent('dc1-hv2')!.inventory.vms.get('api-01')?.state).toBe('running');
    expect((await lab.req('move.get', { moveId: accepted.moveId })).move.state).toBe('cancelled');
    expect((await lab.req('vm.get', { vm: 'api-01' })).vm).toMatchObject({ hypervisor: 'dc1-hv2', locationVersion: 1 });
  });

  it('cancel after the switchover is refused with TOO_LATE', async () => {
    const accepted = await lab.req('vm.move', { vm: 'cache-02', to: 'dc1-hv1', mode: 'cold' });
    await eventually(async () => (await lab.req('move.get', { moveId: accepted.moveId })).move.timeline.some((t: any) => t.event === 'VmRelocated'), 10_000, 'the commit');
    expect(await lab.req('move.cancel', { moveId: accepted.moveId })).toMatchObject({ ok: false, error: { code: 'TOO_LATE' } });
    expect((await lab.waitForMove(accepted.moveId)).state).toBe('completed');
  });

  it('TARGET_FULL when the target has no room left, counting moves already heading there', async () => {
    const first = await lab.req('vm.move', { vm: 'db-03', to: 'cloud-hv1', mode: 'cold', options: {} });
    expect(first).toMatchObject({ ok: false, error: { code: 'FIRST_HOP_GATEWAY_MISSING' } }); // dc2-local's gateway is not in the cloud
    const big = await lab.req('vm.move', { vm: 'db-01', to: 'cloud-hv1', mode: 'cold' });
    expect(big.ok).toBe(true);
    // db-01's move goes on meanwhile: nothing recorded is checked on db-02's own stream.
    const before = await lab.vmEventCount('db-02');
    const refused = await lab.req('vm.move', { vm: 'db-02', to: 'cloud-hv1', mode: 'cold' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'TARGET_FULL' } });
    expect(refused.error.message).toMatch(/MiB free of 131072 MiB; db-02 needs 65536 MiB/);
    expect(await lab.vmEventCount('db-02')).toBe(before);
    await lab.waitForMove(big.moveId, undefined, 30_000);
  });

  it('a third move out of one host waits in the queue with its position, then runs', async () => {
    // 4 GiB at 200 Mb/s: each of the first two moves pre-copies for about three minutes of lab time.
    const slow = { mode: 'hot', options: { bandwidthMbps: 200 } };
    const a = await lab.req('vm.move', { vm: 'web-03', to: 'dc1-hv1', ...slow });
    const b = await lab.req('vm.move', { vm: 'web-06', to: 'dc1-hv2', ...slow });
    const c = await lab.req('vm.move', { vm: 'app-03', to: 'dc2-hv2', mode: 'cold' });
    expect([a.ok, b.ok, c.ok]).toEqual([true, true, true]);
    // Which of the three waits depends on the order the saga admits them in; exactly one must.
    const queued = await eventually(
      async () => {
        const moves = await Promise.all([a, b, c].map(async (m) => (await lab.req('move.get', { moveId: m.moveId })).move));
        const waiting = moves.filter((m) => m.state === 'accepted' && m.queuePosition === 1);
        return waiting.length === 1 && moves.filter((m) => m.state === 'in-progress').length === 2 ? waiting[0] : undefined;
      },
      10_000,
      'one of the three moves to be queued behind the other two',
    );
    expect(queued.queuePosition).toBe(1);
    for (const m of [a, b, c]) expect((await lab.waitForMove(m.moveId, undefined, 60_000)).state).toBe('completed');
    expect(lab.logs().some((l) => l.moveId === queued.moveId && /queued: dc2-hv1 already has 2 outbound moves/.test(l.msg))).toBe(true);
  });
});
