import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { MoveVmRequest } from '@locus/contracts';
import { MoveVmHandler } from './move-vm.handler';

@Controller()
export class MoveVmController {
  constructor(@Inject(MoveVmHandler) private readonly handler: MoveVmHandler) {}

  /** `locus.vm.move {"vm":"web-01","to":"dc2-hv1","mode":"cold"}` */
  @MessagePattern('vm.move')
  async move(@Payload() body: MoveVmRequest) {
    return { ok: true, ...(await this.handler.handle(body)) };
  }
}
