/**
 * Replay protection for authenticated control messages: a message carries a nonce and the
 * sender's wall-clock timestamp. It is taken only if the timestamp lies within ±window of the
 * receiver's clock and the (site, nonce) pair was not seen before. A nonce is remembered for
 * 2 × window after it was received: later, its timestamp alone already refuses it. Receipt times
 * only grow, so the oldest nonces are always at the front of the insertion-ordered map and
 * pruning never scans.
 */
export type ReplayVerdict = { ok: true } | { ok: false; reason: string };

export class ReplayWindow {
  private readonly seen = new Map<string, number>();

  constructor(readonly windowMs: number) {}

  get size(): number {
    return this.seen.size;
  }

  /** Decides without remembering (a refused message must change nothing). */
  check(site: string, nonce: string, timestamp: number, now: number): ReplayVerdict {
    this.prune(now);
    const skew = now - timestamp;
    if (Math.abs(skew) > this.windowMs) return { ok: false, reason: `timestamp is ${Math.round(skew)} ms ${skew > 0 ? 'old' : 'in the future'}; the window is ±${this.windowMs} ms` };
    if (this.seen.has(key(site, nonce))) return { ok: false, reason: `nonce ${nonce} of site ${site} was already used` };
    return { ok: true };
  }

  remember(site: string, nonce: string, now: number): void {
    this.seen.set(key(site, nonce), now);
  }

  private prune(now: number): void {
    for (const [k, at] of this.seen) {
      if (now - at <= 2 * this.windowMs) break;
      this.seen.delete(k);
    }
  }
}

const key = (site: string, nonce: string) => `${site}\u0000${nonce}`;
