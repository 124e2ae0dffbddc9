import type { Logger } from 'pino';
import type { LinuxDataplane, NeighbourEntry } from '@locus/dataplane';
import type { Clock, LabNeighbour } from '@locus/domain';
import type { Repair, SiteArpDriver, WrongEntry } from './arp-driver';

/** How long a neighbour's wrong entry may last, at most, with Linux's default timers (REACHABLE 15–45 s, DELAY 5 s, 3 probes): an estimate, the kernel says when. */
const LINUX_STALE_BOUND_MS = 45_000 + 5_000 + 3_000;
/** The kernel's tables are read at most this often (each read is one process). */
const READ_EVERY_MS = 500;

/**
 * One site's ARP proxy on the Linux dataplane: proxy entries are `ip neigh replace proxy` in the
 * site router (it answers with the MAC of its segment of the domain: the router MAC), gratuitous
 * ARP is arping from that segment, and what the neighbours hold is their namespaces' ARP tables,
 * read back: a stale entry, its repair and the ARP plane's convergence are what the kernels say.
 */
export class LinuxArpDriver implements SiteArpDriver {
  readonly kind = 'linux' as const;
  readonly neighbours: readonly LabNeighbour[];
  private readonly onLink = new Map<string, string>(); // `${domain}|${ip}` -> VM MAC
  private readonly proxies = new Map<string, string>(); // `${domain}|${ip}` -> router MAC
  private readonly tracked = new Set<string>(); // IPs of VMs of this site's domains
  private readonly wrongSince = new Map<string, number>(); // `${neighbour}|${ip}` -> since
  private readonly talkQueue = new Map<string, Set<string>>(); // domain -> IPs
  private talkTimer?: NodeJS.Timeout;
  private tables?: { at: number; read: Promise<Map<string, NeighbourEntry[]>> };
  private readonly log: Logger;
  lastRepairs: Repair[] = [];

  constructor(
    readonly site: string,
    private readonly dataplane: LinuxDataplane,
    private readonly clock: Clock,
    logger: Logger,
  ) {
    this.neighbours = dataplane.neighbourNamespaces.filter((n) => n.site === site).map(({ name, ip, mac, l2Domain, site: s }) => ({ name, ip, mac, l2Domain, site: s }));
    this.log = logger.child({ component: `dataplane:arp:${site}` });
  }

  setOnLink(l2Domain: string, ip: string, mac: string | null): void {
    this.tracked.add(ip);
    if (mac) this.onLink.set(`${l2Domain}|${ip}`, mac);
    else this.onLink.delete(`${l2Domain}|${ip}`);
    this.tables = undefined; // who is right changed: the next read looks again
  }

  /** Queued for a moment so that a snapshot of many VMs costs one ping round per neighbour. */
  talkTo(l2Domain: string, ip: string): void {
    if (!this.answerer(l2Domain, ip)) return;
    const q = this.talkQueue.get(l2Domain) ?? new Set<string>();
    q.add(ip);
    this.talkQueue.set(l2Domain, q);
    this.talkTimer ??= setTimeout(() => {
      this.talkTimer = undefined;
      const queued = [...this.talkQueue];
      this.talkQueue.clear();
      for (const [domain, ips] of queued)
        this.dataplane.talkTo(this.site, domain, [...ips]).catch((err) => this.log.warn({ err: (err as Error).message, domain }, 'neighbours could not reach the VMs'));
    }, 100);
  }

  async installProxy(l2Domain: string, ip: string, mac: string): Promise<void> {
    await this.dataplane.addProxy(this.site, l2Domain, ip);
    this.proxies.set(`${l2Domain}|${ip}`, mac);
    this.tables = undefined;
    this.log.info({ ip, dev: this.dataplane.names.bridge(l2Domain), router: this.dataplane.names.router(this.site) }, `ip neigh replace proxy ${ip}`);
  }

  async removeProxy(l2Domain: string, ip: string): Promise<void> {
    await this.dataplane.removeProxy(this.site, l2Domain, ip);
    this.proxies.delete(`${l2Domain}|${ip}`);
    this.tables = undefined;
  }

