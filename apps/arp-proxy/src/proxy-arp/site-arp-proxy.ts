import type { Logger } from 'pino';
import type { ArpConvergedData, LocationEvent, MoveMode, PlaneEvent, SiteArpView, StaleNeighbourView, VmView } from '@locus/contracts';
import { decideArpForMove, proxyWanted, type ArpDomain, type ArpSite, type Clock } from '@locus/domain';
import type { Audience, LocationFollower, PlaneEventPublisher } from '@locus/messaging';
import type { Repair, SiteArpDriver } from '../arp-driver/arp-driver';
import { KnownVms, type KnownChange, type KnownVm } from './known-vms';

export interface SiteArpDeps {
  logger: Logger;
  /** Shared by the sites of one process (default: the site's own). */
  known?: KnownVms;
  publisher: PlaneEventPublisher;
  clock: Clock;
}

/**
 * One site's ARP proxy. It follows the location events (its process's location feed, after a
 * `vm.list` snapshot) and, per move, asks @locus/domain's decision table what this site does: nothing
 * (the VM stays on its L2), proxy-ARP the VM's IP with the router MAC and send gratuitous ARP
 * (the VM left its subnet), or remove the proxy and announce the VM's MAC (it came back).
 * It answers for its anycast gateways with their virtual MAC. Neighbours are the lab's.
 */
export class SiteArpProxy implements LocationFollower {
  readonly name: string;
  /** The feed hands this site the events of the VMs of its L2 domains (see arpAudience). */
  readonly member: string;
  private readonly log: Logger;
  private readonly component: string;
  /** Where every VM is: one table for all the sites of the process (it is the same for each). */
  private readonly known: KnownVms;
  private readonly proxies = new Map<string, { vm: string; locationVersion: number; since: number }>();
  private readonly staleMeta = new Map<string, { vm: string; locationVersion: number; moveId?: string }>();
  /** Moves whose neighbours this site has not all repaired yet: ArpConverged is published when none holds a wrong MAC. */
  private readonly converging = new Map<string, { vm: KnownVm; moveId?: string; rule: string; proxy: string; installed: boolean; stale: number; startedAt: number }>();
  private timer?: NodeJS.Timeout;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly unacked: Promise<unknown>[] = [];

  constructor(
    readonly site: ArpSite,
    private readonly sites: readonly ArpSite[],
    private readonly domains: readonly ArpDomain[],
    readonly driver: SiteArpDriver,
    private readonly deps: SiteArpDeps,
  ) {
    this.name = site.name;
    this.member = site.name;
    this.component = `arp-proxy:${this.name}`;
    this.log = deps.logger.child({ component: this.component });
    this.known = deps.known ?? new KnownVms();
  }

  /**
   * Called by the process once the feed's snapshot is loaded; `through`: the last stream sequence
   * the snapshot holds (see `LocationFeed.start`): the proxy then says it agrees with every location
   * event up to it (`ArpReconciled`), so that a move committed before it started is not waited for.
   */
  async start(through?: number): Promise<void> {
    this.timer = setInterval(() => void this.tick().catch(() => undefined), 200);
    if (through !== undefined) await this.serial(() => this.sayReconciled(through)).catch((err: Error) => this.log.warn({ err: err.message, through }, 'could not publish ArpReconciled'));
    this.log.info(
      { proxyEnabled: this.site.proxyEnabled, neighbours: this.driver.neighbours.length, gateways: this.site.gateways.map((g) => `${g.ip}=${g.mac}`) },
      this.site.proxyEnabled ? 'ARP proxy ready' : 'ARP proxy ready, switched OFF at this site (topology arpProxy: false)',
    );
  }

  /**
   * `ArpReconciled` of the whole site: its proxy entries follow the snapshot, and its neighbours hold
   * the right MAC of every VM but those `held` (each of those gets its `ArpConverged` at its version
   * once no neighbour holds a wrong MAC for it).
   */
  private async sayReconciled(through: number): Promise<void> {
    const held = new Map<string, number>();
    for (const w of await this.driver.wrongEntries()) held.set(w.ip, (held.get(w.ip) ?? 0) + 1);
    const startedAt = Date.now();
    for (const [ip, stale] of held) {
      const vm = this.known.byIp(ip);
      if (vm && !this.converging.has(vm.vm)) this.converging.set(vm.vm, { vm, rule: 'reconciled at start', proxy: this.proxies.has(ip) ? 'keep' : 'none', installed: false, stale, startedAt });
    }
    const event: PlaneEvent = {
      id: `ArpReconciled:${this.name}:start:${through}:${startedAt}`,
      plane: 'arp',
      type: 'ArpReconciled',
      component: this.component,
      locationVersion: 0,
      at: iso(this.deps.clock.now()),
      data: { site: this.name, trigger: 'start', through, held: [...held.keys()].sort() },
    };
    await this.deps.publisher.publish(event, this.name);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.chain.catch(() => undefined);
  }

