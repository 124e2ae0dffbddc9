import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { EventMetadata, RecordedEvent } from '@locus/contracts';

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
  apply(events: RecordedEvent[], tx: EntityManager): Promise<void>;
}

export interface EventStoreOptions {
  /** Subject each event is published under; stored in the outbox row. */
  subjectOf: (streamId: string, type: string) => string;
  projectors: Projector[];
  /** LISTEN/NOTIFY channel that wakes the outbox relay on commit. */
  notifyChannel: string;
}

interface EventRow {
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
 */
export class PgEventStore {
  private readonly appendListeners = new Set<(events: RecordedEvent[]) => void>();

  constructor(
    readonly dataSource: DataSource,
    private readonly options: EventStoreOptions,
  ) {}

  /** Called with the events of every append once committed (metrics). Returns a function that removes the listener. */
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

  /** Appends after `expectedVersion` (0 for a new stream). Returns the recorded events. */
  async append(streamId: string, expectedVersion: number, events: NewEvent[]): Promise<RecordedEvent[]> {
    if (events.length === 0) return [];
    const newVersion = expectedVersion + events.length;
    const committed = await this.dataSource.transaction(async (tx) => {
      const claimed =
        expectedVersion === 0
          ? await tx.query(`INSERT INTO streams (stream_id, version) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1`, [streamId, newVersion])
          : await tx.query(`UPDATE streams SET version = $3 WHERE stream_id = $1 AND version = $2 RETURNING 1`, [streamId, expectedVersion, newVersion]);
      if (rowCount(claimed) === 0) throw new VersionConflictError(streamId, expectedVersion);

      const values: unknown[] = [];
      const tuples = events.map((e, i) => {
        values.push(randomUUID(), streamId, expectedVersion + i + 1, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata));
        const b = i * 6;
        return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}::jsonb, $${b + 6}::jsonb)`;
      });
      const rows: EventRow[] = await tx.query(
        `INSERT INTO events (id, stream_id, stream_version, type, data, metadata) VALUES ${tuples.join(', ')}
         RETURNING position, id, stream_id, stream_version, type, data, metadata, recorded_at`,
        values,
      );
      const recorded = rows.map(toRecorded).sort((a, b) => a.streamVersion - b.streamVersion);

      await tx.query(`INSERT INTO outbox (position, subject) SELECT * FROM unnest($1::bigint[], $2::text[])`, [
        recorded.map((r) => r.position),
        recorded.map((r) => this.options.subjectOf(streamId, r.type)),
      ]);
      for (const projector of this.options.projectors) await projector.apply(recorded, tx);
      await tx.query(`SELECT pg_notify($1, $2)`, [this.options.notifyChannel, recorded[recorded.length - 1].position]);
      return recorded;
    });
    for (const listener of this.appendListeners) {
      try {
        listener(committed);
      } catch {
        // an observer never fails an append that is already committed
      }
    }
    return committed;
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

function rowCount(result: unknown): number {
  // TypeORM returns [rows, count] for UPDATE/INSERT ... RETURNING on postgres, rows for SELECT.
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[1];
  return Array.isArray(result) ? result.length : 0;
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string; driverError?: { code?: string; constraint?: string } };
  const code = e.code ?? e.driverError?.code;
  const name = e.constraint ?? e.driverError?.constraint;
  return code === '23505' && (!constraint || name === constraint);
}
