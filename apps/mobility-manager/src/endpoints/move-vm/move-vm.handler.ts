import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { LocusError, type MoveAcceptedReply, type MoveVmRequest, type RecordedVmEvent } from '@locus/contracts';
import type { MoveRow } from '@locus/domain';
import { isUniqueViolation, MoveEntity } from '@locus/eventstore';
import type { TopologyIndex } from '@locus/topology';
import type { VmCommandService } from '../../vm-commands/vm-command.service';
import type { MovePlanner } from '../../move-planner/move-planner';

/** The per-host outbound queue: moves that run at once, and moves that may wait behind them. */
export interface QueueLimits {
  maxOutboundPerHost: number;
  maxQueuedPerHost: number;
}

/**
 * `vm.move`: validates the target against the topology, decides on the VM's stream and
 * appends MoveAccepted; the saga takes it from there. A repeated requestId answers the
 * original move and appends nothing. A source host whose outbound queue is full gets
 * UNAVAILABLE with nothing recorded, so that overload is refused at once instead of piling up.
 */
export class MoveVmHandler {
  /** vm.move requests refused so far, by error code (read by the metrics). */
  readonly refusals = new Map<string, number>();

  constructor(
    private readonly commands: VmCommandService,
    private readonly dataSource: DataSource,
    private readonly topology: TopologyIndex,
    private readonly planner: MovePlanner,
    private readonly logger: Logger,
    private readonly queue: QueueLimits = { maxOutboundPerHost: 2, maxQueuedPerHost: Infinity },
  ) {}

  async handle(req: MoveVmRequest): Promise<MoveAcceptedReply> {
    try {
      return await this.accept(req);
    } catch (err) {
      if (err instanceof LocusError) this.refusals.set(err.code, (this.refusals.get(err.code) ?? 0) + 1);
      throw err;
    }
  }

  private async accept(req: MoveVmRequest): Promise<MoveAcceptedReply> {
    if (req.requestId) {
      const existing = await this.byRequestId(req.requestId);
      if (existing) return this.replay(existing, req);
    }
    if (!this.topology.hypervisor(req.to)) throw new LocusError('UNKNOWN_TARGET', `no hypervisor named ${req.to}; see locus.topology.get for the hypervisors`);
    // The source host's queue first: under overload most requests end here, before any planning.
    const host = await this.outboundOf(req.vm);
    if (host && host.waiting >= this.queue.maxQueuedPerHost)
      throw new LocusError(
        'UNAVAILABLE',
        `${host.hypervisor} already has ${host.active} outbound moves running and ${host.waiting} waiting (at most ${this.queue.maxQueuedPerHost}); retry later`,
      );
    const planning = await this.planner.plan(req);
    const moveId = randomUUID();
    try {
      const { events } = await this.commands.execute(
        req.vm,
        {
          type: 'RequestMove',
          moveId,
          mode: req.mode,
          to: planning.to,
          requestId: req.requestId,
          plan: planning.plan,
          warnings: planning.warnings,
          planes: planning.planes,
        },
        { correlationId: moveId, component: 'mobility-manager' },
      );
      const accepted = events.find((e): e is RecordedVmEvent<'MoveAccepted'> => e.type === 'MoveAccepted');
      if (!accepted) throw new LocusError('INTERNAL', 'move was not recorded');
      const d = accepted.data;
      const p = planning.prediction;
      this.logger.info(
        { component: 'mobility-manager', moveId, vm: d.vm, mode: d.mode, from: d.from.hypervisor, to: d.to.hypervisor, predictedDowntimeMs: p.downtimeMs, predictedTotalMs: p.totalMs, rounds: p.rounds.length, planes: d.planes },
        `move accepted: ${d.vm} ${d.mode} ${d.from.hypervisor} -> ${d.to.hypervisor}`,
      );
      for (const warning of d.warnings) this.logger.warn({ component: 'mobility-manager', moveId, vm: d.vm }, warning);
      const queuePosition = host && host.active >= this.queue.maxOutboundPerHost ? host.waiting + 1 : undefined;
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

  /** The VM's host, its operator moves running and the moves waiting for one of its slots (indexed by source host); undefined for an unknown VM. */
  private async outboundOf(vm: string): Promise<{ hypervisor: string; active: number; waiting: number } | undefined> {
    const rows: { hypervisor: string; active: number; waiting: number }[] = await this.dataSource.query(
      `SELECT l.hypervisor,
              (SELECT count(*) FROM moves m WHERE m.state = 'in-progress' AND m.view->'from'->>'hypervisor' = l.hypervisor AND m.view->>'cause' <> 'ha-restart')::int AS active,
              (SELECT count(*) FROM moves m WHERE m.state = 'accepted' AND m.view->'from'->>'hypervisor' = l.hypervisor)::int AS waiting
         FROM vm_location l WHERE l.name = $1`,
      [vm],
    );
    return rows[0];
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
