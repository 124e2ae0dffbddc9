import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { EventMetadata, RecordedEvent } from '@locus/contracts';
import { preparedQuery } from './prepared';

export interface NewEvent {
  type: string;
  data: unknown;
  metadata: EventMetadata;
}

/** Appends refused because the stream moved on since it was read. Never overwrites. */
export class VersionConflictError extends Error {
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
  ) {
    super(`stream ${streamId} is not at version ${expectedVersion}`);
    this.name = 'VersionConflictError';
  }
}

/** Updates read models inside the append transaction, so they never lag the log. */
export interface Projector {
  readonly name: string;
  /** `events` are in position order and may belong to many streams (appendMany). */
  apply(events: RecordedEvent[], tx: EntityManager): Promise<void>;
}

/** Anything that runs a query: the DataSource (autocommit) or a transaction's EntityManager. */
export interface Queryable {
  query(sql: string, params?: unknown[]): Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- TypeORM's own signature
}

/**
 * A read model written in the append's own statement: its rows are computed before the events are
 * stored (from rows it remembers or reads), then written by CTEs of the one statement that claims
 * the streams, only for the streams it claims. An append is then one round trip in autocommit, with
 * no BEGIN, no COMMIT and no read inside a transaction. The rows of a stream whose claim fails are
 * not written and are forgotten.
 */
export interface InlineProjection<Rows> {
  readonly name: string;
  /** The rows `pending` change (events not stored yet: `position` and `recordedAt` are unknown; the CTEs take them from `inserted`). */
  prepare(pending: readonly RecordedEvent[], expected: ReadonlyMap<string, number>, db: Queryable): Promise<Rows>;
  /** CTEs (each starting with `, name AS (`) writing `rows` of the streams claimed (`claimed(stream_id)`, `inserted(...)` are in scope), with parameters from `$first`. */
  ctes(first: number, rows: Rows): { sql: string; params: unknown[] };
  /** After the statement: the streams it claimed, at their new versions (the others' rows were not written). */
  settle(rows: Rows, claimed: ReadonlyMap<string, number>): void;
  /** The statement failed: nothing of `rows` is known to be stored. */
  discard(rows: Rows): void;
}

/** One stream's share of an appendMany batch. */
export interface AppendRequest {
  streamId: string;
  expectedVersion: number;
  events: NewEvent[];
}

/** Per stream of an appendMany batch: the recorded events, or the version conflict that kept it out. */
export interface AppendResult {
  streamId: string;
  events?: RecordedEvent[];
  conflict?: VersionConflictError;
}

export interface EventStoreOptions {
  /** Subject each event is published under; stored in the outbox row. */
  subjectOf: (streamId: string, type: string) => string;
  projectors: Projector[];
  /** Written in the append's own statement; with no `projectors`, an append is one autocommit statement. */
  inline?: InlineProjection<unknown>;
  /** LISTEN/NOTIFY channel that wakes the outbox relay on commit. */
  notifyChannel: string;
}

export interface EventRow {
  position: string;
  id: string;
  stream_id: string;
  stream_version: number;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  recorded_at: Date;
}

export function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    position: String(row.position),
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    recordedAt: row.recorded_at.toISOString(),
  } as RecordedEvent;
}

/**
 * Postgres event store: one transaction appends the events (expected-version checked on
 * the `streams` row), writes their outbox rows, updates the projections and notifies the relay.
 * `append` does it for one stream, `appendMany` for many in one transaction (group commit).
 */
export class PgEventStore {
  private readonly appendListeners = new Set<(events: RecordedEvent[]) => void>();

  constructor(
    readonly dataSource: DataSource,
    private readonly options: EventStoreOptions,
  ) {}

  /** Called with the events of every append once committed (an appendMany batch's in one call; metrics). Returns a function that removes the listener. */
  onAppended(listener: (events: RecordedEvent[]) => void): () => void {
    this.appendListeners.add(listener);
    return () => void this.appendListeners.delete(listener);
  }

  async readStream(streamId: string): Promise<{ version: number; events: RecordedEvent[] }> {
    const rows: EventRow[] = await this.dataSource.query(
      `SELECT position, id, stream_id, stream_version, type, data, metadata, recorded_at
         FROM events WHERE stream_id = $1 ORDER BY stream_version`,
      [streamId],
    );
    const events = rows.map(toRecorded);
    return { version: events.length ? events[events.length - 1].streamVersion : 0, events };
  }

