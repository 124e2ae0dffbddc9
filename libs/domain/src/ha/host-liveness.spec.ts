import { checkHosts, emptyLiveness, heartbeat, lostSight, rankRestartTargets, type Liveness } from './host-liveness';

const T = { timeoutMs: 15_000, maxGapMs: 7_500 };

/** A manager that has confirmed a round trip every second from `from` to `to` (inclusive), hosts heartbeating as given. */
function watch(l: Liveness, from: number, to: number, beats: (t: number) => string[] = () => []): ReturnType<typeof checkHosts>['failed'] {
  const failed = [];
  for (let t = from; t <= to; t += 1000) {
    for (const h of beats(t)) heartbeat(l, h, t);
    failed.push(...checkHosts(l, t, T).failed);
  }
  return failed;
}

describe('host liveness: a host fails only when the manager watched it stay silent', () => {
  it('given a manager watching, when a host is silent past the timeout, then it is declared failed once', () => {
    const l = emptyLiveness();
    expect(checkHosts(l, 0, T)).toEqual({ failed: [], resumed: {} });
    heartbeat(l, 'dc1-hv1', 0);
    heartbeat(l, 'dc1-hv2', 0);
    const failed = watch(l, 1000, 17_000, (t) => (t <= 14_000 ? ['dc1-hv2'] : []));
    expect(failed).toEqual([{ host: 'dc1-hv1', silentMs: 16_000 }]);
    expect(watch(l, 18_000, 30_000)).toEqual([{ host: 'dc1-hv2', silentMs: 16_000 }]);
  });

  it('given a failed host, when it heartbeats again, then it is recovered', () => {
    const l = emptyLiveness();
    heartbeat(l, 'dc1-hv1', 0);
    watch(l, 0, 20_000);
    expect(l.failed.has('dc1-hv1')).toBe(true);
    expect(heartbeat(l, 'dc1-hv1', 21_000)).toBe('recovered');
    expect(l.failed.size).toBe(0);
  });

  it('never declares a host that was never seen', () => {
    const l = emptyLiveness();
    expect(watch(l, 0, 1e6)).toEqual([]);
  });

  it('given a host last heard before the manager started watching, then it gets the whole timeout from the watch start', () => {
    const l = emptyLiveness();
    heartbeat(l, 'dc1-hv1', 0);
    checkHosts(l, 100_000, T); // the first round trip starts the watch
    expect(watch(l, 101_000, 115_000)).toEqual([]);
    expect(watch(l, 116_000, 116_000)).toEqual([{ host: 'dc1-hv1', silentMs: 16_000 }]);
  });

  it('given a manager stalled for 20 s, when its first check runs, then the stall is a gap: nobody fails and the grace period restarts', () => {
    const l = emptyLiveness();
    watch(l, 0, 10_000, () => ['dc1-hv1', 'dc1-hv2']);
    // Stopped from 10 s to 30 s: the queued heartbeats of dc1-hv2 are read at the round trip; dc1-hv1 died at 10 s.
    heartbeat(l, 'dc1-hv2', 30_000);
    expect(checkHosts(l, 30_000, T)).toEqual({ failed: [], resumed: { gapMs: 20_000 } });
    expect(watch(l, 31_000, 45_000, () => ['dc1-hv2'])).toEqual([]);
    // A host that really is silent is still found, a full timeout after the watch restarted.
    expect(watch(l, 46_000, 46_000, () => ['dc1-hv2'])).toEqual([{ host: 'dc1-hv1', silentMs: 16_000 }]);
  });

  it('given a gap shorter than maxGapMs, then the watch goes on (the queued heartbeats already count)', () => {
    const l = emptyLiveness();
    watch(l, 0, 10_000, () => ['dc1-hv1']);
    heartbeat(l, 'dc1-hv1', 15_000);
    expect(checkHosts(l, 15_000, T)).toEqual({ failed: [] });
    expect(l.watchingSince).toBe(0);
  });

  it('given the manager cut off from NATS longer than the timeout, when it reconnects, then nobody fails for that silence', () => {
    const l = emptyLiveness();
    watch(l, 0, 5000, () => ['dc1-hv1', 'dc1-hv2']);
    lostSight(l); // disconnected at 5 s; the checks cannot round-trip until it reconnects at 40 s
    expect(checkHosts(l, 40_000, T)).toEqual({ failed: [], resumed: { gapMs: 35_000 } });
    expect(watch(l, 41_000, 55_000, (t) => (t >= 41_000 ? ['dc1-hv2'] : []))).toEqual([]);
    expect(watch(l, 56_000, 56_000, () => ['dc1-hv2'])).toEqual([{ host: 'dc1-hv1', silentMs: 16_000 }]);
  });

  it('given the connection dropped and came back between two checks, then the watch restarts even without a long gap', () => {
    const l = emptyLiveness();
    watch(l, 0, 5000, () => ['dc1-hv1']);
    lostSight(l);
    expect(checkHosts(l, 6000, T).resumed).toEqual({ gapMs: 1000 });
    expect(l.watchingSince).toBe(6000);
  });
});

describe('restart placement', () => {
  it('prefers the same site, then the most free memory', () => {
    const ranked = rankRestartTargets('dc1', [
      { name: 'dc2-hv1', site: 'dc2', freeMb: 200_000 },
      { name: 'dc1-hv2', site: 'dc1', freeMb: 10_000 },
      { name: 'cloud-hv1', site: 'cloud', freeMb: 100_000 },
    ]);
    expect(ranked.map((c) => c.name)).toEqual(['dc1-hv2', 'dc2-hv1', 'cloud-hv1']);
  });
});
