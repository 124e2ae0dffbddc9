import type { Logger } from 'pino';
import type { TopologyIndex } from '@locus/topology';
import type { BatchedCommand, VmCommandService } from '../vm-commands/vm-command.service';

export interface PlacementOptions {
  /** VMs decided and appended per transaction (group commit). */
  chunkSize?: number;
  /** A progress line at most this often. */
  progressEveryMs?: number;
}

/**
 * On start, every VM of the topology that the store does not know yet is placed on its
 * initial hypervisor. VMs already in the store keep the location the log says (PlaceVm is
 * idempotent), so restarting the lab never moves anything back. VMs go in chunks, each one read
 * of their streams and one transaction (executeMany): 100,000 VMs take seconds, not minutes.
 */
export async function placeTopologyVms(topology: TopologyIndex, commands: VmCommandService, logger: Logger, options: PlacementOptions = {}): Promise<number> {
  const chunkSize = options.chunkSize ?? 1000;
  const progressEveryMs = options.progressEveryMs ?? 5000;
  const vms = topology.topology.vms;
  const started = Date.now();
  let lastProgress = started;
  let placed = 0;
  let checked = 0;
  const rate = (n: number, ms: number) => Math.round((n * 1000) / Math.max(ms, 1));
  for (let from = 0; from < vms.length; from += chunkSize) {
    const batch: BatchedCommand[] = [];
    for (const vm of vms.slice(from, from + chunkSize)) {
      const hv = topology.hypervisor(vm.hypervisor);
      if (!hv) continue;
      batch.push({
        vm: vm.name,
        command: { type: 'PlaceVm', vm: vm.name, ip: vm.ip, mac: vm.mac, l2Domain: vm.l2Domain, memoryMb: vm.memoryMb, location: { hypervisor: hv.name, site: hv.site } },
        ctx: { correlationId: `seed:${vm.name}`, component: 'mobility-manager' },
      });
    }
    for (const outcome of await commands.executeMany(batch)) {
      if (outcome.error) throw outcome.error; // as execute would have thrown (PlaceVm is never refused)
      placed += outcome.events.length;
    }
    checked = Math.min(from + chunkSize, vms.length);
    const now = Date.now();
    if (now - lastProgress >= progressEveryMs && checked < vms.length) {
      lastProgress = now;
      logger.info(
        { component: 'mobility-manager', checked, total: vms.length, placed, perSecond: rate(checked, now - started) },
        `placing topology VMs: ${checked}/${vms.length} checked, ${placed} placed, ${rate(checked, now - started)} VMs/s`,
      );
    }
  }
  const ms = Date.now() - started;
  logger.info(
    { component: 'mobility-manager', placed, known: vms.length - placed, ms, perSecond: rate(vms.length, ms) },
    `placed ${placed} new VMs from the topology (${vms.length - placed} already known) in ${(ms / 1000).toFixed(1)} s`,
  );
  return placed;
}
