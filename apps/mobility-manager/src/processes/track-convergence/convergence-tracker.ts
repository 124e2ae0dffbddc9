import type { JetStreamClient, JetStreamManager, JsMsg } from 'nats';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { decodeStreamEventFrom, HEADERS, isOwnEventSubject, isRecordedVmEvent, MANAGER_DURABLES, subjects, type StreamEvent } from '@locus/contracts';
import { CONVERGENCE_INPUT_TYPES, MoveConvergenceBook, convergedLine, convergenceInputOf, convergenceTopologyOf, lateLine, type ConvergenceVerdict } from '@locus/domain';
import { MoveReadModel } from '@locus/eventstore';
import { ACK, DurableConsumer, type Outcome } from '@locus/messaging';
import type { TopologyIndex } from '@locus/topology';
import type { VmCommandService } from '../../vm-commands/vm-command.service';
import { SerialPerKey } from '../../shared/serial-per-key';

export interface ConvergenceTrackerOptions {
  prefix: string;
  stream: string;
  /** Real ms after the location commit by which every plane of a move should agree. */
  deadlineMs: number;
  /** How far back a restarted tracker looks for moves still converging (default 1 h). */
  lookbackMs?: number;
}

export const CONVERGENCE_DURABLE = MANAGER_DURABLES.convergence;
const COMPONENT = 'convergence-tracker';

/**
 * Follows every event on the stream (one durable consumer on `<prefix>.evt.>`: VM events and the
 * planes' events) into the pure MoveConvergenceBook, and records what it decides in the VM's
 * stream through the VM command service: MoveConverged (with per-plane times, one summary line
 * in the log) or, past the deadline, MoveConvergenceLate naming what is still stale. Both are
 * idempotent in the decider, so redelivery and replays append nothing twice.
 *
 * The book is in memory: at start the durable consumer is repositioned to the oldest move that
 * has not converged yet (the moves projection says which), so a restarted manager reads again
 * every fact it needs, in stream order, and decides the same.
 */
export class ConvergenceTracker {
  readonly book: MoveConvergenceBook;
  private consumer?: DurableConsumer<StreamEvent>;
  private timer?: NodeJS.Timeout;
  /**
   * Recordings run one at a time per VM (a move's late verdict before its convergence), VMs side by
   * side: their appends share group commits. One chain for every VM capped the tracker at one
   * append's latency per move, and it fell behind a load of 100 moves/s.
   */
  private readonly recordings = new SerialPerKey();
  /** Set while the tracker follows the stream again after a missed delivery. */
  private refollowing?: Promise<void>;
  private following = false;
  private stopped = false;
  private readonly log: Logger;
  private readonly reads: MoveReadModel;

