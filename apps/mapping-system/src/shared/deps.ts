import type { MappingClock, SiteMac, SitePolicy } from '@locus/domain';
import type { FeedDeps, PlaneEventPublisher } from '@locus/messaging';
import type { MappingOptions, MappingTimers } from '../mapping-options';

/** What every role of the mapping system gets from the process that hosts it (a feed's connections, and its own). */
export interface MappingDeps extends FeedDeps {
  /** lab(): scaled lab time for TTLs and refresh; wall(): real time for timestamps and convergence. */
  clock: MappingClock;
  mac: SiteMac;
  policy: SitePolicy;
  options: MappingOptions;
  timers: MappingTimers;
  planes: PlaneEventPublisher;
}

/** NATS "no responders": nobody serves the subject (the peer is down). */
export function isNoResponders(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string };
  return e?.code === '503' || e?.name === 'NoResponders' || /no responders/i.test(e?.message ?? '');
}

export const iso = (wallMs: number) => new Date(wallMs).toISOString();
