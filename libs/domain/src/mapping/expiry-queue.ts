/**
 * Deadlines for many keys (registrations, cache entries, pending convergences) without scanning
 * them: a binary min-heap with at most one live heap entry per key. The owner keeps the
 * authoritative deadline; `due()` asks for it when a heap entry comes up, so a refreshed key is
 * pushed back instead of expired, and a removed key is skipped. Refreshing costs nothing.
 */
export class ExpiryQueue<K> {
  private heap: { key: K; at: number }[] = [];
  /** The deadline of the one live heap entry of each key. */
  private readonly pending = new Map<K, number>();

  get size(): number {
    return this.pending.size;
  }

  /** Makes sure `key` is looked at no later than `at`. */
  schedule(key: K, at: number): void {
    const queued = this.pending.get(key);
    if (queued !== undefined && queued <= at) return;
    this.pending.set(key, at);
    this.push({ key, at });
  }

  /**
   * Keys whose deadline has passed. `deadlineOf` returns a key's current deadline (undefined when
   * the key is gone); a key whose deadline moved later is rescheduled, not returned.
   */
  due(now: number, deadlineOf: (key: K) => number | undefined): K[] {
    const out: K[] = [];
    while (this.heap.length > 0 && this.heap[0].at <= now) {
      const top = this.pop();
      if (this.pending.get(top.key) !== top.at) continue; // superseded by an earlier deadline entry
      this.pending.delete(top.key);
      const deadline = deadlineOf(top.key);
      if (deadline === undefined) continue;
      if (deadline <= now) out.push(top.key);
      else this.schedule(top.key, deadline);
    }
    return out;
  }

  private push(item: { key: K; at: number }): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent].at <= h[i].at) break;
      [h[parent], h[i]] = [h[i], h[parent]];
      i = parent;
    }
  }

  private pop(): { key: K; at: number } {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l].at < h[m].at) m = l;
        if (r < h.length && h[r].at < h[m].at) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}