  constructor(
    private readonly deps: {
      js: JetStreamClient;
      jsm: JetStreamManager;
      commands: VmCommandService;
      dataSource: DataSource;
      topology: TopologyIndex;
      logger: Logger;
      /** Wall-clock ms (deadlines compare with the events' `at`); injected in tests. */
      now?: () => number;
    },
    private readonly options: ConvergenceTrackerOptions,
  ) {
    this.log = deps.logger.child({ component: COMPONENT });
    this.reads = new MoveReadModel(deps.dataSource);
    // its inputs' seq is the stream's: a route site's start-up reconcile names one
    this.book = new MoveConvergenceBook(convergenceTopologyOf(deps.topology.topology), options.deadlineMs, 'stream');
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  async start(): Promise<void> {
    const since = await this.follow();
    const tickMs = Math.min(1000, Math.max(20, this.options.deadlineMs / 4));
    this.timer = setInterval(() => this.handle(this.book.due(this.now())), tickMs);
    this.log.info(
      { deadlineMs: this.options.deadlineMs, since: since.toISOString() },
      `convergence tracker ready: a move whose planes do not all agree ${fmtS(this.options.deadlineMs)} after its commit is flagged late`,
    );
  }

  /** Makes the consumer afresh at the oldest move still converging, and consumes; returns that point. */
  private async follow(): Promise<Date> {
    this.following = true;
    try {
      return await this.followFromResumePoint();
    } finally {
      this.following = false;
    }
  }

  private async followFromResumePoint(): Promise<Date> {
    const since = await this.resumePoint();
    // Reposition: the book may lack what came before, so the consumer starts at the oldest move still converging.
    await this.deps.jsm.consumers.delete(this.options.stream, CONVERGENCE_DURABLE).catch((err: Error) => {
      if (!/not found/i.test(err.message)) throw err;
    });
    this.consumer = new DurableConsumer(this.deps.js, this.deps.jsm, {
      stream: this.options.stream,
      durable: CONVERGENCE_DURABLE,
      filterSubject: subjects(this.options.prefix).eventsWildcard,
      startTime: since,
      logger: this.log,
      // VM, host and plane events alike: schema and source checked (a plane event on another plane's subject is dropped).
      decode: (msg) => decodeStreamEventFrom(this.options.prefix, msg.subject, msg.json<unknown>()),
      // A move's steps between its acceptance and its end, and host events, time nothing: their headers say which they are.
      skip: (msg) => {
        const stream = msg.headers?.get(HEADERS.stream);
        const type = msg.headers?.get(HEADERS.type);
        if (!stream || !type || !(stream.startsWith('host:') || (stream.startsWith('vm:') && !CONVERGENCE_INPUT_TYPES.has(type)))) return false;
        return isOwnEventSubject(this.options.prefix, msg.subject, stream, type);
      },
      handle: (event, msg) => this.onMessage(event, msg),
      // It acts on a third of what it reads, its handlers fail only when the database does, and what
      // it decides is idempotent: one ack covers many. A missed delivery: follow again (below).
      acks: 'cumulative',
      onMissedDelivery: (detail) => this.followAgain(detail),
    });
    await this.consumer.start();
    return since;
  }

  /**
   * A delivery never arrived (a reconnect): the consumer acks no more, since an ack could cover the
   * lost message. The tracker follows the stream again from the oldest move still converging (what
   * it reads twice changes nothing), retrying every second until it can.
   */
  followAgain(detail: string): void {
    // While a consumer is being made there is nothing to follow again (its durable is new: nothing was pending).
    if (this.stopped || this.refollowing || this.following) return;
    this.log.warn({ detail }, 'the convergence tracker missed a delivery: following the stream again from the oldest move still converging');
    const missed = this.consumer;
    this.refollowing = (async () => {
      await missed?.stop();
      while (!this.stopped) {
        try {
          await this.follow();
          this.log.info({}, 'the convergence tracker follows the stream again');
          return;
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, 'the convergence tracker could not follow the stream again yet; retrying in 1 s');
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      }
    })().finally(() => (this.refollowing = undefined));
  }

  /** What its consumer dropped before handling, by reason (for `locus_events_dropped_total`). */
  drops(): ReturnType<DurableConsumer<StreamEvent>['drops']> | undefined {
    return this.consumer?.drops();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.refollowing;
    await this.consumer?.stop();
    await this.recordings.settled();
  }

  /** VMs whose last move is still converging within its deadline (the drift detector leaves them out). */
  converging(): ReadonlySet<string> {
    return this.book.converging();
  }

  /**
   * Every move not converged yet (a late one may still converge) within the lookback, or now: where
   * the consumer starts. A completed move whose VM has completed a later move is superseded (its
   * planes follow the newer location): it would only pin the replay further back.
   */
  private async resumePoint(): Promise<Date> {
    const lookbackMs = this.options.lookbackMs ?? 3_600_000;
    const since = await this.reads.oldestUnconvergedAcceptedAt(lookbackMs);
    const oldest = since ? since.getTime() : Infinity;
    return new Date(Math.min(oldest, this.now()) - 1000);
  }

  private async onMessage(event: StreamEvent, msg: JsMsg): Promise<Outcome> {
    if ('plane' in event) {
      this.handle(this.book.apply({ kind: 'plane', seq: msg.seq, event }));
      return ACK;
    }
    if (!isRecordedVmEvent(event)) return ACK; // host events: nothing to time
    const input = convergenceInputOf(event, msg.seq);
    if (!input) return ACK;
    const verdicts = this.book.apply(input);
    if (input.kind !== 'plane' && this.book.needsMoveFacts(input.moveId)) verdicts.push(...(await this.factsFromProjection(input.moveId)));
    this.handle(verdicts, event.id);
    return ACK;
  }

  /** A move whose MoveAccepted came before the consumer's start: what it touches, from the moves projection. */
  private async factsFromProjection(moveId: string): Promise<ConvergenceVerdict[]> {
    const v = await this.reads.moveView(moveId);
    if (!v) return [];
    return this.book.apply({ kind: 'accepted', moveId, vm: v.vm, mode: v.mode, from: v.from, to: v.to, planes: v.planes ?? [] });
  }

  private handle(verdicts: ConvergenceVerdict[], causationId?: string): void {
    for (const v of verdicts) {
      if (v.kind === 'superseded') {
        this.log.info({ moveId: v.move.moveId, vm: v.move.vm, by: v.by }, `move ${v.move.moveId.slice(0, 8)} ${v.move.vm}: superseded by move ${v.by.slice(0, 8)} before its network converged`);
        continue;
      }
      void this.recordings.run(v.move.vm, () => this.record(v, causationId)).catch((err) => this.log.error({ err: (err as Error).message, moveId: v.move.moveId }, 'could not record convergence'));
    }
  }

  private async record(v: Exclude<ConvergenceVerdict, { kind: 'superseded' }>, causationId?: string): Promise<void> {
    const m = v.move;
    const ctx = { correlationId: m.moveId, ...(causationId ? { causationId } : {}), component: COMPONENT };
    const command =
      v.kind === 'converged'
        ? ({ type: 'RecordConverged', moveId: m.moveId, locationVersion: m.locationVersion, convergenceMs: v.convergenceMs, planes: v.planes } as const)
        : ({ type: 'RecordConvergenceLate', moveId: m.moveId, locationVersion: m.locationVersion, afterMs: v.afterMs, stale: v.stale, planes: v.planes } as const);
    for (let attempt = 1; ; attempt++) {
      try {
        const { events } = await this.deps.commands.execute(m.vm, command, ctx);
        if (events.length === 0) return; // recorded before (a replay or redelivery): said before, too
        break;
      } catch (err) {
        if (this.stopped || attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      }
    }
    const fields = { moveId: m.moveId, vm: m.vm, mode: m.mode, from: m.from.hypervisor, to: m.to.hypervisor, locationVersion: m.locationVersion, downtimeMs: m.downtimeMs, rounds: m.rounds };
    if (v.kind === 'converged')
      this.log.info(
        { ...fields, convergenceMs: v.convergenceMs, planes: Object.fromEntries(Object.entries(v.planes).map(([p, t]) => [p, t.ms])), wasLate: v.wasLate },
        convergedLine(m, v.convergenceMs, v.planes, v.wasLate),
      );
    else this.log.warn({ ...fields, afterMs: v.afterMs, stale: v.stale }, lateLine(m, v.afterMs, v.stale, v.planes));
  }
}

const fmtS = (ms: number) => (ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`);
