import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { CancelMoveRequest } from '@locus/contracts';
import { CancelMoveHandler } from './cancel-move.handler';

@Controller()
export class CancelMoveController {
  constructor(@Inject(CancelMoveHandler) private readonly handler: CancelMoveHandler) {}

  /** `locus.move.cancel {"moveId":"..."}` */
  @MessagePattern('move.cancel')
  async handle(@Payload() body: CancelMoveRequest) {
    return { ok: true, ...(await this.handler.handle(body)) };
  }
}
