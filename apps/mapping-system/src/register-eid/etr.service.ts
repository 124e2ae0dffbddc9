import type { Service, Subscription } from 'nats';
import type { Logger } from 'pino';
import { MapNotify, mappingSubjects, MAX_RECORDS_PER_REGISTER, type ErrorBody, type MapRegister, type PlaneEvent, type RegisterRecord } from '@locus/contracts';
import { EtrClaims, hostEid, refreshPlan, refreshSliceOf, verifyMessage, type ClaimOutcome, type EidClaim, type EtrLocationFact, type LocationVersions, type RefreshPlan } from '@locus/domain';
import { requestJson } from '@locus/messaging';
import { iso, isNoResponders, type MappingDeps } from '../shared/deps';
import { PeriodicTask } from '../shared/periodic';
import { MIN_REFRESH_REAL_MS } from '../mapping-options';
import type { SiteInbox } from '../shared/site-inbox';
import { signedFor } from '../shared/site-keys';

type RegisterReply = { ok: true; notify: MapNotify } | { ok: false; error: ErrorBody };

/**
 * The ETR of one site: it claims the EIDs of the VMs running at the site (from the location
 * events), registers them with the map-server in authenticated Map-Registers, refreshes them
 * periodically, and stops claiming an EID when the VM leaves or a Map-Notify says it is away.
 */
export class EtrService {
  readonly claims: EtrClaims;
  /** Version of each EID the map-server acknowledged. */
  readonly registered = new Map<string, number>();
  private readonly log: Logger;
  private readonly subjects;
  private readonly pending = new Set<string>();
  private flushScheduled = false;
  private retryTimer?: NodeJS.Timeout;
  private retryMs = 0;
  private refresher?: PeriodicTask;
  private refreshStart?: NodeJS.Timeout;
  private refreshTick = 0;
  private hello?: Subscription;
  private stopped = false;
  private readonly locator;
  /**
   * The start-up reconcile while it lasts: the snapshot's EIDs (with their versions) the map-server
   * has not acknowledged yet, and those it acknowledged while still updating ITRs.
   */
  private startup?: { through: number; unsettled: Map<string, number>; held: Set<string>; eids: number; startedAt: number };
  /** EIDs of VMs running here that the site may not claim (outside its prefixes): never registered, so never vouched for. */
  private readonly unclaimable = new Set<string>();

  constructor(
    readonly site: string,
    private readonly deps: MappingDeps,
    /** Checks what the map-server sends this site. */
    private readonly inbox: SiteInbox,
    /** Shared by the ETRs of one process (see EtrClaims). */
    versions?: LocationVersions,
  ) {
    this.log = deps.logger.child({ component: `etr:${site}` });
    this.subjects = mappingSubjects(deps.prefix);
    this.claims = new EtrClaims(site, (eid) => deps.policy.mayClaim(site, eid), versions);
    const rloc = deps.policy.site(site)?.rloc;
    if (!rloc) throw new Error(`site ${site} is not part of the mapping system`);
    this.locator = { rloc, priority: 1, weight: 100 };
  }

