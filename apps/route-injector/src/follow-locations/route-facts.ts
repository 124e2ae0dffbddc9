import type { LocationEvent, VmView } from '@locus/contracts';
import type { RouteFact, RouteTracker, SiteOriginators } from '@locus/domain';
import type { Audience } from '@locus/messaging';

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

/**
 * The sites a location event concerns, read before it is applied: those it names (the site left
 * and the site reached, where a VM is placed, or where it is for a start or a stop) and every site
 * of the process that still originates the VM's /32 (it may have to withdraw). The others have
 * nothing to do and are not called.
 */
export function routeAudience(event: LocationEvent, tracker: RouteTracker, originators: SiteOriginators): Audience {
  const fact = routeFactOf(event);
  if (!fact) return [];
  const known = tracker.get(fact.vm);
  const named = fact.type === 'relocated' ? [fact.from, fact.to] : fact.type === 'placed' ? [fact.site] : known ? [known.site] : [];
  const ip = fact.type === 'relocated' || fact.type === 'placed' ? fact.ip : known?.ip;
  return ip === undefined ? named : [...named, ...originators.of(`${ip}/32`)];
}
