import type { Logger } from 'pino';
import { subjects, type RecordedEvent } from '@locus/contracts';
import type { EtrLocationFact } from '@locus/domain';
import { ACK, DurableConsumer, fetchLocationSnapshot } from '@locus/messaging';
import type { MappingDeps } from '../shared/deps';
import type { EtrService } from '../register-eid/etr.service';

/** The location fact an ETR applies, from VmPlaced and VmRelocated (other events carry no location). */
export function etrFactOf(event: RecordedEvent): EtrLocationFact | undefined {
  if (event.type === 'VmPlaced') {
    const d = event.data as { vm: string; ip: string; site: string; locationVersion: number };
    return { vm: d.vm, ip: d.ip, site: d.site, locationVersion: d.locationVersion };
  }
  if (event.type === 'VmRelocated') {
    const d = event.data as { moveId: string; vm: string; ip: string; to: { site: string }; locationVersion: number };
    return { vm: d.vm, ip: d.ip, site: d.to.site, locationVersion: d.locationVersion, moveId: d.moveId };
  }
  return undefined;
}

/**
 * Soft state, hard truth: an ETR's claims come from the authoritative location DB. First a
 * `vm.list` snapshot of every VM (with location versions, so that a replayed older event changes
 * nothing), then the location events from a durable consumer (`mapping-etr-<site>`), which
 * also brings the events the ETR missed while it was down.
 */
export class LocationFollower {
  private consumer?: DurableConsumer;
  private readonly log: Logger;

  constructor(
    private readonly etr: EtrService,
    private readonly deps: MappingDeps,
  ) {
    this.log = deps.logger.child({ component: `etr:${etr.site}` });
  }

  async start(): Promise<void> {
    await this.loadSnapshot();
    const s = subjects(this.deps.prefix);
    this.consumer = new DurableConsumer(this.deps.js, this.deps.jsm, {
      stream: this.deps.stream,
      durable: `mapping-etr-${this.etr.site}`,
      filterSubject: s.event('vm', '*', '*'), // VmPlaced and VmRelocated matter; the rest is acked
      logger: this.log,
      handle: async (event) => {
        const fact = etrFactOf(event);
        if (fact) this.etr.learn(fact);
        return ACK;
      },
    });
    await this.consumer.start();
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
  }

  private async loadSnapshot(): Promise<void> {
    const vms = await fetchLocationSnapshot(this.deps.nc, this.deps.prefix, {}, this.log);
    for (const vm of vms) this.etr.learn({ vm: vm.name, ip: vm.ip, site: vm.site, locationVersion: vm.locationVersion });
    this.log.info({ vms: vms.length, claims: this.etr.claims.size }, `location snapshot loaded: ${this.etr.claims.size} EIDs to register`);
  }
}
