import { SerialPerKey } from './serial-per-key';

/**
 * This process's outbound admissions, one at a time per source host: the saga's (a move started
 * when its MoveAccepted arrives, a queued move started when a slot frees) and `vm.move`'s (a move
 * started in its acceptance's own append, on a host with a free slot and nobody waiting). Each one
 * counts a host's running moves and starts at most what fits, so two of them must not interleave;
 * and the end of each is noted, so that a decision taken on a read made before it can tell that
 * the read may have missed a start (`quietSince`).
 */
export class HostAdmissions {
  private readonly serial = new SerialPerKey();
  private readonly endedAt = new Map<string, number>();

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

  /** No admission of `host` ended at or after `since`: a read of its moves begun at `since` saw every start of this process. */
  quietSince(host: string, since: number): boolean {
    const ended = this.endedAt.get(host);
    return ended === undefined || ended < since;
  }

  /** Now, on this object's clock (what `quietSince` compares with). */
  clock(): number {
    return this.now();
  }
}
