/**
 * Runs work one at a time per key, in the order it was asked for, and keys independently of each
 * other; a failed task does not stop the next. The chain of a key is dropped once it is idle.
 */
export class SerialPerKey {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.tails.set(key, next);
    void next
      .finally(() => {
        if (this.tails.get(key) === next) this.tails.delete(key);
      })
      .catch(() => undefined);
    return next;
  }

  /** Resolves once every task asked for so far has ended (failed ones too). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.tails.values()]);
  }
}
