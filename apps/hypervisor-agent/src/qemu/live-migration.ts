import type { HotPass } from '../host/hypervisor-driver';
import type { QemuGuest } from './qemu-guest';
import { QmpError } from './qmp-client';

/** A hot move's limits, as the move's plan gives them. */
export interface MigrationLimits {
  downtimeLimitMs: number;
  bandwidthBps: number;
  /** throttle: QEMU's auto-converge; abort: plain pre-copy (the saga aborts when it does not converge). */
  policy: 'throttle' | 'abort';
}

/** One pass of QEMU's pre-copy as `query-migrate` showed it (`dirtyBytes`: `ram.remaining` after its bitmap sync): what the saga records as a round. */
export interface MigrationPass extends HotPass {
  round: number;
}

/** What QEMU says of a completed migration (re-read until filled) and the moments from its events. */
export interface MigrationResult {
  downtimeMs: number;
  totalMs: number;
  setupMs: number;
  transferredBytes: number;
  passes: number;
  /** QEMU's STOP at the source and RESUME at the target (epoch ms, QEMU's clock). */
  stoppedAt: number;
  resumedAt: number;
}

interface QueryMigrate {
  status?: string;
  'total-time'?: number;
  downtime?: number;
  'expected-downtime'?: number;
  'setup-time'?: number;
  'cpu-throttle-percentage'?: number;
  'error-desc'?: string;
  ram?: { transferred: number; remaining: number; total: number; 'dirty-sync-count': number; 'dirty-pages-rate': number; 'page-size': number; mbps: number };
}

const POLL_MS = 20;

/**
 * One live migration from `source` to `target` (a QEMU started with `-incoming uri`), watched by
 * polling `query-migrate`: every increase of `ram.dirty-sync-count` ends a pass. The passes are
 * kept so a caller that asks for pass N gets it whenever it asks; `completed`, `failed` and
 * `cancelled` end the watch, and so does the target exiting (a failed migration makes it exit).
 */
export class LiveMigration {
  readonly passes: MigrationPass[] = [];
  readonly started: number = Date.now();
  private outcome?: { ok: true; result: MigrationResult } | { ok: false; error: Error };
  private readonly waiters = new Set<() => void>();
  private passStart = { at: Date.now(), transferred: 0 };
  private syncs = 0;
  private last: QueryMigrate = {};
  readonly done: Promise<MigrationResult>;
  private sourceEventsFrom = 0;
  private cancelling = false;
  private targetEventsFrom = 0;

