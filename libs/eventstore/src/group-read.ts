interface Waiting<K, V> {
  key: K;
  resolve: (value: V) => void;
  reject: (err: unknown) => void;
}

/**
 * Group read, the reading twin of group commit: a read asked for while another is in flight waits
 * and goes with the others that arrived meanwhile in one query (`readMany`, one result per key, in
 * order); a lone read goes at once. Under load many requests' lookups share one statement instead
 * of one round trip and one executor start each. A failed query is run again for each of its keys
 * alone, so a read fails only for its own key's fault (or when the database fails them all).
 */
export class GroupRead<K, V> {
  private readonly queue: Waiting<K, V>[] = [];
  private inFlight = 0;
  readonly stats = { reads: 0, queries: 0, largestBatch: 0 };

  constructor(
    private readonly readMany: (keys: K[]) => Promise<V[]>,
    private readonly options: { maxBatch?: number; maxInFlight?: number } = {},
  ) {}

  read(key: K): Promise<V> {
    return new Promise((resolve, reject) => {
      this.queue.push({ key, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    while (this.queue.length > 0 && this.inFlight < (this.options.maxInFlight ?? 1)) {
      const batch = this.queue.splice(0, this.options.maxBatch ?? 256);
      this.inFlight++;
      void this.query(batch).finally(() => {
        this.inFlight--;
        this.kick();
      });
    }
  }

  private async query(batch: Waiting<K, V>[]): Promise<void> {
    this.stats.reads += batch.length;
    this.stats.queries++;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    try {
      const values = await this.readMany(batch.map((w) => w.key));
      if (values.length !== batch.length) throw new Error(`group read: ${values.length} results for ${batch.length} keys`);
      batch.forEach((w, i) => w.resolve(values[i]));
    } catch (err) {
      if (batch.length === 1) return batch[0].reject(err);
      // One key may be at fault (a value the database refuses): each alone, so only its read fails.
      for (const w of batch) await this.query([w]);
    }
  }
}
