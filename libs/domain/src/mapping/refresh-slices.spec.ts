import { REFRESH_SLICES, refreshPlan, refreshSliceOf } from './refresh-slices';

const eids = Array.from({ length: 10_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);

describe('refreshPlan: an ETR refresh spread over its period', () => {
  it('given a minute, then twelve ticks of five seconds, each ETR starting at its own point of the first', () => {
    const plan = refreshPlan(60_000, 'dc1', 250);
    expect(plan).toMatchObject({ slices: REFRESH_SLICES, tickMs: 5000 });
    expect(plan.phaseMs).toBeGreaterThanOrEqual(0);
    expect(plan.phaseMs).toBeLessThan(5000);
    const phases = new Set(Array.from({ length: 50 }, (_, i) => refreshPlan(60_000, `s${String(i + 1).padStart(2, '0')}`, 250).phaseMs));
    expect(phases.size).toBeGreaterThan(40);
  });

  it('given a period too short to cut (a lab at a high time scale), then every claim on every tick, as one refresh', () => {
    expect(refreshPlan(250, 'dc1', 250)).toEqual({ slices: 1, tickMs: 250, phaseMs: 0 });
    expect(refreshPlan(600, 'dc1', 250)).toMatchObject({ slices: 2, tickMs: 300 });
  });
});

describe('refreshSliceOf: every EID refreshed once per period', () => {
  it('given 10,000 EIDs and twelve slices, then each is in exactly one slice and no slice holds more than a tenth above its share', () => {
    const counts = new Array<number>(REFRESH_SLICES).fill(0);
    for (const eid of eids) {
      const k = refreshSliceOf(eid, REFRESH_SLICES);
      expect(Number.isInteger(k) && k >= 0 && k < REFRESH_SLICES).toBe(true);
      counts[k]++;
    }
    expect(counts.reduce((a, b) => a + b, 0)).toBe(eids.length);
    for (const n of counts) expect(n).toBeLessThan((eids.length / REFRESH_SLICES) * 1.1);
  });

  it('given one slice, then slice 0, and the same EID always in the same slice', () => {
    expect(refreshSliceOf('10.1.0.10/32', 1)).toBe(0);
    expect(refreshSliceOf('10.1.0.10/32', 12)).toBe(refreshSliceOf('10.1.0.10/32', 12));
  });
});
