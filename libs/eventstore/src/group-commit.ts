import type { RecordedEvent } from '@locus/contracts';
import { PgEventStore, VersionConflictError, type AppendRequest, type NewEvent } from './event-store';

interface Pending {
  request: AppendRequest;
  resolve: (events: RecordedEvent[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for concurrent appends to different streams: while a transaction is in flight,
 * the appends that arrive queue up and go together in the next one (`appendMany`), so under load
 * many VMs' steps share one BEGIN ... COMMIT and one notify, and a lone append goes at once. A
 * stream that is not at its expected version rejects with VersionConflictError alone; a batch that
 * fails for another reason (a projection's constraint) is retried one append at a time, so only
 * the append at fault fails. Two appends to one stream never share a batch: the second waits.
 */
export class GroupCommitter {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  readonly stats = { appends: 0, transactions: 0, largestBatch: 0 };

  constructor(
    private readonly store: PgEventStore,
    private readonly options: { maxBatch?: number; maxInFlight?: number } = {},
  ) {}

  append(streamId: string, expectedVersion: number, events: NewEvent[]): Promise<RecordedEvent[]> {
    if (events.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { streamId, expectedVersion, events }, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    while (this.queue.length > 0 && this.inFlight < (this.options.maxInFlight ?? 2)) {
      const batch = this.take();
      this.inFlight++;
      void this.commit(batch).finally(() => {
        this.inFlight--;
        this.kick();
      });
    }
  }

  /** The oldest queued appends, at most one per stream. */
  private take(): Pending[] {
    const max = this.options.maxBatch ?? 256;
    const streams = new Set<string>();
    const batch: Pending[] = [];
    for (let i = 0; i < this.queue.length && batch.length < max;) {
      const p = this.queue[i];
      if (streams.has(p.request.streamId)) {
        i++;
        continue;
      }
      streams.add(p.request.streamId);
      batch.push(p);
      this.queue.splice(i, 1);
    }
    return batch;
  }

  private async commit(batch: Pending[]): Promise<void> {
    this.stats.appends += batch.length;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    if (batch.length === 1) return this.commitOne(batch[0]);
    try {
      this.stats.transactions++;
      const results = await this.store.appendMany(batch.map((p) => p.request));
      results.forEach((r, i) => (r.events ? batch[i].resolve(r.events) : batch[i].reject(r.conflict ?? new VersionConflictError(r.streamId, batch[i].request.expectedVersion))));
    } catch {
      // Not a version conflict: find the append at fault by committing each alone.
      for (const p of batch) await this.commitOne(p);
    }
  }

  private async commitOne(p: Pending): Promise<void> {
    this.stats.transactions++;
    try {
      p.resolve(await this.store.append(p.request.streamId, p.request.expectedVersion, p.request.events));
    } catch (err) {
      p.reject(err);
    }
  }
}
