/**
 * The network side of one site's ARP proxy: effects only, every decision is in @locus/domain.
 * The lab implementation updates simulated neighbours; a Linux driver (netns: `ip neigh add
 * proxy`, `arping -U`) implements the same calls later.
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
