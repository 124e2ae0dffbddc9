import { ConvergenceTracker } from './convergence';

const change = { eid: '10.1.0.10/32', vm: 'web-01', version: 2, site: 'dc2', previousSite: 'dc1', kind: 'moved' as const };

describe('convergence tracker', () => {
  it('given a change held by two ITRs, when both hold the new version, then it converged with the time it took', () => {
    const t = new ConvergenceTracker(30_000);
    expect(t.begin(change, ['branch', 'dc1'], 1000)).toEqual([]);
    expect(t.holds('branch', change.eid, 2, 1003)).toBeUndefined();
    expect(t.holds('branch', change.eid, 2, 1004)).toBeUndefined(); // a repeat counts once
    expect(t.holds('dc1', change.eid, 1, 1005)).toBeUndefined(); // still the old version
    expect(t.holds('dc1', change.eid, 2, 1007)).toMatchObject({ outcome: 'converged', itrs: ['branch', 'dc1'], missing: [], ms: 7 });
    expect(t.size).toBe(0);
  });

  it('is following a change at its version until every ITR holds it (what a reconciling ETR is told to hold)', () => {
    const t = new ConvergenceTracker(30_000);
    t.begin(change, ['branch'], 0);
    expect([t.isFollowing(change.eid, 2), t.isFollowing(change.eid, 1), t.isFollowing('10.1.0.99/32', 2)]).toEqual([true, false, false]);
    t.holds('branch', change.eid, 2, 3);
    expect(t.isFollowing(change.eid, 2)).toBe(false);
    t.begin({ ...change, version: 3 }, [], 4); // converged at once: nothing to follow
    expect(t.isFollowing(change.eid, 3)).toBe(false);
  });

  it('given a change no ITR held, when it begins, then it is converged at once', () => {
    const t = new ConvergenceTracker(30_000);
    expect(t.begin(change, [], 5)).toEqual([expect.objectContaining({ outcome: 'converged', itrs: [], ms: 0 })]);
  });

  it('given an ITR that no longer caches the EID, when dropped, then it does not hold the change back', () => {
    const t = new ConvergenceTracker(30_000);
    t.begin(change, ['branch', 'cloud'], 0);
    t.holds('branch', change.eid, 2, 1);
    expect(t.drop('cloud', change.eid, 2)).toMatchObject({ outcome: 'converged', itrs: ['branch'], dropped: ['cloud'] });
  });

  it('given a pending change, when a newer change of the EID begins, then the old one is superseded', () => {
    const t = new ConvergenceTracker(30_000);
    t.begin(change, ['branch'], 0);
    const out = t.begin({ ...change, version: 3, site: 'dc1', previousSite: 'dc2' }, ['branch'], 10);
    expect(out).toEqual([expect.objectContaining({ version: 2, outcome: 'superseded', missing: ['branch'] })]);
    expect(t.holds('branch', change.eid, 3, 12)).toMatchObject({ version: 3, outcome: 'converged' });
  });

  it('given an ITR that never answers, when the timeout passes, then the change is reported as timed out naming it', () => {
    const t = new ConvergenceTracker(1000);
    t.begin(change, ['branch', 'dc1'], 0);
    t.holds('branch', change.eid, 2, 5);
    expect(t.timeouts(999)).toEqual([]);
    expect(t.timeouts(1000)).toEqual([expect.objectContaining({ outcome: 'timed-out', itrs: ['branch'], missing: ['dc1'] })]);
  });
});
