import type { TopologyIndex } from '@locus/topology';
import { execShell, gratuitousArp, ip, ipBatch, linkUp, waitForLinkUp, namespacesWith, neighbours, neighboursOfMany, removeNamespaces, renderScript, runScript, type NeighbourEntry } from './iproute2';
import { DataplaneNames } from './names';
import { atHypervisor, planDataplane, type DataplaneOptions, type DataplanePlan, type PlannedNeighbour } from './plan';

/** What the lab asks of a dataplane: make it from the topology, take it away (also what a crashed run left). */
export interface Dataplane {
  readonly kind: 'lab' | 'linux';
  build(): Promise<{ namespaces: number; leftovers: number; ms: number }>;
  remove(): Promise<number>;
}

/**
 * The lab topology as network namespaces on this machine (see planDataplane), and the few
 * operations the drivers perform on it: a VM's port moved between hypervisors, taken down and
 * up, its gratuitous ARP; a router's proxy ARP entries, gratuitous ARP and host routes; the
 * neighbours' ARP tables read back. Stateless: any process of the lab computes the same names.
 */
export class LinuxDataplane implements Dataplane {
  readonly kind = 'linux' as const;
  readonly names: DataplaneNames;
  private planned?: DataplanePlan;

  constructor(
    readonly topology: TopologyIndex,
    readonly options: DataplaneOptions,
  ) {
    this.names = new DataplaneNames(options.prefix, topology);
  }

  get plan(): DataplanePlan {
    return (this.planned ??= planDataplane(this.topology, this.options));
  }

  get neighbourNamespaces(): readonly PlannedNeighbour[] {
    return this.plan.neighbours;
  }

  /** Namespaces of this prefix that exist now (a running lab's, or a crashed one's). */
  existing(): Promise<string[]> {
    return namespacesWith(this.names.namespacePrefix);
  }

  /** Removes whatever an earlier run of this prefix left, then builds every namespace of the plan. */
  async build(): Promise<{ namespaces: number; leftovers: number; ms: number }> {
    const started = Date.now();
    const leftovers = await this.remove();
    try {
      await runScript(renderScript(this.plan.steps));
    } catch (err) {
      await this.remove();
      throw err;
    }
    return { namespaces: this.plan.namespaces.length, leftovers, ms: Date.now() - started };
  }

  /** Deletes every namespace of this prefix (and the processes in them); returns how many there were. */
  async remove(): Promise<number> {
    const found = await this.existing();
    await removeNamespaces(found);
    return found.length;
  }

  // ---- VMs ----

  /** The hypervisor whose namespace holds the VM's port, read from the kernel (the VM's eth0 names its peer's namespace). */
  async hypervisorOf(vm: string): Promise<string | undefined> {
    const line = await ip(this.names.vm(vm), '-o', 'link', 'show', 'eth0');
    const ns = /link-netns (\S+)/.exec(line)?.[1];
    return this.topology.hypervisors.find((h) => this.names.hypervisor(h.name) === ns)?.name;
  }

  /**
   * Plugs the VM's port into `hypervisor`'s bridge for its L2 domain, moving it from wherever it
   * is. At a site that carries the VM's gateway without its L2 (an L3 virtual switch), the site
   * router reaches the VM by a /32 on that segment; the site it left drops its own.
   */
  async attach(vm: string, hypervisor: string): Promise<{ from?: string; nicUp: boolean }> {
    const v = this.vmOf(vm);
    const port = this.names.vmPort(vm);
    const from = await this.hypervisorOf(vm);
    if (!atHypervisor(this.topology, hypervisor).some((d) => d.name === v.l2Domain))
      throw new Error(`${hypervisor} has no segment of ${v.l2Domain} (its site neither spans the domain nor carries its gateway)`);
    const target = this.names.hypervisor(hypervisor);
    if (from !== hypervisor) {
      if (!from) throw new Error(`the port of ${vm} is in no hypervisor namespace`);
      await ip(this.names.hypervisor(from), 'link', 'set', port, 'netns', target);
    }
    await ipBatch(target, [`link set ${port} master ${this.names.bridge(v.l2Domain)}`, `link set ${port} up`]);
    const domain = this.topology.l2Domain(v.l2Domain)!;
    // A guest that was off brings its NIC up and configures it (a link down took its default route).
    const vmNs = this.names.vm(vm);
    const nicUp = !(await linkUp(vmNs, 'eth0', true));
    if (nicUp) await ipBatch(vmNs, ['link set eth0 up', `route replace default via ${domain.gateway} dev eth0`]);
    await this.siteRoutes(vm, hypervisor, from);
    return { from, nicUp };
  }

