import type { RecordedEvent, VmEvent, VmRunState } from '@locus/contracts';
import { assertNever } from './vm.decider';

/** One row per VM: the authoritative location database. Built only from events. */
export interface LocationRow {
  name: string;
  ip: string;
  mac: string;
  l2Domain: string;
  site: string;
  hypervisor: string;
  /** The VM's memory as placed: a host's committed memory is the sum over its rows. */
  memoryMb: number;
  state: VmRunState;
  locationVersion: number;
  streamVersion: number;
  updatedAt: string;
}

export function projectLocation(row: LocationRow | undefined, recorded: RecordedEvent): LocationRow | undefined {
  const event: VmEvent = recorded;
  const touch = (patch: Partial<LocationRow>): LocationRow | undefined => (row ? { ...row, ...patch, streamVersion: recorded.streamVersion, updatedAt: recorded.recordedAt } : row);
  switch (event.type) {
    case 'VmPlaced': {
      const d = event.data;
      return {
        name: d.vm,
        ip: d.ip,
        mac: d.mac,
        l2Domain: d.l2Domain,
        site: d.site,
        hypervisor: d.hypervisor,
        memoryMb: d.memoryMb,
        state: 'running',
        locationVersion: d.locationVersion,
        streamVersion: recorded.streamVersion,
        updatedAt: recorded.recordedAt,
      };
    }
    case 'MoveAccepted':
    case 'MoveStarted':
    case 'VmStoppedAtSource':
    case 'VmConfigTransferred':
    case 'VmSuspendedAtSource':
    case 'VmStateTransferred':
    case 'PreCopyRoundCompleted':
    case 'SwitchoverStarted':
    case 'VmPausedAndCopied':
      return touch({ state: 'moving' });
    case 'VmRelocated':
      return touch({ site: event.data.to.site, hypervisor: event.data.to.hypervisor, locationVersion: event.data.locationVersion });
    case 'VmStartedAtTarget':
    case 'VmResumedAtTarget':
    case 'RarpAnnounced':
    case 'PostcopyCompleted':
    case 'MoveConverged':
    case 'MoveConvergenceLate':
      return touch({});
    case 'MoveCompleted':
    case 'VmRestartedAtSource':
      return touch({ state: 'running' });
    case 'MoveFailed':
      return touch({ state: event.data.restartAtSource ? 'moving' : event.data.code === 'POSTCOPY_SOURCE_LOST' ? 'stopped' : 'running' });
    case 'MoveCancelled':
      return touch({ state: event.data.restartAtSource ? 'moving' : 'running' });
    // A drift repair keeps the DB's location and raises its version; the row says what should run.
    case 'VmLocationReasserted':
      return touch({ site: event.data.site, hypervisor: event.data.hypervisor, locationVersion: event.data.locationVersion });
    case 'VmRestartedByRepair':
    case 'VmRepairStuck':
      return touch({});
    default:
      return assertNever(event);
  }
}
