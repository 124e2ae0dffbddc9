import { randomUUID } from 'node:crypto';
import type { Service } from 'nats';
import type { Logger } from 'pino';
import {
  errorReply,
  MapPublish,
  MapRegister,
  MapRequest,
  mappingSubjects,
  type MapNotify,
  type MappingRecord,
  type MappingConvergedData,
  type MapServerHello,
  type PlaneEvent,
  type PublishAck,
  type SolicitMapRequest,
} from '@locus/contracts';
import { MapServer, signMessage, toMappingRecord, type ConvergenceReport, type MappingChange, type MappingEntry, type RegisterAccepted } from '@locus/domain';
import { addJsonEndpoint, requestJson } from '@locus/messaging';
import { iso, isNoResponders, type MappingDeps } from '../shared/deps';
import { PeriodicTask } from '../shared/periodic';
import { signedFor } from '../shared/site-keys';

/**
 * The map-server and map-resolver on NATS. The decisions are the pure MapServer's; this class
 * serves `<prefix>.lisp.register` and `<prefix>.lisp.request`, signs Map-Notify acks, tells the
 * previous site that an EID moved away, publishes changes to subscribed ITRs, solicits the others
 * (SMR), expires registrations, and logs one line per move when every ITR that held the EID holds
 * the new version. Everything it sends a site is signed with that site's key.
 */
export class MapServerService {
  readonly server: MapServer;
  /** Every convergence report, newest last (the last 1000). */
  readonly reports: ConvergenceReport[] = [];
  readonly epoch = randomUUID();
  private readonly log: Logger;
  private sweeper?: PeriodicTask;
  private readonly subjects;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Changes (`eid@version`) an ETR's start-up reconcile holds until their MappingConverged (see `following`). */
  private readonly owed = new Set<string>();

  constructor(private readonly deps: MappingDeps) {
    this.log = deps.logger.child({ component: 'map-server' });
    this.subjects = mappingSubjects(deps.prefix);
    this.server = new MapServer({
      policy: deps.policy,
      mac: deps.mac,
      clock: deps.clock,
      registrationTtlMs: deps.timers.registrationTtlMs,
      replayWindowMs: deps.options.replayWindowMs,
      negativeTtlMinutes: deps.options.negativeTtlMin,
      convergenceTimeoutMs: deps.options.convergenceTimeoutMs,
    });
  }

  async start(service: Service): Promise<void> {
    addJsonEndpoint(service, { name: 'lisp-register', subject: this.subjects.register, schema: MapRegister, logger: this.log, handler: (msg) => this.onRegister(msg) });
    addJsonEndpoint(service, {
      name: 'lisp-request',
      subject: this.subjects.request,
      schema: MapRequest,
      logger: this.log,
      handler: (req) => this.onRequest(req),
    });
    this.sweeper = new PeriodicTask(
      this.deps.timers.sweepRealMs,
      () => this.sweep(),
      (err) => this.log.warn({ err: err.message }, 'sweep failed'),
    );
    this.sweeper.start();
    // A map-server starts empty (soft state): ETRs register again, ITRs ask again for what they cache.
    const hello: MapServerHello = { type: 'Map-Server-Hello', epoch: this.epoch, at: iso(this.deps.clock.wall()) };
    this.deps.nc.publish(this.subjects.hello, JSON.stringify(hello));
    const t = this.deps.timers;
    this.log.info(
      { epoch: this.epoch, registrationTtlS: t.registrationTtlMs / 1000, sites: this.deps.policy.sites().map((s) => s.name) },
      `map-server ready: registrations expire after ${t.registrationTtlMs / 1000} s of lab time without refresh; asked every xTR to register and re-request`,
    );
  }

  async stop(): Promise<void> {
    this.sweeper?.stop();
    await Promise.allSettled([...this.inFlight]);
  }

  private onRegister(msg: MapRegister): object {
    const decision = this.server.register(msg);
    if (!decision.ok) {
      this.log.warn(
        { site: msg.site, code: decision.code, reason: decision.reason, eids: msg.records.map((r) => r.eid), refusedSoFar: this.server.counters.refused[decision.code] },
        `Map-Register from ${msg.site} refused (${decision.code}): ${decision.reason}`,
      );
      return errorReply(decision.code, decision.reason);
    }
    const wall = this.deps.clock.wall();
    // An ETR's start-up registrations: those still followed to ITRs (by this change or an earlier
    // one at the same version) are owed a MappingConverged, move id or not; the ETR holds them.
    const following: string[] = [];
    if (msg.reconciling)
      for (const r of decision.accepted)
        if (this.server.tracker.isFollowing(r.eid, r.version)) {
          following.push(r.eid);
          this.owed.add(owedKey(r.eid, r.version));
        }
    const ack: MapNotify = signedFor(
      msg.site,
      {
        type: 'Map-Notify' as const,
        kind: 'ack' as const,
        site: msg.site,
        records: decision.accepted,
        ...(decision.refused.length ? { refused: decision.refused } : {}),
        ...(following.length ? { following } : {}),
      },
      this.deps.mac,
      wall,
      msg.nonce,
    );
    for (const change of decision.changes) this.carryOut(change, msg.site, wall);
    this.tellRefused(decision);
    for (const r of decision.reports) this.report(r);
    if (decision.refreshed) this.log.debug({ site: msg.site, refreshed: decision.refreshed }, 'registrations refreshed');
    return { ok: true, notify: ack };
  }

