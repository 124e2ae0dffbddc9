import { advance, expiresBy, ExpiryQueue, isWrong, LINUX_ARP, learnt, receiveGratuitous, type ArpEntry, type Clock, type LabNeighbour, type Random } from '@locus/domain';
import type { Repair, SiteArpDriver, WrongEntry } from './arp-driver';

export type { Repair, WrongEntry } from './arp-driver';

/**
 * The lab's adjacent hosts of one site and their ARP caches (Linux timing, @locus/domain's
 * neighbour-cache), plus the site's proxy table. Who answers ARP for an IP on a domain's
 * segment here: the VM itself when it is on the L2 (set by the proxy service), else the
 * proxy, else nobody.
 */
export class LabArpDriver implements SiteArpDriver {
  readonly kind = 'lab' as const;
  private readonly caches = new Map<string, Map<string, ArpEntry>>();
  private readonly onLink = new Map<string, string>(); // `${domain}|${ip}` -> VM MAC
  private readonly proxies = new Map<string, string>(); // `${domain}|${ip}` -> router MAC
  private readonly wrongSince = new Map<string, number>(); // `${neighbour}|${ip}` -> since
  /** When each entry's next timer runs out (`${neighbour}|${ip}`): a tick visits those, not every entry of every neighbour. */
  private readonly timers = new ExpiryQueue<string>();
  private readonly byName = new Map<string, LabNeighbour>();
  /** The neighbours on each L2 domain's segment (a VM event concerns one domain, not every neighbour of the site). */
  private readonly byDomain = new Map<string, LabNeighbour[]>();

  constructor(
    readonly site: string,
    readonly neighbours: readonly LabNeighbour[],
    private readonly clock: Clock,
    private readonly random: Random,
  ) {
    for (const n of neighbours) {
      this.caches.set(n.name, new Map());
      this.byName.set(n.name, n);
      this.byDomain.set(n.l2Domain, [...(this.byDomain.get(n.l2Domain) ?? []), n]);
    }
  }

  /** Sets a neighbour's entry and makes sure a tick looks at it when its timer runs out. */
  private put(neighbour: string, ip: string, entry: ArpEntry): void {
    this.caches.get(neighbour)!.set(ip, entry);
    if (Number.isFinite(entry.until)) this.timers.schedule(`${neighbour}|${ip}`, entry.until);
  }

  answerer(l2Domain: string, ip: string): string | null {
    return this.onLink.get(`${l2Domain}|${ip}`) ?? this.proxies.get(`${l2Domain}|${ip}`) ?? null;
  }

  proxyTable(): { l2Domain: string; ip: string; mac: string }[] {
    return [...this.proxies].map(([k, mac]) => {
      const [l2Domain, ip] = k.split('|');
      return { l2Domain, ip, mac };
    });
  }

  /** The VM is (mac) or is not (null) on the domain's L2 as seen from this site. Neighbours that talk to it learn it. */
  setOnLink(l2Domain: string, ip: string, mac: string | null): void {
    if (mac) this.onLink.set(`${l2Domain}|${ip}`, mac);
    else this.onLink.delete(`${l2Domain}|${ip}`);
    this.markWrong(l2Domain, ip);
  }

  /**
   * Every neighbour of the domain talks to the IP once: whoever answers is learnt (the lab's initial
   * traffic), up to a full table (Linux's gc_thresh3): on a big lab a neighbour knows some VMs, not all.
   */
  talkTo(l2Domain: string, ip: string): void {
    const answer = this.answerer(l2Domain, ip);
    if (!answer) return;
    for (const n of this.neighboursOf(l2Domain)) {
      const cache = this.caches.get(n.name)!;
      if (!cache.has(ip) && cache.size < LINUX_ARP.gcThresh3) this.put(n.name, ip, learnt(ip, answer, this.clock.now(), this.random));
    }
  }

  async installProxy(l2Domain: string, ip: string, mac: string): Promise<void> {
    this.proxies.set(`${l2Domain}|${ip}`, mac);
    this.markWrong(l2Domain, ip);
  }

