import type { MappingView } from '@locus/contracts';
import type { CacheEntry, MappingEntry } from '@locus/domain';

const remainingS = (expiresAt: number, now: number) => Math.max(0, Math.round((expiresAt - now) / 100) / 10);

/** A registration as map.resolve / map.list show it. */
export function registrationView(e: MappingEntry, labNow: number): MappingView {
  return {
    prefix: e.eid,
    ...(e.vm ? { vm: e.vm } : {}),
    negative: false,
    rloc: e.locators[0]?.rloc,
    site: e.site,
    version: e.version,
    locators: e.locators,
    ttl: e.ttl,
    expiresInS: remainingS(e.expiresAt, labNow),
  };
}

/** An ITR cache entry as map.resolve / map.list show it. */
export function cacheView(e: CacheEntry, labNow: number): MappingView {
  const r = e.record;
  return {
    prefix: e.eid,
    ...(r?.vm ? { vm: r.vm } : {}),
    negative: e.negative,
    ...(r ? { rloc: r.locators[0]?.rloc, site: r.site, version: r.version, locators: r.locators } : {}),
    ttl: e.ttl,
    expiresInS: remainingS(e.expiresAt, labNow),
    subscribed: e.subscribed,
  };
}

/** The handy top-level fields of a resolve reply. */
export function flatten(view: MappingView): { rloc?: string; site?: string; version?: number; ttl: number; negative: boolean } {
  return { ...(view.rloc ? { rloc: view.rloc } : {}), ...(view.site ? { site: view.site } : {}), ...(view.version ? { version: view.version } : {}), ttl: view.ttl, negative: view.negative };
}
