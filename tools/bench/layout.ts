import { writeFileSync } from 'node:fs';
import type { NatsConnection } from 'nats';
import { mappingSubjects, subjects } from '@locus/contracts';
import { convergenceTopologyOf, type ConvergenceTopology } from '@locus/domain';
import { listAllVms } from '@locus/messaging';
import { generateTopology, renderTopologyYaml } from '@locus/topology';
import { requestJson } from './lab';

/**
 * The lab's layout as the load needs it (VMs, where they are, the hypervisors of each site): from
 * a generated topology, or from a running lab; and the ITR caches warmed before the load.
 */
export interface LabLayout {
  vmNames: string[];
  vmIp: Map<string, string>;
  vmSite: Map<string, string>;
  hvsBySite: Map<string, string[]>;
  hostRouteSites: Set<string>;
  itrSites: string[];
  /** What the move board needs to time convergence as the tracker does. */
  convergenceTopology?: ConvergenceTopology;
}

/** Generates a topology (every site with mapping system, host routes and ARP proxy) and writes it to `file`. */
export function generatedLayout(o: { sites: number; vms: number; hypervisorsPerSite: number; bootMs: number; shutdownMs: number }, file: string, comment: string): LabLayout {
  const { topology, layout } = generateTopology(o);
  writeFileSync(file, renderTopologyYaml(topology, [comment]));
  const out: LabLayout = {
    vmNames: layout.vmNames,
    vmIp: new Map(),
    vmSite: new Map(),
    hvsBySite: new Map(),
    hostRouteSites: new Set(layout.siteNames),
    itrSites: layout.siteNames,
    convergenceTopology: convergenceTopologyOf(topology),
  };
  for (const vm of topology.vms ?? []) {
    out.vmIp.set(vm.name, vm.ip);
    out.vmSite.set(vm.name, vm.hypervisor.replace(/-hv\d+$/, ''));
  }
  for (const hv of topology.hypervisors ?? []) out.hvsBySite.set(hv.site, [...(out.hvsBySite.get(hv.site) ?? []), hv.name]);
  return out;
}

/** A running lab's layout: topology.get and every VM (running ones are moved). */
export async function attachedLayout(nc: NatsConnection, prefix: string): Promise<LabLayout> {
  const t = await requestJson(nc, subjects(prefix).request('topology.get'), {}, 30_000);
  if (!t.ok) throw new Error(`topology.get: ${JSON.stringify(t.error)}`);
  const vms = await listAllVms(nc, prefix, {}, { timeoutMs: 30_000 });
  const hvsBySite = new Map<string, string[]>();
  for (const hv of t.topology.hypervisors) hvsBySite.set(hv.site, [...(hvsBySite.get(hv.site) ?? []), hv.name]);
  return {
    vmNames: vms.filter((v) => v.state === 'running').map((v) => v.name),
    vmIp: new Map(vms.map((v) => [v.name, v.ip])),
    vmSite: new Map(vms.map((v) => [v.name, v.site])),
    hvsBySite,
    hostRouteSites: new Set(t.topology.sites.filter((x: any) => x.hostRoutes).map((x: any) => x.name)),
    itrSites: t.topology.sites.filter((x: any) => x.mappingSystem).map((x: any) => x.name),
    convergenceTopology: convergenceTopologyOf(t.topology),
  };
}

/** Each ITR resolves a random `fraction` of the EIDs (map.resolve with forward), so that a move has ITRs to update. */
export async function warmItrCaches(nc: NatsConnection, prefix: string, layout: LabLayout, fraction: number, random: () => number): Promise<{ cachedEntries: number; warmS: number }> {
  const start = performance.now();
  let cachedEntries = 0;
  const { vmNames, vmIp, itrSites } = layout;
  if (fraction > 0 && vmNames.length) {
    const ms = mappingSubjects(prefix);
    const jobs: { itr: string; eid: string }[] = [];
    const perItr = Math.max(1, Math.round(vmNames.length * fraction));
    for (const itr of itrSites) {
      const picked = new Set<number>();
      while (picked.size < Math.min(perItr, vmNames.length)) picked.add(Math.floor(random() * vmNames.length));
      for (const i of picked) jobs.push({ itr, eid: vmIp.get(vmNames[i])! });
    }
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const j = jobs[next++];
        const r = await requestJson(nc, ms.resolve, { eid: j.eid, itr: j.itr, forward: true }, 10_000).catch(() => ({ ok: false }));
        if (r.ok) cachedEntries++;
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
  }
  return { cachedEntries, warmS: (performance.now() - start) / 1000 };
}
