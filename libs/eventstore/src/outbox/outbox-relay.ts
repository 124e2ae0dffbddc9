import { Client } from 'pg';
import type { Logger } from 'pino';
import type { RecordedEvent } from '@locus/contracts';
import { toRecorded, type EventRow } from '../event-store';

/** Where the relay sends committed events; JetStream in production, deduplicating on `msgId`. */
export interface OutboxPublisher {
  /** Resolves once the broker has stored the message; `duplicate` when it already had that msgId. */
  publish(subject: string, event: RecordedEvent): Promise<{ duplicate: boolean }>;
}

export interface OutboxRelayOptions {
  databaseUrl: string;
  notifyChannel: string;
  batchSize?: number;
  /** Poll even without a notification, in case one was missed while reconnecting. */
  pollMs?: number;
  maxBackoffMs?: number;
  logger: Logger;
}

/** A committed event and the subject its outbox row names. */
export interface OutboxEntry {
  subject: string;
  event: RecordedEvent;
}

export interface OutboxRelayStats {
  published: number;
  /** Of `published`, the events that went from memory (no read). */
  fromMemory: number;
  /** Statements that read the outbox. */
  scans: number;
  duplicates: number;
  batches: number;
  failures: number;
}

/** How many streams' last published versions the relay remembers (least recently published forgotten first). */
const REMEMBERED_STREAMS = 65_536;
/** Published rows are deleted in one statement at most this often (or when this many wait), not per batch. */
const DELETE_EVERY_MS = 50;
const DELETE_AT_ROWS = 512;

/**
 * Moves committed events from the outbox to the broker.
 *
 * Two ways in, one order per stream. **From memory**: the events this process's own store
 * committed (`relayFromMemory`) are published as soon as their append returns, with no read: an
 * event goes this way only when the relay published its stream's previous version itself (or it
 * is the stream's first), so a stream's events still reach the broker in version order; any other
 * is left to a scan. **By scan**: the oldest outbox rows that are visible (committed), read in
 * position order, gap-safe by construction since it never pages with a cursor: a row committed
 * late is simply found by a later scan. Scans run when another writer notifies, when an event from
 * memory could not go in order, at least every `pollMs`, and when someone waits for `drained()`.
 * Published rows are deleted in batches. A crash or broker outage before that delete leaves the
 * rows in place: they are published again and the broker drops the copies by message id. Only one
 * relay works at a time (a session advisory lock).
 */
export class OutboxRelay {
  readonly stats: OutboxRelayStats = { published: 0, fromMemory: 0, scans: 0, duplicates: 0, batches: 0, failures: 0 };
  private listener?: Client;
  private running = false;
  private wake?: () => void;
  private loop?: Promise<void>;
  private readonly batchSize: number;
  private readonly pollMs: number;
  private readonly maxBackoffMs: number;
  private readonly log: Logger;
  private idleWaiters: (() => void)[] = [];
  /** Something to do arrived while a batch was running; the next sleep is skipped. */
  private notified = false;
  /** Positions published from memory and not acknowledged yet: a scan neither publishes nor deletes them. */
  private readonly sending = new Set<string>();
  /** Direct publishes not settled yet (`stop` waits for them). */
  private readonly sends = new Set<Promise<void>>();
  /** In a failure's backoff: offers wait for it to end. */
  private backingOff = false;
  /** Each stream's last version published by this relay (a bounded map, least recently published first). */
  private readonly lastPublished = new Map<string, number>();
  /** The outbox must be scanned: leadership just began, another writer notified, or an event could not go from memory. */
  private scanDue = true;
  private lastScanAt = 0;
  private lastDeleteAt = 0;
  /** Positions published and not deleted yet; every scan excludes them, and deletes them. */
  private published: string[] = [];

  constructor(
    private readonly publisher: OutboxPublisher,
    private readonly options: OutboxRelayOptions,
  ) {
    this.batchSize = options.batchSize ?? 256;
    this.pollMs = options.pollMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 5000;
    this.log = options.logger.child({ component: 'outbox-relay' });
  }