  /** At a site that carries the VM's gateway without its L2 the router reaches it by a /32 on that segment; the site it left drops its own. */
  private async siteRoutes(vm: string, hypervisor: string, from: string | undefined): Promise<void> {
    const v = this.vmOf(vm);
    const domain = this.topology.l2Domain(v.l2Domain)!;
    const toSite = this.topology.hypervisor(hypervisor)!.site;
    const fromSite = from ? this.topology.hypervisor(from)?.site : undefined;
    if (fromSite && fromSite !== toSite && !domain.sites.includes(fromSite)) await ip(this.names.router(fromSite), 'route', 'del', `${v.ip}/32`).catch(() => undefined);
    if (!domain.sites.includes(toSite)) await ip(this.names.router(toSite), 'route', 'replace', `${v.ip}/32`, 'dev', this.names.bridge(v.l2Domain));
  }

  // ---- real guests (QEMU) ----

  /** The name of a real guest's tap in a hypervisor namespace: stable whatever the topology's VM order. */
  tapOf(vm: string): string {
    return this.names.vmTap(vm);
  }

  /**
   * A real guest's NIC: a tap in `hypervisor`'s namespace on the bridge of the VM's L2 domain, up,
   * before QEMU opens it; the site routes as for a plugged veth (`from`: where the guest ran before).
   */
  async plugTap(vm: string, hypervisor: string, from?: string): Promise<string> {
    const v = this.vmOf(vm);
    if (!atHypervisor(this.topology, hypervisor).some((d) => d.name === v.l2Domain))
      throw new Error(`${hypervisor} has no segment of ${v.l2Domain} (its site neither spans the domain nor carries its gateway)`);
    const ns = this.names.hypervisor(hypervisor);
    const tap = this.tapOf(vm);
    await ip(ns, 'link', 'del', tap).catch(() => undefined);
    await ipBatch(ns, [`tuntap add dev ${tap} mode tap`, `link set ${tap} master ${this.names.bridge(v.l2Domain)}`, `link set ${tap} up`]);
    await this.siteRoutes(vm, hypervisor, from);
    return tap;
  }

  /** The guest's tap gone from `hypervisor` (its QEMU quit or the guest moved away). */
  async unplugTap(vm: string, hypervisor: string): Promise<void> {
    await ip(this.names.hypervisor(hypervisor), 'link', 'del', this.tapOf(vm)).catch(() => undefined);
  }

  /** The namespace that stands in for a VM when a real guest plays it: its link down and off the bridge, for good. */
  async park(vm: string): Promise<void> {
    await this.detach(vm);
  }

  /** Where a neighbour of the VM's domain pings it from: the router of a site of the domain or carrying its gateway, nearest `hypervisor`. */
  pingNamespaceFor(vm: string, hypervisor: string): string {
    return this.names.router(this.topology.hypervisor(hypervisor)!.site);
  }

  /** The guest is off: its NIC down, its port off the bridge and down. No frame reaches or leaves the VM. */
  async detach(vm: string): Promise<void> {
    const at = await this.hypervisorOf(vm);
    if (at) await ipBatch(this.names.hypervisor(at), [`link set ${this.names.vmPort(vm)} down`, `link set ${this.names.vmPort(vm)} nomaster`]);
    await ip(this.names.vm(vm), 'link', 'set', 'eth0', 'down');
  }

  /** The VM's link down or up where it is (a hot move's switchover), its bridge membership kept. */
  async setLink(vm: string, up: boolean): Promise<void> {
    const at = await this.hypervisorOf(vm);
    if (at) await ip(this.names.hypervisor(at), 'link', 'set', this.names.vmPort(vm), up ? 'up' : 'down');
  }

  /** A guest that boots starts with an empty ARP cache. */
  async flushGuestNeighbours(vm: string): Promise<void> {
    await ip(this.names.vm(vm), 'neigh', 'flush', 'all');
  }

  /** The VM's gratuitous ARP from its own eth0 (what QEMU's announce makes switches and neighbours learn). */
  async announce(vm: string): Promise<void> {
    await gratuitousArp(this.names.vm(vm), 'eth0', this.vmOf(vm).ip);
  }

