import type { DataSource } from 'typeorm';
import { LocusError, type ErrorCode, type PlanMoveRequest } from '@locus/contracts';
import { moveInProgress } from '@locus/domain';
import { MoveReadModel } from '@locus/eventstore';
import type { MovePlanner } from '../../move-planner/move-planner';

/** Errors of the request itself, answered `ok: false` as `vm.move` answers them; any other refusal is the plan's answer. */
const NOT_A_PLAN: readonly ErrorCode[] = ['BAD_REQUEST', 'UNKNOWN_VM', 'UNKNOWN_TARGET', 'UNAVAILABLE', 'INTERNAL'];

/** `move.plan`: the same body as `vm.move`; answers whether the move is allowed and what it will take. Appends nothing. */
export class PlanMoveHandler {
  private readonly reads: MoveReadModel;

  constructor(
    private readonly planner: MovePlanner,
    dataSource: DataSource,
  ) {
    this.reads = new MoveReadModel(dataSource);
  }

  async handle(req: PlanMoveRequest) {
    try {
      await this.refuseWhileMoving(req.vm);
      const p = await this.planner.plan(req);
      return { allowed: true, vm: req.vm, mode: req.mode, from: p.from, to: p.to, warnings: p.warnings, planes: p.planes, prediction: p.prediction, plan: p.plan };
    } catch (err) {
      // A refusal by the rules is an answer; a name that names nothing (UNKNOWN_VM, UNKNOWN_TARGET) is an error of the request, as on every subject.
      if (err instanceof LocusError && !NOT_A_PLAN.includes(err.code)) return { allowed: false, vm: req.vm, mode: req.mode, refusal: err.toBody() };
      throw err;
    }
  }

  /** vm.move refuses a VM that is moving (the decider, MOVE_IN_PROGRESS) before anything else: the plan says so too. */
  private async refuseWhileMoving(vm: string): Promise<void> {
    const active = await this.reads.activeMoveOf(vm);
    const refused = moveInProgress(vm, active && { moveId: active.moveId, stage: active.state });
    if (refused) throw new LocusError(refused.code, refused.message);
  }
}
