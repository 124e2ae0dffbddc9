import type { DataSource } from 'typeorm';
import { LocusError, type GetMoveRequest, type MoveView } from '@locus/contracts';
import { MoveEntity } from '@locus/eventstore';

/** `move.get`: the move's read model, with its timeline of steps and who did them. */
export class GetMoveHandler {
  constructor(private readonly dataSource: DataSource) {}

  async handle(req: GetMoveRequest): Promise<{ move: MoveView }> {
    const row = await this.dataSource.getRepository(MoveEntity).findOne({ where: { moveId: req.moveId } });
    if (!row) throw new LocusError('UNKNOWN_MOVE', `no move with id ${req.moveId}`);
    const v = row.view;
    const move: MoveView = {
      moveId: v.moveId,
      vm: v.vm,
      mode: v.mode,
      from: v.from,
      to: v.to,
      state: v.state,
      locationVersion: v.locationVersion,
      acceptedAt: v.acceptedAt,
      timeline: v.timeline,
      ...(v.requestId ? { requestId: v.requestId } : {}),
      ...(v.finishedAt ? { finishedAt: v.finishedAt } : {}),
      ...(v.downtimeMs !== null ? { downtimeMs: v.downtimeMs } : {}),
      ...(v.totalMs !== null ? { totalMs: v.totalMs } : {}),
      ...(v.error ? { error: v.error } : {}),
    };
    return { move };
  }
}