  loadSnapshot(vms: readonly VmView[]): void {
    for (const v of vms) this.learnVm({ vm: v.name, ip: v.ip, mac: v.mac, l2Domain: v.l2Domain, site: v.site, locationVersion: v.locationVersion });
  }

  handle(event: LocationEvent): Promise<void> {
    return this.serial(async () => {
      try {
        await this.onVmEvent(event);
      } finally {
        await this.acked();
      }
    });
  }

  // ---- events ----

  private async onVmEvent(event: LocationEvent): Promise<void> {
    const change = applyToKnown(this.known, this.domains, event);
    if (!change) return;
    if (event.type === 'VmPlaced') {
      if (change.applied && change.after) this.learnVm(change.after);
      return;
    }
    const d = relocationOf(event);
    if (!d) return;
    if (!change.applied || !change.after) {
      const known = change.before;
      if (known && d.locationVersion < known.locationVersion) this.log.info({ vm: d.vm, version: d.locationVersion, known: known.locationVersion }, 'older location event ignored');
      else if (known && d.locationVersion === known.locationVersion) await this.convergedFromSnapshot(known, d.moveId);
      return;
    }
    // A drift repair moves the VM back from wherever this table last had it (a forged relocation); at the same site nothing on the L2 changes.
    const from = d.from ?? change.before?.site ?? d.to;
    if (from === d.to && d.from === undefined) return;
    const vm = change.after;
    const domain = this.domains.find((x) => x.name === vm.l2Domain);
    if (!domain || !domain.sites.includes(this.name)) return;
    const mode = d.mode;
    const decision = decideArpForMove({
      site: this.site,
      domain,
      vm: { vm: vm.vm, ip: vm.ip, mac: vm.mac },
      from,
      to: d.to,
      mode,
      targetSite: this.sites.find((s) => s.name === d.to),
    });
    this.log.info(
      { vm: vm.vm, moveId: d.moveId, mode: mode ?? 'unknown', rule: decision.rule, proxy: decision.proxy, gateway: decision.gateway?.reason, version: vm.locationVersion },
      decision.reason,
    );
    const ctx = { moveId: d.moveId, version: vm.locationVersion, trigger: event.id };
    // The VM is on this site's L2 or not any more: entries that held its MAC may now be wrong.
    this.driver.setOnLink(domain.name, vm.ip, domain.sites.includes(vm.site) ? vm.mac : null);
    const startedAt = Date.now();
    const stale = (await this.driver.wrongEntries(vm.ip)).length;
    await this.reportStale(vm, ctx);
    const installed = decision.proxy === 'install' || (decision.proxy === 'keep' && !this.proxies.has(vm.ip));
    if (installed) await this.install(vm, domain, ctx);
    if (decision.proxy === 'keep' && this.proxies.has(vm.ip)) this.proxies.get(vm.ip)!.locationVersion = vm.locationVersion;
    if (decision.proxy === 'remove') await this.remove(vm, domain, ctx);
    if (decision.garp) await this.garp(vm, domain, decision.garp.mac, decision.rule === 'returns-to-domain' ? 'announce' : 'garp', ctx);
    await this.summary(vm, ctx.moveId, decision.rule);
    this.converging.set(vm.vm, { vm, moveId: ctx.moveId, rule: decision.rule, proxy: decision.proxy, installed, stale, startedAt });
    await this.reportConverged();
  }

  /**
   * A relocation the snapshot already held (committed before it was read, on the stream after the
   * feed's starting point), or one seen again: this site acted on the VM's version when it learnt it,
   * and says so with the move's `ArpConverged` once no neighbour holds a wrong MAC for it (the same id
   * again when it had already: the stream drops it).
   */
  private async convergedFromSnapshot(vm: KnownVm, moveId: string | undefined): Promise<void> {
    const domain = this.domains.find((x) => x.name === vm.l2Domain);
    if (!domain || !domain.sites.includes(this.name) || this.converging.has(vm.vm)) return;
    const stale = (await this.driver.wrongEntries(vm.ip)).length;
    this.converging.set(vm.vm, {
      vm,
      ...(moveId ? { moveId } : {}),
      rule: 'known from the snapshot',
      proxy: this.proxies.has(vm.ip) ? 'keep' : 'none',
      installed: false,
      stale,
      startedAt: Date.now(),
    });
    await this.reportConverged();
  }

