import { Module, type DynamicModule } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import type { TopologyIndex } from '@locus/topology';
import { VmCommandService } from './vm-commands/vm-command.service';
import { MoveVmHandler, type QueueLimits } from './endpoints/move-vm/move-vm.handler';
import { MoveVmController } from './endpoints/move-vm/move-vm.controller';
import { GetMoveHandler } from './endpoints/get-move/get-move.handler';
import { GetMoveController } from './endpoints/get-move/get-move.controller';
import { GetVmHandler } from './endpoints/get-vm/get-vm.handler';
import { GetVmController } from './endpoints/get-vm/get-vm.controller';
import { ListVmsHandler } from './endpoints/list-vms/list-vms.handler';
import { ListVmsController } from './endpoints/list-vms/list-vms.controller';
import { GetTopologyHandler } from './endpoints/get-topology/get-topology.handler';
import { GetTopologyController } from './endpoints/get-topology/get-topology.controller';
import { PlanMoveHandler } from './endpoints/plan-move/plan-move.handler';
import { PlanMoveController } from './endpoints/plan-move/plan-move.controller';
import { CancelMoveHandler } from './endpoints/cancel-move/cancel-move.handler';
import { CancelMoveController } from './endpoints/cancel-move/cancel-move.controller';
import type { MovePlanner } from './move-planner/move-planner';
import { CheckDriftHandler } from './endpoints/check-drift/check-drift.handler';
import { CheckDriftController } from './endpoints/check-drift/check-drift.controller';
import type { DriftDetector } from './processes/detect-drift/drift-detector';

export interface ManagerDeps {
  dataSource: DataSource;
  topology: TopologyIndex;
  commands: VmCommandService;
  planner: MovePlanner;
  logger: Logger;
  drift: DriftDetector;
  queue: QueueLimits;
}

const DEPS = Symbol('MANAGER_DEPS');

/** The command and query side: one controller and handler per use case, wired to the store and topology. */
@Module({})
export class MobilityManagerModule {
  static register(deps: ManagerDeps): DynamicModule {
    return {
      module: MobilityManagerModule,
      controllers: [MoveVmController, PlanMoveController, CancelMoveController, GetMoveController, GetVmController, ListVmsController, GetTopologyController, CheckDriftController],
      providers: [
        { provide: DEPS, useValue: deps },
        { provide: MoveVmHandler, useFactory: (d: ManagerDeps) => new MoveVmHandler(d.commands, d.dataSource, d.topology, d.planner, d.logger, d.queue), inject: [DEPS] },
        { provide: PlanMoveHandler, useFactory: (d: ManagerDeps) => new PlanMoveHandler(d.planner, d.dataSource), inject: [DEPS] },
        { provide: CancelMoveHandler, useFactory: (d: ManagerDeps) => new CancelMoveHandler(d.commands, d.dataSource, d.logger), inject: [DEPS] },
        { provide: GetMoveHandler, useFactory: (d: ManagerDeps) => new GetMoveHandler(d.dataSource), inject: [DEPS] },
        { provide: GetVmHandler, useFactory: (d: ManagerDeps) => new GetVmHandler(d.dataSource, d.commands), inject: [DEPS] },
        { provide: ListVmsHandler, useFactory: (d: ManagerDeps) => new ListVmsHandler(d.dataSource, d.commands, d.topology), inject: [DEPS] },
        { provide: GetTopologyHandler, useFactory: (d: ManagerDeps) => new GetTopologyHandler(d.topology), inject: [DEPS] },
        { provide: CheckDriftHandler, useFactory: (d: ManagerDeps) => new CheckDriftHandler(d.drift), inject: [DEPS] },
      ],
    };
  }
}
