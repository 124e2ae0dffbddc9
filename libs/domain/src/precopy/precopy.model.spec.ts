import { nextPrecopyStep, predictPrecopy, runRound, type PrecopyParams } from './precopy.model';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const Gbps = 1e9 / 8;

function params(overrides: Partial<PrecopyParams> = {}): PrecopyParams {
  return {
    memoryBytes: 4 * GiB,
    workingSetBytes: Infinity,
    dirtyRateBps: 100 * MiB,
    bandwidthBps: 10 * Gbps,
    downtimeLimitMs: 300,
    maxRounds: 30,
    maxDataBytes: 12 * GiB,
    policy: 'throttle',
    resumeMs: 20,
    ...overrides,
  };
}

describe('pre-copy model: constant dirty rate without a working-set cap equals the closed form', () => {
  it.each([
    [4 * GiB, 100 * MiB, 10 * Gbps],
    [16 * GiB, 400 * MiB, 10 * Gbps],
    [2 * GiB, 50 * MiB, 1 * Gbps],
    [64 * GiB, 900 * MiB, 25 * Gbps],
  ])('M=%d D=%d R=%d: total (M/R)(1-l^(n+1))/(1-l) and downtime M l^n / R + resume within 1%%', (M, D, R) => {
    const p = params({ memoryBytes: M, dirtyRateBps: D, bandwidthBps: R, maxDataBytes: 100 * M });
    const prediction = predictPrecopy(p);
    expect(prediction.outcome.kind).toBe('switchover');
    const l = D / R;
    const n = prediction.rounds.length; // rounds 0..n-1 run live, the n-th transfer is the stop-and-copy
    const totalMs = (((M / R) * (1 - l ** (n + 1))) / (1 - l)) * 1000 + p.resumeMs;
    const downtimeMs = ((M * l ** n) / R) * 1000 + p.resumeMs;
    expect(Math.abs(prediction.totalMs - totalMs) / totalMs).toBeLessThan(0.01);
    expect(Math.abs(prediction.downtimeMs! - downtimeMs) / downtimeMs).toBeLessThan(0.01);
  });
});

describe('pre-copy model: rounds and the switchover rule', () => {
  it('given no rounds, then round 0 sends all of memory unthrottled', () => {
    expect(nextPrecopyStep(params(), [])).toEqual({ kind: 'round', round: 0, sendBytes: 4 * GiB, throttlePct: 0 });
  });
  it('given a round whose dirty data can be sent within the downtime limit, then switch over (QEMU rule)', () => {
    const p = params({ dirtyRateBps: 200 * MiB });
    const r0 = runRound(p, 0, p.memoryBytes, 0); // 4 GiB at 1.25 GB/s: 3.4 s, dirtying 687 MiB (576 ms to send)
    const r1 = runRound(p, 1, r0.dirtyBytes, 0); // 576 ms, dirtying 115 MiB: 96 ms, fits 300 ms
    const next = nextPrecopyStep(p, [r0, r1]);
    expect(next).toMatchObject({ kind: 'switchover', reason: 'converged' });
    if (next.kind === 'switchover') expect(next.stopCopyMs).toBeLessThanOrEqual(300);
  });
  it('given dirty data that does not fit the limit, then another round re-sends exactly it', () => {
    const p = params({ dirtyRateBps: 200 * MiB });
    const r0 = runRound(p, 0, p.memoryBytes, 0);
    expect(nextPrecopyStep(p, [r0])).toMatchObject({ kind: 'round', round: 1, sendBytes: r0.dirtyBytes });
  });
  it('every round reports sent, dirty left and the downtime if stopped now', () => {
    const { rounds } = predictPrecopy(params());
    for (const r of rounds) {
      expect(r.sentBytes).toBeGreaterThan(0);
      expect(r.expectedDowntimeMs).toBeCloseTo((r.dirtyBytes / (10 * Gbps)) * 1000 + 20, 6);
    }
  });
});

describe('pre-copy model: the writable working set caps the dirty pages of a round', () => {
  it('given a working set of 256 MiB, then no round leaves more than 256 MiB dirty', () => {
    const p = params({ workingSetBytes: 256 * MiB, dirtyRateBps: 2 * GiB, bandwidthBps: 10 * Gbps });
    const { rounds } = predictPrecopy(p);
    expect(rounds[0].dirtyBytes).toBe(256 * MiB); // 3.4 s at 2 GiB/s would be 6.9 GiB uncapped
    expect(rounds.every((r) => r.dirtyBytes <= 256 * MiB)).toBe(true);
  });
  it('given a working set that fits the downtime budget, then it converges even with a dirty rate above bandwidth', () => {
    const p = params({ workingSetBytes: 128 * MiB, dirtyRateBps: 3 * GiB, bandwidthBps: 10 * Gbps });
    const prediction = predictPrecopy(p);
    expect(prediction.outcome).toMatchObject({ kind: 'switchover', reason: 'converged' });
    expect(prediction.rounds).toHaveLength(1);
  });
});

