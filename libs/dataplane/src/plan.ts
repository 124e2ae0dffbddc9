import { DEFAULT_NEIGHBOURS_PER_SITE, labNeighbours, type LabNeighbour } from '@locus/domain';
import { parseCidr, type L2Domain, type Site, type TopologyIndex } from '@locus/topology';
import { DataplaneNames } from './names';

/**
 * Linux's neighbour timers in the neighbours' namespaces. Unset: the kernel's defaults
 * (base_reachable_time 30 s, gc_stale_time 60 s, delay_first_probe_time 5 s); a test lowers
 * them so a stale entry's expiry takes seconds, not tens of them.
 */
export interface NeighbourArpTiming {
  baseReachableMs?: number;
  gcStaleS?: number;
  delayFirstProbeS?: number;
}

export interface DataplaneOptions {
  prefix: string;
  /** Neighbours per L2 domain and site: the same as the ARP proxy's (LOCUS_ARP_NEIGHBOURS). */
  neighboursPerSite?: number;
  neighbourArp?: NeighbourArpTiming;
}

/** One piece of work in one namespace: created namespaces, /proc/sys values, an `ip` or `bridge` batch. */
export type Step =
  | { kind: 'netns'; names: string[] }
  | { kind: 'sysctl'; ns: string; values: Record<string, string | number> }
  | { kind: 'ip'; ns: string; commands: string[] }
  | { kind: 'bridge'; ns: string; commands: string[] };

export interface PlannedNeighbour extends LabNeighbour {
  namespace: string;
}

export interface DataplanePlan {
  names: DataplaneNames;
  namespaces: string[];
  steps: Step[];
  neighbours: PlannedNeighbour[];
  /** The WAN address of the core (each router reaches it on the core's bridge). */
  coreIp: string;
}

/** The core's address on the WAN bridge: outside every router address and subnet of the topology. */
export const CORE_IP = '203.0.113.254';

/**
 * The namespaces of a lab topology, as iproute2 commands (no I/O here):
 * - a core (the WAN): one bridge every site router is plugged into, a route to each L2 domain's
 *   subnet via its first site's router (the /32s the injectors announce come on top, see FibSync);
 * - a router per site: forwarding on, a bridge per L2 domain it carries with the router's MAC (proxy
 *   ARP answers with it), the anycast gateway as a macvlan on that bridge with the gateway's virtual
 *   MAC and IP, proxy_delay 0; a stretched domain's bridges are joined by veth trunks from site to site;
 *   a gateway the site carries without the domain's L2 (the cloud carrying dc1-local's) answers ARP
 *   for the whole subnet (proxy_arp) and reaches the VMs attached there by /32 routes (an L3 switch);
 * - a hypervisor: a bridge per domain it reaches (and per gateway its site carries) with an uplink to
 *   its site router's bridge; each VM's port (a veth whose other end is the VM's eth0) on it;
 * - a VM: eth0 with its IP, MAC and gateway; a neighbour: the same, on its site router's bridge;
 * - a branch site: a client namespace on the WAN with the branch router's address.
 */
