import type { DataSource } from 'typeorm';
import { LocusError, type PlanMoveRequest } from '@locus/contracts';
import type { MovePlanner } from './move-planner';

/** `move.plan`: the same body as `vm.move`; answers whether the move is allowed and what it will take. Appends nothing. */
export class PlanMoveHandler {
  constructor(
    private readonly planner: MovePlanner,
    private readonly dataSource: DataSource,
  ) {}

  async handle(req: PlanMoveRequest) {
    try {
      await this.refuseWhileMoving(req.vm);
      const p = await this.planner.plan(req);
      return { allowed: true, vm: req.vm, mode: req.mode, from: p.from, to: p.to, warnings: p.warnings, planes: p.planes, prediction: p.prediction, plan: p.plan };
    } catch (err) {
      // A refusal by the rules is an answer, not an error of the request.
      if (err instanceof LocusError && !['BAD_REQUEST', 'UNAVAILABLE', 'INTERNAL'].includes(err.code))
        return { allowed: false, vm: req.vm, mode: req.mode, refusal: err.toBody() };
      throw err;
    }
  }

  /** vm.move refuses a VM that is moving (the decider, MOVE_IN_PROGRESS) before anything else: the plan says so too. */
  private async refuseWhileMoving(vm: string): Promise<void> {
    const rows: { move_id: string; state: string }[] = await this.dataSource.query(`SELECT move_id, state FROM moves WHERE vm = $1 AND state IN ('accepted', 'in-progress') LIMIT 1`, [vm]);
    if (rows.length) throw new LocusError('MOVE_IN_PROGRESS', `VM ${vm} is already moving (move ${rows[0].move_id}, ${rows[0].state})`);
  }
}
