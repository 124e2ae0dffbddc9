import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { ListVmsRequest } from '@locus/contracts';
import { ListVmsHandler } from './list-vms.handler';

@Controller()
export class ListVmsController {
  constructor(@Inject(ListVmsHandler) private readonly handler: ListVmsHandler) {}

  /** `locus.vm.list {"site":"dc1"}` */
  @MessagePattern('vm.list')
  async handle(@Payload() body: ListVmsRequest) {
    return { ok: true, ...(await this.handler.handle(body)) };
  }
}