  /** A registration changed the mapping: record it, tell the old site, and update the ITRs that hold the EID. */
  private carryOut(change: MappingChange, site: string, wall: number): void {
    const e = change.entry;
    const previousSite = change.previous && change.previous.site !== site ? change.previous.site : undefined;
    // first registrations nobody cached (every VM at start) are routine; changes others depend on are not
    const quiet = change.kind === 'created' && change.publishTo.length + change.smrTo.length === 0;
    this.log[quiet ? 'debug' : 'info'](
      { eid: e.eid, vm: e.vm, site, version: e.version, moveId: e.moveId, previousSite, publishTo: change.publishTo, smrTo: change.smrTo },
      `registered ${e.eid}${e.vm ? ` (${e.vm})` : ''} at ${site} -> ${e.locators[0].rloc}, version ${e.version}` +
        (previousSite ? ` (was at ${previousSite})` : '') +
        (change.publishTo.length + change.smrTo.length ? `: publish to ${change.publishTo.join(', ') || 'none'}, SMR to ${change.smrTo.join(', ') || 'none'}` : ''),
    );
    this.plane('Registered', `map-server:${e.eid}:${e.version}:${site}`, e, wall, {
      site,
      rloc: e.locators[0].rloc,
      kind: change.kind,
      ...(previousSite ? { previousSite } : {}),
      publishTo: change.publishTo,
      smrTo: change.smrTo,
    });
    this.plane('Notified', `notify:ack:${site}:${e.eid}:${e.version}`, e, wall, { kind: 'ack', to: site, site });
    if (previousSite) this.track(this.notifyAway(previousSite, e));
    for (const itr of change.publishTo) this.track(this.publish(itr, e));
    for (const itr of change.smrTo) this.solicit(itr, e);
  }

  /** Records of a Map-Register the map-server holds newer elsewhere: that site must stop claiming them. */
  private tellRefused(decision: RegisterAccepted): void {
    for (const r of decision.refused) {
      this.log.info(
        { site: decision.site, eid: r.eid, version: r.version, heldVersion: r.heldVersion, heldBy: r.heldBy },
        `stale registration of ${r.eid} v${r.version} from ${decision.site}: v${r.heldVersion} is at ${r.heldBy}`,
      );
      const current = this.server.registry.get(r.eid, this.deps.clock.lab());
      if (current && current.site !== decision.site) this.track(this.notifyAway(decision.site, current));
    }
  }

  private onRequest(req: MapRequest): object {
    const answer = this.server.request(req);
    const { report } = answer;
    // To an ITR, signed with its key: a responder that is not the map-resolver cannot fill its cache.
    const reply = req.itr ? signMessage(answer.reply, req.itr, this.deps.mac) : answer.reply;
    this.log.debug({ itr: req.itr, eid: req.eid, negative: reply.negative, version: reply.record?.version, subscribe: req.subscribe, smrInvoked: req.smrInvoked }, 'Map-Request answered');
    if (report) this.report(report);
    return { ok: true, reply };
  }

  /** Map-Notify to the site that held the EID before: it is registered elsewhere now. */
  private async notifyAway(site: string, entry: MappingEntry): Promise<void> {
    const record: MappingRecord = toMappingRecord(entry);
    const notify: MapNotify = this.signedFor(site, { type: 'Map-Notify' as const, kind: 'away' as const, site, records: [record] });
    let acked = false;
    try {
      const reply = await requestJson<{ ok: boolean }>(this.deps.nc, this.subjects.notify(site), notify, 3000);
      acked = reply.ok === true;
    } catch (err) {
      this.log.warn({ site, eid: entry.eid, err: (err as Error).message }, `Map-Notify to ${site} not acknowledged; its ETR learns the move from the location events or from a refused refresh`);
    }
    this.log.info(
      { to: site, eid: entry.eid, vm: entry.vm, version: entry.version, site: entry.site, acked },
      `Map-Notify to ${site}: ${entry.eid} is now at ${entry.site} (version ${entry.version}); stop claiming it`,
    );
    this.plane('Notified', `notify:away:${site}:${entry.eid}:${entry.version}`, entry, this.deps.clock.wall(), { kind: 'away', to: site, site: entry.site, acked });
  }

