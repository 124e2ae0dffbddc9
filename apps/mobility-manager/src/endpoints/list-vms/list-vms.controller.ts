import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { ListVmsRequest } from '@locus/contracts';
import { ListVmsHandler } from './list-vms.handler';

@Controller()
export class ListVmsController {
  constructor(@Inject(ListVmsHandler) private readonly handler: ListVmsHandler) {}

  /** `locus.vm.list {"site":"dc1","after":"web-01","limit":100}`: one page; `next` asks for the following one. */
  @MessagePattern('vm.list')
  async handle(@Payload() body: ListVmsRequest) {
    return { ok: true, ...(await this.handler.handle(body)) };
  }
}
