import { droppedEvents, LOCUS_METRICS, natsCheck, postgresCheck, type LocusMetrics, type Observed } from '@locus/platform';
import { MoveReadModel } from '@locus/eventstore';
import type { MobilityManager } from '../start-mobility-manager';

/** An event as the store hands it to its append listeners (only what the metrics read). */
export interface AppendedEvent {
  type: string;
  data: unknown;
}

/** Event type -> the `outcome` label of locus_moves_total. */
const OUTCOMES: Record<string, string> = {
  MoveAccepted: 'accepted',
  MoveCompleted: 'completed',
  MoveFailed: 'failed',
  MoveCancelled: 'cancelled',
  MoveConverged: 'converged',
  MoveConvergenceLate: 'convergence-late',
};

const MAX_REMEMBERED_MOVES = 10_000;

/**
 * Turns the events the manager appends into move metrics: moves by mode and outcome, downtime
 * of completed moves, convergence of converged ones (`MoveConverged.convergenceMs`), events by
 * type. Only MoveAccepted names the mode; later events find it here, or (a move accepted before
 * this process started) through `modeOf`, which reads the moves projection.
 */
export class MoveMetrics {
  private readonly modes = new Map<string, string>();
  private readonly moves;
  private readonly downtime;
  private readonly convergence;
  private readonly appended;

  constructor(
    metrics: LocusMetrics,
    private readonly modeOf: (moveId: string) => Promise<string | undefined> = async () => undefined,
  ) {
    this.moves = metrics.counter(LOCUS_METRICS.movesTotal);
    this.downtime = metrics.histogram(LOCUS_METRICS.moveDowntimeSeconds);
    this.convergence = metrics.histogram(LOCUS_METRICS.convergenceSeconds);
    this.appended = metrics.counter(LOCUS_METRICS.eventsAppendedTotal);
  }

  /** Resolves once every metric of these events is recorded (a mode lookup may be needed). */
  async record(events: readonly AppendedEvent[]): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const e of events) {
      this.appended.inc({ type: e.type });
      const outcome = OUTCOMES[e.type];
      if (!outcome) continue;
      const data = (e.data ?? {}) as Record<string, unknown>;
      const moveId = typeof data.moveId === 'string' ? data.moveId : undefined;
      if (e.type === 'MoveAccepted' && moveId && typeof data.mode === 'string') this.remember(moveId, data.mode);
      const known = typeof data.mode === 'string' ? data.mode : moveId ? this.modes.get(moveId) : undefined;
      const apply = (mode: string) => {
        this.moves.inc({ mode, outcome });
        if (e.type === 'MoveCompleted' && typeof data.downtimeMs === 'number') this.downtime.observe({ mode }, data.downtimeMs / 1000);
        if (e.type === 'MoveConverged' && typeof data.convergenceMs === 'number') this.convergence.observe({ mode }, data.convergenceMs / 1000);
      };
      if (known || !moveId) apply(known ?? 'unknown');
      else
        pending.push(
          this.modeOf(moveId)
            .catch(() => undefined)
            .then((mode) => {
              if (mode) this.remember(moveId, mode);
              apply(mode ?? 'unknown');
            }),
        );
    }
    await Promise.all(pending);
  }

  private remember(moveId: string, mode: string): void {
    this.modes.set(moveId, mode);
    if (this.modes.size > MAX_REMEMBERED_MOVES) this.modes.delete(this.modes.keys().next().value as string);
  }
}

/**
 * The mobility manager's metrics (moves, refusals, downtime, convergence, outbox, events, requests shed) and
 * readiness (NATS connected, Postgres answering; the saga's consumers started with the manager).
 */
export function observeMobilityManager(metrics: LocusMetrics, manager: MobilityManager): Observed {
  const reads = new MoveReadModel(manager.dataSource);
  const moves = new MoveMetrics(metrics, (moveId) => reads.moveMode(moveId));
  const unlisten = manager.store.onAppended((events) => void moves.record(events));
  const stops = [
    unlisten,
    metrics.counterFrom(LOCUS_METRICS.moveRefusalsTotal, (emit) => {
      for (const [code, n] of manager.refusals()) emit({ code }, n);
    }),
    metrics.counterFrom(LOCUS_METRICS.requestsShedTotal, (emit) => {
      for (const [endpoint, s] of manager.requestStats()) {
        emit({ endpoint, reason: 'expired' }, s.expired);
        emit({ endpoint, reason: 'rejected' }, s.rejected);
      }
    }),
    metrics.counterFrom(
      LOCUS_METRICS.eventsDroppedTotal,
      droppedEvents(() => [manager.saga.drops(), manager.convergence?.drops()]),
    ),
    metrics.gaugeFrom(LOCUS_METRICS.outboxPending, async (emit) => {
      const rows: { n: number }[] = await manager.dataSource.query('SELECT count(*)::int AS n FROM outbox');
      emit({}, rows[0]?.n ?? 0);
    }),
  ];
  return {
    checks: [natsCheck(manager.nc), postgresCheck(manager.dataSource)],
    stop: () => stops.forEach((s) => s()),
  };
}
