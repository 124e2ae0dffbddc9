// O(1) lookups over a validated topology. Build it only from a topology that validateTopology accepted
// (on duplicate names the first occurrence wins; unknown references simply do not resolve).
import type { Hypervisor, L2Domain, Site, Topology, Vm, WorkloadProfile } from './schema';
import { internerOfStrings } from '@locus/contracts';
import { effectiveProfile } from './validate';

export interface HypervisorJson {
  name: string;
  site: string;
  l2Domains: string[];
  memoryMb: number;
  linkMbps: number;
  diskMBps: number;
}

export interface VmJson extends Vm {
  /** Site of the VM's initial hypervisor. */
  site: string;
  /** Effective workload profile: the named profile merged with the VM's overrides. */
  workload: WorkloadProfile;
}

export interface TopologyJson {
  sites: Site[];
  l2Domains: L2Domain[];
  hypervisors: HypervisorJson[];
  vms: VmJson[];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}

function group<T>(items: readonly T[], keysOf: (item: T) => readonly string[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    for (const key of new Set(keysOf(item))) {
      const list = out.get(key);
      if (list) list.push(item);
      else out.set(key, [item]);
    }
  }
  return out;
}

function byName<T extends { name: string }>(items: readonly T[]): Map<string, T> {
  const out = new Map<string, T>();
  for (const item of items) if (!out.has(item.name)) out.set(item.name, item);
  return out;
}

const EMPTY: readonly never[] = Object.freeze([]);

/**
 * Read-only index over a topology. The topology is deep-cloned and frozen, so the objects returned by
 * the lookups must not be mutated. VM placement (`vm.hypervisor`) is the initial placement from the
 * topology file; where a VM runs now is the business of the event-sourced state, not of this index.
 */
export class TopologyIndex {
  readonly topology: Topology;
  private readonly sitesByName: Map<string, Site>;
  private readonly domainsByName: Map<string, L2Domain>;
  private readonly hypervisorsByName: Map<string, Hypervisor>;
  private readonly vmsByName: Map<string, Vm>;
  private readonly profiles: Map<string, WorkloadProfile>;
  private readonly vmProfiles = new Map<string, WorkloadProfile>();
  private readonly hypervisorsBySite: Map<string, Hypervisor[]>;
  private readonly hypervisorsByDomain: Map<string, Hypervisor[]>;
  private readonly reachable: Set<string>;
  private readonly vmsByHypervisor: Map<string, Vm[]>;
  private readonly vmsByDomain: Map<string, Vm[]>;
  private readonly domainsBySite: Map<string, L2Domain[]>;
  private readonly gatewaySitesBySubnet: Map<string, Site[]>;

  constructor(topology: Topology) {
    const copy = structuredClone(topology);
    // Names repeated by thousands of VMs parse as as many strings: one copy of each.
    const intern = internerOfStrings();
    for (const vm of copy.vms) {
      vm.hypervisor = intern(vm.hypervisor);
      vm.l2Domain = intern(vm.l2Domain);
      vm.profile = intern(vm.profile);
    }
    this.topology = deepFreeze(copy);
    const t = this.topology;
    this.sitesByName = byName(t.sites);
    this.domainsByName = byName(t.l2Domains);
    this.hypervisorsByName = byName(t.hypervisors);
    this.vmsByName = byName(t.vms);
    this.profiles = new Map(Object.entries(t.workloadProfiles));
    // One frozen profile per name for the VMs without overrides (a copy per VM cost 100,000 objects at 100,000 VMs).
    const shared = new Map<string, WorkloadProfile | undefined>();
    for (const vm of this.vmsByName.values()) {
      const overridden = vm.profileOverrides !== undefined && Object.keys(vm.profileOverrides).length > 0;
      let profile = overridden ? undefined : shared.get(vm.profile);
      if (!profile) {
        const computed = effectiveProfile(t, vm);
        profile = computed && Object.freeze(computed);
        if (!overridden) shared.set(vm.profile, profile);
      }
      if (profile) this.vmProfiles.set(vm.name, profile);
    }
    this.hypervisorsBySite = group(t.hypervisors, (hv) => [hv.site]);
    this.hypervisorsByDomain = group(t.hypervisors, (hv) => hv.l2Domains);
    this.reachable = new Set(t.hypervisors.flatMap((hv) => hv.l2Domains.map((d) => `${hv.name}\u0000${d}`)));
    this.vmsByHypervisor = group(t.vms, (vm) => [vm.hypervisor]);
    this.vmsByDomain = group(t.vms, (vm) => [vm.l2Domain]);
    this.domainsBySite = group(t.l2Domains, (d) => d.sites);
    this.gatewaySitesBySubnet = group(t.sites, (s) => s.anycastGateways.map((g) => g.subnet));
  }