  /** Every stream's version and events, in one query (0 and no events for a stream that does not exist). */
  async readStreams(streamIds: readonly string[]): Promise<Map<string, { version: number; events: RecordedEvent[] }>> {
    const streams = new Map<string, { version: number; events: RecordedEvent[] }>(streamIds.map((id) => [id, { version: 0, events: [] }]));
    if (streamIds.length === 0) return streams;
    const rows: EventRow[] = await this.dataSource.query(
      `SELECT position, id, stream_id, stream_version, type, data, metadata, recorded_at
         FROM events WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, stream_version`,
      [streamIds],
    );
    for (const row of rows) {
      const stream = streams.get(row.stream_id)!;
      const event = toRecorded(row);
      stream.events.push(event);
      stream.version = event.streamVersion;
    }
    return streams;
  }

  /**
   * Appends after `expectedVersion` (0 for a new stream). Returns the recorded events.
   * Throws VersionConflictError (and writes nothing) when the stream is not at that version.
   * Round trips: one statement (stream claim + events + outbox + inline projection + notify) in
   * autocommit; with transactional `projectors`, BEGIN, that statement, the projectors' own, COMMIT.
   */
  async append(streamId: string, expectedVersion: number, events: NewEvent[]): Promise<RecordedEvent[]> {
    if (events.length === 0) return [];
    const committed = await this.write([{ streamId, expectedVersion, events }]);
    if (committed.length === 0) throw new VersionConflictError(streamId, expectedVersion);
    this.notifyListeners(committed);
    return committed;
  }

  /** Claims, inserts and projects `writes` (streams appear once each): the events of the claimed streams, in position order. */
  private async write(writes: readonly AppendRequest[]): Promise<RecordedEvent[]> {
    const pending = pendingEventsOf(writes);
    const inline = this.options.inline;
    const expected = new Map(writes.map((w) => [w.streamId, w.expectedVersion]));
    const rows = inline ? await inline.prepare(pending.events, expected, this.dataSource) : undefined;
    try {
      const recorded =
        this.options.projectors.length === 0
          ? await this.insertClaimed(this.dataSource, writes, pending, rows)
          : await this.dataSource.transaction(async (tx) => {
              const r = await this.insertClaimed(tx, writes, pending, rows);
              if (r.length > 0) for (const projector of this.options.projectors) await projector.apply(r, tx);
              return r;
            });
      if (inline) {
        const claimed = new Map<string, number>();
        for (const e of recorded) claimed.set(e.streamId, e.streamVersion);
        inline.settle(rows, claimed);
      }
      return recorded;
    } catch (err) {
      inline?.discard(rows);
      throw err;
    }
  }

  /**
   * Group commit: appends to many streams in ONE transaction with set-based statements. A stream
   * that is not at its expected version is reported as a conflict (nothing of it is written) while
   * the others commit; any other failure (a projection's constraint, the connection) rolls back the
   * whole batch and throws. Results come in the order of `batch`; a stream may appear only once.
   */
  async appendMany(batch: readonly AppendRequest[]): Promise<AppendResult[]> {
    const seen = new Set<string>();
    for (const { streamId } of batch) {
      if (seen.has(streamId)) throw new Error(`appendMany: stream ${streamId} appears twice in one batch`);
      seen.add(streamId);
    }
    const writes = batch.filter((b) => b.events.length > 0);
    const committed = writes.length === 0 ? [] : await this.write(writes);
    const byStream = new Map<string, RecordedEvent[]>();
    for (const event of committed) {
      const list = byStream.get(event.streamId);
      if (list) list.push(event);
      else byStream.set(event.streamId, [event]);
    }
    if (committed.length > 0) this.notifyListeners(committed);
    return batch.map(({ streamId, expectedVersion, events }) => {
      if (events.length === 0) return { streamId, events: [] };
      const recorded = byStream.get(streamId);
      return recorded ? { streamId, events: recorded } : { streamId, conflict: new VersionConflictError(streamId, expectedVersion) };
    });
  }

