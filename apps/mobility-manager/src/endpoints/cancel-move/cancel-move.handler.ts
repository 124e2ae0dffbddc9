import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { LocusError, type CancelMoveRequest, type RecordedVmEvent } from '@locus/contracts';
import { findMove } from '../get-move/find-move';
import type { VmCommandService } from '../../vm-commands/vm-command.service';

/**
 * `move.cancel`: before the switchover the move stops and the VM runs at the source (started
 * again there if it had been stopped); after it, TOO_LATE: the move can only complete.
 */
export class CancelMoveHandler {
  constructor(
    private readonly commands: VmCommandService,
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
  ) {}

  async handle(request: CancelMoveRequest) {
    const row = await findMove(this.dataSource, request.moveId);
    const req = { moveId: row.moveId };
    if (!['accepted', 'in-progress'].includes(row.state)) throw new LocusError('TOO_LATE', `move ${req.moveId} is already ${row.state}`);
    const { events } = await this.commands.execute(row.vm, { type: 'CancelMove', moveId: req.moveId }, { correlationId: req.moveId, component: 'mobility-manager' });
    const cancelled = events.find((e): e is RecordedVmEvent<'MoveCancelled'> => e.type === 'MoveCancelled');
    if (!cancelled) throw new LocusError('TOO_LATE', `move ${req.moveId} finished before the cancel`);
    const d = cancelled.data;
    this.logger.info(
      { component: 'mobility-manager', moveId: req.moveId, vm: row.vm, phase: d.phase, restartAtSource: d.restartAtSource },
      `move ${req.moveId.slice(0, 8)} ${row.vm} cancelled in ${d.phase}`,
    );
    return { moveId: req.moveId, vm: row.vm, state: 'cancelled', phase: d.phase, restartAtSource: d.restartAtSource };
  }
}
