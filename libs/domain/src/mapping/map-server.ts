import type { MapRegister, MapReply, MapRequest, MappingRecord, RefusedRecord } from '@locus/contracts';
import { MessageAuthenticator, type SiteMac } from './authentication';
import { ConvergenceTracker, type ConvergenceReport } from './convergence';
import { firstByPrefix, hostEid } from './eid-prefix';
import { MappingRegistry, toMappingRecord, type HeldVersion, type MappingEntry } from './registry';
import type { SitePolicy } from './site-policy';
import { RequesterIndex, SubscriptionIndex } from './subscriptions';

/** Two clocks: lab time (TTLs, refresh, expiry; scaled in labs) and wall time (message timestamps, convergence timing). */
export interface MappingClock {
  lab(): number;
  wall(): number;
}

export interface MapServerOptions {
  policy: SitePolicy;
  mac: SiteMac;
  clock: MappingClock;
  /** A registration not refreshed for this long expires (lab ms). */
  registrationTtlMs: number;
  /** Map-Register timestamps must be within ± this of the wall clock. */
  replayWindowMs: number;
  negativeTtlMinutes: number;
  /** A change whose ITRs have not all converged after this long (wall ms) is reported as timed out. */
  convergenceTimeoutMs: number;
}

export type RefusalCode = 'AUTH_FAILED' | 'REPLAYED' | 'UNKNOWN_SITE' | 'EID_NOT_ALLOWED' | 'BAD_REQUEST';

export interface RegisterRefused {
  ok: false;
  code: RefusalCode;
  reason: string;
}

/** A registration that changed the mapping, with the ITRs to tell: subscribers get it published, the others an SMR. */
export interface MappingChange {
  kind: 'created' | 'updated' | 'moved';
  entry: MappingEntry;
  previous?: HeldVersion;
  publishTo: string[];
  smrTo: string[];
}

export interface RegisterAccepted {
  ok: true;
  site: string;
  /** Records now registered (new, changed or refreshed): what the Map-Notify ack carries. */
  accepted: MappingRecord[];
  changes: MappingChange[];
  /** Records older than (or equal to another site's) version held: the site must stop claiming them. */
  refused: RefusedRecord[];
  refreshed: number;
  /** Convergence reports already complete (changes no ITR held) or superseded by these changes. */
  reports: ConvergenceReport[];
}

export type RegisterDecision = RegisterRefused | RegisterAccepted;

export interface MapServerCounters {
  registers: number;
  refused: Record<string, number>;
  changes: number;
  refreshes: number;
  staleRecords: number;
  requests: number;
  negativeReplies: number;
  publishes: number;
  smrs: number;
  expired: number;
}

/**
 * The map-server and map-resolver as pure decisions. The adapter feeds it messages and carries
 * out what it returns (replies, notifies, publications, SMRs); a refused Map-Register changes
 * nothing in the registry.
 */
export class MapServer {
  readonly registry: MappingRegistry;
  readonly subscriptions = new SubscriptionIndex();
  readonly requesters = new RequesterIndex();
  readonly tracker: ConvergenceTracker;
  private readonly authenticator: MessageAuthenticator;
  readonly counters: MapServerCounters = { registers: 0, refused: {}, changes: 0, refreshes: 0, staleRecords: 0, requests: 0, negativeReplies: 0, publishes: 0, smrs: 0, expired: 0 };

  constructor(private readonly options: MapServerOptions) {
    this.registry = new MappingRegistry(options.registrationTtlMs);
    this.tracker = new ConvergenceTracker(options.convergenceTimeoutMs);
    this.authenticator = new MessageAuthenticator(options.mac, options.replayWindowMs);
  }

  get policy(): SitePolicy {
    return this.options.policy;
  }

  /**
   * Map-Register: unknown site, missing or wrong HMAC, replayed nonce or stale timestamp, and an
   * EID outside what the site may claim refuse the whole message. Records the map-server holds a
   * newer version of are refused one by one (the rest of a refresh still counts).
   */
  register(msg: MapRegister): RegisterDecision {
    this.counters.registers++;
    const { policy, clock } = this.options;
    if (!policy.has(msg.site)) return this.refuse('UNKNOWN_SITE', `site ${msg.site} is not part of the mapping system`);
    const admitted = this.authenticator.admit(msg, msg.site, clock.wall());
    if (!admitted.ok) return this.refuse(admitted.code, admitted.reason);
    const seen = new Set<string>();
    for (const record of msg.records) {
      const verdict = policy.checkRecord(msg.site, record);
      if (!verdict.ok) return this.refuse(verdict.code, verdict.reason);
      if (seen.has(record.eid)) return this.refuse('BAD_REQUEST', `${record.eid} appears twice in one Map-Register`);
      seen.add(record.eid);
    }

    const now = clock.lab();
    const out: RegisterAccepted = { ok: true, site: msg.site, accepted: [], changes: [], refused: [], refreshed: 0, reports: [] };
    for (const record of msg.records) {
      const result = this.registry.apply(msg.site, record, now);
      if (result.outcome === 'stale') {
        this.counters.staleRecords++;
        out.refused.push({ eid: record.eid, version: record.version, code: 'FENCED', heldVersion: result.held.version, heldBy: result.held.site });
        continue;
      }
      out.accepted.push(toMappingRecord(result.entry));
      if (result.outcome === 'refreshed') {
        out.refreshed++;
        this.counters.refreshes++;
        continue;
      }
      this.counters.changes++;
      const publishTo = this.subscriptions.subscribers(record.eid).sort();
      const subscribed = new Set(publishTo);
      const smrTo = this.requesters
        .live(record.eid, now)
        .filter((itr) => !subscribed.has(itr))
        .sort();
      this.counters.publishes += publishTo.length;
      this.counters.smrs += smrTo.length;
      const change: MappingChange = { kind: result.outcome, entry: result.entry, ...(result.previous ? { previous: result.previous } : {}), publishTo, smrTo };
      out.changes.push(change);
      const previousSite = result.previous && result.previous.site !== msg.site ? result.previous.site : undefined;
      out.reports.push(
        ...this.tracker.begin(
          {
            eid: record.eid,
            ...(record.vm ? { vm: record.vm } : {}),
            version: record.version,
            site: msg.site,
            ...(previousSite ? { previousSite } : {}),
            kind: result.outcome,
            ...(record.moveId ? { moveId: record.moveId } : {}),
          },
          [...publishTo, ...smrTo],
          clock.wall(),
        ),
      );
    }
    return out;
  }

