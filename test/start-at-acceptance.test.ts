import { startTestLab, type TestLab } from './support/harness';

const TERMINAL = new Set(['MoveCompleted', 'MoveFailed', 'MoveCancelled', 'VmRestartedAtSource']);

/**
 * A move accepted on a host with a free outbound slot and nobody waiting starts in its acceptance's
 * own append; the outbound limit still holds when many requests for one host arrive together (read
 * together, they all saw the slot free: only one of them may take it that way, the others go
 * through the saga's count).
 */
describe('vm.move: a move starts in its acceptance when its host has a free slot', () => {
  let lab: TestLab;
  beforeAll(async () => {
    // Two moves at a time from a host; time scale 5 keeps each cold move running a few seconds, so they overlap.
    lab = await startTestLab({ timeScale: 5, maxOutboundPerHost: 2, maxQueuedPerHost: 64 });
  });
  afterAll(async () => {
    await lab.stop();
  });

  it('given five requests for VMs of dc1-hv1 at once, then each is accepted, at most two run at any time, and the first started with its acceptance', async () => {
    const moves = [
      { vm: 'web-01', to: 'dc2-hv1' },
      { vm: 'web-05', to: 'dc2-hv2' },
      { vm: 'cache-01', to: 'dc2-hv2' },
      { vm: 'app-01', to: 'dc1-hv2' },
      { vm: 'jump-01', to: 'dc1-hv2' },
    ];
    const replies = await Promise.all(moves.map((m) => lab.req('vm.move', { ...m, mode: 'cold' })));
    for (const r of replies) expect(r).toMatchObject({ ok: true });
    for (const r of replies) expect((await lab.waitForMove(r.moveId, ['completed'], 90_000)).state).toMatch(/completed|converged/);

    // The log of the five streams in commit order: a move holds a slot from MoveStarted to its end.
    const rows: { stream_id: string; type: string; tx: string }[] = await lab.manager.dataSource.query(
      `SELECT stream_id, type, xmin::text AS tx FROM events WHERE stream_id = ANY($1) AND type <> 'VmPlaced' ORDER BY position`,
      [moves.map((m) => `vm:${m.vm}`)],
    );
    let running = 0;
    let most = 0;
    for (const r of rows) {
      if (r.type === 'MoveStarted') running++;
      else if (TERMINAL.has(r.type)) running--;
      most = Math.max(most, running);
    }
    expect(rows.filter((r) => r.type === 'MoveStarted')).toHaveLength(5);
    expect(most).toBe(2);

    // Started at acceptance: MoveStarted written by MoveAccepted's transaction, and the manager says so.
    const acceptedAndStarted = moves.filter((m) => {
      const tx = (type: string) => rows.find((r) => r.stream_id === `vm:${m.vm}` && r.type === type)?.tx;
      return tx('MoveAccepted') === tx('MoveStarted');
    });
    expect(acceptedAndStarted.length).toBeGreaterThanOrEqual(1);
    expect(acceptedAndStarted.length).toBeLessThanOrEqual(2);
    for (const m of acceptedAndStarted)
      expect(lab.logs().some((l) => l.vm === m.vm && /^move of \S+ started at acceptance: dc1-hv1 had [01] of 2 outbound slots taken and nobody waiting$/.test(l.msg))).toBe(true);
  }, 120_000);
});
