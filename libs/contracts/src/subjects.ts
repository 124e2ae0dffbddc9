/**
 * Every NATS subject Locus uses, derived from one prefix so that test runs and labs
 * can share a NATS server without colliding. Request subjects never overlap the
 * event stream's subjects: a stream would otherwise answer a request with its PubAck.
 */
export const DEFAULT_SUBJECT_PREFIX = 'locus';
export const DEFAULT_EVENT_STREAM = 'LOCUS_EVENTS';

/** Request/reply endpoints a user can call with `nats req`. Keys are the logical names. */
export const REQUEST_ENDPOINTS = {
  'vm.move': 'vm.move',
  'vm.get': 'vm.get',
  'vm.list': 'vm.list',
  'move.get': 'move.get',
  'move.plan': 'move.plan',
  'move.cancel': 'move.cancel',
  'topology.get': 'topology.get',
  'drift.check': 'drift.check',
} as const;
export type RequestEndpoint = keyof typeof REQUEST_ENDPOINTS;

/** Steps the mobility manager asks of a hypervisor agent. */
export const AGENT_ACTIONS = [
  'stop', // cold: guest shutdown at the source
  'transfer', // cold: receive the config at the target
  'start', // boot (cold target, or any restart at the source)
  'suspend', // warm: write memory to disk at the source
  'receive-state', // warm: receive the suspended state at the target
  'resume', // warm and hot: resume at the target
  'precopy-round', // hot: send one round of memory from the source
  'pause-and-copy', // hot: stop the VM at the source and send the rest
  'announce', // hot: RARP from the target
  'postcopy-pull', // hot postcopy: the target pulls the remaining pages from the source
  'inventory',
] as const;
export type AgentAction = (typeof AGENT_ACTIONS)[number];

/**
 * VM events that say where a VM is or whether it runs there. Agents and every network plane follow
 * only these (2-3 of a cold move's ~8 events), on their own subject class so that NATS 2.9's single
 * filter subject per consumer selects them on the server.
 */
export const LOCATION_EVENT_TYPES = ['VmPlaced', 'VmRelocated', 'VmStartedAtTarget', 'VmResumedAtTarget', 'VmRestartedAtSource', 'MoveFailed', 'MoveCancelled', 'VmLocationReasserted'] as const;
export type LocationEventType = (typeof LOCATION_EVENT_TYPES)[number];
const LOCATION_TYPES: ReadonlySet<string> = new Set(LOCATION_EVENT_TYPES);
export function isLocationEventType(type: string): type is LocationEventType {
  return LOCATION_TYPES.has(type);
}

export interface Subjects {
  prefix: string;
  request(endpoint: RequestEndpoint): string;
  /** Every event subject: `<prefix>.evt.>` (the JetStream stream binds this). */
  eventsWildcard: string;
  /** The planes' step facts, published live on core NATS and not stored: `<prefix>.live.>` (see `PLANE_OUTCOME_TYPES`). */
  liveWildcard: string;
  /** `<prefix>.evt.<category>.<entity>.<type>`, e.g. `locus.evt.host.dc1-hv1.HostDeclaredFailed`. */
  event(category: string, entity: string, type: string): string;
  /**
   * A VM event's subject: `<prefix>.evt.vm.<vm>.loc.<type>` for the location events (where the VM
   * is and whether it runs: what agents and planes follow), `<prefix>.evt.vm.<vm>.<type>` for the
   * rest (the steps of a move). The server filters the location events for their followers.
   */
  vmEvent(vm: string, type: string): string;
  /** Every VM event, both classes: `<prefix>.evt.vm.>` (the move saga). */
  vmEvents: string;
  /** The location events only: `<prefix>.evt.vm.*.loc.*` (agents, ETRs, route injectors, ARP proxies). */
  locationEvents: string;
  /** Subject an event of `streamId` (`vm:<name>`, `host:<name>`) is published under. */
  streamEvent(streamId: string, type: string): string;
  agent(hypervisor: string, action: AgentAction): string;
  /** Agents publish liveness here (core NATS, not the stream). */
  heartbeat(hypervisor: string): string;
}

export function subjects(prefix: string = DEFAULT_SUBJECT_PREFIX): Subjects {
  return {
    prefix,
    request: (endpoint) => `${prefix}.${REQUEST_ENDPOINTS[endpoint]}`,
    eventsWildcard: `${prefix}.evt.>`,
    liveWildcard: `${prefix}.live.>`,
    event: (category, entity, type) => `${prefix}.evt.${category}.${entity}.${type}`,
    vmEvent: (vm, type) => (isLocationEventType(type) ? `${prefix}.evt.vm.${vm}.loc.${type}` : `${prefix}.evt.vm.${vm}.${type}`),
    vmEvents: `${prefix}.evt.vm.>`,
    locationEvents: `${prefix}.evt.vm.*.loc.*`,
    streamEvent(streamId, type) {
      const at = streamId.indexOf(':');
      const category = streamId.slice(0, at);
      const entity = streamId.slice(at + 1);
      return category === 'vm' ? this.vmEvent(entity, type) : this.event(category, entity, type);
    },
    agent: (hypervisor, action) => `${prefix}.agent.${hypervisor}.${action}`,
    heartbeat: (hypervisor) => `${prefix}.heartbeat.${hypervisor}`,
  };
}

/** Headers carried by every published event, so one move can be followed across services. */
export const HEADERS = {
  msgId: 'Nats-Msg-Id',
  stream: 'Locus-Stream',
  streamVersion: 'Locus-Stream-Version',
  position: 'Locus-Position',
  type: 'Locus-Event-Type',
  correlationId: 'Locus-Correlation-Id',
  causationId: 'Locus-Causation-Id',
  /** W3C trace context: `00-<trace id: 32 hex, from the correlation id>-<span id: 16 hex, from the event id>-01`. */
  traceparent: 'traceparent',
  /**
   * On requests: when the caller stops waiting for the reply, as absolute epoch milliseconds in
   * decimal (`requestJson` sets now + its timeout). A service does not start a handler past it.
   */
  deadline: 'Locus-Deadline',
} as const;

/** Requests larger than this are refused with TOO_LARGE before they are parsed. */
export const MAX_REQUEST_BYTES = 64 * 1024;
