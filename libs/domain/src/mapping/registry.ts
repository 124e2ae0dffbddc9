import type { MappingRecord, RegisterRecord } from '@locus/contracts';
import { ExpiryQueue } from './expiry-queue';
import { parseEidPrefix, parseIpv4, PrefixTable } from './eid-prefix';
import { isNewerVersion, isSameVersion } from './serial';

/** A registration held by the map-server. Times are lab (simulated) ms. */
export interface MappingEntry extends MappingRecord {
  registeredAt: number;
  refreshedAt: number;
  expiresAt: number;
}

export interface HeldVersion {
  site: string;
  version: number;
}

export type ApplyResult =
  { outcome: 'created' | 'updated' | 'moved'; entry: MappingEntry; previous?: HeldVersion } | { outcome: 'refreshed'; entry: MappingEntry } | { outcome: 'stale'; held: HeldVersion };

/**
 * The map-server's registrations: EID prefix -> locator set, site, TTL and map version.
 * - The map version never goes back: a registration older than the highest version ever held
 *   for the EID is stale, even after the registration expired (the highest version is kept).
 * - A registration expires when it is not refreshed within `ttlMs` (lab time).
 * - Lookups are longest-prefix matches; nothing here scans the table per registration.
 */
export class MappingRegistry {
  private readonly byKey = new Map<string, MappingEntry>();
  private readonly table = new PrefixTable<MappingEntry>();
  private readonly highest = new Map<string, HeldVersion>();
  private readonly expiry = new ExpiryQueue<string>();

  constructor(readonly ttlMs: number) {}

  /** Live and expired-but-not-yet-swept registrations. */
  get size(): number {
    return this.byKey.size;
  }

  get(eid: string, now: number): MappingEntry | undefined {
    const e = this.byKey.get(eid);
    return e && e.expiresAt > now ? e : undefined;
  }

  /** The live registration covering the address (longest match). */
  match(address: string, now: number): MappingEntry | undefined {
    const n = parseIpv4(address);
    return n === undefined ? undefined : this.table.match(n, (e) => e.expiresAt > now);
  }

  /** The highest version ever registered for the EID and by which site, expired or not. */
  held(eid: string): HeldVersion | undefined {
    return this.highest.get(eid);
  }

  /** Applies one record of an authenticated, authorised Map-Register. */
  apply(site: string, record: RegisterRecord, now: number): ApplyResult {
    const prefix = parseEidPrefix(record.eid);
    if (!prefix) throw new Error(`not a canonical EID prefix: ${record.eid}`);
    const held = this.highest.get(record.eid);
    if (held && !isNewerVersion(record.version, held.version)) {
      if (!isSameVersion(record.version, held.version) || held.site !== site) return { outcome: 'stale', held };
      const live = this.get(record.eid, now);
      if (live) {
        live.refreshedAt = now;
        live.expiresAt = now + this.ttlMs;
        this.expiry.schedule(record.eid, live.expiresAt);
        return { outcome: 'refreshed', entry: live };
      }
      return { outcome: 'created', entry: this.put(site, record, now) }; // registered again after it expired
    }
    const entry = this.put(site, record, now);
    if (!held) return { outcome: 'created', entry };
    return { outcome: held.site === site ? 'updated' : 'moved', entry, previous: held };
  }

  /** Removes the registrations whose time ran out (their highest version is kept). */
  expire(now: number): MappingEntry[] {
    const out: MappingEntry[] = [];
    for (const key of this.expiry.due(now, (k) => this.byKey.get(k)?.expiresAt)) {
      const entry = this.byKey.get(key)!;
      this.byKey.delete(key);
      this.table.delete(parseEidPrefix(key)!);
      out.push(entry);
    }
    return out;
  }

  entries(now: number): MappingEntry[] {
    return [...this.byKey.values()].filter((e) => e.expiresAt > now);
  }

  private put(site: string, record: RegisterRecord, now: number): MappingEntry {
    const entry: MappingEntry = {
      eid: record.eid,
      ...(record.vm ? { vm: record.vm } : {}),
      site,
      locators: record.locators.map((l) => ({ ...l })),
      ttl: record.ttl,
      version: record.version,
      ...(record.moveId ? { moveId: record.moveId } : {}),
      registeredAt: now,
      refreshedAt: now,
      expiresAt: now + this.ttlMs,
    };
    this.byKey.set(record.eid, entry);
    this.table.set(parseEidPrefix(record.eid)!, entry);
    this.highest.set(record.eid, { site, version: record.version });
    this.expiry.schedule(record.eid, entry.expiresAt);
    return entry;
  }
}

/** The wire form of a registration (what Map-Replies, publications and notifies carry). */
export function toMappingRecord(e: MappingRecord): MappingRecord {
  return {
    eid: e.eid,
    ...(e.vm ? { vm: e.vm } : {}),
    site: e.site,
    locators: e.locators.map((l) => ({ ...l })),
    ttl: e.ttl,
    version: e.version,
    ...(e.moveId ? { moveId: e.moveId } : {}),
  };
}
