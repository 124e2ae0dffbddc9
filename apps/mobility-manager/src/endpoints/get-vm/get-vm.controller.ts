import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { GetVmRequest } from '@locus/contracts';
import { GetVmHandler } from './get-vm.handler';

@Controller()
export class GetVmController {
  constructor(@Inject(GetVmHandler) private readonly handler: GetVmHandler) {}

  /** `locus.vm.get {"vm":"web-01"}` */
  @MessagePattern('vm.get')
  async handle(@Payload() body: GetVmRequest) {
    return { ok: true, ...(await this.handler.handle(body)) };
  }
}