  /** RFC 9437: the new mapping to an ITR that subscribed to the EID; its answer says which version it holds now. */
  private async publish(itr: string, entry: MappingEntry): Promise<void> {
    const msg: MapPublish = this.signedFor(itr, { type: 'Map-Publish' as const, itr, record: toMappingRecord(entry) });
    try {
      const ack = await requestJson<PublishAck | { ok: false }>(this.deps.nc, this.subjects.publish(itr), msg, 3000);
      if (!ack.ok) {
        this.log.warn({ itr, eid: entry.eid, reply: ack }, `ITR ${itr} refused the publication of ${entry.eid}`);
        return;
      }
      const r = this.server.published(itr, entry.eid, ack);
      if (ack.outcome === 'not-held') this.log.info({ itr, eid: entry.eid }, `ITR ${itr} no longer caches ${entry.eid}; subscription ended`);
      if (r) this.report(r);
    } catch (err) {
      if (isNoResponders(err)) {
        this.log.info({ itr, eid: entry.eid }, `ITR ${itr} does not answer (its cache went with it); subscription ended`);
        const r = this.server.unreachable(itr, entry.eid);
        if (r) this.report(r);
      } else this.log.warn({ itr, eid: entry.eid, err: (err as Error).message }, 'publication not acknowledged');
    }
  }

  /** Solicit-Map-Request: the ITR holds an older copy and asks again (the answer counts as its convergence). */
  private solicit(itr: string, entry: MappingEntry): void {
    const smr: SolicitMapRequest = this.signedFor(itr, { type: 'SMR' as const, itr, eid: entry.eid, version: entry.version });
    this.deps.nc.publish(this.subjects.smr(itr), JSON.stringify(smr));
    this.log.debug({ itr, eid: entry.eid, version: entry.version }, 'SMR sent');
  }

  private sweep(): void {
    const { expired, timedOut } = this.server.sweep();
    const wall = this.deps.clock.wall();
    for (const e of expired) {
      this.log.info({ eid: e.eid, vm: e.vm, site: e.site, version: e.version }, `registration of ${e.eid} by ${e.site} expired (not refreshed)`);
      this.plane('RegistrationExpired', `expired:${e.eid}:${e.version}:${e.site}:${e.registeredAt}`, e, wall, { site: e.site });
    }
    for (const r of timedOut) this.report(r);
  }

  private report(r: ConvergenceReport): void {
    const owed = this.owed.delete(owedKey(r.eid, r.version));
    this.reports.push(r);
    if (this.reports.length > 1000) this.reports.shift();
    const what = `${r.vm ?? r.eid} ${r.eid} v${r.version} at ${r.site}`;
    const fields = { vm: r.vm, eid: r.eid, version: r.version, site: r.site, previousSite: r.previousSite, moveId: r.moveId, itrs: r.itrs, missing: r.missing, dropped: r.dropped, ms: round(r.ms) };
    if (r.outcome === 'converged') {
      // The mapping plane's one "done" fact per move, for the convergence tracker; and of a change
      // an ETR's start-up reconcile holds (a registration from its snapshot has no move id).
      if (owed || r.moveId) {
        const data: MappingConvergedData = {
          site: r.site,
          ...(r.previousSite ? { previousSite: r.previousSite } : {}),
          kind: r.kind,
          itrs: r.itrs,
          dropped: r.dropped,
          ms: round(r.ms),
          // the steps (Registered, Notified, CacheUpdated) are published live only: the outcome keeps their times
          registeredAt: iso(r.startedAt),
          itrAt: Object.fromEntries(Object.entries(r.itrAt).map(([itr, at]) => [itr, iso(at)])),
        };
        const id = `converged:${r.eid}:${r.version}:${r.site}`;
        this.deps.planes.emit({
          id,
          plane: 'map',
          type: 'MappingConverged',
          component: 'map-server',
          ...(r.vm ? { vm: r.vm } : {}),
          eid: r.eid,
          ...(r.moveId ? { moveId: r.moveId } : {}),
          locationVersion: r.version,
          at: iso(this.deps.clock.wall()),
          data,
        });
      }
      const line = r.itrs.length
        ? `mapping converged: ${what}: all ${r.itrs.length} ITRs that cached it hold the new version (${r.itrs.join(', ')}) after ${round(r.ms)} ms`
        : `mapping converged: ${what}: no ITR had cached it`;
      if (r.kind === 'created' && r.itrs.length === 0) this.log.debug(fields, line);
      else this.log.info(fields, line);
    } else if (r.outcome === 'timed-out') {
      this.log.warn(fields, `mapping NOT converged after ${round(r.ms)} ms: ${what}: ${r.missing.join(', ')} still on an older version`);
    } else {
      this.log.info(fields, `mapping change superseded before it converged: ${what}`);
    }
  }

  private plane(type: string, id: string, e: MappingRecord, wall: number, data: Record<string, unknown>): void {
    const event: PlaneEvent = {
      id,
      plane: 'map',
      type,
      component: 'map-server',
      ...(e.vm ? { vm: e.vm } : {}),
      eid: e.eid,
      ...(e.moveId ? { moveId: e.moveId } : {}),
      locationVersion: e.version,
      at: iso(wall),
      data,
    };
    this.deps.planes.emit(event);
  }

  /** A control message to `site` (its ETR or ITR), signed with the site's key. */
  private signedFor<T extends object>(site: string, body: T) {
    return signedFor(site, body, this.deps.mac, this.deps.clock.wall());
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;
const owedKey = (eid: string, version: number) => `${eid}@${version}`;