  private async install(vm: KnownVm, domain: ArpDomain, ctx: { moveId?: string; version: number; trigger: string }): Promise<void> {
    await this.driver.installProxy(domain.name, vm.ip, this.site.routerMac);
    this.proxies.set(vm.ip, { vm: vm.vm, locationVersion: vm.locationVersion, since: this.deps.clock.now() });
    this.log.info({ vm: vm.vm, ip: vm.ip, mac: this.site.routerMac }, `proxy entry installed: ${this.name} answers ARP for ${vm.ip}`);
    this.emit('ProxyInstalled', vm, ctx, { site: this.name, ip: vm.ip, mac: this.site.routerMac, l2Domain: domain.name });
  }

  private async remove(vm: KnownVm, domain: ArpDomain, ctx: { moveId?: string; version: number; trigger: string }): Promise<void> {
    await this.driver.removeProxy(domain.name, vm.ip);
    const had = this.proxies.delete(vm.ip);
    if (!had) return;
    this.log.info({ vm: vm.vm, ip: vm.ip }, `proxy entry removed for ${vm.ip}`);
    this.emit('ProxyRemoved', vm, ctx, { site: this.name, ip: vm.ip, l2Domain: domain.name });
  }

  private async garp(vm: KnownVm, domain: ArpDomain, mac: string, how: 'garp' | 'announce', ctx: { moveId?: string; version: number; trigger: string }): Promise<void> {
    const changed = how === 'announce' ? await this.driver.announce(domain.name, vm.ip, mac) : await this.driver.gratuitousArp(domain.name, vm.ip, mac);
    const repairs = this.driver.lastRepairs;
    this.log.info({ vm: vm.vm, ip: vm.ip, mac, neighboursUpdated: changed.length, repaired: repairs.length }, `gratuitous ARP sent: ${vm.ip} is-at ${mac}`);
    this.emit(
      'GratuitousArpSent',
      vm,
      { ...ctx, trigger: `${ctx.trigger}:${how}` },
      { site: this.name, ip: vm.ip, mac, l2Domain: domain.name, announce: how === 'announce', neighboursUpdated: changed },
    );
    await this.publishRepairs(repairs);
  }

  private async reportStale(vm: KnownVm, ctx: { moveId?: string; version: number; trigger: string }): Promise<void> {
    for (const w of await this.driver.wrongEntries(vm.ip)) {
      const key = `${w.neighbour.name}|${w.ip}`;
      if (this.staleMeta.has(key)) continue;
      this.staleMeta.set(key, { vm: vm.vm, locationVersion: vm.locationVersion, moveId: ctx.moveId });
      this.emit(
        'NeighbourStale',
        vm,
        { ...ctx, trigger: `${ctx.trigger}:${w.neighbour.name}` },
        {
          site: this.name,
          neighbour: w.neighbour.name,
          neighbourIp: w.neighbour.ip,
          ip: w.ip,
          heldMac: w.heldMac,
          rightMac: w.rightMac,
          since: iso(this.driver.since(w.neighbour.name, w.ip) ?? this.deps.clock.now()),
          expiresBy: iso(w.expiresBy),
        },
      );
    }
  }

  private async publishRepairs(repairs: Repair[]): Promise<void> {
    for (const r of repairs) {
      const key = `${r.neighbour.name}|${r.ip}`;
      const meta = this.staleMeta.get(key);
      this.staleMeta.delete(key);
      const vm = meta ? this.known.get(meta.vm) : this.known.byIp(r.ip);
      if (!vm) continue;
      const staleMs = r.wrongSince !== undefined ? r.at - r.wrongSince : undefined;
      this.log.info(
        { vm: vm.vm, neighbour: r.neighbour.name, how: r.how, mac: r.mac, staleMs },
        `neighbour repaired: ${r.neighbour.name} ${r.mac ? `now has ${r.mac}` : 'dropped its wrong entry'} for ${r.ip}`,
      );
      this.emit(
        'NeighbourRepaired',
        vm,
        { moveId: meta?.moveId, version: meta?.locationVersion ?? vm.locationVersion, trigger: `${r.neighbour.name}:${r.at}` },
        {
          site: this.name,
          neighbour: r.neighbour.name,
          neighbourIp: r.neighbour.ip,
          ip: r.ip,
          how: r.how,
          mac: r.mac,
          repairedAt: iso(r.at),
          staleMs,
        },
      );
    }
  }

