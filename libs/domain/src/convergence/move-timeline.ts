/**
 * One event of a move in words, for its timeline (the console, `locus move --wait`): the agents'
 * phases with their simulated durations, pre-copy rounds, the commit, and each plane's step.
 */
export function describeEvent(type: string, d: Record<string, any>, plane?: { component: string; locationVersion: number; eid?: string }): string {
  const ms = (v: unknown) => (typeof v === 'number' ? (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`) : '?');
  const mib = (v: unknown) => (typeof v === 'number' ? `${(v / 1048576).toFixed(v >= 1048576 * 10 ? 0 : 1)} MiB` : '?');
  const list = (v: unknown) => (Array.isArray(v) && v.length ? v.join(', ') : 'none');
  switch (type) {
    case 'MoveAccepted':
      return `move accepted: ${d.vm} ${d.mode} ${d.from?.hypervisor} -> ${d.to?.hypervisor}, planes ${list(d.planes)}`;
    case 'MoveStarted':
      return `admitted at ${d.hypervisor}: steps begin`;
    case 'VmStoppedAtSource':
      return `VM stopped at ${d.hypervisor} (guest shutdown ${ms(d.durationMs)} simulated)`;
    case 'VmConfigTransferred':
      return `configuration sent ${d.from} -> ${d.to} (${mib(d.bytes)}, ${ms(d.durationMs)})`;
    case 'VmSuspendedAtSource':
      return `VM suspended at ${d.hypervisor} (${mib(d.bytes)} of memory saved, ${ms(d.durationMs)})`;
    case 'VmStateTransferred':
      return `memory image sent ${d.from} -> ${d.to} (${mib(d.bytes)}, ${ms(d.durationMs)})`;
    case 'PreCopyRoundCompleted':
      return `pre-copy round ${d.round}: ${mib(d.sentBytes)} sent, ${mib(d.dirtyBytes)} dirtied, downtime would be ${ms(d.expectedDowntimeMs)}${d.throttlePct ? `, throttle ${d.throttlePct} %` : ''}`;
    case 'SwitchoverStarted':
      return `switchover (${d.reason}): ${mib(d.remainingBytes)} left, expected downtime ${ms(d.expectedDowntimeMs)}`;
    case 'VmPausedAndCopied':
      return `VM paused at ${d.hypervisor}, last ${mib(d.bytes)} copied (${ms(d.durationMs)})`;
    case 'VmRelocated':
      return `location committed: ${d.vm} at ${d.to?.hypervisor} (${d.to?.site}), version ${d.locationVersion}`;
    case 'VmStartedAtTarget':
      return `VM booted at ${d.hypervisor} (${ms(d.durationMs)} simulated)`;
    case 'VmResumedAtTarget':
      return `VM resumed at ${d.hypervisor} (${ms(d.durationMs)} simulated)`;
    case 'RarpAnnounced':
      return `RARP announced from ${d.hypervisor}`;
    case 'PostcopyCompleted':
      return `post-copy done: ${mib(d.bytes)} pulled (${ms(d.durationMs)})`;
    case 'MoveCompleted':
      return `move completed: downtime ${ms(d.downtimeMs)}${typeof d.modelDowntimeMs === 'number' ? ` (model ${ms(d.modelDowntimeMs)})` : ''}, total ${ms(d.totalMs)} simulated`;
    case 'MoveFailed':
      return `move FAILED in ${d.phase}: ${d.code}: ${d.message}`;
    case 'MoveCancelled':
      return `move cancelled in ${d.phase}${d.restartAtSource ? ' (started again at the source)' : ''}`;
    case 'MoveConverged':
      return `converged in ${ms(d.convergenceMs)} after the location commit`;
    case 'MoveConvergenceLate':
      return `NOT converged ${ms(d.afterMs)} after the location commit: ${(d.stale ?? []).map((s: { component: string }) => s.component).join(', ')}`;
    // plane events
    case 'Registered':
      return `${d.site ?? '?'} ETR registered ${plane?.eid ?? 'the EID'} v${plane?.locationVersion} with the map-server (publish to ${list(d.publishTo)}, SMR to ${list(d.smrTo)})`;
    case 'Notified':
      return `map-server notified ${d.to ?? d.site ?? 'a site'} (${d.kind ?? 'change'})`;
    case 'CacheUpdated':
      return `ITR ${d.itr ?? plane?.component} holds v${plane?.locationVersion}`;
    case 'MappingConverged':
      return `mapping converged: ${list(d.itrs)} hold v${plane?.locationVersion} (${ms(d.ms)})`;
    case 'RouteAdvertised':
      return `${d.site} advertises ${d.prefix ?? plane?.eid ?? 'the /32'} v${plane?.locationVersion}`;
    case 'RouteConfirmed':
      return `${d.site}'s /32 confirmed in the core RIB${typeof d.ms === 'number' ? ` (${ms(d.ms)})` : ''}`;
    case 'RouteWithdrawn':
      return `${d.site} withdrew its /32 v${plane?.locationVersion}${d.breakBeforeMake ? ' (break before make)' : ''}`;
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
    default:
      return type;
  }
}
