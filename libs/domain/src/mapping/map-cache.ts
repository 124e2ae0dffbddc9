import type { MapReply, MappingRecord } from '@locus/contracts';
import { ExpiryQueue } from './expiry-queue';
import { hostEid, parseEidPrefix, parseIpv4, PrefixTable } from './eid-prefix';
import { isNewerVersion, isSameVersion } from './serial';

export type CacheSource = 'map-reply' | 'publish' | 'smr';

/** One entry of an ITR's map cache. Times are lab ms. */
export interface CacheEntry {
  eid: string;
  negative: boolean;
  /** The mapping (positive entries). */
  record?: MappingRecord;
  ttl: number;
  installedAt: number;
  expiresAt: number;
  subscribed: boolean;
  via: CacheSource;
}

/**
 * - `installed`: a new entry or a newer version; `refreshed`: same version, TTL renewed;
 * - `stale`: older than what the ITR holds or held (never installed);
 * - `kept`: a negative reply for an EID the ITR holds a mapping for (a mapping is never replaced by a negative);
 * - `not-held`: a publication for an EID the ITR does not cache (it restarted or the entry expired).
 */
export type InstallOutcome = 'installed' | 'refreshed' | 'stale' | 'kept' | 'not-held';

/**
 * An ITR's map cache. An ITR never installs an older version than it holds, or than it ever
 * held for that EID (the highest version outlives the entry), whatever order replies,
 * publications and SMR-invoked replies arrive in.
 */
export class MapCache {
  private readonly byKey = new Map<string, CacheEntry>();
  private readonly table = new PrefixTable<CacheEntry>();
  private readonly highest = new Map<string, number>();
  private readonly expiry = new ExpiryQueue<string>();

  constructor(
    readonly itr: string,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  /** The live entry covering the address (longest match), if any. */
  lookup(address: string): CacheEntry | undefined {
    const n = parseIpv4(address);
    const now = this.now();
    return n === undefined ? undefined : this.table.match(n, (e) => e.expiresAt > now);
  }

  entry(eid: string): CacheEntry | undefined {
    const e = this.byKey.get(eid);
    return e && e.expiresAt > this.now() ? e : undefined;
  }

  /** Installs a Map-Reply (to a miss, or to an SMR-invoked request). */
  installReply(reply: MapReply, via: CacheSource = 'map-reply'): { outcome: InstallOutcome; entry?: CacheEntry } {
    if (reply.negative || !reply.record) {
      const existing = this.entry(reply.prefix);
      if (existing && !existing.negative) return { outcome: 'kept', entry: existing };
      const covering = this.lookup(reply.eid);
      if (covering && !covering.negative) return { outcome: 'kept', entry: covering };
      const entry = this.put({ eid: reply.prefix, negative: true, ttl: reply.ttl, subscribed: reply.subscribed, via });
      return { outcome: existing ? 'refreshed' : 'installed', entry };
    }
    const outcome = this.installRecord(reply.record, reply.ttl, reply.subscribed, via);
    // a negative entry for the queried host would shadow a broader mapping
    const host = hostEid(reply.eid);
    if (host !== reply.record.eid && this.byKey.get(host)?.negative) this.remove(host);
    return outcome;
  }

  /**
   * A publication from the map-server (RFC 9437) for an EID this ITR subscribed to. `awaitingReply`:
   * the ITR's Map-Request for it is still in flight (the publication overtook the reply), so the
   * EID is held even though nothing is installed yet; the late reply is then older and not installed.
   */
  applyPublish(record: MappingRecord, awaitingReply = false): { outcome: InstallOutcome; entry?: CacheEntry } {
    const existing = this.entry(record.eid);
    if (!existing && !awaitingReply) return { outcome: 'not-held' };
    return this.installRecord(record, record.ttl, true, 'publish');
  }

  /** Should a Solicit-Map-Request for `eid` at `version` make this ITR ask again? Only if it holds the EID at an older version or as negative. */
  wantsRefresh(eid: string, version: number): boolean {
    const p = parseEidPrefix(eid);
    const e = this.entry(eid) ?? (p && p.length === 32 ? this.lookup(eid.slice(0, -3)) : undefined);
    if (!e) return false;
    return e.negative || isNewerVersion(version, e.record!.version);
  }

  /** Removes entries whose TTL ran out. */
  expire(): CacheEntry[] {
    const now = this.now();
    return this.expiry
      .due(now, (k) => this.byKey.get(k)?.expiresAt)
      .map((k) => {
        const e = this.byKey.get(k)!;
        this.remove(k);
        return e;
      });
  }

  entries(): CacheEntry[] {
    const now = this.now();
    return [...this.byKey.values()].filter((e) => e.expiresAt > now);
  }

  private installRecord(record: MappingRecord, ttl: number, subscribed: boolean, via: CacheSource): { outcome: InstallOutcome; entry?: CacheEntry } {
    const highest = this.highest.get(record.eid);
    const existing = this.entry(record.eid);
    if (highest !== undefined && !isNewerVersion(record.version, highest)) {
      if (!isSameVersion(record.version, highest)) return { outcome: 'stale', entry: existing };
      if (!existing || existing.negative) {
        // the same version again after the entry expired (or behind a negative entry): a fresh install
        const entry = this.put({ eid: record.eid, negative: false, record: copy(record), ttl, subscribed, via });
        return { outcome: 'installed', entry };
      }
      existing.expiresAt = this.now() + ttl * 60_000;
      existing.subscribed = existing.subscribed || subscribed;
      this.expiry.schedule(record.eid, existing.expiresAt);
      return { outcome: 'refreshed', entry: existing };
    }
    this.highest.set(record.eid, record.version);
    const entry = this.put({ eid: record.eid, negative: false, record: copy(record), ttl, subscribed: subscribed || !!existing?.subscribed, via });
    return { outcome: 'installed', entry };
  }

  private put(e: Omit<CacheEntry, 'installedAt' | 'expiresAt'>): CacheEntry {
    const now = this.now();
    const entry: CacheEntry = { ...e, installedAt: now, expiresAt: now + e.ttl * 60_000 };
    this.byKey.set(e.eid, entry);
    this.table.set(parseEidPrefix(e.eid)!, entry);
    this.expiry.schedule(e.eid, entry.expiresAt);
    return entry;
  }

  private remove(eid: string): void {
    this.byKey.delete(eid);
    this.table.delete(parseEidPrefix(eid)!);
  }
}

const copy = (r: MappingRecord): MappingRecord => ({ ...r, locators: r.locators.map((l) => ({ ...l })) });