  private constructor(
    readonly source: QemuGuest,
    readonly target: QemuGuest,
    readonly limits: MigrationLimits,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.waiters.add(() => {
        if (!this.outcome) return;
        if (this.outcome.ok) resolve(this.outcome.result);
        else reject(this.outcome.error);
      });
    });
    this.done.catch(() => undefined);
  }

  /** Sets the limits and capabilities on the source and starts `migrate` to `uri`. */
  static async start(source: QemuGuest, target: QemuGuest, uri: string, limits: MigrationLimits): Promise<LiveMigration> {
    const m = new LiveMigration(source, target, limits);
    m.sourceEventsFrom = source.qmp.events.length;
    m.targetEventsFrom = target.qmp.events.length;
    await source.qmp.execute('migrate-set-capabilities', {
      capabilities: [
        { capability: 'auto-converge', state: limits.policy === 'throttle' },
        { capability: 'events', state: true },
      ],
    });
    await source.qmp.execute('migrate-set-parameters', {
      'downtime-limit': Math.max(1, Math.round(limits.downtimeLimitMs)),
      'max-bandwidth': Math.max(1, Math.round(limits.bandwidthBps)),
      'cpu-throttle-initial': 20,
      'cpu-throttle-increment': 10,
    });
    m.passStart = { at: Date.now(), transferred: 0 };
    await source.qmp.execute('migrate', { uri });
    void m.watch();
    return m;
  }

  get finished(): boolean {
    return this.outcome !== undefined;
  }

  /** Pass `round` once QEMU finished it; rejects if the migration failed or was cancelled first. */
  async pass(round: number, timeoutMs: number): Promise<MigrationPass> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.passes[round]) return this.passes[round];
      if (this.outcome && !this.outcome.ok) throw this.outcome.error;
      if (this.outcome?.ok) throw new Error(`the migration completed after ${this.passes.length} passes: there is no pass ${round}`);
      if (Date.now() > deadline) throw new QmpError('TIMEOUT', `pass ${round} of ${this.source.launch.spec.name}'s migration did not end within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const w = () => {
          clearTimeout(timer);
          this.waiters.delete(w);
          resolve();
        };
        const timer = setTimeout(w, Math.max(1, deadline - Date.now()));
        this.waiters.add(w);
      });
    }
  }

  /** `migrate_cancel`; the source goes on running (and `cont` if it was left paused), the target exits. */
  async cancel(): Promise<void> {
    if (this.outcome) return;
    this.cancelling = true;
    await this.source.qmp.execute('migrate_cancel').catch(() => undefined);
    await this.done.catch(() => undefined);
    const status = await this.source.status().catch(() => 'unknown');
    if (status === 'paused' || status === 'postmigrate') await this.source.qmp.execute('cont').catch(() => undefined);
  }

  /** Makes QEMU switch over at its next check (the saga decided: max rounds reached): a downtime limit it can meet. */
  async forceSwitchover(): Promise<void> {
    if (this.outcome) return;
    await this.source.qmp.execute('migrate-set-parameters', { 'downtime-limit': 2_000_000 }).catch(() => undefined);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  private async watch(): Promise<void> {
    let targetGone = false;
    void this.target.exited.then(() => (targetGone = true));
    try {
      for (;;) {
        const q = await this.source.qmp.execute<QueryMigrate>('query-migrate', undefined, 5000);
        const status = q.status ?? 'none';
        if (q.ram) this.observe(q);
        if (status === 'completed') {
          this.closePass(q, true);
          this.finish({ ok: true, result: await this.result(q) });
          return;
        }
        if (status === 'failed' || status === 'cancelled') {
          const why = status === 'cancelled' ? 'the migration was cancelled' : `the migration failed: ${q['error-desc'] ?? 'QEMU gave no reason'}`;
          this.finish({ ok: false, error: new QmpError(status === 'cancelled' ? 'CANCELLED' : 'MIGRATION_FAILED', `${this.source.launch.spec.name}: ${why}`) });
          return;
        }
        if (targetGone && !this.cancelling && status !== 'completed') {
          // QEMU notices the broken stream a moment later; say now why.
          await new Promise((r) => setTimeout(r, 200));
          const again = await this.source.qmp.execute<QueryMigrate>('query-migrate', undefined, 5000).catch(() => ({ status: 'unknown' }) as QueryMigrate);
          if (again.status !== 'completed') {
            this.finish({
              ok: false,
              error: new QmpError(
                'TARGET_EXITED',
                `${this.source.launch.spec.name}: the target QEMU exited during the migration (${this.target.exitInfo?.code ?? this.target.exitInfo?.signal}): ${this.target.lastError.slice(-300)}`,
              ),
            });
            return;
          }
          continue;
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } catch (err) {
      this.finish({ ok: false, error: err as Error });
    }
  }

  /** A new bitmap sync ends the pass that ran before it. */
  private observe(q: QueryMigrate): void {
    const ram = q.ram!;
    this.last = q;
    const syncs = ram['dirty-sync-count'];
    if (this.syncs === 0) {
      this.syncs = syncs;
      return;
    }
    if (syncs > this.syncs) {
      this.syncs = syncs;
      this.closePass(q, false);
    }
  }

  private closePass(q: QueryMigrate, completed: boolean): void {
    const ram = q.ram ?? this.last.ram;
    if (!ram) return;
    const now = Date.now();
    const pageSize = ram['page-size'] || 4096;
    const pass: MigrationPass = {
      round: this.passes.length,
      sentBytes: Math.max(0, ram.transferred - this.passStart.transferred),
      durationMs: now - this.passStart.at,
      dirtyBytes: completed ? (this.last.ram?.remaining ?? 0) : ram.remaining,
      dirtyRateBps: (ram['dirty-pages-rate'] ?? 0) * pageSize,
      throttlePct: q['cpu-throttle-percentage'] ?? this.last['cpu-throttle-percentage'] ?? 0,
      expectedDowntimeMs: q['expected-downtime'] ?? this.last['expected-downtime'] ?? 0,
      completed,
    };
    if (completed) {
      // The last pass ended with the switchover: the remaining data went in the stop-and-copy.
      const previous = this.passes[this.passes.length - 1];
      pass.dirtyBytes = previous && previous.dirtyBytes < pass.sentBytes ? Math.min(previous.dirtyBytes, pass.sentBytes) : pass.dirtyBytes;
    }
    this.passes.push(pass);
    this.passStart = { at: now, transferred: ram.transferred };
    this.notify();
  }

  /** `query-migrate` may say completed before its timings are filled: read again, then take the events' moments. */
  private async result(first: QueryMigrate): Promise<MigrationResult> {
    let q = first;
    for (let i = 0; i < 10 && !(q.downtime && q['total-time']); i++) {
      await new Promise((r) => setTimeout(r, 50));
      q = await this.source.qmp.execute<QueryMigrate>('query-migrate', undefined, 5000);
    }
    const stop = await this.source.qmp.waitForEvent('STOP', 2000, () => true, this.sourceEventsFrom).catch(() => undefined);
    const resume = await this.target.qmp.waitForEvent('RESUME', 5000, () => true, this.targetEventsFrom).catch(() => undefined);
    const stoppedAt = stop?.timestampMs ?? Date.now();
    const resumedAt = resume?.timestampMs ?? stoppedAt + (q.downtime ?? 0);
    return {
      downtimeMs: q.downtime || resumedAt - stoppedAt,
      totalMs: q['total-time'] || Date.now() - this.started,
      setupMs: q['setup-time'] ?? 0,
      transferredBytes: q.ram?.transferred ?? 0,
      passes: this.passes.length,
      stoppedAt,
      resumedAt,
    };
  }

  private finish(outcome: NonNullable<LiveMigration['outcome']>): void {
    if (this.outcome) return;
    this.outcome = outcome;
    this.notify();
  }
}
