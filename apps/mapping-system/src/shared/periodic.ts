/** Runs `task` every `realMs` of real time (not overlapping itself) until stopped; the timer does not keep the process alive. */
export class PeriodicTask {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly realMs: number,
    private readonly task: () => Promise<void> | void,
    private readonly onError: (err: Error) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.realMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.task();
    } catch (err) {
      this.onError(err as Error);
    } finally {
      this.running = false;
    }
  }
}