  async removeProxy(l2Domain: string, ip: string): Promise<void> {
    this.proxies.delete(`${l2Domain}|${ip}`);
    this.markWrong(l2Domain, ip);
  }

  async gratuitousArp(l2Domain: string, ip: string, mac: string): Promise<string[]> {
    return this.garp(l2Domain, ip, mac, 'garp').map((r) => r.neighbour.name);
  }

  async announce(l2Domain: string, ip: string, mac: string): Promise<string[]> {
    return this.garp(l2Domain, ip, mac, 'announce').map((r) => r.neighbour.name);
  }

  /** Repairs done by the last gratuitous ARP (read by the proxy service to publish them). */
  lastRepairs: Repair[] = [];

  private garp(l2Domain: string, ip: string, mac: string, how: 'garp' | 'announce'): Repair[] {
    const now = this.clock.now();
    const answer = this.answerer(l2Domain, ip);
    const repairs: Repair[] = [];
    for (const n of this.neighboursOf(l2Domain)) {
      const cache = this.caches.get(n.name)!;
      const entry = cache.get(ip);
      if (!entry) continue; // Linux creates no entry from a gratuitous ARP (arp_accept=0)
      const wasWrong = isWrong(entry, answer);
      const updated = receiveGratuitous(entry, mac, now);
      this.put(n.name, ip, updated);
      if (wasWrong && !isWrong(updated, answer)) {
        const key = `${n.name}|${ip}`;
        repairs.push({ neighbour: n, ip, at: now, how, mac, wrongSince: this.wrongSince.get(key) });
        this.wrongSince.delete(key);
      }
    }
    this.lastRepairs = repairs;
    return repairs;
  }

  /** Runs every neighbour's ARP timers up to now; returns the wrong entries that stopped being wrong on their own. */
  tick(): Repair[] {
    const now = this.clock.now();
    const repairs: Repair[] = [];
    const entryOf = (key: string) => {
      const at = key.lastIndexOf('|');
      return this.caches.get(key.slice(0, at))?.get(key.slice(at + 1));
    };
    for (const key of this.timers.due(now, (k) => entryOf(k)?.until)) {
      const at = key.lastIndexOf('|');
      const n = this.byName.get(key.slice(0, at))!;
      const ip = key.slice(at + 1);
      const entry = entryOf(key)!;
      const answer = this.answerer(n.l2Domain, ip);
      const { entry: next, fixed } = advance(entry, now, answer, this.random);
      this.put(n.name, ip, next);
      if (fixed) {
        repairs.push({ neighbour: n, ip, at: fixed.at, how: fixed.how, mac: fixed.mac, wrongSince: this.wrongSince.get(key) });
        this.wrongSince.delete(key);
      }
    }
    return repairs;
  }

  /** Neighbours whose cache holds a MAC that does not answer for the IP on their segment now. */
  wrongEntries(ip?: string): WrongEntry[] {
    const out: WrongEntry[] = [];
    for (const n of this.neighbours) {
      const cache = this.caches.get(n.name)!;
      const entries: Iterable<[string, ArpEntry]> = ip === undefined ? cache : cache.has(ip) ? [[ip, cache.get(ip)!]] : [];
      for (const [eip, entry] of entries) {
        const right = this.answerer(n.l2Domain, eip);
        if (isWrong(entry, right)) out.push({ neighbour: n, ip: eip, heldMac: entry.mac!, rightMac: right, expiresBy: expiresBy(entry) });
      }
    }
    return out;
  }

  since(neighbour: string, ip: string): number | undefined {
    return this.wrongSince.get(`${neighbour}|${ip}`);
  }

  private markWrong(l2Domain: string, ip: string): void {
    const now = this.clock.now();
    for (const n of this.neighboursOf(l2Domain)) {
      const entry = this.caches.get(n.name)!.get(ip);
      const key = `${n.name}|${ip}`;
      if (entry && isWrong(entry, this.answerer(l2Domain, ip))) {
        if (!this.wrongSince.has(key)) this.wrongSince.set(key, now);
      } else this.wrongSince.delete(key);
    }
  }

  private neighboursOf(l2Domain: string): readonly LabNeighbour[] {
    return this.byDomain.get(l2Domain) ?? [];
  }
}