  get name(): string {
    return this.topology.name;
  }

  get sites(): readonly Site[] {
    return this.topology.sites;
  }

  get l2Domains(): readonly L2Domain[] {
    return this.topology.l2Domains;
  }

  get hypervisors(): readonly Hypervisor[] {
    return this.topology.hypervisors;
  }

  get vms(): readonly Vm[] {
    return this.topology.vms;
  }

  site(name: string): Site | undefined {
    return this.sitesByName.get(name);
  }

  hypervisor(name: string): Hypervisor | undefined {
    return this.hypervisorsByName.get(name);
  }

  vm(name: string): Vm | undefined {
    return this.vmsByName.get(name);
  }

  l2Domain(name: string): L2Domain | undefined {
    return this.domainsByName.get(name);
  }

  /** A named workload profile as written in the file (no VM overrides). */
  profile(name: string): WorkloadProfile | undefined {
    return this.profiles.get(name);
  }

  /** The VM's effective profile: its named profile merged with its `profileOverrides`. */
  profileOf(vmName: string): WorkloadProfile | undefined {
    return this.vmProfiles.get(vmName);
  }

  hypervisorsAt(siteName: string): readonly Hypervisor[] {
    return this.hypervisorsBySite.get(siteName) ?? EMPTY;
  }

  /** True when the hypervisor is attached to the L2 domain (a VM of that domain can run there without changing subnet). */
  reaches(hypervisorName: string, l2DomainName: string): boolean {
    return this.reachable.has(`${hypervisorName}\u0000${l2DomainName}`);
  }

  siteOfHypervisor(hypervisorName: string): Site | undefined {
    const hv = this.hypervisorsByName.get(hypervisorName);
    return hv && this.sitesByName.get(hv.site);
  }

  hypervisorsReaching(l2DomainName: string): readonly Hypervisor[] {
    return this.hypervisorsByDomain.get(l2DomainName) ?? EMPTY;
  }

  /** VMs initially placed on the hypervisor. */
  vmsOn(hypervisorName: string): readonly Vm[] {
    return this.vmsByHypervisor.get(hypervisorName) ?? EMPTY;
  }

  vmsIn(l2DomainName: string): readonly Vm[] {
    return this.vmsByDomain.get(l2DomainName) ?? EMPTY;
  }

  l2DomainsAt(siteName: string): readonly L2Domain[] {
    return this.domainsBySite.get(siteName) ?? EMPTY;
  }

  /** Sites that carry the anycast first-hop gateway of the subnet (e.g. "10.1.0.0/24"). */
  sitesWithGatewayFor(subnet: string): readonly Site[] {
    return this.gatewaySitesBySubnet.get(subnet) ?? EMPTY;
  }

  toJSON(): TopologyJson {
    const t = this.topology;
    return structuredClone({
      sites: t.sites,
      l2Domains: t.l2Domains,
      hypervisors: t.hypervisors.map(({ name, site, l2Domains, memoryMb, linkMbps, diskMBps }) => ({ name, site, l2Domains, memoryMb, linkMbps, diskMBps })),
      vms: t.vms.map((vm) => ({
        ...vm,
        site: this.hypervisorsByName.get(vm.hypervisor)?.site ?? '',
        workload: this.vmProfiles.get(vm.name) ?? { workingSetMb: 0, dirtyRateMBps: 0, bootMs: 0, shutdownMs: 0 },
      })),
    }) as TopologyJson;
  }
}
