import type { NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { mappingSubjects, routingSubjects, type DriftReply, type DriftView } from '@locus/contracts';
import { driftKey, findDrift, type DriftInput, type DriftLocation, type MappingEntryFacts } from '@locus/domain';
import { requestJson } from '@locus/messaging';
import type { TopologyIndex } from '@locus/topology';

export interface DriftOptions {
  prefix: string;
  /** Real ms between two checks; 0: only on request. */
  intervalMs: number;
  /** How long each plane has to answer. */
  timeoutMs?: number;
}

/**
 * Drift detector: compares the location DB with what every plane says through its query
 * endpoints (`map.list` of the map-server and of each ITR, `routes.list`, `arp.stale`),
 * periodically and on `drift.check`. VMs that are moving or whose move is still converging
 * within its deadline are left out. Logs each disagreement once when it appears and once when
 * it is gone, and returns them all.
 */
export class DriftDetector {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private known = new Map<string, DriftView>();
  private readonly log: Logger;

  constructor(
    private readonly deps: { nc: NatsConnection; dataSource: DataSource; topology: TopologyIndex; logger: Logger; converging: () => ReadonlySet<string> },
    private readonly options: DriftOptions,
  ) {
    this.log = deps.logger.child({ component: 'drift-detector' });
  }

  start(): void {
    if (this.options.intervalMs <= 0) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.check()
        .catch((err) => this.log.warn({ err: (err as Error).message }, 'drift check failed'))
        .finally(() => (this.running = undefined));
    }, this.options.intervalMs);
    this.log.info({ intervalMs: this.options.intervalMs }, `drift detector armed: every plane compared with the location DB every ${(this.options.intervalMs / 1000).toFixed(1)} s`);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  async check(): Promise<DriftReply> {
    const rows: { name: string; ip: string; site: string; state: DriftLocation['state']; location_version: number }[] = await this.deps.dataSource.query(
      `SELECT name, host(ip) AS ip, site, state, location_version FROM vm_location ORDER BY name`,
    );
    const locations: DriftLocation[] = rows.map((r) => ({ vm: r.name, ip: r.ip, site: r.site, state: r.state, locationVersion: r.location_version }));
    const skip = new Set<string>([...this.deps.converging(), ...locations.filter((l) => l.state === 'moving').map((l) => l.vm)]);
    const map = mappingSubjects(this.options.prefix);
    const routing = routingSubjects(this.options.prefix);
    const sites = this.deps.topology.sites.map((s) => ({ name: s.name, hostRoutes: s.hostRoutes, mappingSystem: s.mappingSystem }));
    const itrSites = sites.filter((s) => s.mappingSystem).map((s) => s.name);
    const [registry, routes, arpStale, ...itrs] = await Promise.all([
      this.ask<{ entries: MappingEntryFacts[] }>(map.list, { limit: 5000 }).then((r) => ('unavailable' in r ? r : r.entries)),
      this.ask<{ sites: Extract<DriftInput['routes'], readonly unknown[]> }>(routing.routesList, {}).then((r) => ('unavailable' in r ? r : r.sites)),
      this.ask<{ stale: Extract<DriftInput['arpStale'], readonly unknown[]> }>(routing.arpStale, {}).then((r) => ('unavailable' in r ? r : r.stale)),
      ...itrSites.map((itr) => this.ask<{ entries: MappingEntryFacts[] }>(map.list, { itr, limit: 5000 }).then((r) => ({ itr, entries: 'unavailable' in r ? r : r.entries }))),
    ]);
    const disagreements = findDrift({ locations, sites, skip, registry, routes, arpStale, itrs: itrs as DriftInput['itrs'] });
    this.report(disagreements);
    return { checkedAt: new Date().toISOString(), vms: locations.filter((l) => !skip.has(l.vm)).length, skipped: [...skip].sort(), disagreements };
  }

  /** One line per disagreement that appeared, one per disagreement that went away. */
  private report(disagreements: DriftView[]): void {
    const now = new Map(disagreements.map((d) => [driftKey(d), d]));
    const appeared = [...now].filter(([k]) => !this.known.has(k)).map(([, d]) => d);
    const resolved = [...this.known].filter(([k]) => !now.has(k)).map(([, d]) => d);
    this.known = now;
    for (const d of appeared.slice(0, 20)) this.log.warn({ plane: d.plane, vm: d.vm, drift: d.component }, `drift: ${d.component}${d.vm ? ` (${d.vm})` : ''} disagrees with the location DB: ${d.detail}`);
    if (appeared.length > 20) this.log.warn({ more: appeared.length - 20 }, `drift: ${appeared.length - 20} more disagreements`);
    for (const d of resolved.slice(0, 20)) this.log.info({ plane: d.plane, vm: d.vm, drift: d.component }, `drift resolved: ${d.component}${d.vm ? ` (${d.vm})` : ''} agrees again`);
    if (appeared.length || resolved.length) this.log.info({ disagreements: disagreements.length }, disagreements.length ? `drift: ${disagreements.length} disagreement(s) with the location DB` : 'drift: every plane agrees with the location DB again');
  }

  private async ask<T>(subject: string, body: unknown): Promise<({ ok: true } & T) | { unavailable: string }> {
    try {
      const reply = await requestJson<({ ok: true } & T) | { ok: false; error: { code: string; message: string } }>(this.deps.nc, subject, body, this.options.timeoutMs ?? 3000);
      return reply.ok ? reply : { unavailable: `${reply.error.code}: ${reply.error.message}` };
    } catch (err) {
      return { unavailable: (err as Error).message };
    }
  }
}