export function planDataplane(topology: TopologyIndex, options: DataplaneOptions): DataplanePlan {
  const names = new DataplaneNames(options.prefix, topology);
  const core = names.core();
  const routers = topology.sites.filter((s) => s.kind !== 'branch');
  const branches = topology.sites.filter((s) => s.kind === 'branch');
  const used = new Set<string>([...topology.vms.map((v) => v.ip), ...topology.l2Domains.map((d) => d.gateway)]);
  const neighbours: PlannedNeighbour[] = labNeighbours(topology.l2Domains, used, options.neighboursPerSite ?? DEFAULT_NEIGHBOURS_PER_SITE).map((n) => ({ ...n, namespace: names.neighbour(n.name) }));
  const namespaces = [
    core,
    ...topology.sites.map((s) => names.router(s.name)),
    ...topology.hypervisors.map((h) => names.hypervisor(h.name)),
    ...topology.vms.map((v) => names.vm(v.name)),
    ...neighbours.map((n) => n.namespace),
  ];
  const steps: Step[] = [{ kind: 'netns', names: namespaces }];

  // Before any device exists: new devices take these defaults.
  // No IPv6 chatter, and no ICMP redirects: every router sits on the one WAN bridge, and a redirect would
  // let the branch bypass the core's table (the one that follows BGP) with a cached next hop.
  const quiet = { 'net/ipv6/conf/all/disable_ipv6': 1, 'net/ipv6/conf/default/disable_ipv6': 1, 'net/ipv4/conf/all/accept_redirects': 0, 'net/ipv4/conf/default/accept_redirects': 0 };
  const forwarding = {
    'net/ipv4/ip_forward': 1,
    'net/ipv4/conf/all/rp_filter': 0,
    'net/ipv4/conf/default/rp_filter': 0,
    'net/ipv4/conf/all/send_redirects': 0,
    'net/ipv4/conf/default/send_redirects': 0,
  };
  steps.push({ kind: 'sysctl', ns: core, values: { ...quiet, ...forwarding } });
  for (const s of routers)
    steps.push({
      kind: 'sysctl',
      ns: names.router(s.name),
      values: {
        ...quiet,
        ...forwarding,
        // Each interface answers ARP only for its own addresses: the gateway's macvlan for the gateway IP, the bridge for its proxy entries.
        'net/ipv4/conf/all/arp_ignore': 1,
        // The router's own ARP requests speak from its WAN address, never the gateway's: a VM that answers
        // one must not learn this site's router MAC for its gateway (the virtual MAC must stay).
        'net/ipv4/conf/all/arp_announce': 2,
        // arping may speak for an address the router does not hold (the gratuitous ARP of a VM that left).
        'net/ipv4/ip_nonlocal_bind': 1,
      },
    });
  for (const ns of [...branches.map((s) => names.router(s.name)), ...topology.hypervisors.map((h) => names.hypervisor(h.name))]) steps.push({ kind: 'sysctl', ns, values: quiet });
  // A guest announces itself (gratuitous ARP) when its NIC comes up, as a booting OS does: arp_notify.
  for (const v of topology.vms) steps.push({ kind: 'sysctl', ns: names.vm(v.name), values: { ...quiet, 'net/ipv4/conf/all/arp_notify': 1, 'net/ipv4/conf/default/arp_notify': 1 } });
  for (const n of neighbours) steps.push({ kind: 'sysctl', ns: n.namespace, values: quiet });
  // A namespace other than the first has no neigh/default: the timers are set on eth0 once it exists.
  const timing = options.neighbourArp ?? {};
  const neighbourTimers: Record<string, number> = {
    ...(timing.baseReachableMs !== undefined ? { 'net/ipv4/neigh/eth0/base_reachable_time_ms': timing.baseReachableMs } : {}),
    ...(timing.gcStaleS !== undefined ? { 'net/ipv4/neigh/eth0/gc_stale_time': timing.gcStaleS } : {}),
    ...(timing.delayFirstProbeS !== undefined ? { 'net/ipv4/neigh/eth0/delay_first_probe_time': timing.delayFirstProbeS } : {}),
  };

  // Devices, each veth created by one end's namespace with its peer placed in the other's.
  const coreCmds = ['link set lo up', 'link add wan type bridge stp_state 0', 'link set wan up', `addr add ${CORE_IP}/32 dev wan`];
  for (const s of topology.sites) coreCmds.push(`link set ${names.corePort(s.name)} master wan up`, `link set ${names.corePort(s.name)} alias ${s.name}`);
  for (const s of topology.sites) coreCmds.push(`route add ${s.router.ip}/32 dev wan`);
  for (const d of topology.l2Domains) coreCmds.push(`route add ${d.subnet} via ${siteOf(topology, d.sites[0]).router.ip}`);

  const wanOf = (s: Site): string[] => [
    'link set lo up',
    `link add wan type veth peer name ${names.corePort(s.name)} netns ${core}`,
    'link set wan up',
    `addr add ${s.router.ip}/32 dev wan`,
    `route add ${CORE_IP}/32 dev wan`,
    `route add default via ${CORE_IP} dev wan`,
    ...topology.sites.filter((o) => o.name !== s.name).map((o) => `route add ${o.router.ip}/32 dev wan`),
  ];

  const deviceSteps: Step[] = [];
  const configSteps: Step[] = [];
  const deviceSysctls: Step[] = [];
  for (const s of routers) {
    const ns = names.router(s.name);
    const cmds = wanOf(s);
    const fdb: string[] = [];
    const perDevice: Record<string, number> = {};
    for (const d of carried(topology, s)) {
      const br = names.bridge(d.domain.name);
      const gw = names.gateway(d.domain.name);
      cmds.push(`link add ${br} type bridge stp_state 0 mcast_snooping 0`, `link set ${br} address ${s.router.mac}`, `link set ${br} alias ${d.domain.name}`, `link set ${br} up`);
      if (d.gatewayMac) {
        cmds.push(
          `link add ${gw} link ${br} address ${d.gatewayMac} type macvlan mode bridge`,
          `link set ${gw} alias gateway-${d.domain.name}`,
          `link set ${gw} up`,
          `addr add ${d.domain.gateway}/32 dev ${gw}`,
        );
        // The virtual MAC stays on this side of a trunk: every site answers for its own gateway.
        fdb.push(`fdb add ${d.gatewayMac} dev ${br} self local`);
      }
      if (d.l2) cmds.push(`route add ${d.domain.subnet} dev ${br}${d.gatewayMac ? ` src ${d.domain.gateway}` : ''}`);
      else perDevice[`net/ipv4/conf/${br}/proxy_arp`] = 1;
      // Proxy ARP answers at once (the default delays each answer up to 0.8 s).
      perDevice[`net/ipv4/neigh/${br}/proxy_delay`] = 0;
      if (d.l2 && d.domain.kind === 'stretched') {
        const at = d.domain.sites.indexOf(s.name);
        const next = d.domain.sites[at + 1];
        if (next) cmds.push(`link add ${names.trunk(d.domain.name, next)} type veth peer name ${names.trunk(d.domain.name, s.name)} netns ${names.router(next)}`);
      }
    }
    neighbours.forEach((n, i) => {
      if (n.site !== s.name) return;
      cmds.push(`link add ${names.neighbourPort(i)} type veth peer name eth0 address ${n.mac} netns ${n.namespace}`);
    });
    deviceSteps.push({ kind: 'ip', ns, commands: cmds });
    if (fdb.length) configSteps.push({ kind: 'bridge', ns, commands: fdb });
    if (Object.keys(perDevice).length) deviceSysctls.push({ kind: 'sysctl', ns, values: perDevice });
  }
  for (const s of branches) deviceSteps.push({ kind: 'ip', ns: names.router(s.name), commands: wanOf(s) });
  for (const h of topology.hypervisors) {
    const ns = names.hypervisor(h.name);
    const site = siteOf(topology, h.site);
    const cmds = ['link set lo up'];
    for (const d of atHypervisor(topology, h.name)) {
      const br = names.bridge(d.name);
      cmds.push(
        `link add ${br} type bridge stp_state 0 mcast_snooping 0`,
        `link set ${br} alias ${d.name}`,
        `link set ${br} up`,
        `link add ${names.uplink(d.name)} type veth peer name ${names.uplinkAtRouter(h.name, d.name)} netns ${names.router(site.name)}`,
        `link set ${names.uplink(d.name)} master ${br} up`,
      );
    }
    for (const v of topology.vmsOn(h.name))
      cmds.push(
        `link add ${names.vmPort(v.name)} type veth peer name eth0 address ${v.mac} netns ${names.vm(v.name)}`,
        `link set ${names.vmPort(v.name)} alias ${v.name}`,
        `link set ${names.vmPort(v.name)} master ${names.bridge(v.l2Domain)} up`,
      );
    deviceSteps.push({ kind: 'ip', ns, commands: cmds });
  }

  // The ends created from the other side: plug them in.
  configSteps.unshift({ kind: 'ip', ns: core, commands: coreCmds });
  for (const s of routers) {
    const cmds: string[] = [];
    for (const d of carried(topology, s)) {
      const br = names.bridge(d.domain.name);
      for (const h of topology.hypervisorsAt(s.name))
        if (atHypervisor(topology, h.name).some((x) => x.name === d.domain.name))
          cmds.push(`link set ${names.uplinkAtRouter(h.name, d.domain.name)} master ${br} up`, `link set ${names.uplinkAtRouter(h.name, d.domain.name)} alias ${h.name}`);
      if (d.l2 && d.domain.kind === 'stretched') {
        const at = d.domain.sites.indexOf(s.name);
        const previous = d.domain.sites[at - 1];
        for (const peer of [previous, d.domain.sites[at + 1]].filter((x): x is string => !!x))
          cmds.push(`link set ${names.trunk(d.domain.name, peer)} master ${br} up`, `link set ${names.trunk(d.domain.name, peer)} alias trunk-${peer}`);
      }
    }
    neighbours.forEach((n, i) => {
      if (n.site === s.name) cmds.push(`link set ${names.neighbourPort(i)} master ${names.bridge(n.l2Domain)} up`, `link set ${names.neighbourPort(i)} alias ${n.name}`);
    });
    configSteps.push({ kind: 'ip', ns: names.router(s.name), commands: cmds });
  }
  for (const v of topology.vms) {
    const d = topology.l2Domain(v.l2Domain)!;
    configSteps.push({ kind: 'ip', ns: names.vm(v.name), commands: hostCommands(v.ip, d.subnet, d.gateway) });
  }
  for (const n of neighbours) {
    const d = topology.l2Domain(n.l2Domain)!;
    configSteps.push({ kind: 'ip', ns: n.namespace, commands: hostCommands(n.ip, d.subnet, d.gateway) });
    if (Object.keys(neighbourTimers).length) deviceSysctls.push({ kind: 'sysctl', ns: n.namespace, values: neighbourTimers });
  }
  steps.push(...deviceSteps, ...configSteps, ...deviceSysctls);
  return { names, namespaces, steps, neighbours, coreIp: CORE_IP };
}

