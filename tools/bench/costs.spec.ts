import { costFigures, diffStatements, STATEMENTS_NOT_LOADED, type CostSnapshot, type PgCounters } from './costs';

const pg = (x: Partial<PgCounters>): PgCounters => ({ commits: 0, rollbacks: 0, returned: 0, fetched: 0, inserted: 0, updated: 0, deleted: 0, ...x });

describe('per-move costs', () => {
  const start: CostSnapshot = {
    pg: pg({ commits: 1000, rollbacks: 10, returned: 50_000, fetched: 20_000, inserted: 500, updated: 100, deleted: 5 }),
    stream: { lastSeq: 1000, delivered: { a: 900, b: 1000, gone: 10 } },
  };
  const end: CostSnapshot = {
    pg: pg({ commits: 3000, rollbacks: 10, returned: 150_000, fetched: 70_000, inserted: 1300, updated: 400, deleted: 5 }),
    stream: { lastSeq: 1500, delivered: { a: 1400, b: 1500, fresh: 300 } },
  };

  it('divides the window differences of pg_stat_database by the moves completed in it', () => {
    const f = costFigures(start, end, 100, 10, STATEMENTS_NOT_LOADED);
    expect(f.postgres).toEqual({
      transactions: 2000,
      rowsRead: 150_000,
      inserted: 800,
      updated: 300,
      deleted: 0,
      perMove: { transactions: 20, rowsRead: 1500, inserted: 8, updated: 3, deleted: 0 },
    });
    expect(f.statements).toEqual({ available: false, reason: STATEMENTS_NOT_LOADED });
  });

  it('stream deliveries: every consumer’s growth of delivered.consumer_seq, a new consumer from 0, per stored message and per move', () => {
    const f = costFigures(start, end, 100, 10);
    // a 500 + b 500 + fresh 300
    expect(f.stream).toEqual({ consumers: 3, messages: 500, deliveries: 1300, perMessage: 2.6, perMove: 13 });
  });

  it('a consumer created again (its sequence went back) counts from 0', () => {
    const f = costFigures({ stream: { lastSeq: 0, delivered: { a: 900 } } }, { stream: { lastSeq: 100, delivered: { a: 40 } } }, 10, 1);
    expect(f.stream?.deliveries).toBe(40);
  });

  it('no move completed: totals but no per-move figures', () => {
    const f = costFigures(start, end, 0, 10);
    expect(f.postgres?.perMove).toEqual({ transactions: undefined, rowsRead: undefined, inserted: undefined, updated: undefined, deleted: undefined });
    expect(f.stream?.perMove).toBeUndefined();
    expect(f.stream?.perMessage).toBe(2.6);
  });

  it('statements: calls per move and the top 5 by calls over the window', () => {
    const q = (id: string, calls: number, rows = calls, totalMs = calls) => ({ queryid: id, query: `SELECT ${id}`, calls, rows, totalMs });
    const before = [q('1', 100), q('2', 50)];
    const after = [q('1', 300, 600, 30), q('2', 50), q('3', 40), q('4', 30), q('5', 20), q('6', 10), q('7', 5)];
    const f = costFigures({ ...start, statements: before }, { ...end, statements: after }, 10, 10);
    expect(f.statements).toMatchObject({ available: true, calls: 305, perMove: 30.5 });
    if (!f.statements.available) throw new Error('unreachable');
    expect(f.statements.top.map((t) => [t.query, t.calls, t.perMove])).toEqual([
      ['SELECT 1', 200, 20],
      ['SELECT 3', 40, 4],
      ['SELECT 4', 30, 3],
      ['SELECT 5', 20, 2],
      ['SELECT 6', 10, 1],
    ]);
    expect(f.statements.top[0]).toMatchObject({ rowsPerCall: 2.5, meanMs: (30 - 100) / 200 });
  });

  it('diffStatements: after a reset the counters start again, so the window holds the after values', () => {
    const q = (calls: number) => ({ queryid: 'x', query: 'q', calls, rows: calls, totalMs: 1 });
    expect(diffStatements([q(500)], [q(20)])).toEqual([q(20)]);
    expect(diffStatements([q(20)], [q(20)])).toEqual([]);
  });
});
