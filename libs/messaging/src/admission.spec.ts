import { AdmissionQueue, parseDeadline } from './admission';

const T0 = 1_800_000_000_000;

describe('admission queue', () => {
  it('given no limits, when live requests arrive, then each starts at once', () => {
    const q = new AdmissionQueue<string>();
    for (const id of ['a', 'b', 'c']) expect(q.offer(id, T0, T0 + 5000)).toEqual({ kind: 'start', dropped: [] });
    expect(q.stats()).toEqual({ started: 3, finished: 0, expired: 0, rejected: 0, running: 3, queued: 0 });
  });

  it('given a deadline already past on arrival, when offered, then it is dropped unstarted (with or without limits)', () => {
    for (const q of [new AdmissionQueue<string>(), new AdmissionQueue<string>({ maxConcurrent: 1, maxQueued: 1 })]) {
      const a = q.offer('late', T0, T0 - 250);
      expect(a).toEqual({ kind: 'expired', dropped: [{ item: 'late', reason: 'deadline', waitedMs: 0, lateMs: 250 }] });
      expect(q.stats()).toMatchObject({ started: 0, expired: 1, running: 0, queued: 0 });
    }
  });

  it('given a deadline exactly now, when offered, then there is no time left and it is dropped', () => {
    const q = new AdmissionQueue<string>();
    expect(q.offer('edge', T0, T0).kind).toBe('expired');
  });

  it('given limits 1 running + 2 waiting, when 5 arrive at once, then 1 starts, 2 wait in order and 2 are refused with the counts', () => {
    const q = new AdmissionQueue<number>({ maxConcurrent: 1, maxQueued: 2 });
    const kinds = [1, 2, 3, 4, 5].map((i) => q.offer(i, T0, T0 + 5000));
    expect(kinds.map((k) => k.kind)).toEqual(['start', 'queued', 'queued', 'full', 'full']);
    expect(kinds[1]).toMatchObject({ position: 1 });
    expect(kinds[2]).toMatchObject({ position: 2 });
    expect(kinds[3]).toEqual({ kind: 'full', running: 1, queued: 2, dropped: [] });
    expect(q.stats()).toMatchObject({ started: 1, rejected: 2, running: 1, queued: 2 });
  });

  it('given waiting requests, when slots free, then they start in FIFO order and the running count never exceeds the limit', () => {
    const q = new AdmissionQueue<number>({ maxConcurrent: 2, maxQueued: 10 });
    const started: number[] = [];
    for (let i = 1; i <= 6; i++) if (q.offer(i, T0, T0 + 5000).kind === 'start') started.push(i);
    expect(started).toEqual([1, 2]);
    for (let t = 1; q.running > 0; t++) {
      const { next } = q.finish(T0 + t);
      if (next !== undefined) started.push(next);
      expect(q.running).toBeLessThanOrEqual(2);
    }
    expect(started).toEqual([1, 2, 3, 4, 5, 6]);
    expect(q.stats()).toEqual({ started: 6, finished: 6, expired: 0, rejected: 0, running: 0, queued: 0 });
  });

  it('given expired requests at the head of the queue, when a slot frees, then they are dropped and the first live one starts', () => {
    const q = new AdmissionQueue<string>({ maxConcurrent: 1, maxQueued: 5 });
    q.offer('running', T0, T0 + 10_000);
    q.offer('short-1', T0, T0 + 100);
    q.offer('short-2', T0 + 10, T0 + 200);
    q.offer('long', T0 + 20, T0 + 10_000);
    const out = q.finish(T0 + 1000);
    expect(out.next).toBe('long');
    expect(out.dropped).toEqual([
      { item: 'short-1', reason: 'deadline', waitedMs: 1000, lateMs: 900 },
      { item: 'short-2', reason: 'deadline', waitedMs: 990, lateMs: 800 },
    ]);
    expect(q.stats()).toMatchObject({ started: 2, finished: 1, expired: 2, running: 1, queued: 0 });
  });

  it('given a request without a deadline, when it waits longer than the default budget, then it is dropped for the budget', () => {
    const q = new AdmissionQueue<string>({ maxConcurrent: 1, maxQueued: 5 }, 30_000);
    q.offer('running', T0);
    q.offer('no-header', T0 + 5);
    const out = q.finish(T0 + 30_005);
    expect(out).toEqual({ dropped: [{ item: 'no-header', reason: 'budget', waitedMs: 30_000, lateMs: 0 }] });
    expect(q.running).toBe(0);
  });

  it('given a request without a deadline, when it starts within the budget, then it runs', () => {
    const q = new AdmissionQueue<string>({ maxConcurrent: 1, maxQueued: 5 }, 30_000);
    q.offer('running', T0);
    q.offer('no-header', T0);
    expect(q.finish(T0 + 29_999).next).toBe('no-header');
  });

  it('given a full queue holding expired requests, when a live one arrives, then the dead are swept out and the live one waits', () => {
    const q = new AdmissionQueue<string>({ maxConcurrent: 1, maxQueued: 2 });
    q.offer('running', T0, T0 + 60_000);
    q.offer('dead', T0, T0 + 100);
    q.offer('alive', T0, T0 + 60_000);
    const a = q.offer('new', T0 + 500, T0 + 60_000);
    expect(a).toEqual({ kind: 'queued', position: 2, dropped: [{ item: 'dead', reason: 'deadline', waitedMs: 500, lateMs: 400 }] });
    expect(q.finish(T0 + 600).next).toBe('alive');
    expect(q.finish(T0 + 700).next).toBe('new');
  });

  it('given a queue of 0, when the only slot is taken, then the next request is refused', () => {
    const q = new AdmissionQueue<string>({ maxConcurrent: 1, maxQueued: 0 });
    expect(q.offer('a', T0, T0 + 1000).kind).toBe('start');
    expect(q.offer('b', T0, T0 + 1000)).toEqual({ kind: 'full', running: 1, queued: 0, dropped: [] });
  });

  it('given many requests passing through, when the queue drains, then it keeps working (head compaction)', () => {
    const q = new AdmissionQueue<number>({ maxConcurrent: 1, maxQueued: 5000 });
    q.offer(0, T0, T0 + 1e9);
    for (let i = 1; i <= 3000; i++) q.offer(i, T0, T0 + 1e9);
    const seen: number[] = [];
    for (let i = 1; i <= 2000; i++) seen.push(q.finish(T0)!.next!);
    for (let i = 3001; i <= 4000; i++) q.offer(i, T0, T0 + 1e9);
    while (q.queued > 0) seen.push(q.finish(T0).next!);
    expect(seen).toEqual(Array.from({ length: 4000 }, (_, i) => i + 1));
  });

  it('refuses nonsensical limits', () => {
    expect(() => new AdmissionQueue({ maxConcurrent: 0, maxQueued: 1 })).toThrow(/maxConcurrent/);
    expect(() => new AdmissionQueue({ maxConcurrent: 1, maxQueued: -1 })).toThrow(/maxQueued/);
  });

  it('finish without a running request is a programming error', () => {
    expect(() => new AdmissionQueue().finish(T0)).toThrow();
  });
});

describe('Locus-Deadline header', () => {
  it('given epoch ms in decimal, then it is the deadline', () => expect(parseDeadline('1800000000123')).toBe(1_800_000_000_123));
  it('given no header, garbage, a negative or a fractional number, then there is none', () => {
    for (const v of [undefined, null, '', 'soon', '-5', '1.5', '1e12', '99999999999999999']) expect(parseDeadline(v)).toBeUndefined();
  });
});
