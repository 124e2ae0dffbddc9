import type { DataSource } from 'typeorm';
import type { GetMoveRequest, MoveView } from '@locus/contracts';
import { MoveReadModel } from '@locus/eventstore';
import { findMove } from './find-move';

/** `move.get`: the move's read model, with its timeline of steps and who did them. */
export class GetMoveHandler {
  private readonly reads: MoveReadModel;

  constructor(private readonly dataSource: DataSource) {
    this.reads = new MoveReadModel(dataSource);
  }

  async handle(req: GetMoveRequest): Promise<{ move: MoveView }> {
    const v = (await findMove(this.dataSource, req.moveId)).view;
    const move: MoveView = {
      moveId: v.moveId,
      vm: v.vm,
      mode: v.mode,
      cause: v.cause ?? 'operator',
      from: v.from,
      to: v.to,
      state: v.state,
      locationVersion: v.locationVersion,
      acceptedAt: v.acceptedAt,
      phases: v.phases ?? {},
      rounds: v.rounds ?? [],
      warnings: v.warnings ?? [],
      planes: v.planes ?? [],
      timeline: v.timeline,
      ...(v.state === 'accepted' ? { queuePosition: await this.queuePosition(v.from.hypervisor, v.acceptedAt, v.moveId) } : {}),
      ...(v.dataSentBytes !== null && v.dataSentBytes !== undefined ? { dataSentBytes: v.dataSentBytes } : {}),
      ...(v.requestId ? { requestId: v.requestId } : {}),
      ...(v.finishedAt ? { finishedAt: v.finishedAt } : {}),
      ...(v.downtimeMs !== null ? { downtimeMs: v.downtimeMs } : {}),
      ...(typeof v.modelDowntimeMs === 'number' ? { modelDowntimeMs: v.modelDowntimeMs } : {}),
      ...(v.totalMs !== null ? { totalMs: v.totalMs } : {}),
      ...(v.error ? { error: v.error } : {}),
      ...(typeof v.convergenceMs === 'number' ? { convergenceMs: v.convergenceMs } : {}),
      ...(v.planeTimes ? { planeTimes: v.planeTimes } : {}),
      ...(v.convergenceLate ? { convergenceLate: v.convergenceLate } : {}),
    };
    return { move };
  }

  /** 1 for the next move to start from that host; moves ahead are those accepted earlier and still waiting. */
  private async queuePosition(hypervisor: string, acceptedAt: string, moveId: string): Promise<number> {
    return (await this.reads.queuedAhead(hypervisor, acceptedAt, moveId)) + 1;
  }
}