  private async summary(vm: KnownVm, moveId: string, rule: string): Promise<void> {
    const stale = await this.driver.wrongEntries(vm.ip);
    if (stale.length === 0) this.log.info({ vm: vm.vm, moveId, rule }, `ARP converged at ${this.name} for ${vm.vm}: no neighbour holds a wrong MAC`);
    else
      this.log.warn(
        { vm: vm.vm, moveId, rule, stale: stale.map((s) => s.neighbour.name), until: iso(Math.max(...stale.map((s) => s.expiresBy))) },
        `${stale.length} neighbour(s) at ${this.name} hold a wrong MAC for ${vm.vm} until their own ARP timeout`,
      );
  }

  /** Runs the neighbours' ARP timers up to now and publishes what they repaired on their own. */
  tick(): Promise<void> {
    return this.serial(async () => {
      try {
        await this.publishRepairs(await this.driver.tick());
        await this.reportConverged();
      } finally {
        await this.acked();
      }
    });
  }

  /** The ARP plane's one "done" fact per move and site: no neighbour holds a wrong MAC for the VM (wall-clock `at`, real `ms`). */
  private async reportConverged(): Promise<void> {
    for (const [name, c] of [...this.converging]) {
      if ((await this.driver.wrongEntries(c.vm.ip)).length > 0) continue;
      this.converging.delete(name);
      const now = Date.now();
      const data: ArpConvergedData = { site: this.name, rule: c.rule, proxy: c.proxy, installed: c.installed, stale: c.stale, repaired: c.stale, ms: now - c.startedAt };
      this.emit('ArpConverged', c.vm, { moveId: c.moveId, version: c.vm.locationVersion, trigger: 'converged' }, data, now);
    }
  }

  // ---- views ----

  /** Neighbours holding a wrong MAC, for every VM or only for `vms`. */
  async stale(vms?: readonly string[]): Promise<StaleNeighbourView[]> {
    await this.tick();
    const only = vms ? new Set(vms) : undefined;
    const out: StaleNeighbourView[] = [];
    for (const w of await this.driver.wrongEntries()) {
      const vm = this.known.byIp(w.ip);
      if (!vm || (only && !only.has(vm.vm))) continue;
      out.push({
        vm: vm.vm,
        ip: w.ip,
        site: this.name,
        l2Domain: w.neighbour.l2Domain,
        neighbour: w.neighbour.name,
        neighbourIp: w.neighbour.ip,
        heldMac: w.heldMac,
        rightMac: w.rightMac,
        since: iso(this.driver.since(w.neighbour.name, w.ip) ?? this.deps.clock.now()),
        expiresBy: iso(w.expiresBy),
        locationVersion: vm.locationVersion,
      });
    }
    return out;
  }

  view(): SiteArpView {
    return {
      site: this.name,
      proxyEnabled: this.site.proxyEnabled,
      proxies: [...this.proxies].map(([ip, p]) => ({ ip, vm: p.vm, mac: this.site.routerMac, locationVersion: p.locationVersion, since: iso(p.since) })),
      gateways: this.site.gateways.map((g) => ({ ...g })),
      neighbours: this.driver.neighbours.map((n) => ({ name: n.name, ip: n.ip, mac: n.mac, l2Domain: n.l2Domain })),
    };
  }

  // ---- helpers ----

