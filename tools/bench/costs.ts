import type { Client } from 'pg';
import type { JetStreamManager } from 'nats';

/**
 * Per-move cost figures: what Postgres did (transactions, rows read and written, statements) and
 * how often the stream delivered each stored message, over a load window, divided by the moves
 * completed in it. Snapshots at the start and the end of the window (I/O), then pure arithmetic.
 */

/** Counters of pg_stat_database for one database. */
export interface PgCounters {
  commits: number;
  rollbacks: number;
  /** tup_returned: rows returned by sequential scans and index entries returned by index scans. */
  returned: number;
  /** tup_fetched: live rows fetched by index scans. */
  fetched: number;
  inserted: number;
  updated: number;
  deleted: number;
}

/** pg_stat_database of the client's own database, now (the stats snapshot of the session is cleared first). */
export async function pgCounters(client: Client): Promise<PgCounters> {
  await client.query('SELECT pg_stat_clear_snapshot()');
  const r = await client.query(
    `SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted
       FROM pg_stat_database WHERE datname = current_database()`,
  );
  const x = r.rows[0] ?? {};
  return {
    commits: Number(x.xact_commit ?? 0),
    rollbacks: Number(x.xact_rollback ?? 0),
    returned: Number(x.tup_returned ?? 0),
    fetched: Number(x.tup_fetched ?? 0),
    inserted: Number(x.tup_inserted ?? 0),
    updated: Number(x.tup_updated ?? 0),
    deleted: Number(x.tup_deleted ?? 0),
  };
}

export const STATEMENTS_NOT_LOADED = 'pg_stat_statements not loaded; enable with shared_preload_libraries';

/**
 * pg_stat_statements when the server preloads it: then the extension is created in the client's
 * database (CREATE EXTENSION IF NOT EXISTS). Otherwise the reason it is not available.
 */
export async function enableStatements(client: Client): Promise<{ available: true } | { available: false; reason: string }> {
  const libs = String((await client.query('SHOW shared_preload_libraries')).rows[0]?.shared_preload_libraries ?? '');
  if (
    !libs
      .split(',')
      .map((x) => x.trim())
      .includes('pg_stat_statements')
  )
    return { available: false, reason: STATEMENTS_NOT_LOADED };
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    return { available: true };
  } catch (err) {
    return { available: false, reason: `pg_stat_statements is loaded but CREATE EXTENSION failed: ${(err as Error).message}` };
  }
}

/** Forgets the statistics of the client's own database only (other databases on the server keep theirs). */
export async function resetStatements(client: Client): Promise<void> {
  await client.query('SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)');
}

export interface StatementCounters {
  queryid: string;
  query: string;
  calls: number;
  rows: number;
  totalMs: number;
}

/** pg_stat_statements of the client's own database, per statement (summed over users). */
export async function statementCounters(client: Client): Promise<StatementCounters[]> {
  const r = await client.query(
    `SELECT queryid::text AS queryid, min(query) AS query, sum(calls)::bigint AS calls, sum(rows)::bigint AS rows, sum(total_exec_time) AS total_ms
       FROM pg_stat_statements
      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      GROUP BY queryid`,
  );
  return r.rows.map((x) => ({ queryid: String(x.queryid), query: String(x.query), calls: Number(x.calls), rows: Number(x.rows), totalMs: Number(x.total_ms) }));
}

export interface StreamCounters {
  /** Sequence of the last message stored in the stream (unlike the message count, never lowered by limits or deletes). */
  lastSeq: number;
  /** delivered.consumer_seq of every consumer, by name: deliveries so far, redeliveries included. */
  delivered: Record<string, number>;
}

/** The stream's message count and every consumer's deliveries so far. */
export async function streamCounters(jsm: JetStreamManager, stream: string): Promise<StreamCounters> {
  const info = await jsm.streams.info(stream);
  const delivered: Record<string, number> = {};
  for await (const ci of jsm.consumers.list(stream)) delivered[ci.name] = ci.delivered?.consumer_seq ?? 0;
  return { lastSeq: Number(info.state.last_seq), delivered };
}

/** Everything one window's snapshot holds. */
export interface CostSnapshot {
  pg?: PgCounters;
  statements?: StatementCounters[];
  stream?: StreamCounters;
}

