import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { DriftCheckRequest } from '@locus/contracts';
import { CheckDriftHandler } from './check-drift.handler';

@Controller()
export class CheckDriftController {
  constructor(@Inject(CheckDriftHandler) private readonly handler: CheckDriftHandler) {}

  /** `locus.drift.check {}`, `{"vms":["web-01"]}`, `{"repair":false}` */
  @MessagePattern('drift.check')
  async handle(@Payload() body: DriftCheckRequest) {
    return { ok: true, ...(await this.handler.handle(body)) };
  }
}
