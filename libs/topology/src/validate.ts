// Structural (zod) and semantic validation of a topology. Collects every problem; never stops at the first.
import type { core } from 'zod';
import { broadcastAddress, cidrContains, cidrsOverlap, networkAddress, parseCidr } from './net';
import { type Hypervisor, type L2Domain, type Site, type Topology, type Vm, type WorkloadProfile, TopologySchema, VLAN_ID_MAX } from './schema';

export interface ValidateOptions {
  /**
   * A stretched L2 domain reached by more hypervisors than this produces a warning
   * (keep the hot VM mobility domain small). Default 8.
   */
  readonly maxStretchedDomainHypervisors?: number;
}

export const DEFAULT_MAX_STRETCHED_DOMAIN_HYPERVISORS = 8;

export type ValidationResult = { ok: true; topology: Topology; warnings: string[] } | { ok: false; problems: string[]; warnings: string[] };

export interface SemanticReport {
  problems: string[];
  warnings: string[];
}

/**
 * Validates an untrusted value (typically parsed YAML). Schema problems are reported with their path
 * (`vms[3].mac: invalid MAC address`); when the shape is right, every semantic problem is reported,
 * each naming the offending object (`vm web-07: ip 10.1.0.10 is already used by vm web-01`).
 */
export function validateTopology(raw: unknown, options: ValidateOptions = {}): ValidationResult {
  const parsed = TopologySchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map(formatIssue), warnings: [] };
  }
  const { problems, warnings } = checkTopologySemantics(parsed.data, options);
  return problems.length > 0 ? { ok: false, problems, warnings } : { ok: true, topology: parsed.data, warnings };
}

// ---------------------------------------------------------------------------------------------
// Schema issues

