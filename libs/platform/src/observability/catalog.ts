/**
 * Every Locus metric: name, help and labels, in one place (the README's metrics table mirrors it).
 * Labels are bounded sets: modes, outcomes, codes, event types, sites, ITRs, hypervisors and steps.
 * A VM name, EID, IP, MAC or move id is never a label: a lab of 10,000 VMs would mean 10,000 series.
 */
export interface MetricSpec<L extends string = string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Histograms only: upper bounds in the metric's unit (seconds). */
  buckets?: readonly number[];
}

/** Label names that would carry a VM's identity; `checkMetricSpec` refuses them. */
export const FORBIDDEN_LABELS: readonly string[] = ['vm', 'name', 'eid', 'ip', 'mac', 'prefix', 'move_id', 'moveid', 'request_id', 'neighbour'];

/** Downtime is in the lab's simulated time: a hot move's pause is ~0.1 s, a cold database move ~2 min. */
const DOWNTIME_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];
/** From the location commit to the last network plane updated. */
const CONVERGENCE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export const LOCUS_METRICS = {
  // mobility manager
  movesTotal: {
    name: 'locus_moves_total',
    help: 'Moves by mode (hot, warm, cold) and outcome (accepted, completed, failed, cancelled, converged), from the events this manager appended',
    labelNames: ['mode', 'outcome'],
  },
  moveRefusalsTotal: {
    name: 'locus_move_refusals_total',
    help: 'vm.move requests refused, by error code (network rules, TARGET_FULL, HOST_DOWN, UNKNOWN_VM, ...); nothing was appended for them',
    labelNames: ['code'],
  },
  moveDowntimeSeconds: {
    name: 'locus_move_downtime_seconds',
    help: 'Downtime of completed moves (simulated seconds: the VM was not running anywhere), by mode',
    labelNames: ['mode'],
    buckets: DOWNTIME_BUCKETS,
  },
  convergenceSeconds: {
    name: 'locus_convergence_seconds',
    help: 'Network convergence of moves: from the location commit to the last network plane updated (MoveConverged), by mode',
    labelNames: ['mode'],
    buckets: CONVERGENCE_BUCKETS,
  },
  outboxPending: {
    name: 'locus_outbox_pending',
    help: 'Committed events not yet published to JetStream (outbox rows)',
    labelNames: [],
  },
  eventsAppendedTotal: {
    name: 'locus_events_appended_total',
    help: 'Events appended to the event store by this process, by event type',
    labelNames: ['type'],
  },
  requestsShedTotal: {
    name: 'locus_requests_shed_total',
    help: 'Requests whose handler never ran, by endpoint (vm.move, move.cancel, ...) and reason: expired (its Locus-Deadline, or the wait budget without one, passed before it started; nothing replied) or rejected (the endpoint queue was full; answered UNAVAILABLE)',
    labelNames: ['endpoint', 'reason'],
  },
  // every consumer of the event stream
  eventsDroppedTotal: {
    name: 'locus_events_dropped_total',
    help: "Events a consumer of the stream dropped before handling them, by consumer (its durable) and reason: undecodable (not JSON, or not its type's schema) or wrong-source (not on the subject of its own VM, host, plane or type)",
    labelNames: ['consumer', 'reason'],
  },
  // mapping system
  mapRegistryEntries: {
    name: 'locus_map_registry_entries',
    help: 'EID-to-RLOC registrations the map-server holds',
    labelNames: [],
  },
  mapCacheEntries: {
    name: 'locus_map_cache_entries',
    help: 'Map-cache entries of each ITR',
    labelNames: ['itr'],
  },
  mapRegisterRefusalsTotal: {
    name: 'locus_map_register_refusals_total',
    help: 'Map-Registers the map-server refused, by reason (AUTH_FAILED, REPLAYED, UNKNOWN_SITE, EID_NOT_ALLOWED, BAD_REQUEST)',
    labelNames: ['reason'],
  },
  mapControlRefusalsTotal: {
    name: 'locus_map_control_refusals_total',
    help: "Control messages from the map-server an xTR refused (Map-Notify, Map-Publish, SMR, Map-Reply not signed with the site's key, or replayed), by site, message and reason (AUTH_FAILED, REPLAYED)",
    labelNames: ['site', 'message', 'reason'],
  },
  // route injector
  routes: {
    name: 'locus_routes',
    help: 'Host routes in each site RIB by state (confirmed: the core has it; advertised; withdrawing: make-before-break hold; stale: not wanted)',
    labelNames: ['site', 'state'],
  },
  // ARP proxy
  arpStaleNeighbours: {
    name: 'locus_arp_stale_neighbours',
    help: 'Neighbour ARP entries holding a wrong MAC for a moved VM, by site',
    labelNames: ['site'],
  },
  arpProxyEntries: {
    name: 'locus_arp_proxy_entries',
    help: 'Proxy-ARP entries installed, by site',
    labelNames: ['site'],
  },
  // hypervisor agents
  agentVms: {
    name: 'locus_agent_vms',
    help: 'VMs each hypervisor agent hosts, by run state (running, stopped, incoming, suspended, paused)',
    labelNames: ['hypervisor', 'state'],
  },
  agentStepsTotal: {
    name: 'locus_agent_steps_total',
    help: 'Move steps the hypervisor agents carried out (replays not counted), by hypervisor and action',
    labelNames: ['hypervisor', 'action'],
  },
} as const satisfies Record<string, MetricSpec>;

/** The naming rules of this catalog; returns what is wrong (empty when nothing is). */
export function checkMetricSpec(spec: MetricSpec, kind: 'counter' | 'gauge' | 'histogram'): string[] {
  const problems: string[] = [];
  if (!/^locus_[a-z][a-z0-9_]*$/.test(spec.name)) problems.push(`${spec.name}: must be locus_ followed by lower_snake_case`);
  if (kind === 'counter' && !spec.name.endsWith('_total')) problems.push(`${spec.name}: a counter ends in _total`);
  if (kind !== 'counter' && spec.name.endsWith('_total')) problems.push(`${spec.name}: only counters end in _total`);
  if (kind === 'histogram' && !spec.name.endsWith('_seconds')) problems.push(`${spec.name}: a histogram here is in seconds`);
  if (kind === 'histogram' && !(spec.buckets && spec.buckets.length)) problems.push(`${spec.name}: a histogram needs buckets`);
  for (const l of spec.labelNames) {
    if (FORBIDDEN_LABELS.includes(l.toLowerCase())) problems.push(`${spec.name}: label ${l} would carry a VM's identity`);
    if (!/^[a-z][a-z0-9_]*$/.test(l)) problems.push(`${spec.name}: label ${l} must be lower_snake_case`);
  }
  return problems;
}
