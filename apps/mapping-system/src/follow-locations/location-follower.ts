import type { LocationEvent, VmView } from '@locus/contracts';
import type { EtrLocationFact } from '@locus/domain';
import type { Audience, LocationFollower } from '@locus/messaging';
import type { EtrService } from '../register-eid/etr.service';

/** The location fact an ETR applies, from VmPlaced, VmRelocated and a drift repair's VmLocationReasserted (the other location events change no EID's site). */
export function etrFactOf(event: LocationEvent): EtrLocationFact | undefined {
  switch (event.type) {
    case 'VmPlaced':
      return { vm: event.data.vm, ip: event.data.ip, site: event.data.site, locationVersion: event.data.locationVersion };
    case 'VmRelocated':
      return { vm: event.data.vm, ip: event.data.ip, site: event.data.to.site, locationVersion: event.data.locationVersion, moveId: event.data.moveId };
    case 'VmLocationReasserted':
      return { vm: event.data.vm, ip: event.data.ip, site: event.data.site, locationVersion: event.data.locationVersion };
    // where the VM runs does not change: a start, a resume, a failed or cancelled move
    case 'VmStartedAtTarget':
    case 'VmResumedAtTarget':
    case 'VmRestartedAtSource':
    case 'MoveFailed':
    case 'MoveCancelled':
      return undefined;
  }
}

/**
 * The ETRs a location event concerns: the site the VM is at now (it claims the EID) and the site
 * it left (it releases it). A drift repair names only where the VM is, so it goes to every ETR.
 */
export function etrAudience(event: LocationEvent): Audience {
  switch (event.type) {
    case 'VmPlaced':
      return [event.data.site];
    case 'VmRelocated':
      return [event.data.from.site, event.data.to.site];
    case 'VmLocationReasserted':
      return 'everyone';
    case 'VmStartedAtTarget':
    case 'VmResumedAtTarget':
    case 'VmRestartedAtSource':
    case 'MoveFailed':
    case 'MoveCancelled':
      return [];
  }
}

/**
 * Soft state, hard truth: an ETR's claims come from the authoritative location DB, through the
 * process's location feed: first the `vm.list` snapshot (with location versions, so that a
 * replayed older event changes nothing), then the location events, including those the ETR
 * missed while it was down.
 */
export class EtrLocationFollower implements LocationFollower {
  readonly name: string;
  readonly member: string;

  constructor(private readonly etr: EtrService) {
    this.name = `etr:${etr.site}`;
    this.member = etr.site;
  }

  loadSnapshot(vms: readonly VmView[]): void {
    for (const vm of vms) this.etr.learn({ vm: vm.name, ip: vm.ip, site: vm.site, locationVersion: vm.locationVersion });
  }

  handle(event: LocationEvent): void {
    const fact = etrFactOf(event);
    if (fact) this.etr.learn(fact);
  }
}
