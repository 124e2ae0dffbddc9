import { createHash } from 'node:crypto';
import type { TopologyIndex } from '@locus/topology';

/** The lab's namespaces all start with `<prefix>-`: a leftover of a crashed run is found by it. */
export const DEFAULT_DATAPLANE_PREFIX = 'locus';

/** A prefix is one short token: it ends up in namespace names and must not match another lab's. */
export function checkPrefix(prefix: string): string {
  if (!/^[a-z0-9][a-z0-9]{0,15}$/.test(prefix)) throw new Error(`dataplane prefix ${JSON.stringify(prefix)}: 1-16 lower-case letters or digits`);
  return prefix;
}

/**
 * Every name the Linux dataplane uses, from the lab prefix and the topology: the same in every
 * process of a lab, so the agents, the ARP proxies and the route injector address the namespaces
 * the lab built without asking it. Interface names (15 characters at most) are short and only
 * unique inside their namespace; each carries an alias with the topology's name.
 */
export class DataplaneNames {
  constructor(
    readonly prefix: string,
    private readonly topology: TopologyIndex,
  ) {
    checkPrefix(prefix);
  }

  /** Every namespace of this lab starts with this. */
  get namespacePrefix(): string {
    return `${this.prefix}-`;
  }

  core(): string {
    return `${this.prefix}-core`;
  }

  /** A site's router; a branch site's "router" is the branch client itself. */
  router(site: string): string {
    return this.topology.site(site)?.kind === 'branch' ? `${this.prefix}-branch-${site}` : `${this.prefix}-router-${site}`;
  }

  hypervisor(name: string): string {
    return `${this.prefix}-hv-${name}`;
  }

  vm(name: string): string {
    return `${this.prefix}-vm-${name}`;
  }

  neighbour(name: string): string {
    return `${this.prefix}-nb-${name}`;
  }

  /** The bridge of an L2 domain, in a router (the site's segment) or a hypervisor (its virtual switch). */
  bridge(l2Domain: string): string {
    return `d${this.domainIndex(l2Domain)}`;
  }

  /** The anycast gateway's interface on a router (a macvlan with the gateway's virtual MAC on the domain's bridge). */
  gateway(l2Domain: string): string {
    return `g${this.domainIndex(l2Domain)}`;
  }

  /** A hypervisor's uplink for a domain (in the hypervisor) and its other end (in the site router). */
  uplink(l2Domain: string): string {
    return `up${this.domainIndex(l2Domain)}`;
  }

  uplinkAtRouter(hypervisor: string, l2Domain: string): string {
    return `h${this.hypervisorIndex(hypervisor)}-${this.domainIndex(l2Domain)}`;
  }

  /** A stretched domain's trunk between two site routers, named after the peer site. */
  trunk(l2Domain: string, peerSite: string): string {
    return `t${this.siteIndex(peerSite)}-${this.domainIndex(l2Domain)}`;
  }

  /** A neighbour's port on its site router's bridge. */
  neighbourPort(index: number): string {
    return `n${index}`;
  }

  /** The VM's port on whichever hypervisor bridge holds it: stable whatever the topology's VM order. */
  vmPort(vm: string): string {
    return `v${createHash('sha1').update(vm).digest('hex').slice(0, 10)}`;
  }

  /** A real guest's tap (QEMU's NIC) in the hypervisor namespace that runs it. */
  vmTap(vm: string): string {
    return `q${createHash('sha1').update(vm).digest('hex').slice(0, 10)}`;
  }

  /** The core's port towards a site router. */
  corePort(site: string): string {
    return `s${this.siteIndex(site)}`;
  }

  private domainIndex(name: string): number {
    const i = this.topology.l2Domains.findIndex((d) => d.name === name);
    if (i < 0) throw new Error(`no L2 domain ${name} in the topology`);
    return i;
  }

  private hypervisorIndex(name: string): number {
    const i = this.topology.hypervisors.findIndex((h) => h.name === name);
    if (i < 0) throw new Error(`no hypervisor ${name} in the topology`);
    return i;
  }

  private siteIndex(name: string): number {
    const i = this.topology.sites.findIndex((s) => s.name === name);
    if (i < 0) throw new Error(`no site ${name} in the topology`);
    return i;
  }
}
