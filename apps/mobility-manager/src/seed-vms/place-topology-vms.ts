import type { Logger } from 'pino';
import type { TopologyIndex } from '@locus/topology';
import type { VmCommandService } from '../vm-commands/vm-command.service';

/**
 * On start, every VM of the topology that the store does not know yet is placed on its
 * initial hypervisor. VMs already in the store keep the location the log says (PlaceVm is
 * idempotent), so restarting the lab never moves anything back.
 */
export async function placeTopologyVms(topology: TopologyIndex, commands: VmCommandService, logger: Logger): Promise<number> {
  let placed = 0;
  for (const vm of topology.topology.vms) {
    const hv = topology.hypervisor(vm.hypervisor);
    if (!hv) continue;
    const { events } = await commands.execute(
      vm.name,
      { type: 'PlaceVm', vm: vm.name, ip: vm.ip, mac: vm.mac, l2Domain: vm.l2Domain, memoryMb: vm.memoryMb, location: { hypervisor: hv.name, site: hv.site } },
      { correlationId: `seed:${vm.name}`, component: 'mobility-manager' },
    );
    placed += events.length;
  }
  logger.info({ component: 'mobility-manager', placed, known: topology.topology.vms.length - placed }, `placed ${placed} new VMs from the topology`);
  return placed;
}
