import { SerialPerKey } from './serial-per-key';

/**
 * This process's outbound admissions, one at a time per source host: the saga's (a move started
 * when its MoveAccepted arrives, a queued move started when a slot frees) and `vm.move`'s (a move
 * started in its acceptance's own append, on a host with a free slot and nobody waiting). Each one
 * counts a host's running moves and starts at most what fits, so two of them must not interleave;
 * and the end of each is noted, so that a decision taken on a read made before it can tell that
 * the read may have missed a start (`quietSince`). `vm.move`'s acceptances that start nothing run
 * beside them (`track`), noted too: a move read while another of its host was being accepted waits
 * its turn behind it in the saga instead of starting ahead of it.
 */
export class HostAdmissions {
  private readonly serial = new SerialPerKey();
  private readonly endedAt = new Map<string, number>();
  /** Acceptances of each host that start nothing, running now. */
  private readonly accepting = new Map<string, number>();

  /** Monotonic ms (injectable for tests). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Runs `work` alone among this process's admissions of `host`, and notes when it ended. */
  run<T>(host: string, work: () => Promise<T>): Promise<T> {
    return this.serial.run(host, async () => {
      try {
        return await work();
      } finally {
        this.endedAt.set(host, this.now());
      }
    });
  }

  /** Runs `work` (an acceptance of a move from `host` that starts nothing) beside the host's admissions, and notes when it ended. */
  async track<T>(host: string, work: () => Promise<T>): Promise<T> {
    this.accepting.set(host, (this.accepting.get(host) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = this.accepting.get(host)! - 1;
      if (left > 0) this.accepting.set(host, left);
      else this.accepting.delete(host);
      this.endedAt.set(host, this.now());
    }
  }

  /**
   * No admission or acceptance of `host` ended at or after `since`, and no acceptance is under way:
   * a read of its moves begun at `since` saw every start and every waiting move of this process.
   */
  quietSince(host: string, since: number): boolean {
    if (this.accepting.has(host)) return false;
    const ended = this.endedAt.get(host);
    return ended === undefined || ended < since;
  }

  /** Now, on this object's clock (what `quietSince` compares with). */
  clock(): number {
    return this.now();
  }
}
