import type { RecordedEvent, VmView } from '@locus/contracts';
import type { RouteFact } from '@locus/domain';

/**
 * Turns a VM event into the fact a route injector applies, or nothing. Read loosely (only
 * the fields used), so new event fields or types from other engines never break it.
 */
export function routeFactOf(event: Pick<RecordedEvent, 'type' | 'data'> & { streamId?: string }): RouteFact | undefined {
  const d = event.data as any;
  switch (event.type) {
    case 'VmPlaced':
      return { type: 'placed', vm: d.vm, ip: d.ip, site: d.site, locationVersion: d.locationVersion };
    case 'VmRelocated':
      return { type: 'relocated', vm: d.vm, ip: d.ip, from: d.from.site, to: d.to.site, locationVersion: d.locationVersion, moveId: d.moveId };
    case 'MoveFailed':
    case 'MoveCancelled':
      return d.restartAtSource ? { type: 'down', vm: vmOf(event), reason: `${event.type} in phase ${d.phase}: the VM is stopped until it is restarted` } : undefined;
    case 'VmRestartedAtSource':
      return { type: 'up', vm: vmOf(event), reason: `restarted at ${d.hypervisor}` };
    case 'VmStartedAtTarget':
    case 'VmResumedAtTarget':
      return { type: 'up', vm: vmOf(event), reason: `running at ${d.hypervisor}`, locationVersion: d.locationVersion };
    default:
      return undefined;
  }
}

function vmOf(event: Pick<RecordedEvent, 'type' | 'data'> & { streamId?: string }): string {
  const d = event.data as any;
  return d.vm ?? (event.streamId ? event.streamId.replace(/^vm:/, '') : '');
}

/** The location DB's row as a fact: a VM the DB says is stopped has no route. */
export function snapshotFact(view: VmView): RouteFact {
  return { type: 'placed', vm: view.name, ip: view.ip, site: view.site, locationVersion: view.locationVersion, up: view.state !== 'stopped' };
}
