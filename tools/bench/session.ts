import { rmSync } from 'node:fs';
import { ChildSet } from './lab';
import type { Session } from './run';

/**
 * What one bench process owns from start to exit: its children, the cleanups its labs register (run
 * once, in reverse, on a normal end, an error or Ctrl-C), a private NATS folder, and the abort flag
 * a first Ctrl-C sets (a second kills every child at once).
 */
export class BenchProcess {
  readonly children = new ChildSet();
  private readonly cleanups = new Set<() => Promise<void>>();
  private cleanupRun: Promise<void> | undefined;
  /** A private nats-server's data folder, removed by the cleanup. */
  privateNatsDir: string | undefined;
  aborted = false;

  constructor(readonly log: (msg: string) => void) {}

  /** Registers a cleanup; the returned function unregisters it. */
  onCleanup(fn: () => Promise<void>): () => void {
    this.cleanups.add(fn);
    return () => this.cleanups.delete(fn);
  }

  /** Runs every registered cleanup once; every caller (normal end, error, Ctrl-C) waits for the same run. */
  cleanup(): Promise<void> {
    return (this.cleanupRun ??= (async () => {
      for (const fn of [...this.cleanups].reverse())
        await fn().catch((err: Error) => {
          this.log(`cleanup: ${err.message}`);
        });
      await this.children.stopAll(3000);
      if (this.privateNatsDir) rmSync(this.privateNatsDir, { recursive: true, force: true });
    })());
  }

  /** The session a lab run shares with the rest of the bench. */
  session(natsUrl: string, pgBase: string): Session {
    return {
      natsUrl,
      natsServer: 'shared',
      pgBase,
      children: this.children,
      log: this.log,
      aborted: () => this.aborted,
      onCleanup: (fn) => this.onCleanup(fn),
    };
  }

  /** SIGINT and SIGTERM stop the bench cleanly (a second one kills at once); on exit no child survives. */
  handleSignals(): void {
    const onSignal = (signal: string) => {
      if (this.aborted) {
        this.children.killAllNow();
        process.exit(130);
      }
      this.aborted = true;
      this.log(`${signal}: stopping (Ctrl-C again to kill at once)`);
      void this.cleanup().finally(() => process.exit(130));
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('exit', () => this.children.killAllNow());
  }

  /** Runs the bench's main and exits with its status once everything is cleaned up. */
  run(main: () => Promise<void>): void {
    main()
      .catch((err: Error) => {
        if (!this.aborted) this.log(`failed: ${err.message}`);
        process.exitCode = this.aborted ? 130 : 1;
      })
      .finally(async () => {
        await this.cleanup();
        process.exit(process.exitCode ?? 0);
      });
  }
}
