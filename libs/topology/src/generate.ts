// Generated lab topologies for benchmarks: N sites, H hypervisors per site, V VMs, every site in
// the mapping system (one ITR each), with host routes and an ARP proxy, and every site carrying every
// subnet's anycast gateway, so that a cold move between any two sites passes the network rules.
import { intToIpv4 as formatIpv4, ipv4ToInt } from './net';
import type { TopologyInput } from './schema';

export interface GenerateOptions {
  /** Number of sites (1..254): each a datacenter with a site-local L2 domain, an xTR (ITR + ETR), host routes and an ARP proxy. */
  sites: number;
  /** Total VMs, spread evenly over the sites and round-robin over each site's hypervisors. */
  vms: number;
  /** Hypervisors per site (default 2). */
  hypervisorsPerSite?: number;
  /** Guest boot and shutdown time of every VM (default 0: a cold move costs only the control plane). */
  bootMs?: number;
  shutdownMs?: number;
  /** Memory of each VM (default 512 MiB). */
  vmMemoryMb?: number;
  /** Topology name (default `bench-<sites>s-<vms>v`). */
  name?: string;
}

export const MAX_GENERATED_SITES = 254;
/** Addresses each site keeps free at the top of its subnet (lab ARP neighbours) and for slack. */
const SPARE_ADDRESSES = 16;

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Hex octets of a number, most significant first: hexOctets(0x0a0b0c, 3) = ['0a','0b','0c']. */
function hexOctets(n: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => ((n >>> (8 * (count - 1 - i))) & 0xff).toString(16).padStart(2, '0'));
}

/** The prefix length of the smallest subnet (at most /24) holding `hosts` VMs plus gateway and spare addresses. */
export function subnetPrefixFor(hosts: number): number {
  const needed = hosts + 2 /* network, broadcast */ + 1 /* gateway */ + SPARE_ADDRESSES;
  const bits = Math.max(8, Math.ceil(Math.log2(needed)));
  return 32 - bits;
}

export interface GeneratedLayout {
  siteNames: string[];
  hypervisorNames: string[];
  vmNames: string[];
  subnetPrefix: number;
}

/**
 * Builds the topology as plain data (the same shape the YAML holds). Deterministic: the same
 * options always give the same topology. Throws a RangeError for options that cannot fit
 * (more than 254 sites, or more VMs than 10.0.0.0/8 holds with one subnet per site).
 */
