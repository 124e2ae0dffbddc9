import type { LocationEvent, VmView } from '@locus/contracts';
import type { RouteFact } from '@locus/domain';

/** Turns a location event into the fact a route injector applies, or nothing. */
export function routeFactOf(event: LocationEvent): RouteFact | undefined {
  const vm = event.streamId.replace(/^vm:/, '');
  switch (event.type) {
    case 'VmPlaced': {
      const d = event.data;
      return { type: 'placed', vm: d.vm, ip: d.ip, site: d.site, locationVersion: d.locationVersion };
    }
    case 'VmRelocated': {
      const d = event.data;
      return { type: 'relocated', vm: d.vm, ip: d.ip, from: d.from.site, to: d.to.site, locationVersion: d.locationVersion, moveId: d.moveId };
    }
    case 'MoveFailed':
    case 'MoveCancelled':
      return event.data.restartAtSource ? { type: 'down', vm, reason: `${event.type} in phase ${event.data.phase}: the VM is stopped until it is restarted` } : undefined;
    case 'VmRestartedAtSource':
      return { type: 'up', vm, reason: `restarted at ${event.data.hypervisor}` };
    case 'VmLocationReasserted': {
      // A drift repair: the VM belongs at this site at the new version (the repair boots it if it must).
      const d = event.data;
      return { type: 'placed', vm: d.vm, ip: d.ip, site: d.site, locationVersion: d.locationVersion };
    }
    case 'VmStartedAtTarget':
    case 'VmResumedAtTarget':
      return { type: 'up', vm, reason: `running at ${event.data.hypervisor}`, locationVersion: event.data.locationVersion };
    default: {
      const never: never = event;
      return never;
    }
  }
}

/** The location DB's row as a fact: a VM the DB says is stopped has no route. */
export function snapshotFact(view: VmView): RouteFact {
  return { type: 'placed', vm: view.name, ip: view.ip, site: view.site, locationVersion: view.locationVersion, up: view.state !== 'stopped' };
}