  /**
   * One statement: claims every stream still at its expected version (INSERT for new streams,
   * UPDATE ... WHERE version = expected for the others), inserts the events of the claimed streams
   * only, their outbox rows, and notifies the relay. Returns the recorded events in position order;
   * a stream whose claim failed has none. The caller's transaction makes it atomic with the projections.
   */
  private async insertClaimed(db: Queryable, writes: readonly AppendRequest[], pending: PendingEvents, rows: unknown): Promise<RecordedEvent[]> {
    // New streams are inserted, existing ones locked (FOR UPDATE ... ORDER BY), in stream-id order
    // whatever the plan: batches sharing streams then wait for each other instead of deadlocking.
    // A stream another transaction advanced meanwhile fails the version re-check and is a conflict.
    const ordered = [...writes].sort((a, b) => (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0));
    const streamIds: string[] = [];
    const expected: number[] = [];
    const versions: number[] = [];
    // data and metadata go as one JSON array each: as text[] every element's quotes were escaped into an array literal (a copy of each event, twice).
    const ev = { stream: [] as string[], id: [] as string[], version: [] as number[], type: [] as string[], data: [] as unknown[], metadata: [] as unknown[], subject: [] as string[] };
    for (const { streamId, expectedVersion, events } of ordered) {
      streamIds.push(streamId);
      expected.push(expectedVersion);
      versions.push(expectedVersion + events.length);
      const ids = pending.ids.get(streamId)!;
      events.forEach((e, i) => {
        ev.stream.push(streamId);
        ev.id.push(ids[i]);
        ev.version.push(expectedVersion + i + 1);
        ev.type.push(e.type);
        ev.data.push(e.data);
        ev.metadata.push(e.metadata);
        ev.subject.push(this.options.subjectOf(streamId, e.type));
      });
    }
    const projection = this.options.inline && rows !== undefined ? this.options.inline.ctes(12, rows) : { sql: '', params: [] };
    // Data-modifying CTEs all run to completion; `notified` is a plain SELECT, so it runs only because
    // the final SELECT reads it (once, as an InitPlan, when there is a first row). No rows: no claim, no notify.
    // The inline projection's CTEs write their rows for the claimed streams in the same statement.
    // Events are inserted ORDER BY input order so positions grow with stream versions (the relay's order).
    const text = `WITH s AS (
         SELECT * FROM unnest($1::text[], $2::int[], $3::int[]) AS s(stream_id, expected, version)
       ), e AS (
         SELECT * FROM ROWS FROM (unnest($4::text[]), unnest($5::uuid[]), unnest($6::int[]), unnest($7::text[]), jsonb_array_elements($8::jsonb), jsonb_array_elements($9::jsonb), unnest($10::text[]))
           WITH ORDINALITY AS e(stream_id, id, stream_version, type, data, metadata, subject, ord)
       ), created AS (
         INSERT INTO streams (stream_id, version)
         SELECT stream_id, version FROM s WHERE expected = 0 ORDER BY stream_id
         ON CONFLICT DO NOTHING RETURNING stream_id
       ), locked AS (
         SELECT t.stream_id FROM streams t JOIN s USING (stream_id)
          WHERE s.expected > 0 AND t.version = s.expected ORDER BY t.stream_id FOR UPDATE OF t
       ), advanced AS (
         UPDATE streams t SET version = s.version FROM s JOIN locked USING (stream_id)
          WHERE t.stream_id = s.stream_id AND t.version = s.expected
         RETURNING t.stream_id
       ), claimed AS (
         SELECT stream_id FROM created UNION ALL SELECT stream_id FROM advanced
       ), inserted AS (
         INSERT INTO events (id, stream_id, stream_version, type, data, metadata)
         SELECT e.id, e.stream_id, e.stream_version, e.type, e.data, e.metadata FROM e JOIN claimed USING (stream_id) ORDER BY e.ord
         RETURNING position, id, stream_id, stream_version, type, data, metadata, recorded_at
       ), queued AS (
         INSERT INTO outbox (position, subject) SELECT i.position, e.subject FROM inserted i JOIN e USING (id)
         RETURNING position
       ), notified AS (
         SELECT pg_notify($11, max(position)::text) FROM queued WHERE $11::text IS NOT NULL HAVING count(*) > 0
       )${projection.sql}
       SELECT i.position, i.id, i.recorded_at, (SELECT count(*) FROM notified)::int AS notified FROM inserted i`;
    // No notification while this process's own relay takes the events from memory (`relayFromMemory`).
    const channel = this.relaysOwnAppends?.() ? null : this.options.notifyChannel;
    const values = [streamIds, expected, versions, ev.stream, ev.id, ev.version, ev.type, JSON.stringify(ev.data), JSON.stringify(ev.metadata), ev.subject, channel, ...projection.params];
    // Only what the database chose comes back: the events' data and metadata are the ones sent.
    const inserted: InsertedRow[] = db === this.dataSource ? await this.prepared(text, values) : await db.query(text, values);
    const recorded = inserted.map((row) => {
      const event = pending.byId.get(row.id)!;
      return { ...event, position: String(row.position), recordedAt: row.recorded_at.toISOString() } as RecordedEvent;
    });
    return recorded.sort((a, b) => Number(BigInt(a.position) - BigInt(b.position)));
  }

