import { median, percentile, ratio, slope, sortedNumbers, summarize, TokenBucket } from './stats';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted

  it('given 1..100, then p50 is 50, p95 is 95, p99 is 99 and p100 is 100', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 95)).toBe(95);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile(hundred, 0)).toBe(1);
  });
  it('given few values, then a high percentile is a value that was seen, never an interpolation', () => {
    expect(percentile([3, 1, 2], 99)).toBe(3);
    expect(percentile([3, 1, 2], 50)).toBe(2);
    expect(percentile([7], 1)).toBe(7);
  });
  it('given no values, then undefined; given p outside 0..100, then a RangeError', () => {
    expect(percentile([], 50)).toBeUndefined();
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });
  it('sorts numerically, not as strings', () => {
    expect(sortedNumbers([10, 9, 100, 1])).toEqual([1, 9, 10, 100]);
    expect(percentile([10, 9, 100, 1], 75)).toBe(10);
  });
});

describe('median and summarize', () => {
  it('given an even count, then the median is the mean of the two middle values', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5, 1, 3])).toBe(3);
    expect(median([])).toBeUndefined();
  });
  it('summarizes count, min, percentiles, max and mean', () => {
    expect(summarize([2, 4, 6, 8])).toEqual({ count: 4, min: 2, p50: 4, p95: 8, p99: 8, max: 8, mean: 5 });
    expect(summarize([])).toEqual({ count: 0 });
  });
});

describe('slope', () => {
  it('given a backlog that grows by 3 per second, then 3; given a flat one, then 0', () => {
    expect(slope([0, 1, 2, 3].map((x) => ({ x, y: 10 + 3 * x })))).toBeCloseTo(3);
    expect(slope([0, 1, 2, 3].map((x) => ({ x, y: 4 })))).toBe(0);
  });
  it('given fewer than two distinct x, then undefined', () => {
    expect(slope([{ x: 1, y: 1 }])).toBeUndefined();
    expect(
      slope([
        { x: 1, y: 1 },
        { x: 1, y: 5 },
      ]),
    ).toBeUndefined();
  });
});

describe('TokenBucket', () => {
  it('given 100/s polled every 10 ms for 1 s, then about 100 tokens, never more than the burst at once', () => {
    const b = new TokenBucket(100, 5);
    let total = 0;
    for (let t = 0; t <= 1000; t += 10) {
      const n = b.take(t);
      expect(n).toBeLessThanOrEqual(5);
      total += n;
    }
    expect(total).toBeGreaterThanOrEqual(100);
    expect(total).toBeLessThanOrEqual(101);
  });
  it('given a long pause, then at most the burst is released', () => {
    const b = new TokenBucket(1000, 20);
    b.take(0);
    expect(b.take(60_000)).toBe(20);
  });
  it('given a cap, then spends only that many and keeps the rest', () => {
    const b = new TokenBucket(1000, 100);
    b.take(0);
    expect(b.take(50, 10)).toBe(10);
    expect(b.take(50)).toBe(40);
  });
  it('refuses a non-positive rate', () => {
    expect(() => new TokenBucket(0)).toThrow(RangeError);
  });
});

describe('ratio', () => {
  it('divides, and is undefined for a missing value or a zero base', () => {
    expect(ratio(12, 4)).toBe(3);
    expect(ratio(undefined, 4)).toBeUndefined();
    expect(ratio(3, 0)).toBeUndefined();
  });
});
