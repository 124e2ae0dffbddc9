import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import type { MappingClock, SiteMac, SitePolicy } from '@locus/domain';
import type { MappingOptions, MappingTimers } from '../mapping-options';
import type { PlaneEventPublisher } from '@locus/messaging';

/** What every role of the mapping system gets from the process that hosts it. */
export interface MappingDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  prefix: string;
  stream: string;
  logger: Logger;
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