  async gratuitousArp(l2Domain: string, ip: string, mac: string): Promise<string[]> {
    await this.dataplane.routerGratuitousArp(this.site, l2Domain, ip);
    return this.afterGarp(l2Domain, ip, mac, 'garp');
  }

  /** The VM's own MAC, announced from the VM's namespace (its eth0). */
  async announce(l2Domain: string, ip: string, mac: string): Promise<string[]> {
    const vm = this.dataplane.topology.vms.find((v) => v.ip === ip);
    // A VM that has not booted yet has its NIC down: it announces itself when it comes up.
    if (vm)
      await this.dataplane.announce(vm.name).catch((err) => this.log.info({ vm: vm.name, err: (err as Error).message }, `${vm.name} cannot announce yet (its NIC is down): it will when it boots`));
    return this.afterGarp(l2Domain, ip, mac, 'announce');
  }

  async wrongEntries(ip?: string): Promise<WrongEntry[]> {
    const tables = await this.read();
    const now = this.clock.now();
    const out: WrongEntry[] = [];
    for (const n of this.neighbours) {
      for (const e of tables.get(this.dataplane.names.neighbour(n.name)) ?? []) {
        if (!e.mac || !this.tracked.has(e.ip) || (ip !== undefined && e.ip !== ip)) continue;
        const right = this.answerer(n.l2Domain, e.ip);
        if (e.mac === right) continue;
        const key = `${n.name}|${e.ip}`;
        if (!this.wrongSince.has(key)) this.wrongSince.set(key, now);
        out.push({ neighbour: n, ip: e.ip, heldMac: e.mac, rightMac: right, expiresBy: this.wrongSince.get(key)! + LINUX_STALE_BOUND_MS });
      }
    }
    return out;
  }

  since(neighbour: string, ip: string): number | undefined {
    return this.wrongSince.get(`${neighbour}|${ip}`);
  }

  /** The wrong entries the kernels fixed on their own (expired, or re-probed and answered by the proxy). */
  async tick(): Promise<Repair[]> {
    if (this.wrongSince.size === 0) return [];
    return this.repairsSince('reprobe');
  }

  private async afterGarp(l2Domain: string, ip: string, mac: string, how: 'garp' | 'announce'): Promise<string[]> {
    this.tables = undefined;
    const repairs = await this.repairsSince(how, ip);
    this.lastRepairs = repairs;
    const tables = await this.read();
    return this.neighbours.filter((n) => n.l2Domain === l2Domain && (tables.get(this.dataplane.names.neighbour(n.name)) ?? []).some((e) => e.ip === ip && e.mac === mac)).map((n) => n.name);
  }

  private async repairsSince(how: Repair['how'], onlyIp?: string): Promise<Repair[]> {
    const before = [...this.wrongSince].filter(([key]) => onlyIp === undefined || key.endsWith(`|${onlyIp}`));
    const stillWrong = new Set((await this.wrongEntries(onlyIp)).map((w) => `${w.neighbour.name}|${w.ip}`));
    const tables = await this.read();
    const now = this.clock.now();
    const repairs: Repair[] = [];
    for (const [key, since] of before) {
      if (stillWrong.has(key)) continue;
      this.wrongSince.delete(key);
      const [name, ip] = key.split('|');
      const neighbour = this.neighbours.find((n) => n.name === name);
      if (!neighbour) continue;
      const held = (tables.get(this.dataplane.names.neighbour(name)) ?? []).find((e) => e.ip === ip)?.mac ?? null;
      repairs.push({ neighbour, ip, at: now, how: held ? how : 'expired', mac: held, wrongSince: since });
    }
    return repairs;
  }

  private answerer(l2Domain: string, ip: string): string | null {
    return this.onLink.get(`${l2Domain}|${ip}`) ?? this.proxies.get(`${l2Domain}|${ip}`) ?? null;
  }

  private read(): Promise<Map<string, NeighbourEntry[]>> {
    const now = Date.now();
    if (!this.tables || now - this.tables.at > READ_EVERY_MS) {
      const read = this.dataplane.neighbourTables(this.site).then((rows) => new Map(rows.map((r) => [r.neighbour.namespace, r.entries])));
      this.tables = { at: now, read };
      read.catch(() => (this.tables = undefined));
    }
    return this.tables.read;
  }
}