export interface CostFigures {
  /** Moves completed in the window: the divisor of every "per move". */
  moves: number;
  windowS: number;
  postgres?: {
    transactions: number;
    rowsRead: number;
    inserted: number;
    updated: number;
    deleted: number;
    perMove: { transactions?: number; rowsRead?: number; inserted?: number; updated?: number; deleted?: number };
  };
  statements:
    { available: true; calls: number; perMove?: number; top: { query: string; calls: number; perMove?: number; rowsPerCall?: number; meanMs?: number }[] } | { available: false; reason: string };
  stream?: {
    /** Consumers at the end of the window. */
    consumers: number;
    /** Messages stored during the window. */
    messages: number;
    /** Deliveries to all consumers during the window. */
    deliveries: number;
    /** deliveries / messages: how many consumers each event went to, on average. */
    perMessage?: number;
    perMove?: number;
  };
  how: string;
}

const per = (x: number, n: number) => (n > 0 ? x / n : undefined);

/** Statement counters of the window: after minus before, per statement (a statement new in the window counts from 0). */
export function diffStatements(before: readonly StatementCounters[], after: readonly StatementCounters[]): StatementCounters[] {
  const b = new Map(before.map((x) => [x.queryid, x]));
  return after
    .map((a) => {
      const o = b.get(a.queryid);
      // a reset (or an evicted entry) makes the counters smaller: then the window holds the after values
      if (!o || a.calls < o.calls) return a;
      return { ...a, calls: a.calls - o.calls, rows: a.rows - o.rows, totalMs: a.totalMs - o.totalMs };
    })
    .filter((x) => x.calls > 0);
}

/** The window's costs divided by the moves completed in it; figures that were not measured are left out. */
export function costFigures(start: CostSnapshot, end: CostSnapshot, moves: number, windowS: number, statementsUnavailable?: string, top = 5): CostFigures {
  const out: CostFigures = {
    moves,
    windowS,
    statements: { available: false, reason: statementsUnavailable ?? 'not measured' },
    how:
      'pg_stat_database of the lab database (xact_commit + xact_rollback; rows read = tup_returned + tup_fetched; tup_inserted/updated/deleted) and, when loaded, pg_stat_statements (calls), at the start and the end of the window (backends report to pg_stat_database at most once a second, so each end lags by up to a second of load); ' +
      "stream: the stream's last sequence and every consumer's delivered.consumer_seq at both ends; each divided by the moves completed in the window",
  };
  if (start.pg && end.pg) {
    const d = (k: keyof PgCounters) => end.pg![k] - start.pg![k];
    const transactions = d('commits') + d('rollbacks');
    const rowsRead = d('returned') + d('fetched');
    out.postgres = {
      transactions,
      rowsRead,
      inserted: d('inserted'),
      updated: d('updated'),
      deleted: d('deleted'),
      perMove: { transactions: per(transactions, moves), rowsRead: per(rowsRead, moves), inserted: per(d('inserted'), moves), updated: per(d('updated'), moves), deleted: per(d('deleted'), moves) },
    };
  }
  if (end.statements && !statementsUnavailable) {
    const w = diffStatements(start.statements ?? [], end.statements);
    const calls = w.reduce((a, x) => a + x.calls, 0);
    out.statements = {
      available: true,
      calls,
      perMove: per(calls, moves),
      top: [...w]
        .sort((a, b) => b.calls - a.calls)
        .slice(0, top)
        .map((x) => ({ query: x.query.replace(/\s+/g, ' ').trim(), calls: x.calls, perMove: per(x.calls, moves), rowsPerCall: per(x.rows, x.calls), meanMs: per(x.totalMs, x.calls) })),
    };
  }
  if (start.stream && end.stream) {
    let deliveries = 0;
    for (const [name, seq] of Object.entries(end.stream.delivered)) {
      const before = start.stream.delivered[name] ?? 0;
      // a consumer created again during the window starts from 0
      deliveries += seq >= before ? seq - before : seq;
    }
    const messages = end.stream.lastSeq - start.stream.lastSeq;
    out.stream = { consumers: Object.keys(end.stream.delivered).length, messages, deliveries, perMessage: per(deliveries, messages), perMove: per(deliveries, moves) };
  }
  return out;
}
