import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { GetTopologyRequest } from '@locus/contracts';
import { GetTopologyHandler } from './get-topology.handler';

@Controller()
export class GetTopologyController {
  constructor(@Inject(GetTopologyHandler) private readonly handler: GetTopologyHandler) {}

  /** `locus.topology.get {}` */
  @MessagePattern('topology.get')
  async handle(@Payload() body: GetTopologyRequest) {
    return { ok: true, ...(await this.handler.handle(body)) };
  }
}