export function formatIssuePath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(topology)';
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function formatIssue(issue: core.$ZodIssue): string {
  const where = formatIssuePath(issue.path);
  switch (issue.code) {
    case 'invalid_type': {
      const input = (issue as { input?: unknown }).input;
      if (input === undefined) return `${where}: required`;
      return `${where}: expected ${issue.expected}, received ${describeValue(input)}`;
    }
    case 'unrecognized_keys':
      return `${where}: unknown ${issue.keys.length === 1 ? 'key' : 'keys'} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    case 'invalid_key':
      return `${where}: invalid key (${issue.issues.map((i) => i.message).join('; ')})`;
    case 'too_big':
    case 'too_small':
    case 'invalid_format':
    case 'not_multiple_of':
    case 'invalid_value':
    case 'invalid_union':
    case 'invalid_element':
    case 'custom':
      return `${where}: ${issue.message}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Semantic checks

type Named = { name: string };

/** Indexes the first occurrence of each name; reports later duplicates. */
function indexByName<T extends Named>(items: readonly T[], kind: string, listName: string, problems: string[]): Map<string, T> {
  const byName = new Map<string, T>();
  const firstIndex = new Map<string, number>();
  items.forEach((item, i) => {
    const first = firstIndex.get(item.name);
    if (first === undefined) {
      byName.set(item.name, item);
      firstIndex.set(item.name, i);
    } else {
      problems.push(`${kind} ${item.name}: duplicate ${kind} name (${listName}[${first}] and ${listName}[${i}])`);
    }
  });
  return byName;
}

function duplicatesIn(values: readonly string[]): string[] {
  const seen = new Set<string>();
  const dups = new Set<string>();
  for (const v of values) (seen.has(v) ? dups : seen).add(v);
  return [...dups];
}

/** Merges a VM's profile with its overrides; undefined when the profile is unknown. */
export function effectiveProfile(topology: Pick<Topology, 'workloadProfiles'>, vm: Pick<Vm, 'profile' | 'profileOverrides'>): WorkloadProfile | undefined {
  const base = Object.prototype.hasOwnProperty.call(topology.workloadProfiles, vm.profile) ? topology.workloadProfiles[vm.profile] : undefined;
  if (!base) return undefined;
  const merged: WorkloadProfile = { ...base };
  for (const [key, value] of Object.entries(vm.profileOverrides ?? {}) as [keyof WorkloadProfile, number | undefined][]) {
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

/** Checks a structurally valid topology for cross-object problems. */
export function checkTopologySemantics(topology: Topology, options: ValidateOptions = {}): SemanticReport {
  const problems: string[] = [];
  const warnings: string[] = [];
  const maxStretched = options.maxStretchedDomainHypervisors ?? DEFAULT_MAX_STRETCHED_DOMAIN_HYPERVISORS;

  const sites = indexByName(topology.sites, 'site', 'sites', problems);
  const domains = indexByName(topology.l2Domains, 'l2Domain', 'l2Domains', problems);
  const hypervisors = indexByName(topology.hypervisors, 'hypervisor', 'hypervisors', problems);
  indexByName(topology.vms, 'vm', 'vms', problems);

  checkUnicastAddresses(topology, problems);
  checkMacs(topology, problems);
  checkAnycastGateways(topology, problems);
  checkL2Domains(topology, sites, problems);
  checkHypervisors(topology, sites, domains, problems);
  checkVms(topology, domains, hypervisors, problems);
  checkHypervisorMemory(topology, hypervisors, problems);
  warnAboutDomains(topology, sites, maxStretched, warnings);

  return { problems, warnings };
}

/** VM IPs, RLOCs and router IPs are host addresses and must be unique (a site's RLOC may equal its own router IP). */
function checkUnicastAddresses(topology: Topology, problems: string[]): void {
  const owners = new Map<string, { label: string; site?: string }>();
  const claim = (ip: string, who: string, field: string, label: string, site?: string) => {
    const previous = owners.get(ip);
    if (!previous) {
      owners.set(ip, { label, site });
    } else if (!(site !== undefined && previous.site === site)) {
      problems.push(`${who}: ${field} ${ip} is already used by ${previous.label}`);
    }
  };
  for (const site of topology.sites) {
    claim(site.rloc, `site ${site.name}`, 'rloc', `site ${site.name} (rloc)`, site.name);
    claim(site.router.ip, `site ${site.name}`, 'router ip', `site ${site.name} (router)`, site.name);
  }
  for (const vm of topology.vms) claim(vm.ip, `vm ${vm.name}`, 'ip', `vm ${vm.name}`);
}

type MacOwner = { who: string; label: string; gatewaySubnet?: string };

/** MACs are unique, except that the virtual MAC of an anycast gateway repeats at every site carrying its subnet. */
function checkMacs(topology: Topology, problems: string[]): void {
  const owners = new Map<string, MacOwner[]>();
  const add = (mac: string, owner: MacOwner) => {
    const list = owners.get(mac) ?? [];
    const conflict = list.find((o) => !(o.gatewaySubnet !== undefined && o.gatewaySubnet === owner.gatewaySubnet));
    if (conflict) problems.push(`${owner.who}: mac ${mac} is already used by ${conflict.label}`);
    list.push(owner);
    owners.set(mac, list);
  };
  for (const site of topology.sites) {
    add(site.router.mac, { who: `site ${site.name}`, label: `the router of site ${site.name}` });
  }
  for (const site of topology.sites) {
    for (const gw of site.anycastGateways) {
      add(gw.mac, { who: `site ${site.name} anycast gateway ${gw.subnet}`, label: `anycast gateway ${gw.subnet} at site ${site.name}`, gatewaySubnet: gw.subnet });
    }
  }
  for (const vm of topology.vms) add(vm.mac, { who: `vm ${vm.name}`, label: `vm ${vm.name}` });
}

function checkAddressInSubnet(who: string, what: string, ip: string, subnet: string, problems: string[]): boolean {
  if (!parseCidr(subnet)) return false;
  if (!cidrContains(subnet, ip)) {
    problems.push(`${who}: ${what} ${ip} is not inside subnet ${subnet}`);
    return false;
  }
  if (ip === networkAddress(subnet)) {
    problems.push(`${who}: ${what} ${ip} is the network address of ${subnet}`);
    return false;
  }
  if (ip === broadcastAddress(subnet)) {
    problems.push(`${who}: ${what} ${ip} is the broadcast address of ${subnet}`);
    return false;
  }
  return true;
}

function checkAnycastGateways(topology: Topology, problems: string[]): void {
  const domainsBySubnet = new Map<string, L2Domain>();
  for (const d of topology.l2Domains) if (!domainsBySubnet.has(d.subnet)) domainsBySubnet.set(d.subnet, d);
  const reference = new Map<string, { site: string; ip: string; mac: string }>();

  for (const site of topology.sites) {
    for (const subnet of duplicatesIn(site.anycastGateways.map((g) => g.subnet))) {
      problems.push(`site ${site.name}: carries the anycast gateway for ${subnet} more than once`);
    }
    for (const gw of site.anycastGateways) {
      const who = `site ${site.name} anycast gateway ${gw.subnet}`;
      checkAddressInSubnet(who, 'ip', gw.ip, gw.subnet, problems);
      const domain = domainsBySubnet.get(gw.subnet);
      if (!domain) {
        problems.push(`${who}: no l2Domain has subnet ${gw.subnet}`);
      } else if (domain.gateway !== gw.ip) {
        problems.push(`${who}: ip ${gw.ip} differs from the gateway ${domain.gateway} of l2Domain ${domain.name}`);
      }
      const ref = reference.get(gw.subnet);
      if (!ref) {
        reference.set(gw.subnet, { site: site.name, ip: gw.ip, mac: gw.mac });
        continue;
      }
      if (ref.site === site.name) continue; // duplicate at the same site, reported above
      if (ref.ip !== gw.ip) {
        problems.push(`${who}: ip ${gw.ip} differs from ${ref.ip} at site ${ref.site}; an anycast gateway must use the same IP at every site`);
      }
      if (ref.mac !== gw.mac) {
        problems.push(`${who}: mac ${gw.mac} differs from ${ref.mac} at site ${ref.site}; an anycast gateway must use the same virtual MAC at every site`);
      }
    }
  }
}

function checkL2Domains(topology: Topology, sites: Map<string, Site>, problems: string[]): void {
  const vnis = new Map<number, string>();
  const vlans = new Map<string, string>(); // `${site}/${vlan}` -> domain

  topology.l2Domains.forEach((d, i) => {
    const who = `l2Domain ${d.name}`;
    for (const s of duplicatesIn(d.sites)) problems.push(`${who}: site ${s} is listed more than once`);
    const distinctSites = [...new Set(d.sites)];
    for (const s of distinctSites) {
      const site = sites.get(s);
      if (!site) problems.push(`${who}: unknown site ${s}`);
      else if (site.kind === 'branch') problems.push(`${who}: spans branch site ${s}; branch sites carry no L2 domains`);
    }
    if (d.kind === 'site-local' && distinctSites.length > 1) {
      problems.push(`${who}: site-local domain spans ${distinctSites.length} sites (${distinctSites.join(', ')}); a site-local domain has exactly one site`);
    }
    if (d.kind === 'stretched' && distinctSites.length < 2) {
      problems.push(`${who}: stretched domain spans only ${distinctSites.length} site (${distinctSites.join(', ')}); a stretched domain needs at least two sites`);
    }

    if (d.encapsulation === 'vlan') {
      if (d.segmentId > VLAN_ID_MAX) problems.push(`${who}: segmentId ${d.segmentId} is not a valid VLAN id (1..${VLAN_ID_MAX})`);
      for (const s of distinctSites) {
        const key = `${s}/${d.segmentId}`;
        const other = vlans.get(key);
        if (other) problems.push(`${who}: VLAN ${d.segmentId} at site ${s} is already used by l2Domain ${other}`);
        else vlans.set(key, d.name);
      }
    } else {
      const other = vnis.get(d.segmentId);
      if (other) problems.push(`${who}: VNI ${d.segmentId} is already used by l2Domain ${other}`);
      else vnis.set(d.segmentId, d.name);
    }

    const cidr = parseCidr(d.subnet);
    if (cidr && cidr.prefix > 30) {
      problems.push(`${who}: subnet ${d.subnet} is too small for a gateway and VMs (use /30 or shorter)`);
    } else {
      checkAddressInSubnet(who, 'gateway', d.gateway, d.subnet, problems);
    }
    for (const earlier of topology.l2Domains.slice(0, i)) {
      if (earlier.name !== d.name && cidrsOverlap(earlier.subnet, d.subnet)) {
        problems.push(`${who}: subnet ${d.subnet} overlaps subnet ${earlier.subnet} of l2Domain ${earlier.name}`);
      }
    }
  });
}

function checkHypervisors(topology: Topology, sites: Map<string, Site>, domains: Map<string, L2Domain>, problems: string[]): void {
  for (const hv of topology.hypervisors) {
    const who = `hypervisor ${hv.name}`;
    const site = sites.get(hv.site);
    if (!site) problems.push(`${who}: unknown site ${hv.site}`);
    else if (site.kind === 'branch') problems.push(`${who}: site ${hv.site} is a branch site; branch sites have no hypervisors`);
    for (const d of duplicatesIn(hv.l2Domains)) problems.push(`${who}: l2Domain ${d} is listed more than once`);
    for (const name of new Set(hv.l2Domains)) {
      const domain = domains.get(name);
      if (!domain) problems.push(`${who}: unknown l2Domain ${name}`);
      else if (site && !domain.sites.includes(hv.site)) {
        problems.push(`${who}: reaches l2Domain ${name}, which does not span its site ${hv.site} (it spans ${domain.sites.join(', ')})`);
      }
    }
  }
}

function checkVms(topology: Topology, domains: Map<string, L2Domain>, hypervisors: Map<string, Hypervisor>, problems: string[]): void {
  for (const vm of topology.vms) {
    const who = `vm ${vm.name}`;
    const domain = domains.get(vm.l2Domain);
    const hv = hypervisors.get(vm.hypervisor);
    if (!domain) problems.push(`${who}: unknown l2Domain ${vm.l2Domain}`);
    if (!hv) problems.push(`${who}: unknown hypervisor ${vm.hypervisor}`);
    const profile = effectiveProfile(topology, vm);
    if (!profile) problems.push(`${who}: unknown profile ${vm.profile}`);

    if (domain) {
      if (checkAddressInSubnet(who, 'ip', vm.ip, domain.subnet, problems) && vm.ip === domain.gateway) {
        problems.push(`${who}: ip ${vm.ip} is the gateway address of l2Domain ${domain.name}`);
      }
    }
    if (domain && hv && !hv.l2Domains.includes(domain.name)) {
      problems.push(`${who}: hypervisor ${hv.name} does not reach l2Domain ${domain.name}`);
    }
    if (profile && profile.workingSetMb > vm.memoryMb) {
      problems.push(`${who}: working set ${profile.workingSetMb} MB (profile ${vm.profile}) exceeds its memory ${vm.memoryMb} MB`);
    }
  }
}

function checkHypervisorMemory(topology: Topology, hypervisors: Map<string, Hypervisor>, problems: string[]): void {
  const used = new Map<string, { mb: number; count: number }>();
  for (const vm of topology.vms) {
    if (!hypervisors.has(vm.hypervisor)) continue;
    const u = used.get(vm.hypervisor) ?? { mb: 0, count: 0 };
    used.set(vm.hypervisor, { mb: u.mb + vm.memoryMb, count: u.count + 1 });
  }
  for (const [name, u] of used) {
    const hv = hypervisors.get(name)!;
    if (u.mb > hv.memoryMb) {
      problems.push(`hypervisor ${name}: its ${u.count} VMs need ${u.mb} MB of memory but it has ${hv.memoryMb} MB`);
    }
  }
}

function warnAboutDomains(topology: Topology, sites: Map<string, Site>, maxStretched: number, warnings: string[]): void {
  for (const d of topology.l2Domains) {
    const who = `l2Domain ${d.name}`;
    if (d.kind === 'stretched') {
      const reaching = topology.hypervisors.filter((hv) => hv.l2Domains.includes(d.name)).length;
      if (reaching > maxStretched) {
        warnings.push(
          `${who}: stretched L2 domain is reached by ${reaching} hypervisors (more than ${maxStretched}); keep the hot VM mobility domain small: ` +
            `every host in a stretched L2 domain shares one broadcast domain and therefore one failure domain, so a broadcast storm, ` +
            `loop or flood in it hits all of them at every site it spans (${d.sites.join(', ')})`,
        );
      }
    }
    if (d.kind === 'stretched') {
      const spanned = [...new Set(d.sites)].map((s) => sites.get(s)).filter((s): s is Site => s !== undefined);
      const carrying = spanned.filter((s) => s.anycastGateways.some((g) => g.subnet === d.subnet));
      if (carrying.length > 0) {
        for (const site of spanned.filter((s) => !carrying.includes(s))) {
          warnings.push(
            `${who}: site ${site.name} carries no anycast gateway for ${d.subnet}; VMs there reach their first-hop router ${d.gateway} ` +
              `across the stretched L2 domain at ${carrying.map((s) => s.name).join(', ')} (traffic trombone)`,
          );
        }
      }
    }
  }
}
