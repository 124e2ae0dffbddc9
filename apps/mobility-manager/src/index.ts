/** What the mobility manager offers the lab and the tests besides its start function: its command service, seeding, drift detector and metrics. */
export { VmCommandService } from './vm-commands/vm-command.service';
export { placeTopologyVms } from './seed-vms/place-topology-vms';
export { DriftDetector } from './processes/detect-drift/drift-detector';
export { observeMobilityManager } from './observability/manager-metrics';