  async start(service: Service): Promise<void> {
    this.inbox.serve(service, {
      type: 'Map-Notify',
      name: `lisp-notify-${this.site}`,
      subject: this.subjects.notify(this.site),
      schema: MapNotify,
      addressee: (n) => n.site,
      detail: (n) => ({ kind: n.kind, eids: Array.isArray(n.records) ? n.records.map((r) => (r as { eid?: unknown })?.eid) : undefined }),
      handler: (n) => this.onNotify(n),
    });
    this.hello = this.deps.nc.subscribe(this.subjects.hello, {
      callback: () => {
        this.log.info({ claims: this.claims.size }, 'map-server (re)started: registering every claimed EID again');
        // A start-up reconcile still under way: the new map-server holds none of what the old one acknowledged.
        if (this.startup) this.startup = { ...this.startup, unsettled: new Map(this.claims.claims().map((c) => [c.eid, c.version])), held: new Set() };
        void this.registerAll();
      },
    });
    // Each claim once per period, a slice of them per tick: the ETRs of a lab start together, and
    // all their EIDs at once held the map-server for seconds once a minute (refresh-slices.ts).
    const plan = refreshPlan(this.deps.timers.refreshRealMs, this.site, MIN_REFRESH_REAL_MS);
    this.refreshStart = setTimeout(() => {
      if (this.stopped) return;
      this.refresher = new PeriodicTask(
        plan.tickMs,
        () => this.registerSlice(plan),
        (err) => this.log.warn({ err: err.message }, 'refresh failed'),
      );
      this.refresher.start();
    }, plan.phaseMs);
    this.refreshStart.unref();
    this.log.debug({ refreshS: this.deps.timers.refreshRealMs / 1000, slices: plan.slices, tickMs: Math.round(plan.tickMs) }, 'registrations refreshed once per period, a slice per tick');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.refreshStart) clearTimeout(this.refreshStart);
    this.refresher?.stop();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.hello?.unsubscribe();
  }

  /**
   * Called once the feed's snapshot is loaded (every claim learned from it is queued for
   * registration); `through`: the last stream sequence the snapshot holds. Once the map-server has
   * acknowledged every one of them, the ETR says `MappingReconciled`: a move committed before it
   * started, whose registration came from the snapshot, has no MappingConverged of its own.
   */
  reconcileFrom(through: number): void {
    const claims = this.claims.claims();
    this.startup = { through, unsettled: new Map(claims.map((c) => [c.eid, c.version])), held: new Set(), eids: claims.length, startedAt: Date.now() };
    this.settle([]);
  }

  /** A location fact from the stream or the start-up snapshot. */
  learn(fact: EtrLocationFact): ClaimOutcome {
    const outcome = this.claims.learn(fact);
    const eid = hostEid(fact.ip);
    if (outcome === 'not-allowed') this.unclaimable.add(eid);
    else if (outcome !== 'stale' && outcome !== 'duplicate') this.unclaimable.delete(eid);
    if (outcome === 'claimed') {
      this.log.debug({ vm: fact.vm, eid, version: fact.locationVersion }, 'claiming EID');
      this.queue(eid);
    } else if (outcome === 'released') {
      this.registered.delete(eid);
      this.settle([eid]); // it left: nothing of the snapshot's to register for it
      this.log.info({ vm: fact.vm, eid, version: fact.locationVersion, now: fact.site }, `${fact.vm} left for ${fact.site}: no longer claiming ${eid}`);
    } else if (outcome === 'not-allowed') {
      this.log.warn({ vm: fact.vm, eid, version: fact.locationVersion }, `${fact.vm} runs here but ${eid} is outside the prefixes ${this.site} may claim; not registering it`);
    } else if (outcome === 'stale') {
      this.log.info({ vm: fact.vm, locationVersion: fact.locationVersion }, 'ignored stale location event (older version than applied)');
    }
    return outcome;
  }

  /** Registers the claims of this tick's slice (the periodic refresh). */
  private async registerSlice(plan: RefreshPlan): Promise<void> {
    const slice = this.refreshTick++ % plan.slices;
    const due = plan.slices === 1 ? this.claims.claims() : this.claims.claims().filter((c) => refreshSliceOf(c.eid, plan.slices) === slice);
    for (let i = 0; i < due.length; i += MAX_RECORDS_PER_REGISTER) await this.send(due.slice(i, i + MAX_RECORDS_PER_REGISTER));
  }

  /** Registers every claim now (map-server hello). */
  async registerAll(): Promise<void> {
    const all = this.claims.claims();
    for (let i = 0; i < all.length; i += MAX_RECORDS_PER_REGISTER) await this.send(all.slice(i, i + MAX_RECORDS_PER_REGISTER));
  }

  private queue(eid: string): void {
    this.pending.add(eid);
    if (this.flushScheduled || this.retryTimer) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const claims = [...this.pending].map((eid) => this.claims.claim(eid)).filter((c): c is EidClaim => !!c);
    this.pending.clear();
    for (let i = 0; i < claims.length; i += MAX_RECORDS_PER_REGISTER) await this.send(claims.slice(i, i + MAX_RECORDS_PER_REGISTER));
  }

  private async send(claims: EidClaim[]): Promise<void> {
    if (claims.length === 0 || this.stopped) return;
    const records: RegisterRecord[] = claims.map((c) => ({
      eid: c.eid,
      vm: c.vm,
      locators: [this.locator],
      ttl: this.deps.options.mapCacheTtlMin,
      version: c.version,
      ...(c.moveId ? { moveId: c.moveId } : {}),
    }));
    const msg: MapRegister = signedFor(
      this.site,
      { type: 'Map-Register' as const, site: this.site, wantMapNotify: true, records, ...(this.startup ? { reconciling: true } : {}) },
      this.deps.mac,
      this.deps.clock.wall(),
    );
    let reply: RegisterReply;
    try {
      reply = await requestJson<RegisterReply>(this.deps.nc, this.subjects.register, msg, 3000);
    } catch (err) {
      for (const c of claims) this.pending.add(c.eid);
      this.scheduleRetry(isNoResponders(err) ? 'no map-server answers' : (err as Error).message);
      return;
    }
    this.retryMs = 0;
    if (!reply.ok) {
      this.log.error({ code: reply.error.code, reason: reply.error.message, eids: records.map((r) => r.eid) }, `Map-Register refused by the map-server (${reply.error.code}): ${reply.error.message}`);
      // Not registered: the start-up reconcile cannot vouch for them (it is said all the same, holding them).
      if (this.startup) {
        for (const r of records) if (this.startup.unsettled.has(r.eid)) this.startup.held.add(r.eid);
        this.settle(records.map((r) => r.eid));
      }
      return;
    }
    this.onAck(reply.notify, msg.nonce);
  }

  private onAck(ack: MapNotify, nonce: string): void {
    const auth = verifyMessage(ack, this.site, this.deps.mac);
    if (!auth.ok || ack.kind !== 'ack' || ack.site !== this.site || ack.nonce !== nonce) {
      this.log.warn({ reason: auth.ok ? 'not the ack of this Map-Register' : auth.reason }, 'Map-Notify ack ignored');
      return;
    }
    const fresh = ack.records.filter((r) => this.registered.get(r.eid) !== r.version && this.claims.claim(r.eid));
    for (const r of ack.records) this.registered.set(r.eid, r.version);
    if (this.startup) {
      const following = new Set(ack.following ?? []);
      const settled = ack.records.filter((r) => r.version >= (this.startup!.unsettled.get(r.eid) ?? Infinity)).map((r) => r.eid);
      for (const eid of settled) if (following.has(eid)) this.startup.held.add(eid);
      // refused: the map-server holds a newer version elsewhere; no claim of the snapshot's to vouch for
      for (const r of ack.refused ?? []) if (this.startup.unsettled.has(r.eid)) this.startup.held.add(r.eid);
      this.settle([...settled, ...(ack.refused ?? []).map((r) => r.eid)]);
    }
    if (fresh.length === 1) {
      const r = fresh[0];
      this.log.info({ eid: r.eid, vm: r.vm, version: r.version, moveId: r.moveId }, `registered ${r.eid}${r.vm ? ` (${r.vm})` : ''} version ${r.version}: Map-Notify ack received`);
    } else if (fresh.length > 1) {
      this.log.info({ eids: fresh.map((r) => r.eid) }, `registered ${fresh.length} EIDs: Map-Notify ack received`);
    }
    for (const r of ack.refused ?? []) {
      if (r.heldBy === this.site) continue; // a newer version of our own: the location events bring it
      const outcome = this.claims.notifiedAway({ eid: r.eid, version: r.heldVersion, site: r.heldBy, at: this.deps.clock.wall() });
      if (outcome === 'released') {
        this.registered.delete(r.eid);
        this.log.info({ eid: r.eid, version: r.version, heldVersion: r.heldVersion, heldBy: r.heldBy }, `map-server holds ${r.eid} v${r.heldVersion} at ${r.heldBy}: no longer claiming it`);
      }
    }
  }

  /** Map-Notify from the map-server: an EID this site registered now lives elsewhere. */
  private onNotify(n: MapNotify): object {
    if (n.kind !== 'away') return { ok: true, released: 0 };
    let released = 0;
    for (const r of n.records) {
      const outcome = this.claims.notifiedAway({ eid: r.eid, ...(r.vm ? { vm: r.vm } : {}), version: r.version, site: r.site, at: this.deps.clock.wall() });
      if (outcome === 'released') {
        released++;
        this.registered.delete(r.eid);
        this.settle([r.eid]);
      }
      this.log.info(
        { eid: r.eid, vm: r.vm, version: r.version, site: r.site, outcome },
        `Map-Notify: ${r.eid}${r.vm ? ` (${r.vm})` : ''} is away at ${r.site}, version ${r.version}` +
          (outcome === 'released' ? ': stopped claiming it' : outcome === 'kept' ? ': our claim is newer, kept' : ': not claimed here any more'),
      );
    }
    return { ok: true, released };
  }

  /** Marks snapshot EIDs as settled; says `MappingReconciled` once none is left. */
  private settle(eids: readonly string[]): void {
    const s = this.startup;
    if (!s) return;
    for (const eid of eids) s.unsettled.delete(eid);
    if (s.unsettled.size > 0 || this.stopped) return;
    this.startup = undefined;
    const held = [...new Set([...s.held, ...this.unclaimable])].sort();
    const event: PlaneEvent = {
      id: `MappingReconciled:etr:${this.site}:start:${s.through}:${s.startedAt}`,
      plane: 'map',
      type: 'MappingReconciled',
      component: `etr:${this.site}`,
      locationVersion: 0,
      at: iso(this.deps.clock.wall()),
      data: { site: this.site, trigger: 'start', through: s.through, held, eids: s.eids },
    };
    this.log.info(
      // a site may hold thousands (ITRs to update after a map-server restart): the line names the first few
      { through: s.through, eids: s.eids, held: held.length, ...(held.length ? { firstHeld: held.slice(0, 10) } : {}), ms: Date.now() - s.startedAt },
      `start-up registrations acknowledged: the map-server holds the ${s.eids} EIDs of this site's snapshot (through stream sequence ${s.through})` +
        (held.length ? `; ${held.length} held until their own MappingConverged (ITRs still to update, refused or not this site's to claim)` : ''),
    );
    void this.sayReconciled(event);
  }

  /** Publishes the site's MappingReconciled, again until the stream takes it (the moves it settles wait for it). */
  private async sayReconciled(event: PlaneEvent): Promise<void> {
    for (let waitMs = 250; !this.stopped; waitMs = Math.min(5000, waitMs * 2)) {
      try {
        await this.deps.planes.publish(event, this.site);
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message, retryInMs: waitMs }, 'could not publish MappingReconciled; trying again');
        await new Promise((resolve) => setTimeout(resolve, waitMs).unref());
      }
    }
  }

  private scheduleRetry(reason: string): void {
    if (this.retryTimer || this.stopped) return;
    this.retryMs = Math.min(5000, this.retryMs ? this.retryMs * 2 : 250);
    if (this.retryMs === 250 || this.retryMs === 5000) this.log.warn({ reason, retryInMs: this.retryMs, pending: this.pending.size }, 'Map-Register not answered; will retry');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.flush();
    }, this.retryMs);
    this.retryTimer.unref();
  }
}
