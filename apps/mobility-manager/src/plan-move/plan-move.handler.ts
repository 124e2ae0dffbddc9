import { LocusError, type PlanMoveRequest } from '@locus/contracts';
import type { MovePlanner } from './move-planner';

/** `move.plan`: the same body as `vm.move`; answers whether the move is allowed and what it will take. Appends nothing. */
export class PlanMoveHandler {
  constructor(private readonly planner: MovePlanner) {}

  async handle(req: PlanMoveRequest) {
    try {
      const p = await this.planner.plan(req);
      return { allowed: true, vm: req.vm, mode: req.mode, from: p.from, to: p.to, warnings: p.warnings, planes: p.planes, prediction: p.prediction, plan: p.plan };
    } catch (err) {
      // A refusal by the rules is an answer, not an error of the request.
      if (err instanceof LocusError && !['BAD_REQUEST', 'UNAVAILABLE', 'INTERNAL'].includes(err.code))
        return { allowed: false, vm: req.vm, mode: req.mode, refusal: err.toBody() };
      throw err;
    }
  }
}
