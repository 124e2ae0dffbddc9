import type { LabNeighbour } from '@locus/domain';

/**
 * The network side of one site's ARP proxy: effects only, every decision is in @locus/domain.
 * The lab implementation updates simulated neighbours; the Linux driver (network namespaces:
 * `ip neigh add proxy`, `arping -U`) does the same to the kernel.
 */
export interface ArpDriver {
  readonly kind: 'lab' | 'linux';
  /** Answer ARP requests for `ip` on the segments of `l2Domain` at this site with `mac` (the router's). */
  installProxy(l2Domain: string, ip: string, mac: string): Promise<void>;
  removeProxy(l2Domain: string, ip: string): Promise<void>;
  /** Gratuitous ARP `ip is-at mac` on the segments of `l2Domain`; returns the neighbours whose entry changed. */
  gratuitousArp(l2Domain: string, ip: string, mac: string): Promise<string[]>;
  /** The VM's own MAC announced on its return (a gratuitous ARP with the VM's MAC). */
  announce(l2Domain: string, ip: string, mac: string): Promise<string[]>;
}

export interface WrongEntry {
  neighbour: LabNeighbour;
  ip: string;
  heldMac: string;
  rightMac: string | null;
  expiresBy: number;
}

export interface Repair {
  neighbour: LabNeighbour;
  ip: string;
  at: number;
  how: 'garp' | 'announce' | 'reprobe' | 'expired';
  mac: string | null;
  wrongSince?: number;
}

/**
 * An ArpDriver that also watches the site's neighbours: what the proxy reports (stale entries,
 * their repairs, ArpConverged) is read from them. The lab's are simulated, Linux's are the
 * neighbour namespaces' kernel ARP tables.
 */
export interface SiteArpDriver extends ArpDriver {
  readonly neighbours: readonly LabNeighbour[];
  /** The VM is (mac) or is not (null) on the domain's L2 as seen from this site: who should answer ARP for it. */
  setOnLink(l2Domain: string, ip: string, mac: string | null): void;
  /** The neighbours of the domain talk to the IP once (the lab's initial traffic: they learn it). */
  talkTo(l2Domain: string, ip: string): void;
  /** Neighbours holding a MAC for the IP (or for any VM) that does not answer for it on their segment now. */
  wrongEntries(ip?: string): WrongEntry[] | Promise<WrongEntry[]>;
  since(neighbour: string, ip: string): number | undefined;
  /** The wrong entries that stopped being wrong on their own since the last call. */
  tick(): Repair[] | Promise<Repair[]>;
  /** Repairs done by the last gratuitous ARP. */
  readonly lastRepairs: Repair[];
}
