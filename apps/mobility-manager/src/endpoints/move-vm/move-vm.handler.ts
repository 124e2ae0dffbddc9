import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { LocusError, type MoveAcceptedReply, type MoveVmRequest, type RecordedVmEvent } from '@locus/contracts';
import {
  admitRequest,
  checkMoveRequest,
  commandOfStep,
  decide,
  FULL_QUEUE_MEMORY_MS,
  FullQueueMemory,
  nextSagaStep,
  type MoveRow,
  type OutboundLimits,
  type OutboundLoad,
  type RequestAdmission,
} from '@locus/domain';
import { GroupRead, isUniqueViolation, MoveEntity, MoveReadModel, type MoveRequestContext } from '@locus/eventstore';
import type { TopologyIndex } from '@locus/topology';
import type { FollowUp, VmCommandService } from '../../vm-commands/vm-command.service';
import { HostAdmissions } from '../../shared/host-admissions';
import { MovePlanner } from '../../move-planner/move-planner';

/** The per-host outbound queue: moves that run at once, and moves that may wait behind them (admission, libs/domain). */
export type QueueLimits = OutboundLimits;

/**
 * `vm.move`: validates the target against the topology, decides on the VM's stream and
 * appends MoveAccepted; the saga takes it from there. A repeated requestId answers the
 * original move and appends nothing. A source host whose outbound queue is full gets
 * UNAVAILABLE with nothing recorded, so that overload is refused at once instead of piling up;
 * while a read has lately found that queue full, a request for an idle VM the service holds in
 * memory is refused without a read (FullQueueMemory, libs/domain). On a host with a free outbound
 * slot and nobody waiting, the move is started in its acceptance's own append (MoveAccepted and
 * MoveStarted in one transaction, in turn with the saga's admissions of that host) and driven at
 * once: no second commit, no count of the host's moves, no trip through the stream before it starts.
 */
export class MoveVmHandler {
  /** vm.move requests refused so far, by error code. */
  private readonly refusals = new Map<string, number>();
  private readonly reads: MoveReadModel;
  /** Requests that arrive together share one lookup: under overload most of them end at it, refused. */
  private readonly contexts: GroupRead<{ vm: string; requestId?: string; to: string }, MoveRequestContext>;
  /** Source hosts a read lately found with a full queue. */
  private readonly fullQueues: FullQueueMemory;
  /** Drives a move this handler started at acceptance (the saga's `driveStarted`; set while the saga runs, unset when it stops). */
  onStarted?: (vm: string, started: RecordedVmEvent) => void;

  constructor(
    private readonly commands: VmCommandService,
    private readonly dataSource: DataSource,
    private readonly topology: TopologyIndex,
    private readonly planner: MovePlanner,
    private readonly logger: Logger,
    private readonly queue: QueueLimits = { maxOutboundPerHost: 2, maxQueuedPerHost: Infinity },
    fullQueueMemoryMs = FULL_QUEUE_MEMORY_MS,
    /** This process's admissions per source host, shared with the saga. */
    private readonly admissions: HostAdmissions = new HostAdmissions(),
    /** Monotonic ms (injectable for tests). */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.fullQueues = new FullQueueMemory(fullQueueMemoryMs);
    this.reads = new MoveReadModel(dataSource);
    this.contexts = new GroupRead((requests) => this.reads.moveRequestContexts(requests, queue.maxQueuedPerHost));
  }

  /** vm.move requests refused so far, by error code (read by the metrics). */
  refusalCounts(): ReadonlyMap<string, number> {
    return this.refusals;
  }

  /** This process freed an outbound slot of `host` (the saga started a queued move): the next request from it asks the database. */
  slotFreed(host: string): void {
    this.fullQueues.freed(host, this.now());
  }

  async handle(req: MoveVmRequest): Promise<MoveAcceptedReply> {
    try {
      return await this.accept(req);
    } catch (err) {
      if (err instanceof LocusError) this.refusals.set(err.code, (this.refusals.get(err.code) ?? 0) + 1);
      throw err;
    }
  }