  async start(): Promise<void> {
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Publishes what `store` commits straight from memory while this relay leads, and the store's
   * appends stop notifying meanwhile (the relay already has them). Returns a function that undoes it.
   */
  relayFromMemory(store: { relayAppendsFromMemory(leading: () => boolean, offer: (entries: OutboxEntry[]) => void): () => void }): () => void {
    return store.relayAppendsFromMemory(
      () => this.leading,
      (events) => this.offer(events),
    );
  }

  /** Whether this relay holds the leader lock now. */
  get leading(): boolean {
    return this.running && this.listener !== undefined;
  }

  /**
   * Publishes committed events of this process at once, without waiting for earlier acks: the
   * client writes them in call order on one connection, so the broker stores a stream's versions in
   * order. An event goes only when this relay sent its stream's previous version itself (or it
   * starts a stream); any other is left to a scan. A failed publish makes the next scan due and
   * forgets the stream, so its later events go by scan, behind it.
   */
  private offer(entries: OutboxEntry[]): void {
    // Not leading: the events' NOTIFY woke the leader, or a scan of ours finds them once we lead.
    if (!this.leading) return;
    for (const entry of entries) {
      const e = entry.event;
      const last = this.lastPublished.get(e.streamId);
      if (last !== undefined && last >= e.streamVersion) continue; // a scan published it already
      if (e.streamVersion !== 1 && last !== e.streamVersion - 1) {
        this.scanDue = true;
        this.poke();
        continue;
      }
      this.remember(e.streamId, e.streamVersion);
      this.sending.add(e.position);
      const send: Promise<void> = this.publisher
        .publish(entry.subject, e)
        .then(
          (ack) => {
            this.published.push(e.position);
            this.deleteSoon();
            this.stats.published++;
            this.stats.fromMemory++;
            if (ack.duplicate) this.stats.duplicates++;
          },
          (err: Error) => {
            this.stats.failures++;
            this.lastPublished.delete(e.streamId);
            this.scanDue = true;
            this.poke();
            this.log.warn({ err: err.message, position: e.position, stream: e.streamId }, 'publishing a committed event from memory failed; a scan of the outbox publishes it');
          },
        )
        .finally(() => {
          this.sending.delete(e.position);
          this.sends.delete(send);
        });
      this.sends.add(send);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await Promise.allSettled([...this.sends]);
    clearTimeout(this.deleteTimer);
    // What was published is deleted now rather than published again by the next leader.
    if (this.listener && this.published.length > 0) await this.listener.query(`DELETE FROM outbox WHERE position = ANY($1::bigint[])`, [this.published]).catch(() => undefined);
    this.published = [];
    await this.listener?.end().catch(() => undefined);
    this.listener = undefined;
  }

  /** Resolves when the outbox has been seen empty (tests and the lab's shutdown use it). */
  drained(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.poke();
    });
  }

  private deleteTimer?: NodeJS.Timeout;

  /** Wakes the loop to delete what was published, once per `DELETE_EVERY_MS` at most (or at once past `DELETE_AT_ROWS`). */
  private deleteSoon(): void {
    if (this.published.length >= DELETE_AT_ROWS) this.poke();
    else if (!this.deleteTimer)
      this.deleteTimer = setTimeout(() => {
        this.deleteTimer = undefined;
        this.poke();
      }, DELETE_EVERY_MS);
  }

  private poke(): void {
    this.notified = true;
    if (!this.backingOff) this.wake?.();
  }

  private async run(): Promise<void> {
    let backoff = 100;
    while (this.running) {
      // Waiters registered before this turn's scan: an empty scan proves their rows are out.
      const waiters = this.idleWaiters.splice(0);
      try {
        if (!this.listener) {
          await this.becomeLeader();
          if (!this.listener) {
            this.idleWaiters.push(...waiters);
            continue; // stopped while standing by: never publish without the lock
          }
        }
        const now = performance.now();
        let scanned = -1;
        if (this.scanDue || waiters.length > 0 || now - this.lastScanAt >= this.pollMs) scanned = await this.scan();
        else if (this.published.length >= DELETE_AT_ROWS || (this.published.length > 0 && now - this.lastDeleteAt >= DELETE_EVERY_MS)) await this.deletePublished();
        backoff = 100;
        if (scanned === 0) waiters.forEach((r) => r());
        else this.idleWaiters.push(...waiters);
        // A full scan goes on at once; otherwise sleep until poked (a scan due, rows to delete, a waiter), the next
        // poll or, with published rows left, their delete: a timer that fired just before the interval since the
        // last delete was over must not leave them until the next poll.
        if (scanned < this.batchSize) {
          const t = performance.now();
          const untilPoll = this.pollMs - (t - this.lastScanAt);
          const untilDelete = this.published.length > 0 ? DELETE_EVERY_MS - (t - this.lastDeleteAt) : Infinity;
          await this.sleep(Math.max(1, Math.min(untilPoll, untilDelete)));
        }
      } catch (err) {
        this.idleWaiters.push(...waiters);
        this.stats.failures++;
        this.scanDue = true;
        this.log.warn({ err: (err as Error).message, retryInMs: backoff }, 'outbox relay failed; the batch stays in the outbox and will be retried');
        this.backingOff = true;
        await this.sleep(backoff, true).finally(() => (this.backingOff = false));
        backoff = Math.min(backoff * 2, this.maxBackoffMs);
      }
    }
  }

