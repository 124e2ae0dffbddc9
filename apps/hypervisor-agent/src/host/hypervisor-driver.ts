/**
 * What an agent asks of the hypervisor that really runs a VM. Small on purpose: each call maps to
 * one libvirt call (docs/qemu-hypervisor.md has the table), so a libvirt driver could stand in for the
 * QEMU one. Times are wall-clock epoch ms; durations real ms. The simulated hypervisor (the agent's
 * own clock and the pre-copy model) stays the default for every VM a driver does not run.
 */
export interface HypervisorDriver {
  readonly kind: 'simulated' | 'qemu';
  /** Whether this driver runs `vm` (the lab makes a chosen few VMs real). */
  runs(vm: string): boolean;
  /** Boots a fresh guest on `hypervisor` (cold move's target, a restart); resolves once it serves, its boot measured. */
  boot(vm: string, hypervisor: string, from?: string): Promise<{ ms: number; upAt: number }>;
  /** ACPI powerdown, then quit if the guest does not power off in time. */
  shutdown(vm: string): Promise<{ ms: number; downAt: number }>;
  /** Warm: stops the guest and saves its state to a file. */
  save(vm: string): Promise<{ ms: number; bytes: number; downAt: number }>;
  /** Warm: the saved state made available at `hypervisor` (a copy on a real pair of hosts). */
  transferState(vm: string, hypervisor: string): Promise<{ ms: number; bytes: number }>;
  /** Warm: starts the guest on `hypervisor` from its saved state. */
  restore(vm: string, hypervisor: string, from?: string): Promise<{ ms: number; upAt: number }>;
  /** Hot: pass `round` of the live migration to `to` (round 0 starts it with the move's limits). */
  migratePass(vm: string, moveId: string, to: string, round: number, limits: HotLimits): Promise<HotPass>;
  /** Hot: the switchover at the source (forced when the saga decided it, e.g. max rounds): when the guest stopped, how long it was down. */
  switchover(vm: string, moveId: string): Promise<{ downAt: number; downtimeMs: number; bytes: number; totalMs: number }>;
  /** Hot: the guest runs at the target: when it resumed. */
  resumed(vm: string, moveId: string, hypervisor: string): Promise<{ upAt: number; ms: number }>;
  /** Cancels the live migration of `moveId` (migrate_cancel): the guest goes on at the source. */
  cancel(vm: string, moveId: string): Promise<boolean>;
  /** Is the guest alive where it runs: its console shows a fresh heartbeat and it answers a ping. */
  health(vm: string): Promise<GuestHealth>;
  /** Every guest process and tap of this driver gone (the lab's stop). */
  stopAll(): Promise<void>;
}

export interface HotLimits {
  downtimeLimitMs: number;
  bandwidthBps: number;
  policy: 'throttle' | 'postcopy' | 'abort';
}

/** One pass of the hypervisor's pre-copy, as the saga records it. */
export interface HotPass {
  sentBytes: number;
  durationMs: number;
  dirtyBytes: number;
  dirtyRateBps: number;
  throttlePct: number;
  expectedDowntimeMs: number;
  completed: boolean;
}

export interface GuestHealth {
  vm: string;
  hypervisor?: string;
  ok: boolean;
  /** The last heartbeat marker read on the serial console, and whether one came after the check began. */
  heartbeat?: string;
  pingOk?: boolean;
  reason?: string;
  /** How long the check took and how many pings it sent: how near a busy host comes to its deadline. */
  ms?: number;
  pings?: number;
}