  private learnVm(vm: KnownVm): void {
    this.known.remember(vm);
    const domain = this.domains.find((x) => x.name === vm.l2Domain);
    if (!domain || !domain.sites.includes(this.name)) return;
    this.driver.setOnLink(domain.name, vm.ip, domain.sites.includes(vm.site) ? vm.mac : null);
    if (proxyWanted(this.site, domain, vm.site) && !this.proxies.has(vm.ip)) {
      void this.driver.installProxy(domain.name, vm.ip, this.site.routerMac);
      this.proxies.set(vm.ip, { vm: vm.vm, locationVersion: vm.locationVersion, since: this.deps.clock.now() });
      this.log.info({ vm: vm.vm, ip: vm.ip, at: vm.site }, `proxy entry restored: ${vm.vm} is away from ${domain.name}`);
    }
    this.driver.talkTo(domain.name, vm.ip);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    // The chain keeps no result (a task's result stays alive otherwise until the next task).
    this.chain = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  /**
   * Sends a plane event without waiting for its ack: the events of one step go out back to back
   * (one connection keeps them in order) and `acked()` waits for all of them at the end of the
   * step, so a step costs one stream round trip, not one per event; a failed publish still fails
   * the step (the location event is redelivered, the ids make the repeats no-ops).
   */
  private emit(type: string, vm: KnownVm, ctx: { moveId?: string; version: number; trigger: string }, data: Record<string, unknown>, wallAt?: number): void {
    const event: PlaneEvent = {
      id: `${type}:${this.name}:${vm.vm}:v${ctx.version}:${ctx.trigger}`,
      plane: 'arp',
      type,
      component: this.component,
      vm: vm.vm,
      eid: vm.ip,
      moveId: ctx.moveId,
      locationVersion: ctx.version,
      at: iso(wallAt ?? this.deps.clock.now()),
      data,
    };
    const sent = this.deps.publisher.publish(event, vm.vm);
    sent.catch(() => undefined); // awaited (and its failure thrown) in acked(); not an unhandled rejection meanwhile
    this.unacked.push(sent);
  }

  /** Waits for the stream's ack of every event sent since the last call; throws if one failed. */
  private async acked(): Promise<void> {
    const sent = this.unacked.splice(0);
    if (sent.length) await Promise.all(sent);
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The L2 domain whose subnet holds `ip`. */
function domainOfIp(domains: readonly ArpDomain[], ip: string): ArpDomain | undefined {
  const n = ip.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
  return domains.find((d) => {
    const [net, len] = d.subnet.split('/');
    const mask = Number(len) === 0 ? 0 : (0xffffffff << (32 - Number(len))) >>> 0;
    return (n & mask) >>> 0 === (net.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0) & mask) >>> 0;
  });
}

/**
 * Applies a location event to the VMs the process's ARP proxies know, once (every later call for
 * the same event gets the same change): a placement when the VM is new, a relocation or a drift
 * repair when it is newer. Nothing for the events that do not move a VM.
 */
export function applyToKnown(known: KnownVms, domains: readonly ArpDomain[], event: LocationEvent): KnownChange | undefined {
  if (event.type === 'VmPlaced') {
    const d = event.data;
    return known.apply(
      event.id,
      d.vm,
      (before) => !before,
      () => ({ vm: d.vm, ip: d.ip, mac: d.mac, l2Domain: d.l2Domain, site: d.site, locationVersion: d.locationVersion }),
    );
  }
  const d = relocationOf(event);
  if (!d) return undefined;
  return known.apply(
    event.id,
    d.vm,
    (before) => !before || d.locationVersion > before.locationVersion,
    (before) => ({ vm: d.vm, ip: d.ip, mac: d.mac, l2Domain: before?.l2Domain ?? domainOfIp(domains, d.ip)?.name ?? '', site: d.to, locationVersion: d.locationVersion }),
  );
}

/**
 * The sites a location event concerns, read before it is applied: the sites of the VM's L2
 * domain (only they hold neighbours that may cache its MAC, proxy its address or hear its
 * gratuitous ARP). The events that do not move a VM concern none.
 */
export function arpAudience(event: LocationEvent, known: KnownVms, domains: readonly ArpDomain[]): Audience {
  let l2Domain: string | undefined;
  if (event.type === 'VmPlaced') l2Domain = event.data.l2Domain;
  else {
    const d = relocationOf(event);
    if (!d) return [];
    l2Domain = known.get(d.vm)?.l2Domain ?? domainOfIp(domains, d.ip)?.name;
  }
  return domains.find((x) => x.name === l2Domain)?.sites ?? [];
}

/**
 * The location events that move a VM between sites as far as ARP goes: a move's commit, and a
 * drift repair's VmLocationReasserted (from wherever the proxies last had the VM: `from` absent;
 * a boot, as after a cold move). Its repair id stands for the move id.
 */
function relocationOf(event: LocationEvent): { vm: string; ip: string; mac: string; from?: string; to: string; locationVersion: number; mode?: MoveMode; moveId: string } | undefined {
  if (event.type === 'VmRelocated') {
    const d = event.data;
    return { vm: d.vm, ip: d.ip, mac: d.mac, from: d.from.site, to: d.to.site, locationVersion: d.locationVersion, mode: d.mode, moveId: d.moveId };
  }
  if (event.type === 'VmLocationReasserted') {
    const d = event.data;
    return { vm: d.vm, ip: d.ip, mac: d.mac, to: d.site, locationVersion: d.locationVersion, mode: 'cold', moveId: d.repairId };
  }
  return undefined;
}
