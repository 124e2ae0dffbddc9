import { detectFailures, emptyLiveness, heartbeat, rankRestartTargets } from './host-liveness';

describe('host liveness', () => {
  it('given heartbeats, when a host is silent past the timeout, then it is declared failed once', () => {
    const l = emptyLiveness();
    heartbeat(l, 'dc1-hv1', 0);
    heartbeat(l, 'dc1-hv2', 0);
    heartbeat(l, 'dc1-hv2', 14_000);
    expect(detectFailures(l, 15_500, 15_000)).toEqual([{ host: 'dc1-hv1', silentMs: 15_500 }]);
    expect(detectFailures(l, 16_000, 15_000)).toEqual([]);
  });
  it('given a failed host, when it heartbeats again, then it is recovered', () => {
    const l = emptyLiveness();
    heartbeat(l, 'dc1-hv1', 0);
    detectFailures(l, 20_000, 15_000);
    expect(heartbeat(l, 'dc1-hv1', 21_000)).toBe('recovered');
    expect(l.failed.size).toBe(0);
  });
  it('never declares a host that was never seen', () => {
    expect(detectFailures(emptyLiveness(), 1e9, 15_000)).toEqual([]);
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