export function generateTopology(options: GenerateOptions): { topology: TopologyInput; layout: GeneratedLayout } {
  const n = options.sites;
  const hvs = options.hypervisorsPerSite ?? 2;
  const v = options.vms;
  if (!Number.isInteger(n) || n < 1 || n > MAX_GENERATED_SITES) throw new RangeError(`sites must be an integer in 1..${MAX_GENERATED_SITES}, not ${n}`);
  if (!Number.isInteger(hvs) || hvs < 1 || hvs > 999) throw new RangeError(`hypervisorsPerSite must be an integer in 1..999, not ${hvs}`);
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`vms must be a non-negative integer, not ${v}`);
  if (v >= 2 ** 24) throw new RangeError(`at most ${2 ** 24 - 1} VMs (their MACs are 52:54:00:xx:xx:xx)`);
  const perSite = Math.ceil(v / n);
  const prefix = subnetPrefixFor(perSite);
  const block = 2 ** (32 - prefix);
  if (n * block > 2 ** 24) throw new RangeError(`${n} sites of /${prefix} subnets for ${perSite} VMs each do not fit in 10.0.0.0/8`);
  const vmMemoryMb = options.vmMemoryMb ?? 512;
  const siteWidth = Math.max(2, String(n).length);
  const vmWidth = Math.max(5, String(v).length);
  const base = ipv4ToInt('10.0.0.0');

  const siteNames = Array.from({ length: n }, (_, i) => `s${pad(i + 1, siteWidth)}`);
  const subnetOf = (i: number) => `${formatIpv4(base + i * block)}/${prefix}`;
  const gatewayOf = (i: number) => formatIpv4(base + i * block + 1);
  const gatewayMacOf = (i: number) => `00:00:5e:00:01:${hexOctets(i + 1, 1)[0]}`;
  const gateways = siteNames.map((_, i) => ({ subnet: subnetOf(i), ip: gatewayOf(i), mac: gatewayMacOf(i) }));

  const sites = siteNames.map((name, i) => ({
    name,
    kind: 'datacenter' as const,
    rloc: `192.0.2.${i + 1}`,
    router: { ip: `198.51.100.${i + 1}`, mac: `02:00:00:00:${hexOctets(i + 1, 1)[0]}:01` },
    hostRoutes: true,
    mappingSystem: true,
    l3VirtualSwitch: false,
    arpProxy: true,
    anycastGateways: gateways,
  }));
  const l2Domains = siteNames.map((name, i) => ({
    name: `${name}-net`,
    kind: 'site-local' as const,
    sites: [name],
    encapsulation: 'vlan' as const,
    segmentId: 100,
    subnet: subnetOf(i),
    gateway: gatewayOf(i),
  }));
  const perHv = Math.ceil(perSite / hvs);
  // room for the VMs placed there and three times as many moving in, with a floor of 256 GiB
  const hvMemoryMb = Math.max(262_144, perHv * vmMemoryMb * 4);
  const hypervisorNames: string[] = [];
  const hypervisors = siteNames.flatMap((site) =>
    Array.from({ length: hvs }, (_, h) => {
      const name = `${site}-hv${h + 1}`;
      hypervisorNames.push(name);
      return { name, site, l2Domains: [`${site}-net`], memoryMb: hvMemoryMb, linkMbps: 10_000, diskMBps: 1000 };
    }),
  );
  const vmNames: string[] = [];
  const vms = Array.from({ length: v }, (_, k) => {
    const siteIndex = k % n;
    const slot = Math.floor(k / n); // index of the VM within its site
    const site = siteNames[siteIndex];
    const name = `vm-${pad(k + 1, vmWidth)}`;
    vmNames.push(name);
    return {
      name,
      ip: formatIpv4(base + siteIndex * block + 2 + slot),
      mac: `52:54:00:${hexOctets(k + 1, 3).join(':')}`,
      l2Domain: `${site}-net`,
      memoryMb: vmMemoryMb,
      profile: 'bench',
      hypervisor: `${site}-hv${(slot % hvs) + 1}`,
    };
  });
  const topology: TopologyInput = {
    name: options.name ?? `bench-${n}s-${v}v`,
    workloadProfiles: {
      bench: { workingSetMb: Math.min(64, vmMemoryMb), dirtyRateMBps: 1, bootMs: options.bootMs ?? 0, shutdownMs: options.shutdownMs ?? 0 },
    },
    sites,
    l2Domains,
    hypervisors,
    vms,
  };
  return { topology, layout: { siteNames, hypervisorNames, vmNames, subnetPrefix: prefix } };
}

/** A scalar as YAML: plain where that reads back as the same string, JSON-quoted otherwise. */
function scalar(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const s = String(value);
  const plainSafe = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(s) && !/^(true|false|null|yes|no|on|off|~)$/i.test(s) && !/^[0-9._-]+$/.test(s.replace(/\//g, ''));
  // dotted quads and CIDRs are plain strings in YAML 1.2 (not numbers)
  if (plainSafe || /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/.test(s)) return s;
  return JSON.stringify(s);
}

function flow(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(flow).join(', ')}]`;
  if (value && typeof value === 'object')
    return `{ ${Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}: ${flow(v)}`)
      .join(', ')} }`;
  return scalar(value);
}

/** The topology as YAML in the style of topologies/default.yaml: one flow mapping per object and line. */
export function renderTopologyYaml(topology: TopologyInput, header: string[] = []): string {
  const out: string[] = [...header.map((h) => `# ${h}`), `name: ${scalar(topology.name)}`, '', 'workloadProfiles:'];
  for (const [name, p] of Object.entries(topology.workloadProfiles ?? {})) out.push(`  ${name}: ${flow(p)}`);
  const section = (key: string, items: readonly unknown[] | undefined) => {
    out.push('', `${key}:`);
    for (const item of items ?? []) out.push(`  - ${flow(item)}`);
  };
  section('sites', topology.sites);
  section('l2Domains', topology.l2Domains);
  section('hypervisors', topology.hypervisors);
  section('vms', topology.vms);
  return out.join('\n') + '\n';
}