  /**
   * A guest whose NIC just came up announces itself, as a booting OS does: switches relearn its MAC
   * behind its port and the routers' pending ARP for it resolves at once. arp_notify's own announce
   * goes out before the link's queue is ready, so this one waits for the kernel to say the link is up.
   */
  async announceWhenUp(vm: string): Promise<void> {
    await waitForLinkUp(this.names.vm(vm), 'eth0');
    await this.announce(vm);
  }

  // ---- routers ----

  /** `ip neigh replace proxy IP dev <domain bridge>` in the site router: it answers ARP for IP with its MAC. */
  async addProxy(site: string, l2Domain: string, address: string): Promise<void> {
    await ip(this.names.router(site), 'neigh', 'replace', 'proxy', address, 'dev', this.names.bridge(l2Domain));
  }

  async removeProxy(site: string, l2Domain: string, address: string): Promise<void> {
    await ip(this.names.router(site), 'neigh', 'del', 'proxy', address, 'dev', this.names.bridge(l2Domain)).catch(() => undefined);
  }

  async proxies(site: string): Promise<string[]> {
    const out = await ip(this.names.router(site), '-4', 'neigh', 'show', 'proxy');
    return out
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0])
      .filter(Boolean);
  }

  /** Gratuitous ARP from the site router's segment of a domain: `address is-at <router MAC>`. */
  async routerGratuitousArp(site: string, l2Domain: string, address: string): Promise<void> {
    await gratuitousArp(this.names.router(site), this.names.bridge(l2Domain), address);
  }

  /** The MAC of the site router's segment of a domain (what its proxy answers carry). */
  async routerMac(site: string, l2Domain: string): Promise<string> {
    const [row] = JSON.parse(await ip(this.names.router(site), '-j', 'link', 'show', this.names.bridge(l2Domain))) as { address: string }[];
    return row.address;
  }

  /** `ip route replace PREFIX via NEXTHOP proto bgp` in a namespace (the core's or a router's forwarding table). */
  async replaceRoute(ns: string, prefix: string, nextHop: string): Promise<void> {
    await ip(ns, 'route', 'replace', prefix, 'via', nextHop, 'proto', 'bgp');
  }

  async deleteRoute(ns: string, prefix: string): Promise<void> {
    // Only the route installed from BGP: a site's own /32 on a segment (a VM that just arrived) stays.
    await ip(ns, 'route', 'del', prefix, 'proto', 'bgp').catch(() => undefined);
  }

  /** The /32s in a namespace's main table (those installed from BGP only, or all), with their next hop. */
  async hostRoutes(ns: string, only?: 'bgp'): Promise<{ prefix: string; via?: string; dev?: string }[]> {
    const rows = JSON.parse((await ip(ns, '-j', '-4', 'route', 'show', ...(only ? ['proto', only] : []))) || '[]') as { dst: string; gateway?: string; dev?: string }[];
    return rows.filter((r) => /^\d+\.\d+\.\d+\.\d+$/.test(r.dst)).map((r) => ({ prefix: `${r.dst}/32`, via: r.gateway, dev: r.dev }));
  }

  /** The ARP table of each neighbour of a site (optionally of one domain). */
  async neighbourTables(site: string, l2Domain?: string): Promise<{ neighbour: PlannedNeighbour; entries: NeighbourEntry[] }[]> {
    const mine = this.plan.neighbours.filter((n) => n.site === site && (!l2Domain || n.l2Domain === l2Domain));
    const tables = await neighboursOfMany(mine.map((n) => n.namespace));
    return mine.map((neighbour) => ({ neighbour, entries: tables.get(neighbour.namespace) ?? [] }));
  }

  /**
   * The neighbours of a domain at a site talk to each address once (one ping each, in the
   * background of one process): their kernels learn who answers, as the lab's initial traffic.
   */
  async talkTo(site: string, l2Domain: string, addresses: readonly string[]): Promise<void> {
    const mine = this.plan.neighbours.filter((n) => n.site === site && n.l2Domain === l2Domain);
    if (!mine.length || !addresses.length) return;
    const script = 'ns="$1"; shift; for a in "$@"; do ip netns exec "$ns" ping -q -c 1 -W 1 "$a" >/dev/null 2>&1 & done; wait';
    await Promise.all(mine.map((n) => execShell(script, [n.namespace, ...addresses])));
  }

  /** Any namespace's ARP table. */
  neighbourTablesOf(ns: string): Promise<NeighbourEntry[]> {
    return neighbours(ns);
  }

  private vmOf(vm: string) {
    const v = this.topology.vm(vm);
    if (!v) throw new Error(`${vm} is not in the lab topology: the Linux dataplane has no namespace for it`);
    return v;
  }
}
