import { ExpiryQueue } from './expiry-queue';

describe('expiry queue', () => {
  it('given keys with deadlines, when time passes, then exactly the due keys come out', () => {
    const deadlines = new Map([
      ['a', 10],
      ['b', 20],
      ['c', 30],
    ]);
    const q = new ExpiryQueue<string>();
    for (const [k, at] of deadlines) q.schedule(k, at);
    expect(q.due(5, (k) => deadlines.get(k))).toEqual([]);
    expect(q.due(20, (k) => deadlines.get(k))).toEqual(['a', 'b']);
    expect(q.size).toBe(1);
  });

  it('given a key refreshed after it was scheduled, when its old deadline passes, then it is rescheduled, not expired', () => {
    const deadlines = new Map([['a', 10]]);
    const q = new ExpiryQueue<string>();
    q.schedule('a', 10);
    deadlines.set('a', 50); // refreshed: no heap work
    expect(q.due(10, (k) => deadlines.get(k))).toEqual([]);
    expect(q.size).toBe(1);
    expect(q.due(50, (k) => deadlines.get(k))).toEqual(['a']);
  });

  it('given a removed key, when its deadline passes, then it is skipped', () => {
    const q = new ExpiryQueue<string>();
    q.schedule('a', 10);
    expect(q.due(10, () => undefined)).toEqual([]);
    expect(q.size).toBe(0);
  });

  it('given a key whose deadline moved earlier, when scheduled again, then the earlier deadline counts once', () => {
    const deadlines = new Map([['a', 5]]);
    const q = new ExpiryQueue<string>();
    q.schedule('a', 10);
    q.schedule('a', 5);
    expect(q.due(6, (k) => deadlines.get(k))).toEqual(['a']);
    expect(q.due(100, (k) => deadlines.get(k))).toEqual([]);
  });

  it('keeps heap order over many keys', () => {
    const q = new ExpiryQueue<number>();
    const at = Array.from({ length: 500 }, (_, i) => (i * 7919) % 1000);
    at.forEach((t, k) => q.schedule(k, t));
    const out = q.due(1000, (k) => at[k]);
    expect(out.map((k) => at[k])).toEqual([...at].sort((a, b) => a - b));
  });
});
