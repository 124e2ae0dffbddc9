/** What the agents offer the lab and the tests besides their start function: their metrics, the QEMU driver's parts. */
export { observeAgents } from './observability/agent-metrics';
export { QmpClient, QmpError, type QmpEvent } from './qemu/qmp-client';
export { QemuGuest, type GuestSpec, type GuestImage, type GuestLaunch } from './qemu/qemu-guest';
export { LiveMigration, type MigrationLimits, type MigrationPass, type MigrationResult } from './qemu/live-migration';
export { guestImage, qemuUnavailable } from './qemu/guest-image';
export { QemuDriver, type GuestNetwork } from './qemu/qemu-driver';
export { chosenQemuVms, qemuRunDir, dataplaneGuestNetwork } from './qemu/qemu-setup';
export type { HypervisorDriver, GuestHealth, HotLimits, HotPass } from './host/hypervisor-driver';