  /** Set by the outbox relay of this process while it leads (`OutboxRelay.relayFromMemory`): appends then skip the NOTIFY. */
  private relaysOwnAppends?: () => boolean;

  /**
   * The outbox relay of this process publishes this store's committed appends from memory while
   * it is the leader (`leading()`), so those appends do not notify; when another process leads,
   * they notify as before. Returns a function that undoes it.
   */
  relayAppendsFromMemory(leading: () => boolean, offer: (entries: { subject: string; event: RecordedEvent }[]) => void): () => void {
    this.relaysOwnAppends = leading;
    const unlisten = this.onAppended((events) => offer(events.map((event) => ({ subject: this.options.subjectOf(event.streamId, event.type), event }))));
    return () => {
      if (this.relaysOwnAppends === leading) this.relaysOwnAppends = undefined;
      unlisten();
    };
  }

  /** The append: a statement the pool's sessions prepare once (its CTEs took longer to plan than to run); its parameters are arrays, so one plan serves batches of every size. */
  private prepared<R>(text: string, values: unknown[]): Promise<R[]> {
    return preparedQuery<R>(this.dataSource, text, values);
  }

  private notifyListeners(committed: RecordedEvent[]): void {
    for (const listener of this.appendListeners) {
      try {
        listener(committed);
      } catch {
        // an observer never fails an append that is already committed
      }
    }
  }

  /** Reads the whole log in global order, in pages (for rebuilds and catch-up). */
  async *readAll(pageSize = 5000): AsyncGenerator<RecordedEvent[]> {
    let after = '0';
    for (;;) {
      const rows: EventRow[] = await this.dataSource.query(
        `SELECT position, id, stream_id, stream_version, type, data, metadata, recorded_at
           FROM events WHERE position > $1 ORDER BY position LIMIT $2`,
        [after, pageSize],
      );
      if (rows.length === 0) return;
      yield rows.map(toRecorded);
      after = String(rows[rows.length - 1].position);
    }
  }
}

/** The events of `writes` as they will be recorded (ids chosen here), for an inline projection to fold before the insert. */
interface PendingEvents {
  events: RecordedEvent[];
  ids: Map<string, string[]>;
  byId: Map<string, RecordedEvent>;
}

/** What the append statement returns per event: what the database chose. */
interface InsertedRow {
  position: string;
  id: string;
  recorded_at: Date;
}

function pendingEventsOf(writes: readonly AppendRequest[]): PendingEvents {
  const events: RecordedEvent[] = [];
  const ids = new Map<string, string[]>();
  const byId = new Map<string, RecordedEvent>();
  const now = new Date().toISOString();
  for (const { streamId, expectedVersion, events: news } of writes) {
    const streamIds: string[] = [];
    news.forEach((e, i) => {
      const id = randomUUID();
      streamIds.push(id);
      const event = { id, streamId, streamVersion: expectedVersion + i + 1, position: '0', type: e.type, data: e.data, metadata: e.metadata, recordedAt: now } as RecordedEvent;
      events.push(event);
      byId.set(id, event);
    });
    ids.set(streamId, streamIds);
  }
  return { events, ids, byId };
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string; driverError?: { code?: string; constraint?: string } };
  const code = e.code ?? e.driverError?.code;
  const name = e.constraint ?? e.driverError?.constraint;
  return code === '23505' && (!constraint || name === constraint);
}
