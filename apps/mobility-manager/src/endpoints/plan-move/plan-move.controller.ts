import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { PlanMoveRequest } from '@locus/contracts';
import { PlanMoveHandler } from './plan-move.handler';

@Controller()
export class PlanMoveController {
  constructor(@Inject(PlanMoveHandler) private readonly handler: PlanMoveHandler) {}

  /** `locus.move.plan {"vm":"web-01","to":"dc2-hv1","mode":"hot"}` */
  @MessagePattern('move.plan')
  async handle(@Payload() body: PlanMoveRequest) {
    return { ok: true, ...(await this.handler.handle(body)) };
  }
}
