import type { Service, Subscription } from 'nats';
import type { Logger } from 'pino';
import {
  errorReply,
  ItrQuery,
  LocusError,
  MapPublish,
  mappingSubjects,
  SolicitMapRequest,
  type CacheUpdatedData,
  type ErrorBody,
  type MapListReply,
  type MapReply,
  type MapRequest,
  type MapResolveReply,
  type PlaneEvent,
  type PublishAck,
} from '@locus/contracts';
import { firstByPrefix, MapCache, type CacheEntry, type CacheSource } from '@locus/domain';
import { addJsonEndpoint, requestJson } from '@locus/messaging';
import { iso, type MappingDeps } from '../shared/deps';
import { PeriodicTask } from '../shared/periodic';
import type { SiteInbox } from '../shared/site-inbox';
import { newNonce } from '../shared/site-keys';
import { cacheView, flatten } from '../shared/views';

/**
 * The ITR of one site: a map cache filled on misses by Map-Requests to the map-resolver, kept
 * current by publications (when subscribed, RFC 9437) or by Solicit-Map-Requests, and never
 * taking an older version than it holds. Every install of a new version is a CacheUpdated plane
 * event. Map-Replies, publications and SMRs count only when signed with the site's key (SiteInbox);
 * anything else leaves the cache as it is.
 */
export class ItrService {
  readonly cache: MapCache;
  private readonly log: Logger;
  private readonly subjects;
  private readonly inflight = new Map<string, Promise<CacheEntry | undefined>>();
  private sweeper?: PeriodicTask;
  private hello?: Subscription;

  constructor(
    readonly name: string,
    /** false: the ITR does not subscribe and relies on SMRs. */
    readonly subscribe: boolean,
    private readonly deps: MappingDeps,
    /** Checks what the map-server sends this site. */
    readonly inbox: SiteInbox,
  ) {
    this.log = deps.logger.child({ component: `itr:${name}` });
    this.subjects = mappingSubjects(deps.prefix);
    this.cache = new MapCache(name, () => deps.clock.lab());
  }

  async start(service: Service): Promise<void> {
    this.inbox.serve(service, {
      type: 'Map-Publish',
      name: `lisp-publish-${this.name}`,
      subject: this.subjects.publish(this.name),
      schema: MapPublish,
      addressee: (m) => m.itr,
      detail: (m) => ({ eid: field(m.record, 'eid'), version: field(m.record, 'version'), site: field(m.record, 'site') }),
      handler: (m) => this.onPublish(m),
    });
    this.inbox.serve(service, {
      type: 'SMR',
      name: `lisp-smr-${this.name}`,
      subject: this.subjects.smr(this.name),
      schema: SolicitMapRequest,
      addressee: (m) => m.itr,
      detail: (m) => ({ eid: m.eid, version: m.version }),
      handler: (m) => this.onSmr(m),
    });
    addJsonEndpoint(service, { name: `lisp-itr-${this.name}`, subject: this.subjects.itr(this.name), schema: ItrQuery, logger: this.log, handler: (q) => this.onQuery(q) });
    this.hello = this.deps.nc.subscribe(this.subjects.hello, { callback: () => void this.requestAllAgain() });
    this.sweeper = new PeriodicTask(
      this.deps.timers.sweepRealMs,
      () => void this.cache.expire(),
      (err) => this.log.warn({ err: err.message }, 'sweep failed'),
    );
    this.sweeper.start();
  }

  async stop(): Promise<void> {
    this.sweeper?.stop();
    this.hello?.unsubscribe();
    await Promise.allSettled([...this.inflight.values()]);
  }

  /** A packet for `address` reaches this ITR: a hit answers from the cache, a miss asks the map-resolver and caches the reply. */
  async forward(address: string): Promise<{ lookup: 'hit' | 'miss'; entry?: CacheEntry }> {
    const hit = this.cache.lookup(address);
    if (hit) return { lookup: 'hit', entry: hit };
    return { lookup: 'miss', entry: await this.resolve(address, 'map-reply', false) };
  }

  /**
   * Sends a Map-Request and installs the reply; concurrent misses for one address share the request.
   * An SMR-invoked request is always sent afresh: a request already in flight was answered before the
   * change the SMR announces, so joining it could miss the new version.
   */
  resolve(address: string, via: CacheSource, smrInvoked: boolean): Promise<CacheEntry | undefined> {
    const running = this.inflight.get(address);
    if (running && !smrInvoked) return running;
    const p = this.requestMapping(address, via, smrInvoked).finally(() => {
      if (this.inflight.get(address) === p) this.inflight.delete(address);
    });
    this.inflight.set(address, p);
    return p;
  }

  private async requestMapping(address: string, via: CacheSource, smrInvoked: boolean): Promise<CacheEntry | undefined> {
    const req: MapRequest = { type: 'Map-Request', nonce: newNonce(), eid: address, itr: this.name, subscribe: this.subscribe, smrInvoked };
    const res = await requestJson<{ ok: true; reply: MapReply } | { ok: false; error: ErrorBody }>(this.deps.nc, this.subjects.request, req, 3000).catch((err: Error) => {
      throw new LocusError('UNAVAILABLE', `the map-resolver does not answer: ${err.message}`);
    });
    if (!res.ok) throw new LocusError(res.error.code, res.error.message);
    if (res.reply.nonce !== req.nonce) throw new LocusError('INTERNAL', 'Map-Reply nonce does not match the Map-Request');
    const refused = this.inbox.checkReply(res.reply, { eid: address, nonce: req.nonce });
    if (refused) throw new LocusError(refused.code, `Map-Reply for ${address} not taken: ${refused.reason}`);
    const { outcome, entry } = this.cache.installReply(res.reply, via);
    if (outcome === 'installed' && entry && !entry.negative) this.installed(entry, via);
    else if (outcome === 'installed' && entry?.negative) this.log.info({ eid: entry.eid, ttl: entry.ttl }, `negative Map-Reply: ${entry.eid} is not registered; cached for ${entry.ttl} min`);
    else if (outcome === 'stale') this.log.info({ eid: res.reply.prefix, version: res.reply.record?.version, holds: entry?.record?.version }, 'ignored a Map-Reply older than the version held');
    return entry ?? this.cache.lookup(address);
  }