  /** One relay per database: wait for the advisory lock, then LISTEN on the same session. */
  private async becomeLeader(): Promise<void> {
    const client = new Client({ connectionString: this.options.databaseUrl });
    client.on('error', (err) => {
      this.log.warn({ err: err.message }, 'outbox listener connection lost; the lock went with it');
      if (this.listener === client) this.listener = undefined;
      void client.end().catch(() => undefined);
    });
    try {
      await client.connect();
      for (;;) {
        const { rows } = await client.query(`SELECT pg_try_advisory_lock(hashtext('locus-outbox-relay')) AS locked`);
        if (rows[0].locked) break;
        if (!this.running) {
          await client.end();
          return;
        }
        await this.sleep(1000, true);
      }
      client.on('notification', () => {
        // Another writer committed (this process's own appends do not notify while it leads).
        this.scanDue = true;
        this.poke();
      });
      await client.query(`LISTEN "${this.options.notifyChannel}"`);
      // The scan's join would be planned as a merge join too, and costing one probes the outbox
      // index's first entries, which under load are thousands of deleted rows not vacuumed yet:
      // ~170 blocks and ~1 ms of planning per batch for a statement that runs in 0.2 ms.
      await client.query(`SET enable_mergejoin = off`);
    } catch (err) {
      // Closing the session releases the lock, so a later attempt (ours or another relay's) can lead.
      await client.end().catch(() => undefined);
      throw err;
    }
    // Whatever was committed before (by anyone, ours included while another relay led) is found by a scan.
    this.lastPublished.clear();
    this.scanDue = true;
    this.listener = client;
    this.log.info({ channel: this.options.notifyChannel }, 'outbox relay is the leader');
  }

  private async publishAll(entries: readonly OutboxEntry[]): Promise<void> {
    const started = performance.now();
    const acks = await Promise.all(entries.map(({ subject, event }) => this.publisher.publish(subject, event)));
    const duplicates = acks.filter((a) => a.duplicate).length;
    this.stats.published += entries.length;
    this.stats.duplicates += duplicates;
    this.stats.batches++;
    this.log.debug({ events: entries.length, duplicates, ms: Math.round(performance.now() - started), last: entries[entries.length - 1].event.position }, 'published outbox batch');
  }

  private remember(streamId: string, version: number): void {
    this.lastPublished.delete(streamId); // re-inserted last: the map's order is least recently published first
    this.lastPublished.set(streamId, version);
    if (this.lastPublished.size > REMEMBERED_STREAMS) this.lastPublished.delete(this.lastPublished.keys().next().value!);
  }

  private async deletePublished(): Promise<void> {
    const done = this.published;
    this.published = [];
    this.lastDeleteAt = performance.now();
    try {
      await this.listener!.query(`DELETE FROM outbox WHERE position = ANY($1::bigint[])`, [done]);
    } catch (err) {
      this.published.push(...done);
      throw err;
    }
  }

  /**
   * One scan, one statement, on the leader's own session (the one holding the advisory lock; never
   * the application's pool, which is busy with appends under load). The statement deletes what was
   * published since the last delete and reads the oldest rows left; its CTEs share one snapshot, so
   * the deleted rows are still visible to the read and are excluded by position. No explicit
   * transaction and no row locks: the advisory lock already makes this session the only relay, and
   * a row committed late is simply found by a later scan (gap-safe without a cursor). Returns the
   * rows published.
   */
  private async scan(): Promise<number> {
    const client = this.listener!;
    // Taken now: acks that arrive while the statement runs are deleted by the next one.
    const done = this.published.splice(0);
    this.scanDue = false;
    this.lastScanAt = performance.now();
    this.stats.scans++;
    // Fetch each event by its position (LATERAL: an index lookup per row). A plain join let the
    // planner hash-join the whole events table when the outbox's statistics were stale.
    // Not a named (prepared) statement: its generic plan read ~5x the blocks of a custom one.
    let rows: (EventRow & { subject: string })[];
    try {
      ({ rows } = await client.query<EventRow & { subject: string }>({
        text: `WITH gone AS (DELETE FROM outbox WHERE position = ANY($2::bigint[])),
              batch AS (SELECT position, subject FROM outbox WHERE position <> ALL($2::bigint[]) AND position <> ALL($3::bigint[]) ORDER BY position LIMIT $1)
         SELECT b.position, b.subject, e.id, e.stream_id, e.stream_version, e.type, e.data, e.metadata, e.recorded_at
           FROM batch b, LATERAL (SELECT * FROM events WHERE events.position = b.position) e
          ORDER BY b.position`,
        values: [this.batchSize, done, [...this.sending]],
      }));
    } catch (err) {
      this.scanDue = true;
      this.published.push(...done);
      throw err;
    }
    this.lastDeleteAt = this.lastScanAt;
    if (rows.length === 0) return 0;
    const entries = rows.map((r) => ({ subject: r.subject, event: toRecorded(r) }));
    // Remembered as they are sent: a later version offered meanwhile may follow at once (same connection, same order).
    for (const { event: e } of entries) if ((this.lastPublished.get(e.streamId) ?? 0) < e.streamVersion) this.remember(e.streamId, e.streamVersion);
    try {
      await this.publishAll(entries);
    } catch (err) {
      this.scanDue = true;
      for (const { event } of entries) this.lastPublished.delete(event.streamId);
      throw err;
    }
    for (const { event: e } of entries) this.published.push(e.position);
    if (rows.length >= this.batchSize) this.scanDue = true;
    return rows.length;
  }

  private sleep(ms: number, ignoreNotified = false): Promise<void> {
    if (this.notified && !ignoreNotified) {
      this.notified = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let t: NodeJS.Timeout | undefined = undefined;
      const done = () => {
        clearTimeout(t);
        this.notified = false;
        resolve();
      };
      t = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
