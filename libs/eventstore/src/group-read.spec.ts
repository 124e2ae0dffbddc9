import { GroupRead } from './group-read';

/** A readMany whose queries finish when the test says so, recording the keys of each. */
function controlledReads() {
  const queries: { keys: number[]; finish: (fail?: Error) => void }[] = [];
  const readMany = (keys: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      queries.push({ keys, finish: (fail) => (fail ? reject(fail) : resolve(keys.map((k) => `value-${k}`))) });
    });
  return { queries, readMany };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupRead: the reads that arrive while one is in flight go together in the next query', () => {
  it('given no query in flight, when one read is asked for, then it goes at once, alone', async () => {
    const { queries, readMany } = controlledReads();
    const reads = new GroupRead(readMany);
    const value = reads.read(1);
    expect(queries.map((q) => q.keys)).toEqual([[1]]);
    queries[0].finish();
    await expect(value).resolves.toBe('value-1');
  });

  it('given a query in flight, when three more reads arrive, then they share the next query and each gets its own value', async () => {
    const { queries, readMany } = controlledReads();
    const reads = new GroupRead(readMany);
    const first = reads.read(1);
    const later = [reads.read(2), reads.read(3), reads.read(4)];
    expect(queries).toHaveLength(1);
    queries[0].finish();
    await first;
    await settle();
    expect(queries.map((q) => q.keys)).toEqual([[1], [2, 3, 4]]);
    queries[1].finish();
    await expect(Promise.all(later)).resolves.toEqual(['value-2', 'value-3', 'value-4']);
    expect(reads.stats).toEqual({ reads: 4, queries: 2, largestBatch: 3 });
  });

  it('given more waiting reads than maxBatch, then they go in queries of at most maxBatch, in order', async () => {
    const { queries, readMany } = controlledReads();
    const reads = new GroupRead(readMany, { maxBatch: 2 });
    const all = [1, 2, 3, 4, 5].map((k) => reads.read(k));
    for (let i = 0; i < 3; i++) {
      queries[i].finish();
      await settle();
    }
    expect(queries.map((q) => q.keys)).toEqual([[1], [2, 3], [4, 5]]);
    await expect(Promise.all(all)).resolves.toEqual(['value-1', 'value-2', 'value-3', 'value-4', 'value-5']);
  });

  it('when a query fails, then its keys are read again one by one: only the read at fault fails', async () => {
    const asked: number[][] = [];
    // The database refuses any statement holding key 3 (as Postgres refuses a text with a NUL).
    const reads = new GroupRead<number, string>(async (keys) => {
      asked.push(keys);
      await settle();
      if (keys.includes(3)) throw new Error('invalid byte sequence');
      return keys.map((k) => `value-${k}`);
    });
    const first = reads.read(1);
    const shared = [reads.read(2), reads.read(3), reads.read(4)];
    await expect(first).resolves.toBe('value-1');
    const outcomes = await Promise.all(shared.map((p) => p.catch((e: Error) => e.message)));
    expect(outcomes).toEqual(['value-2', 'invalid byte sequence', 'value-4']);
    expect(asked).toEqual([[1], [2, 3, 4], [2], [3], [4]]);
  });

  it('when the database fails every query, then every read fails with its error', async () => {
    const reads = new GroupRead<number, string>(async () => {
      await settle();
      throw new Error('connection lost');
    });
    const all = [1, 2, 3].map((k) => reads.read(k).catch((e: Error) => e.message));
    await expect(Promise.all(all)).resolves.toEqual(['connection lost', 'connection lost', 'connection lost']);
  });

  it('when a query answers for fewer keys than it was asked, then its reads fail instead of getting values of other keys', async () => {
    const reads = new GroupRead<number, string>(async (keys) => keys.slice(1).map((k) => `value-${k}`));
    await expect(reads.read(1)).rejects.toThrow('group read: 0 results for 1 keys');
  });
});
