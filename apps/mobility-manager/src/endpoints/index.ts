import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import type { CancelMoveRequest, DriftCheckRequest, GetMoveRequest, GetTopologyRequest, GetVmRequest, ListVmsRequest, MoveVmRequest, PlanMoveRequest, RequestEndpoint } from '@locus/contracts';
import type { RequestHandler } from '@locus/messaging';
import type { TopologyIndex } from '@locus/topology';
import type { VmCommandService } from '../vm-commands/vm-command.service';
import type { MovePlanner } from '../move-planner/move-planner';
import type { DriftDetector } from '../processes/detect-drift/drift-detector';
import { MoveVmHandler, type QueueLimits } from './move-vm/move-vm.handler';
import type { HostAdmissions } from '../shared/host-admissions';
import { PlanMoveHandler } from './plan-move/plan-move.handler';
import { CancelMoveHandler } from './cancel-move/cancel-move.handler';
import { GetMoveHandler } from './get-move/get-move.handler';
import { GetVmHandler } from './get-vm/get-vm.handler';
import { ListVmsHandler } from './list-vms/list-vms.handler';
import { GetTopologyHandler } from './get-topology/get-topology.handler';
import { CheckDriftHandler } from './check-drift/check-drift.handler';

/** What the manager's endpoints are built from. */
export interface EndpointDeps {
  dataSource: DataSource;
  topology: TopologyIndex;
  commands: VmCommandService;
  planner: MovePlanner;
  logger: Logger;
  drift: DriftDetector;
  queue: QueueLimits;
  /** ms a full source queue found by a read is believed without reading again (`LOCUS_FULL_QUEUE_MEMORY_MS`). */
  fullQueueMemoryMs?: number;
  /** This process's admissions per source host, shared with the saga (vm.move starts a move at acceptance through it). */
  admissions: HostAdmissions;
}

/** Each request subject of the manager and the body its handler takes: the compiler checks the table below against it. */
export interface ManagerEndpoints {
  'vm.move': RequestHandler<MoveVmRequest>;
  'move.plan': RequestHandler<PlanMoveRequest>;
  'move.cancel': RequestHandler<CancelMoveRequest>;
  'move.get': RequestHandler<GetMoveRequest>;
  'vm.get': RequestHandler<GetVmRequest>;
  'vm.list': RequestHandler<ListVmsRequest>;
  'topology.get': RequestHandler<GetTopologyRequest>;
  'drift.check': RequestHandler<DriftCheckRequest>;
}

/**
 * The manager's request endpoints: one handler per subject (one folder per use case beside this
 * file), served by `serveRequestEndpoints` (libs/messaging; ADR 0006). Returns the table and the
 * `vm.move` handler, whose refusals the metrics read.
 */
export function managerEndpoints(d: EndpointDeps): { handlers: ManagerEndpoints & Partial<Record<RequestEndpoint, RequestHandler<never>>>; moveVm: MoveVmHandler } {
  const moveVm = new MoveVmHandler(d.commands, d.dataSource, d.topology, d.planner, d.logger, d.queue, d.fullQueueMemoryMs, d.admissions);
  const planMove = new PlanMoveHandler(d.planner, d.dataSource);
  const cancelMove = new CancelMoveHandler(d.commands, d.dataSource, d.logger);
  const getMove = new GetMoveHandler(d.dataSource);
  const getVm = new GetVmHandler(d.dataSource, d.commands);
  const listVms = new ListVmsHandler(d.dataSource, d.commands, d.topology);
  const getTopology = new GetTopologyHandler(d.topology);
  const checkDrift = new CheckDriftHandler(d.drift);
  return {
    moveVm,
    handlers: {
      // `locus.vm.move {"vm":"web-01","to":"dc2-hv1","mode":"cold"}`
      'vm.move': (body) => moveVm.handle(body),
      'move.plan': (body) => planMove.handle(body),
      'move.cancel': (body) => cancelMove.handle(body),
      // `locus.move.get {"moveId":"0c4a83df"}`
      'move.get': (body) => getMove.handle(body),
      // `locus.vm.get {"vm":"web-01"}`
      'vm.get': (body) => getVm.handle(body),
      'vm.list': (body) => listVms.handle(body),
      'topology.get': (body) => getTopology.handle(body),
      'drift.check': (body) => checkDrift.handle(body),
    },
  };
}