  private onPublish(m: MapPublish): PublishAck {
    const { outcome, entry } = this.cache.applyPublish(m.record, this.inflight.has(addressOf(m.record.eid)));
    if (outcome === 'installed' && entry) this.installed(entry, 'publish');
    else if (outcome === 'stale') this.log.info({ eid: m.record.eid, version: m.record.version, holds: entry?.record?.version }, 'ignored a publication older than the version held');
    return { ok: true, itr: this.name, eid: m.record.eid, outcome: outcome === 'kept' ? 'refreshed' : outcome, ...(entry?.record ? { holds: entry.record.version } : {}) };
  }

  private onSmr(m: SolicitMapRequest): object {
    const address = addressOf(m.eid);
    // held at an older version, or being requested right now (the reply may predate the change)
    if (!this.cache.wantsRefresh(m.eid, m.version) && !this.inflight.has(address)) return { ok: true, requested: false };
    this.log.info({ eid: m.eid, version: m.version }, `Solicit-Map-Request for ${m.eid} (v${m.version}): asking the map-resolver again`);
    void this.resolve(address, 'smr', true).catch((err: Error) => this.log.warn({ eid: m.eid, err: err.message }, 'SMR-invoked Map-Request failed'));
    return { ok: true, requested: true };
  }

  private async onQuery(q: ItrQuery): Promise<MapResolveReply | MapListReply | object> {
    const lab = this.deps.clock.lab();
    const source = `itr:${this.name}`;
    if (q.op === 'list') {
      const all = q.eids ? [...new Set(q.eids)].flatMap((eid) => this.cache.entry(eid) ?? []) : this.cache.entries();
      const reply: MapListReply = {
        ok: true,
        source,
        total: all.length,
        entries: firstByPrefix(all, (e) => e.eid, q.limit ?? 1000).map((e) => cacheView(e, lab)),
        stats: { refused: this.inbox.refused },
      };
      return reply;
    }
    let lookup: 'hit' | 'miss' | undefined;
    let entry: CacheEntry | undefined;
    if (q.forward) {
      try {
        ({ lookup, entry } = await this.forward(q.eid));
      } catch (err) {
        if (err instanceof LocusError) return errorReply(err.code, err.message);
        throw err;
      }
    } else entry = this.cache.lookup(q.eid);
    if (!entry) return { ok: true, eid: q.eid, source, cached: false, ...(lookup ? { lookup } : {}) } satisfies MapResolveReply;
    const view = cacheView(entry, this.deps.clock.lab());
    return { ok: true, eid: q.eid, source, cached: true, ...(lookup ? { lookup } : {}), ...flatten(view), mapping: view } satisfies MapResolveReply;
  }

  /** After a map-server restart: ask again for everything cached, which also subscribes again. */
  private async requestAllAgain(): Promise<void> {
    const addresses = this.cache.entries().map((e) => addressOf(e.eid));
    if (addresses.length === 0) return;
    this.log.info({ entries: addresses.length, subscribe: this.subscribe }, 'map-server (re)started: requesting every cached EID again');
    let next = 0;
    const worker = async () => {
      while (next < addresses.length) {
        const a = addresses[next++];
        await this.resolve(a, 'map-reply', false).catch((err: Error) => this.log.warn({ eid: a, err: err.message }, 'Map-Request after map-server restart failed'));
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  }

  private installed(entry: CacheEntry, via: CacheSource): void {
    const r = entry.record!;
    const rloc = r.locators[0]?.rloc ?? '';
    this.log.info(
      { eid: r.eid, vm: r.vm, version: r.version, site: r.site, rloc, via, moveId: r.moveId },
      `cached ${r.eid}${r.vm ? ` (${r.vm})` : ''} -> ${rloc} (${r.site}), version ${r.version}, via ${via}`,
    );
    const wall = this.deps.clock.wall();
    const data: CacheUpdatedData = { itr: this.name, eid: r.eid, version: r.version, rloc, site: r.site, via };
    const event: PlaneEvent<CacheUpdatedData> = {
      id: `${this.name}:${r.eid}:${r.version}`,
      plane: 'map',
      type: 'CacheUpdated',
      component: `itr:${this.name}`,
      ...(r.vm ? { vm: r.vm } : {}),
      eid: r.eid,
      ...(r.moveId ? { moveId: r.moveId } : {}),
      locationVersion: r.version,
      at: iso(wall),
      data,
    };
    this.deps.planes.emit(event);
  }
}

/** The address a Map-Request asks for to reach an EID prefix (its network address). */
const addressOf = (eid: string) => eid.split('/')[0];

/** A field of an object of a message not yet validated (for the log line of a refusal). */
const field = (obj: unknown, key: string): unknown => (obj !== null && typeof obj === 'object' ? (obj as Record<string, unknown>)[key] : undefined);