describe('pre-copy model: non-convergence under each policy', () => {
  // A database dirtying 2 GiB/s over a 10 Gb/s link with a 12 GiB working set never fits 300 ms.
  const hot = { memoryBytes: 64 * GiB, workingSetBytes: 12 * GiB, dirtyRateBps: 2 * GiB, bandwidthBps: 10 * Gbps, maxDataBytes: 192 * GiB };

  it('throttle: auto-converge throttles 20 %, then +10 % per round up to 99 %, until it fits', () => {
    const prediction = predictPrecopy(params({ ...hot, policy: 'throttle' }));
    const throttles = prediction.rounds.map((r) => r.throttlePct);
    expect(throttles[0]).toBe(0);
    const firstThrottled = throttles.findIndex((t) => t > 0);
    expect(throttles[firstThrottled]).toBe(20);
    for (let i = firstThrottled + 1; i < throttles.length; i++) expect(throttles[i] - throttles[i - 1]).toBeLessThanOrEqual(10);
    expect(Math.max(...throttles)).toBeLessThanOrEqual(99);
    expect(prediction.outcome.kind).toBe('switchover');
  });

  it('postcopy: switches at once with only device state as downtime, then pulls the rest', () => {
    const prediction = predictPrecopy(params({ ...hot, policy: 'postcopy' }));
    expect(prediction.outcome).toMatchObject({ kind: 'postcopy' });
    expect(prediction.downtimeMs).toBe(20);
    if (prediction.outcome.kind === 'postcopy') expect(prediction.outcome.pullMs).toBeGreaterThan(300);
  });

  it('abort: gives up and says why', () => {
    const prediction = predictPrecopy(params({ ...hot, policy: 'abort' }));
    expect(prediction.outcome.kind).toBe('abort');
    expect(prediction.downtimeMs).toBeUndefined();
  });

  it('given a dirty rate at or above bandwidth and no working set, then throttling still converges within max rounds', () => {
    const prediction = predictPrecopy(params({ dirtyRateBps: 2 * GiB, bandwidthBps: 10 * Gbps, policy: 'throttle', maxDataBytes: 1000 * GiB }));
    expect(prediction.outcome.kind).toBe('switchover');
  });

  it('max rounds forces the switchover even when the downtime exceeds the limit (Xen)', () => {
    const prediction = predictPrecopy(params({ ...hot, policy: 'throttle', maxRounds: 3 }));
    expect(prediction.outcome).toMatchObject({ kind: 'switchover', reason: 'max-rounds' });
    expect(prediction.rounds).toHaveLength(3);
    expect(prediction.downtimeMs!).toBeGreaterThan(300);
  });

  it('max data (3 x memory) forces the switchover', () => {
    const prediction = predictPrecopy(params({ ...hot, policy: 'throttle', memoryBytes: 12 * GiB, maxDataBytes: 36 * GiB, workingSetBytes: 12 * GiB }));
    expect(prediction.outcome).toMatchObject({ kind: 'switchover' });
    expect(prediction.dataSentBytes).toBeLessThanOrEqual(36 * GiB + 12 * GiB);
  });
});

describe('pre-copy with a real hypervisor (measured passes, QEMU)', () => {
  const pass = (round: number, dirtyBytes: number, extra: { completed?: boolean; throttlePct?: number } = {}) => ({
    round,
    sentBytes: 64 * MiB,
    durationMs: 500,
    dirtyBytes,
    throttlePct: extra.throttlePct ?? 0,
    expectedDowntimeMs: 10,
    measured: true,
    ...(extra.completed !== undefined ? { completed: extra.completed } : {}),
  });

  it('given a pass the model would switch over after, when the hypervisor has not switched, then the rounds go on (QEMU decides its switchover)', () => {
    const p = params({ dirtyRateBps: 1 * MiB, bandwidthBps: 1 * Gbps, policy: 'abort' });
    expect(nextPrecopyStep(p, [pass(0, 1 * MiB)])).toMatchObject({ kind: 'round', round: 1 });
  });

  it('given a pass that ended with the hypervisor switching over, then the saga switches over (converged)', () => {
    const p = params({ dirtyRateBps: 1 * MiB, bandwidthBps: 1 * Gbps });
    expect(nextPrecopyStep(p, [pass(0, 8 * MiB), pass(1, 1 * MiB, { completed: true })])).toMatchObject({ kind: 'switchover', reason: 'converged', remainingBytes: 1 * MiB });
  });

  it('given passes that do not shrink past the limit and policy abort, then the move aborts (NOT_CONVERGING)', () => {
    const p = params({ memoryBytes: 192 * MiB, dirtyRateBps: 80 * MiB, bandwidthBps: 32 * MiB, downtimeLimitMs: 300, policy: 'abort' });
    expect(nextPrecopyStep(p, [pass(0, 32 * MiB)])).toMatchObject({ kind: 'abort' });
  });

  it('given max rounds of measured passes, then the saga forces the switchover', () => {
    const p = params({ dirtyRateBps: 80 * MiB, bandwidthBps: 32 * MiB, policy: 'throttle', maxRounds: 2 });
    expect(nextPrecopyStep(p, [pass(0, 32 * MiB), pass(1, 32 * MiB, { throttlePct: 20 })])).toMatchObject({ kind: 'switchover', reason: 'max-rounds' });
  });
});
