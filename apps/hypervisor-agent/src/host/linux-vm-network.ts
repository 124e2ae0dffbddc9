import type { Logger } from 'pino';
import type { LinuxDataplane } from '@locus/dataplane';
import type { VmNetwork } from './vm-network';

/**
 * The hypervisors as network namespaces (@locus/dataplane): a VM's port is a veth whose other end
 * is the VM namespace's eth0. A cold or warm move takes it off the source's bridge when the guest
 * stops and plugs it into the target's when the guest runs there; a hot move keeps the VM's
 * namespace and its sockets, takes the link down for the switchover only and announces the VM
 * from the target with gratuitous ARP.
 */
export class LinuxVmNetwork implements VmNetwork {
  readonly kind = 'linux' as const;
  private readonly log: Logger;

  constructor(
    private readonly dataplane: LinuxDataplane,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'dataplane:vm-link' });
  }

  async attach(vm: string, hypervisor: string, how: 'boot' | 'resume'): Promise<void> {
    if (how === 'boot') await this.dataplane.flushGuestNeighbours(vm);
    const { from, nicUp } = await this.dataplane.attach(vm, hypervisor);
    // The guest's own announce runs beside the step: the VM answers as soon as its link is up.
    if (nicUp) this.background(vm, 'announce at boot', this.dataplane.announceWhenUp(vm));
    const level = from === hypervisor && how === 'resume' ? 'debug' : 'info'; // already there (the start-up pass): no news
    this.log[level]({ vm, hypervisor, from, how, port: this.dataplane.names.vmPort(vm) }, `link up: ${vm} plugged into ${hypervisor}`);
  }

  async detach(vm: string): Promise<void> {
    await this.dataplane.detach(vm);
    this.log.info({ vm, port: this.dataplane.names.vmPort(vm) }, `link down: ${vm} unplugged`);
  }

  async pause(vm: string): Promise<void> {
    await this.dataplane.setLink(vm, false);
    this.log.info({ vm }, `link down for the switchover: ${vm} paused`);
  }

  /** Sent, not awaited: arping lingers after its packet, and the announce step must not wait for that. */
  async announce(vm: string): Promise<void> {
    this.background(vm, 'announce', this.dataplane.announce(vm));
    this.log.debug({ vm }, `gratuitous ARP from ${vm}`);
  }

  private background(vm: string, what: string, work: Promise<void>): void {
    work.catch((err) => this.log.warn({ vm, err: (err as Error).message }, `${what} of ${vm} failed`));
  }
}
