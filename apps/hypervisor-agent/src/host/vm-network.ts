/**
 * What a VM's run state means for its network link, on one machine's hypervisors. The
 * simulated hypervisors have no link (`SimulatedVmNetwork`); the Linux dataplane moves a veth
 * between network namespaces (`LinuxVmNetwork`). Effects only: the agent decides when.
 */
export interface VmNetwork {
  readonly kind: 'lab' | 'linux';
  /**
   * The VM runs on `hypervisor` from now: its port on that hypervisor's bridge and up. `boot`: a
   * guest that starts afresh (its ARP cache empty); `resume`: the same guest goes on (a hot or warm move).
   */
  attach(vm: string, hypervisor: string, how: 'boot' | 'resume'): Promise<void>;
  /** The VM stopped or was suspended: its port off the bridge and down. */
  detach(vm: string): Promise<void>;
  /** A hot move's switchover: the guest is paused, its link down where it is. */
  pause(vm: string): Promise<void>;
  /** One announce round from the VM at its new place (a gratuitous ARP, as QEMU's self-announce). */
  announce(vm: string): Promise<void>;
}

/** The lab's simulated hypervisors: no link to act on. */
export class SimulatedVmNetwork implements VmNetwork {
  readonly kind = 'lab' as const;
  async attach(): Promise<void> {}
  async detach(): Promise<void> {}
  async pause(): Promise<void> {}
  async announce(): Promise<void> {}
}
