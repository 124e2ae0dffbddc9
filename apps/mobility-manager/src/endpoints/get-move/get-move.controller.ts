import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { GetMoveRequest } from '@locus/contracts';
import { GetMoveHandler } from './get-move.handler';

@Controller()
export class GetMoveController {
  constructor(@Inject(GetMoveHandler) private readonly handler: GetMoveHandler) {}

  /** `locus.move.get {"moveId":"..."}` */
  @MessagePattern('move.get')
  async handle(@Payload() body: GetMoveRequest) {
    return { ok: true, ...(await this.handler.handle(body)) };
  }
}
