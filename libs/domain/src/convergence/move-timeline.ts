import type { PlaneEvent, VmEvent } from '@locus/contracts';

const ms = (v: unknown) => (typeof v === 'number' ? (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`) : '?');
const mib = (v: unknown) => (typeof v === 'number' ? `${(v / 1048576).toFixed(v >= 1048576 * 10 ? 0 : 1)} MiB` : '?');
const list = (v: unknown) => (Array.isArray(v) && v.length ? v.join(', ') : 'none');

/**
 * One event of a move in words, for its timeline (the console, `locus move --wait`): the agents'
 * phases with their simulated durations, pre-copy rounds, the commit. Lenient with fields missing
 * (the watchers show events as they come, even another version's): `?.` where a field is nested.
 */
export function describeVmEvent(event: VmEvent): string {
  switch (event.type) {
    case 'MoveAccepted':
      return `move accepted: ${event.data.vm} ${event.data.mode} ${event.data.from?.hypervisor} -> ${event.data.to?.hypervisor}, planes ${list(event.data.planes)}`;
    case 'MoveStarted':
      return `admitted at ${event.data.hypervisor}: steps begin`;
    case 'VmStoppedAtSource':
      return `VM stopped at ${event.data.hypervisor} (guest shutdown ${ms(event.data.durationMs)} simulated)`;
    case 'VmConfigTransferred':
      return `configuration sent ${event.data.from} -> ${event.data.to} (${mib(event.data.bytes)}, ${ms(event.data.durationMs)})`;
    case 'VmSuspendedAtSource':
      return `VM suspended at ${event.data.hypervisor} (${mib(event.data.bytes)} of memory saved, ${ms(event.data.durationMs)})`;
    case 'VmStateTransferred':
      return `memory image sent ${event.data.from} -> ${event.data.to} (${mib(event.data.bytes)}, ${ms(event.data.durationMs)})`;
    case 'PreCopyRoundCompleted':
      return `pre-copy round ${event.data.round}: ${mib(event.data.sentBytes)} sent, ${mib(event.data.dirtyBytes)} dirtied, downtime would be ${ms(event.data.expectedDowntimeMs)}${event.data.throttlePct ? `, throttle ${event.data.throttlePct} %` : ''}`;
    case 'SwitchoverStarted':
      return `switchover (${event.data.reason}): ${mib(event.data.remainingBytes)} left, expected downtime ${ms(event.data.expectedDowntimeMs)}`;
    case 'VmPausedAndCopied':
      return `VM paused at ${event.data.hypervisor}, last ${mib(event.data.bytes)} copied (${ms(event.data.durationMs)})`;
    case 'VmRelocated':
      return `location committed: ${event.data.vm} at ${event.data.to?.hypervisor} (${event.data.to?.site}), version ${event.data.locationVersion}`;
    case 'VmStartedAtTarget':
      return `VM booted at ${event.data.hypervisor} (${ms(event.data.durationMs)} simulated)`;
    case 'VmResumedAtTarget':
      return `VM resumed at ${event.data.hypervisor} (${ms(event.data.durationMs)} simulated)`;
    case 'RarpAnnounced':
      return `RARP announced from ${event.data.hypervisor}`;
    case 'PostcopyCompleted':
      return `post-copy done: ${mib(event.data.bytes)} pulled (${ms(event.data.durationMs)})`;
    case 'MoveCompleted':
      return `move completed: downtime ${ms(event.data.downtimeMs)}${typeof event.data.modelDowntimeMs === 'number' ? ` (model ${ms(event.data.modelDowntimeMs)})` : ''}, total ${ms(event.data.totalMs)} simulated`;
    case 'MoveFailed':
      return `move FAILED in ${event.data.phase}: ${event.data.code}: ${event.data.message}`;
    case 'MoveCancelled':
      return `move cancelled in ${event.data.phase}${event.data.restartAtSource ? ' (started again at the source)' : ''}`;
    case 'MoveConverged':
      return `converged in ${ms(event.data.convergenceMs)} after the location commit`;
    case 'MoveConvergenceLate':
      return `NOT converged ${ms(event.data.afterMs)} after the location commit: ${(event.data.stale ?? []).map((s) => s.component).join(', ')}`;
    // no timeline line of their own: a placement, a restart at the source, a repair
    case 'VmPlaced':
    case 'VmRestartedAtSource':
    case 'VmLocationReasserted':
    case 'VmRestartedByRepair':
    case 'VmRepairStuck':
      return event.type;
  }
}

/** One plane event of a move in words, for its timeline: each plane's step. */
export function describePlaneEvent(event: PlaneEvent): string {
  const d = event.data ?? {};
  switch (event.type) {
    case 'Registered':
      return `${d.site ?? '?'} ETR registered ${event.eid ?? 'the EID'} v${event.locationVersion} with the map-server (publish to ${list(d.publishTo)}, SMR to ${list(d.smrTo)})`;
    case 'Notified':
      return `map-server notified ${d.to ?? d.site ?? 'a site'} (${d.kind ?? 'change'})`;
    case 'CacheUpdated':
      return `ITR ${d.itr ?? event.component} holds v${event.locationVersion}`;
    case 'MappingConverged':
      return `mapping converged: ${list(d.itrs)} hold v${event.locationVersion} (${ms(d.ms)})`;
    case 'RouteAdvertised':
      return `${d.site} advertises ${d.prefix ?? event.eid ?? 'the /32'} v${event.locationVersion}`;
    case 'RouteConfirmed':
      return `${d.site}'s /32 confirmed in the core RIB${typeof d.ms === 'number' ? ` (${ms(d.ms)})` : ''}`;
    case 'RouteWithdrawn':
      return `${d.site} withdrew its /32 v${event.locationVersion}${d.breakBeforeMake ? ' (break before make)' : ''}`;
    case 'ProxyInstalled':
      return `${d.site} ARP proxy answers for the VM`;
    case 'ProxyRemoved':
      return `${d.site} ARP proxy stops answering for the VM`;
    case 'GratuitousArpSent':
      return `${d.site} sent gratuitous ARP`;
    case 'NeighbourStale':
      return `${d.site}: neighbour ${d.neighbour} holds the old MAC`;
    case 'NeighbourRepaired':
      return `${d.site}: neighbour ${d.neighbour} repaired (${d.how})`;
    case 'ArpConverged':
      return `${d.site} ARP converged (${d.rule}, proxy ${d.proxy}, ${d.repaired ?? 0}/${d.stale ?? 0} repaired)`;
    case 'RegistrationExpired':
      return `registration of ${event.eid ?? 'the EID'} v${event.locationVersion} by ${d.site ?? '?'} expired (not refreshed)`;
    case 'ReconcileFixed':
      return `${d.site} reconcile ${d.fix ?? 'fixed'} ${d.prefix ?? event.eid ?? 'the /32'}${d.reason ? `: ${d.reason}` : ''}`;
    case 'MappingReconciled':
    case 'RoutesReconciled':
    case 'ArpReconciled':
      return `${d.site ?? '?'} ${RECONCILED_PLANE[event.type]} agrees with the location events through #${d.through ?? '?'} (at ${d.trigger ?? 'start'}${heldCount(d.held)})`;
    default:
      return event.type;
  }
}

/** What each plane's start-up reconcile speaks for. */
const RECONCILED_PLANE: Record<string, string> = { MappingReconciled: 'mapping (ETR)', RoutesReconciled: 'route injector', ArpReconciled: 'ARP proxy' };

/** ", N held" when a reconcile could not vouch for some addresses. */
function heldCount(held: unknown): string {
  return Array.isArray(held) && held.length > 0 ? `, ${held.length} held` : '';
}
