import { startTestLab, type TestLab } from './support/harness';

/**
 * The source host's outbound queue is bounded: a move that would wait behind a full queue is
 * refused at once with UNAVAILABLE and nothing recorded, so an overload is answered instead of
 * piling up; a move that fits in the queue is accepted with its place in it.
 */
describe('vm.move: bounded outbound queue per source host', () => {
  let lab: TestLab;
  beforeAll(async () => {
    // One move at a time from a host, one more may wait; time scale 2 keeps the first move running for ~12 s.
    // A full queue found by a read is believed for a minute (default 0.5 s), unless a slot frees here.
    lab = await startTestLab({ timeScale: 2, maxOutboundPerHost: 1, maxQueuedPerHost: 1, fullQueueMemoryMs: 60_000 });
  });
  afterAll(async () => {
    await lab.stop();
  });

  it('accepts a move into the queue with its position, refuses the next with UNAVAILABLE and records nothing for it', async () => {
    const first = await lab.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
    expect(first.ok).toBe(true);
    expect(first.queuePosition).toBeUndefined();
    await lab.waitForMove(first.moveId, ['in-progress']);

    const second = await lab.req('vm.move', { vm: 'web-05', to: 'dc2-hv1', mode: 'cold' });
    expect(second).toMatchObject({ ok: true, queuePosition: 1 });

    // web-01's move goes on meanwhile: nothing recorded is checked on cache-01's own stream.
    const before = await lab.vmEventCount('cache-01');
    const started = Date.now();
    const third = await lab.req('vm.move', { vm: 'cache-01', to: 'dc2-hv2', mode: 'cold' });
    expect(third).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    expect(third.error.message).toMatch(/dc1-hv1 already has 1 outbound moves running and 1 waiting \(at most 1\)/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await lab.vmEventCount('cache-01')).toBe(before);
    expect((await lab.req('vm.get', { vm: 'cache-01' })).vm).toMatchObject({ hypervisor: 'dc1-hv1', state: 'running' });

    // Asked again while the queue is known full: refused from memory, saying how old the count is; still nothing recorded.
    const again = await lab.req('vm.move', { vm: 'cache-01', to: 'dc2-hv2', mode: 'cold' });
    expect(again).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    expect(again.error.message).toMatch(/^dc1-hv1 had 1 outbound moves running and 1 waiting \(at most 1\) \d+ ms ago; retry later$/);
    expect(await lab.vmEventCount('cache-01')).toBe(before);
    // A request the checks refuse is still told why, not "busy".
    expect(await lab.req('vm.move', { vm: 'cache-01', to: 'dc1-hv1', mode: 'cold' })).toMatchObject({ ok: false, error: { code: 'SAME_LOCATION' } });

    // The queue drains: both accepted moves finish, in order.
    const done = await lab.waitForMove(second.moveId, undefined, 60_000);
    expect(done.state).toMatch(/completed|converged/);
    // The queued move was started when web-01's move ended and driven on by the process that started
    // it (not after its MoveStarted's trip through the outbox and the stream).
    expect(lab.logs().filter((l) => l.msg === 'queued move of web-05 started: dc1-hv1 has a free outbound slot; driving it here' && l.moveId === second.moveId)).toHaveLength(1);

    // The queue shrank here (web-05 started), so the memory of it being full is gone: cache-01's move is read, accepted and runs.
    const fourth = await lab.req('vm.move', { vm: 'cache-01', to: 'dc2-hv2', mode: 'cold' });
    expect(fourth.ok).toBe(true);
    expect((await lab.waitForMove(fourth.moveId, undefined, 60_000)).state).toMatch(/completed|converged/);
  }, 120_000);
});