  /**
   * Map-Request: the longest match, or a negative reply for the EID's /32. An ITR that asks is
   * remembered as a subscriber or, without `subscribe`, as a holder to solicit on a change; a
   * negative reply is remembered too, so that the EID's first registration reaches it.
   */
  request(req: MapRequest): { reply: MapReply; report?: ConvergenceReport } {
    this.counters.requests++;
    const now = this.options.clock.lab();
    const entry = this.registry.match(req.eid, now);
    const key = entry ? entry.eid : hostEid(req.eid);
    const ttl = entry ? entry.ttl : this.options.negativeTtlMinutes;
    if (!entry) this.counters.negativeReplies++;
    let subscribed = false;
    let report: ConvergenceReport | undefined;
    if (req.itr) {
      if (req.subscribe) {
        this.subscriptions.subscribe(req.itr, key);
        subscribed = true;
      } else this.requesters.record(req.itr, key, now + ttl * 60_000);
      if (entry) report = this.tracker.holds(req.itr, key, entry.version, this.options.clock.wall());
    }
    const reply: MapReply = {
      type: 'Map-Reply',
      nonce: req.nonce,
      eid: req.eid,
      prefix: key,
      negative: !entry,
      ...(entry ? { record: toMappingRecord(entry) } : {}),
      ttl,
      subscribed,
    };
    return { reply, ...(report ? { report } : {}) };
  }

  /** The answer of a subscribed ITR to a publication. */
  published(itr: string, eid: string, ack: { outcome: string; holds?: number }): ConvergenceReport | undefined {
    const wall = this.options.clock.wall();
    if (ack.outcome === 'not-held') {
      this.subscriptions.unsubscribe(itr, eid);
      return this.tracker.drop(itr, eid, wall);
    }
    return ack.holds === undefined ? undefined : this.tracker.holds(itr, eid, ack.holds, wall);
  }

  /** A subscribed ITR no longer answers (no responders): it lost its cache with its process. */
  unreachable(itr: string, eid: string): ConvergenceReport | undefined {
    this.subscriptions.unsubscribe(itr, eid);
    this.requesters.forget(itr, eid);
    return this.tracker.drop(itr, eid, this.options.clock.wall());
  }

  /** The map-resolver's answer for an address, without remembering anyone (map.resolve). */
  resolve(address: string): MappingEntry | undefined {
    return this.registry.match(address, this.options.clock.lab());
  }

  /** Expires registrations and solicitation holders whose time ran out, and reports changes that did not converge in time. */
  sweep(): { expired: MappingEntry[]; timedOut: ConvergenceReport[] } {
    const now = this.options.clock.lab();
    const expired = this.registry.expire(now);
    this.counters.expired += expired.length;
    this.requesters.sweep(now);
    return { expired, timedOut: this.tracker.timeouts(this.options.clock.wall()) };
  }

  /** The first `limit` live registrations by prefix; with `eids`, only those of exactly these prefixes (one lookup each, no scan). */
  list(limit: number, eids?: readonly string[]): { total: number; entries: MappingEntry[] } {
    const now = this.options.clock.lab();
    const all = eids ? [...new Set(eids)].flatMap((eid) => this.registry.get(eid, now) ?? []) : this.registry.entries(now);
    return { total: all.length, entries: firstByPrefix(all, (e) => e.eid, limit) };
  }

  stats(): Record<string, unknown> {
    return {
      registrations: this.registry.size,
      subscriptions: this.subscriptions.size,
      solicitable: this.requesters.size,
      convergencesPending: this.tracker.size,
      ...this.counters,
      refused: { ...this.counters.refused },
    };
  }

  private refuse(code: RefusalCode, reason: string): RegisterRefused {
    this.counters.refused[code] = (this.counters.refused[code] ?? 0) + 1;
    return { ok: false, code, reason };
  }
}