function hostCommands(ip: string, subnet: string, gateway: string): string[] {
  const len = parseCidr(subnet)!.prefix;
  return ['link set lo up', 'link set eth0 up', `addr add ${ip}/${len} dev eth0`, `route add default via ${gateway} dev eth0`];
}

function siteOf(topology: TopologyIndex, name: string): Site {
  const s = topology.site(name);
  if (!s) throw new Error(`no site ${name} in the topology`);
  return s;
}

/** The domains a site router has a bridge for: its L2 domains, and the gateways it carries without their L2. */
export function carried(topology: TopologyIndex, site: Site): { domain: L2Domain; l2: boolean; gatewayMac?: string }[] {
  const gatewayMac = (d: L2Domain) => site.anycastGateways.find((g) => g.subnet === d.subnet)?.mac;
  return topology.l2Domains.filter((d) => d.sites.includes(site.name) || gatewayMac(d)).map((domain) => ({ domain, l2: domain.sites.includes(site.name), gatewayMac: gatewayMac(domain) }));
}

/** The bridges of a hypervisor: the domains it reaches, and those whose gateway its site carries (a moved VM lands there). */
export function atHypervisor(topology: TopologyIndex, hypervisor: string): L2Domain[] {
  const h = topology.hypervisor(hypervisor);
  if (!h) throw new Error(`no hypervisor ${hypervisor} in the topology`);
  const site = siteOf(topology, h.site);
  const names = new Set([...h.l2Domains, ...carried(topology, site).map((c) => c.domain.name)]);
  return topology.l2Domains.filter((d) => names.has(d.name));
}
