/**
 * Small, exact statistics for benchmarks and reports: percentiles by the nearest-rank method
 * (the value an observer actually saw, never an interpolation), the median, a least-squares
 * slope for "is this backlog growing", and a token bucket that paces requests at a target rate.
 * Pure: no clock of its own (callers pass times in ms).
 */

/** Sorted ascending copy (numbers, not strings: `[10, 9].sort()` is `[10, 9]`). */
export function sortedNumbers(values: readonly number[]): number[] {
  return Array.from(Float64Array.from(values).sort());
}

/**
 * Nearest-rank percentile: the smallest value such that at least p % of the values are at or
 * below it. `p` in [0, 100]; p=0 is the minimum, p=100 the maximum. Undefined for no values.
 * Pass `sorted: true` when the array is already sorted ascending.
 */
export function percentile(values: readonly number[], p: number, sorted = false): number | undefined {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, not ${p}`);
  if (values.length === 0) return undefined;
  const s = sorted ? values : sortedNumbers(values);
  if (p === 0) return s[0];
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length, Math.max(1, rank)) - 1];
}

/** Median as the mean of the two middle values for an even count (the usual definition). */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = sortedNumbers(values);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export interface Summary {
  count: number;
  min?: number;
  p50?: number;
  p95?: number;
  p99?: number;
  max?: number;
  mean?: number;
}

/** Count, min, p50/p95/p99 (nearest rank), max and mean of the values. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { count: 0 };
  const s = sortedNumbers(values);
  let sum = 0;
  for (const v of s) sum += v;
  return {
    count: s.length,
    min: s[0],
    p50: percentile(s, 50, true),
    p95: percentile(s, 95, true),
    p99: percentile(s, 99, true),
    max: s[s.length - 1],
    mean: sum / s.length,
  };
}

/**
 * Least-squares slope of y over x (units of y per unit of x), e.g. backlog samples over
 * seconds: about 0 when the system keeps up, the growth rate when it does not.
 * Undefined with fewer than two distinct x.
 */
export function slope(points: readonly { x: number; y: number }[]): number | undefined {
  const n = points.length;
  if (n < 2) return undefined;
  let sx = 0;
  let sy = 0;
  for (const p of points) {
    sx += p.x;
    sy += p.y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? undefined : num / den;
}

/**
 * Token bucket: `rate` tokens per second, at most `burst` saved up. `take(nowMs)` returns how
 * many whole tokens are available now and spends them, so a caller that polls every few ms
 * sends at the target rate on average and never more than `burst` at once.
 */
export class TokenBucket {
  private tokens: number;
  private last: number | undefined;

  constructor(
    readonly rate: number,
    readonly burst: number = Math.max(1, rate / 10),
  ) {
    if (!(rate > 0)) throw new RangeError(`rate must be positive, not ${rate}`);
    if (!(burst >= 1)) throw new RangeError(`burst must be at least 1, not ${burst}`);
    this.tokens = 0;
  }

  take(nowMs: number, max = Infinity): number {
    if (this.last === undefined) {
      this.last = nowMs;
      this.tokens = 1; // the first request goes at once
    } else {
      const elapsed = Math.max(0, nowMs - this.last);
      this.last = nowMs;
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
    }
    const n = Math.min(max, Math.floor(this.tokens));
    this.tokens -= n;
    return n;
  }
}

/** `x` as a ratio to `base`, e.g. 12.3 ms to a 0.4 ms floor is 30.75; undefined when either is missing or base is 0. */
export function ratio(x: number | undefined, base: number | undefined): number | undefined {
  if (x === undefined || base === undefined || base === 0) return undefined;
  return x / base;
}

/** Deterministic PRNG (mulberry32): the same seed gives the same workload in every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