  private async accept(req: MoveVmRequest): Promise<MoveAcceptedReply> {
    const known = this.refusalFromMemory(req);
    if (known) throw new LocusError(known.code, known.message);
    const readAt = this.now();
    const readOnAdmissionsClock = this.admissions.clock();
    // A repeated requestId, where the VM is and its host's queue, in one read; the request checked
    // once, then the queue: under overload most requests end there, before any planning.
    // ... and the memory committed on the target, which planning checks, unless the queue refuses first.
    const { requested, host, targetUsedMb } = await this.contexts.read({ vm: req.vm, requestId: req.requestId, to: req.to });
    if (requested) return this.replay(requested, req);
    const at = MovePlanner.checked(this.topology, req, host);
    this.fullQueues.observed(host!, this.queue, readAt);
    const admission = admitRequest(host, this.queue);
    if (!admission.ok) throw new LocusError(admission.code, admission.message);
    const planning = await this.planner.planChecked(at, req, targetUsedMb);
    const moveId = randomUUID();
    try {
      const ctx = { correlationId: moveId, component: 'mobility-manager' };
      const request = (followUp?: FollowUp) =>
        this.commands.execute(
          req.vm,
          { type: 'RequestMove', moveId, mode: req.mode, to: planning.to, requestId: req.requestId, plan: planning.plan, warnings: planning.warnings, planes: planning.planes },
          ctx,
          followUp,
        );
      // Started here only while the saga runs (not during a stop), and only on a read no admission of this process has overtaken.
      const startable = this.onStarted !== undefined && host !== undefined && this.slotFreeFor(host) && this.admissions.quietSince(host.hypervisor, readOnAdmissionsClock);
      const { events } = !host
        ? await request()
        : startable
          ? await this.admissions.run(host.hypervisor, () => request(this.startedAtAcceptance(host, readOnAdmissionsClock, ctx)))
          : await this.admissions.track(host.hypervisor, () => request());
      const accepted = events.find((e): e is RecordedVmEvent<'MoveAccepted'> => e.type === 'MoveAccepted');
      if (!accepted) throw new LocusError('INTERNAL', 'move was not recorded');
      const d = accepted.data;
      const p = planning.prediction;
      this.logger.info(
        {
          component: 'mobility-manager',
          moveId,
          vm: d.vm,
          mode: d.mode,
          from: d.from.hypervisor,
          to: d.to.hypervisor,
          predictedDowntimeMs: p.downtimeMs,
          predictedTotalMs: p.totalMs,
          rounds: p.rounds.length,
          planes: d.planes,
        },
        `move accepted: ${d.vm} ${d.mode} ${d.from.hypervisor} -> ${d.to.hypervisor}`,
      );
      for (const warning of d.warnings) this.logger.warn({ component: 'mobility-manager', moveId, vm: d.vm }, warning);
      const started = events.find((e): e is RecordedVmEvent<'MoveStarted'> => e.type === 'MoveStarted');
      if (started) {
        this.logger.info(
          { component: 'mobility-manager', moveId, vm: d.vm, host: d.from.hypervisor, running: host!.active, limit: this.queue.maxOutboundPerHost },
          `move of ${d.vm} started at acceptance: ${d.from.hypervisor} had ${host!.active} of ${this.queue.maxOutboundPerHost} outbound slots taken and nobody waiting`,
        );
        this.onStarted?.(d.vm, started);
      }
      const queuePosition = admission.queuePosition;
      return { moveId, vm: d.vm, from: d.from, to: d.to, mode: d.mode, ...(d.warnings.length ? { warnings: d.warnings } : {}), prediction: p, ...(queuePosition ? { queuePosition } : {}) };
    } catch (err) {
      // The same requestId sent twice at once: one append wins, the other finds it here.
      if (req.requestId && (isUniqueViolation(err, 'moves_request_id_unique') || (err instanceof LocusError && err.code === 'MOVE_IN_PROGRESS'))) {
        const existing = await this.byRequestId(req.requestId);
        if (existing) return this.replay(existing, req);
      }
      throw err;
    }
  }

  /** The read found a free outbound slot on the VM's host and nobody waiting for one: the move may start now. */
  private slotFreeFor(host: OutboundLoad): boolean {
    return host.waiting === 0 && host.active < this.queue.maxOutboundPerHost;
  }

  /**
   * The saga's admission, decided in the acceptance's append: the move's start (MoveStarted) when
   * the state after MoveAccepted is one the saga would admit, and no admission of this host by this
   * process ended since the read (it may have taken the slot the read saw free); else nothing, and
   * the saga admits the move when its MoveAccepted arrives, counting again.
   */
  private startedAtAcceptance(host: OutboundLoad, readAt: number, ctx: { correlationId: string; component: string }): FollowUp {
    return (state) => {
      if (!this.admissions.quietSince(host.hypervisor, readAt)) return undefined;
      const step = nextSagaStep(state);
      if (step?.kind !== 'admit' || step.hypervisor !== host.hypervisor) return undefined;
      const decision = decide(commandOfStep(step), state);
      return decision.ok && decision.events.length > 0 ? { events: decision.events, ctx } : undefined;
    };
  }

  /**
   * UNAVAILABLE from memory: the VM is idle where this service last wrote it, the request would
   * pass the checks there, and its host's queue was lately found full. Anything else (a VM not in
   * memory or moving, a request the checks refuse) is decided on the database's row. A repeated
   * requestId of a finished move may meet this refusal; retried, it gets its move.
   */
  private refusalFromMemory(req: MoveVmRequest): Extract<RequestAdmission, { ok: false }> | undefined {
    const state = this.commands.cached(req.vm)?.state;
    if (state?.status !== 'placed' || state.move) return undefined;
    if (checkMoveRequest(this.topology, req, state.location)) return undefined;
    return this.fullQueues.refusal(state.location.hypervisor, this.now());
  }

  private async byRequestId(requestId: string): Promise<MoveRow | undefined> {
    const row = await this.dataSource.getRepository(MoveEntity).findOne({ where: { requestId } });
    return row?.view;
  }

  private replay(existing: MoveRow, req: MoveVmRequest): MoveAcceptedReply {
    if (existing.vm !== req.vm || existing.to.hypervisor !== req.to || existing.mode !== req.mode)
      throw new LocusError('BAD_REQUEST', `requestId ${req.requestId} was already used for move ${existing.moveId} (${existing.vm} ${existing.mode} to ${existing.to.hypervisor})`);
    return { moveId: existing.moveId, vm: existing.vm, from: existing.from, to: existing.to, mode: existing.mode, duplicate: true };
  }
}
