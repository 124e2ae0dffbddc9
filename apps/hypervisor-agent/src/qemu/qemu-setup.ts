import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execIn, type LinuxDataplane } from '@locus/dataplane';
import type { LocusConfig, Logger } from '@locus/platform';
import type { TopologyIndex } from '@locus/topology';
import { guestImage } from './guest-image';
import { QemuDriver, type GuestNetwork } from './qemu-driver';

/** The VMs LOCUS_QEMU_VMS names: names, or a number N for the first N VMs of the topology. */
export function chosenQemuVms(spec: string, topology: TopologyIndex): string[] {
  const trimmed = spec.trim();
  if (/^\d+$/.test(trimmed)) return topology.vms.slice(0, Number(trimmed)).map((v) => v.name);
  const names = trimmed
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !topology.vm(n));
  if (unknown.length) throw new Error(`LOCUS_QEMU_VMS names VMs the topology does not have: ${unknown.join(', ')}`);
  return names;
}

/** Where a lab's QEMU sockets, serial logs and saved states live (removed at start and stop). */
export function qemuRunDir(prefix: string): string {
  return join(tmpdir(), `locus-qemu-${prefix}`);
}

/** The dataplane as the QEMU driver needs it: taps on the hypervisor namespaces' bridges, pings from the site routers. */
export function dataplaneGuestNetwork(dataplane: LinuxDataplane): GuestNetwork {
  return {
    plugTap: (vm, hypervisor, from) => dataplane.plugTap(vm, hypervisor, from),
    unplugTap: (vm, hypervisor) => dataplane.unplugTap(vm, hypervisor),
    namespaceOf: (hypervisor) => dataplane.names.hypervisor(hypervisor),
    ping: async (vm, hypervisor) => {
      try {
        await execIn(dataplane.pingNamespaceFor(vm, hypervisor), ['ping', '-c', '1', '-W', '1', dataplane.topology.vm(vm)!.ip]);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/**
 * The QEMU driver of a lab's agents (LOCUS_HYPERVISOR=qemu): the chosen VMs run as QEMU guests on
 * the Linux dataplane; their stand-in namespaces are parked (link down) so only the guest answers.
 */
export async function qemuDriverFor(config: LocusConfig, topology: TopologyIndex, dataplane: LinuxDataplane | undefined, logger: Logger): Promise<QemuDriver> {
  if (!dataplane) throw new Error("LOCUS_HYPERVISOR=qemu needs the Linux dataplane (LOCUS_DATAPLANE=linux, --dataplane linux): each guest's tap sits on its hypervisor namespace's bridge");
  if (config.timeScale !== 1) throw new Error(`LOCUS_HYPERVISOR=qemu runs in real time: the time scale must be 1 (it is ${config.timeScale})`);
  const vms = chosenQemuVms(config.qemuVms, topology);
  const runDir = qemuRunDir(config.dataplanePrefix);
  rmSync(runDir, { recursive: true, force: true });
  for (const vm of vms) await dataplane.park(vm).catch(() => undefined);
  logger.child({ component: 'qemu' }).info({ vms, runDir }, `QEMU guests for ${vms.join(', ')} (the other VMs stay simulated)`);
  return new QemuDriver(topology, dataplaneGuestNetwork(dataplane), { vms: new Set(vms), image: guestImage(), runDir }, logger);
}
