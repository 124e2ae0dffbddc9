import { z } from 'zod';
import { Location, MoveMode, Name } from './names';
import type { LocationEventType } from './subjects';

/**
 * Domain events of a VM's stream (`vm:<name>`). They are the authoritative record of
 * where every VM is; projections and every other service derive from them.
 * `locationVersion` increases by one on every location commit and is the fencing token
 * that agents, mapping, routes and ARP compare (never go back).
 */
const MoveRef = { moveId: z.uuid() };

export const VmPlaced = z.object({
  vm: Name,
  ip: z.string(),
  mac: z.string(),
  l2Domain: Name,
  site: Name,
  hypervisor: Name,
  memoryMb: z.number().int().positive(),
  locationVersion: z.number().int().positive(),
});

/** Parameters of the move engine, fixed when the move is accepted, so the saga and the plan agree. */
export const ColdMovePlan = z.object({
  mode: z.literal('cold'),
  shutdownMs: z.number().nonnegative(),
  bootMs: z.number().nonnegative(),
  configBytes: z.number().int().nonnegative(),
  bandwidthBps: z.number().positive(),
});
export const WarmMovePlan = z.object({
  mode: z.literal('warm'),
  memoryBytes: z.number().positive(),
  bandwidthBps: z.number().positive(),
  sourceDiskBps: z.number().positive(),
  targetDiskBps: z.number().positive(),
});
export const HotMovePlan = z.object({
  mode: z.literal('hot'),
  memoryBytes: z.number().positive(),
  /** null when there is no working-set cap (JSON has no Infinity). */
  workingSetBytes: z.number().positive().nullable(),
  dirtyRateBps: z.number().nonnegative(),
  bandwidthBps: z.number().positive(),
  downtimeLimitMs: z.number().positive(),
  maxRounds: z.number().int().positive(),
  maxDataBytes: z.number().positive(),
  policy: z.enum(['throttle', 'postcopy', 'abort']),
  resumeMs: z.number().nonnegative(),
});
export const MovePlan = z.discriminatedUnion('mode', [ColdMovePlan, WarmMovePlan, HotMovePlan]);
export type MovePlan = z.infer<typeof MovePlan>;
export const MoveCause = z.enum(['operator', 'ha-restart']);
export type MoveCause = z.infer<typeof MoveCause>;

export const MoveAccepted = z.object({
  ...MoveRef,
  vm: Name,
  mode: MoveMode,
  from: Location,
  to: Location,
  requestId: z.string().optional(),
  /** The location version the move starts from. */
  locationVersion: z.number().int().positive(),
  cause: MoveCause.default('operator'),
  plan: MovePlan.optional(),
  warnings: z.array(z.string()).default([]),
  /** Network planes the move will change (location, l2-announce, mapping, host-routes, arp-proxy). */
  planes: z.array(z.string()).default([]),
});
/** Admitted from the per-host queue: the move's steps begin. */
export const MoveStarted = z.object({ ...MoveRef, hypervisor: Name });
export const PreCopyRoundCompleted = z.object({
  ...MoveRef,
  round: z.number().int().nonnegative(),
  sentBytes: z.number().nonnegative(),
  durationMs: z.number().nonnegative(),
  dirtyBytes: z.number().nonnegative(),
  throttlePct: z.number().nonnegative(),
  expectedDowntimeMs: z.number().nonnegative(),
  /** A real hypervisor's pass (QEMU's `query-migrate`), not the model's: it runs its own pre-copy and switches over itself. */
  measured: z.boolean().optional(),
  /** The hypervisor switched over at the end of this pass (the guest runs at the target). */
  completed: z.boolean().optional(),
  /** The dirty rate the hypervisor saw during the pass, bytes/s. */
  dirtyRateBps: z.number().nonnegative().optional(),
});
/** The point of no return of a hot move: from here a cancel is TOO_LATE. */
export const SwitchoverStarted = z.object({
  ...MoveRef,
  reason: z.enum(['converged', 'max-rounds', 'max-data', 'postcopy']),
  remainingBytes: z.number().nonnegative(),
  expectedDowntimeMs: z.number().nonnegative(),
});
/** Wall-clock epoch ms at which the source agent saw the VM stop serving (absent in events recorded before it was measured). */
const DownAt = z.number().nonnegative().optional();
/** Wall-clock epoch ms at which the target agent saw the VM serve again, and the downtime from `downAt` to it in simulated ms. */
const UpAt = { upAt: z.number().nonnegative().optional(), observedDowntimeMs: z.number().nonnegative().optional() };
/** Hot move switchover at the source: the VM is paused and the remaining dirty pages copied (postcopy: device state only). */
export const VmPausedAndCopied = z.object({
  ...MoveRef,
  hypervisor: Name,
  bytes: z.number().nonnegative(),
  durationMs: z.number().nonnegative(),
  reason: z.enum(['converged', 'max-rounds', 'max-data', 'postcopy']),
  downAt: DownAt,
});
export const VmSuspendedAtSource = z.object({ ...MoveRef, hypervisor: Name, bytes: z.number().nonnegative(), durationMs: z.number().nonnegative(), downAt: DownAt });
export const VmStateTransferred = z.object({ ...MoveRef, from: Name, to: Name, bytes: z.number().nonnegative(), durationMs: z.number().nonnegative() });
export const VmResumedAtTarget = z.object({
  ...MoveRef,
  hypervisor: Name,
  locationVersion: z.number().int().positive(),
  durationMs: z.number().nonnegative(),
  ...UpAt,
});
/** The target announced the VM (RARP, as QEMU: 5 rounds at 50/150/250/350/450 ms after resume). */
export const RarpAnnounced = z.object({ ...MoveRef, hypervisor: Name, offsetsMs: z.array(z.number()) });
export const PostcopyCompleted = z.object({ ...MoveRef, bytes: z.number().nonnegative(), durationMs: z.number().nonnegative() });
export const MoveCancelled = z.object({ ...MoveRef, phase: z.string(), restartAtSource: z.boolean() });

export const VmStoppedAtSource = z.object({ ...MoveRef, hypervisor: Name, durationMs: z.number().nonnegative(), downAt: DownAt });
export const VmConfigTransferred = z.object({
  ...MoveRef,
  from: Name,
  to: Name,
  bytes: z.number().int().nonnegative(),
  durationMs: z.number().nonnegative(),
});
/** The location commit: from here on the VM's authoritative location is `to`. */
export const VmRelocated = z.object({
  ...MoveRef,
  vm: Name,
  ip: z.string(),
  mac: z.string(),
  from: Location,
  to: Location,
  locationVersion: z.number().int().positive(),
  /** The move's mode, so a follower of the location events alone knows it (absent in events recorded before it was added). */
  mode: MoveMode.optional(),
});
export const VmStartedAtTarget = z.object({
  ...MoveRef,
  hypervisor: Name,
  locationVersion: z.number().int().positive(),
  durationMs: z.number().nonnegative(),
  ...UpAt,
});
export const MoveCompleted = z.object({
  ...MoveRef,
  locationVersion: z.number().int().positive(),
  /** VM stopped to VM running, simulated ms: as the agents measured it when they said (`modelDowntimeMs` otherwise). */
  downtimeMs: z.number().nonnegative(),
  /** The sum of the down phases' modelled durations (what the plan predicts); absent in events recorded before it was added. */
  modelDowntimeMs: z.number().nonnegative().optional(),
  totalMs: z.number().nonnegative(),
  rounds: z.number().int().nonnegative().default(0),
  dataSentBytes: z.number().nonnegative().default(0),
});
export const MoveFailed = z.object({
  ...MoveRef,
  code: z.string(),
  message: z.string(),
  phase: z.string(),
  /** true when the VM was stopped at the source and must be started there again. */
  restartAtSource: z.boolean(),
});
/** Compensation after a failed move: the VM runs again where it was. */
export const VmRestartedAtSource = z.object({ ...MoveRef, hypervisor: Name, durationMs: z.number().nonnegative() });

/**
 * What a drift check found about where a VM runs, comparing the location DB with the agents'
 * inventories (the `hypervisors` plane):
 * - `missing`: the DB's host does not hold a VM the DB says runs there;
 * - `not-running`: the DB's host holds it, but not running (stopped, incoming, paused, suspended);
 * - `extra-copy`: a host the DB does not name holds a copy;
 * - `version-ahead`: a host has seen a location version the DB does not have (an event not from
 *   the location DB, e.g. a forged `VmRelocated`): the DB's own steps would be fenced there.
 */
export const HOST_DRIFT_KINDS = ['missing', 'not-running', 'extra-copy', 'version-ahead'] as const;
export const HostDriftKind = z.enum(HOST_DRIFT_KINDS);
export type HostDriftKind = z.infer<typeof HostDriftKind>;
export const HostDriftFinding = z.object({ kind: HostDriftKind, hosts: z.array(Name).min(1), detail: z.string() });
export type HostDriftFinding = z.infer<typeof HostDriftFinding>;
const RepairRef = { repairId: z.uuid() };

/**
 * Drift repair: the location DB's location of the VM asserted again, at a location version above
 * every one any agent has seen, so that every agent and plane tells it from what came before:
 * the named host keeps the VM (or holds it to be booted), every other host drops its copy, the
 * planes follow it as a placement. A location event.
 */
export const VmLocationReasserted = z.object({
  ...RepairRef,
  vm: Name,
  ip: z.string(),
  mac: z.string(),
  site: Name,
  hypervisor: Name,
  locationVersion: z.number().int().positive(),
  /** The DB's location version before the repair. */
  previousVersion: z.number().int().positive(),
  findings: z.array(HostDriftFinding).min(1),
  /** Hosts holding a copy the DB does not place there: each drops it on this event. */
  evict: z.array(Name).default([]),
  /** The named host does not run the VM: the manager boots it there next. */
  start: z.boolean(),
});
/** Drift repair: the DB's host booted the VM again (for `locationVersion`). */
export const VmRestartedByRepair = z.object({ ...RepairRef, hypervisor: Name, locationVersion: z.number().int().positive(), durationMs: z.number().nonnegative() });
/** Drift repair that could not be done: the VM does not run where the DB says; `action` is what a human must do. */
export const VmRepairStuck = z.object({
  ...RepairRef,
  hypervisor: Name,
  locationVersion: z.number().int().positive(),
  findings: z.array(HostDriftFinding).min(1),
  reason: z.string(),
  action: z.string(),
});

/** One network plane of a move as the convergence tracker saw it: real ms after the location commit, and what it did. */
export const PlaneTiming = z.looseObject({ ms: z.number().nonnegative() });
export type PlaneTiming = z.infer<typeof PlaneTiming>;
/** A component of a plane that does not agree with the move's location version yet. */
export const StaleComponent = z.object({ plane: z.string(), component: z.string(), detail: z.string() });
export type StaleComponent = z.infer<typeof StaleComponent>;
/**
 * Every network plane the move touches agrees with its new location version (recorded after
 * MoveCompleted). `convergenceMs`: real ms from the location commit to the last plane.
 */
export const MoveConverged = z.object({
  ...MoveRef,
  locationVersion: z.number().int().positive(),
  convergenceMs: z.number().nonnegative(),
  /** Keyed by the move's planes (location, l2-announce, mapping, host-routes, arp-proxy). */
  planes: z.record(z.string(), PlaneTiming),
});
/** The move's planes did not all agree within the deadline; `stale` names what still disagrees. A MoveConverged may follow. */
export const MoveConvergenceLate = z.object({
  ...MoveRef,
  locationVersion: z.number().int().positive(),
  /** Real ms after the location commit when the deadline ran out. */
  afterMs: z.number().nonnegative(),
  stale: z.array(StaleComponent).min(1),
  /** The planes that had converged by then. */
  planes: z.record(z.string(), PlaneTiming).default({}),
});

export const VM_EVENT_SCHEMAS = {
  VmPlaced,
  MoveAccepted,
  MoveStarted,
  VmStoppedAtSource,
  VmConfigTransferred,
  VmSuspendedAtSource,
  VmStateTransferred,
  PreCopyRoundCompleted,
  SwitchoverStarted,
  VmPausedAndCopied,
  VmRelocated,
  VmStartedAtTarget,
  VmResumedAtTarget,
  RarpAnnounced,
  PostcopyCompleted,
  MoveCompleted,
  MoveFailed,
  MoveCancelled,
  VmRestartedAtSource,
  MoveConverged,
  MoveConvergenceLate,
  VmLocationReasserted,
  VmRestartedByRepair,
  VmRepairStuck,
} as const;

type Schemas = typeof VM_EVENT_SCHEMAS;
export type VmEventType = keyof Schemas;
/** String-tagged union of VM events: `{ type, data }`. */
export type VmEvent = { [K in VmEventType]: { type: K; data: z.infer<Schemas[K]> } }[VmEventType];
export type VmEventOf<K extends VmEventType> = Extract<VmEvent, { type: K }>;

export const VM_EVENT_TYPES = Object.keys(VM_EVENT_SCHEMAS) as VmEventType[];

export function isVmEventType(type: string): type is VmEventType {
  return Object.prototype.hasOwnProperty.call(VM_EVENT_SCHEMAS, type);
}

/** Host health, in the `host:<hypervisor>` streams. */
export const HostDeclaredFailed = z.object({ hypervisor: Name, silentMs: z.number().nonnegative(), vms: z.array(Name) });
export const HostRecovered = z.object({ hypervisor: Name });
export const HOST_EVENT_SCHEMAS = { HostDeclaredFailed, HostRecovered } as const;
type HostSchemas = typeof HOST_EVENT_SCHEMAS;
export type HostEventType = keyof HostSchemas;
/** String-tagged union of host events: `{ type, data }`. */
export type HostEvent = { [K in HostEventType]: { type: K; data: z.infer<HostSchemas[K]> } }[HostEventType];
export function isHostEventType(type: string): type is HostEventType {
  return Object.prototype.hasOwnProperty.call(HOST_EVENT_SCHEMAS, type);
}

/** Parses a host event read from the store; throws on an unknown type or bad data. */
export function parseHostEvent(type: string, data: unknown): HostEvent {
  if (!isHostEventType(type)) throw new Error(`unknown host event type ${type}`);
  return { type, data: HOST_EVENT_SCHEMAS[type].parse(data) } as HostEvent;
}

/** Parses an event read from the wire or the store; throws on an unknown type or bad data. */
export function parseVmEvent(type: string, data: unknown): VmEvent {
  if (!isVmEventType(type)) throw new Error(`unknown VM event type ${type}`);
  return { type, data: VM_EVENT_SCHEMAS[type].parse(data) } as VmEvent;
}

export interface EventMetadata {
  correlationId: string;
  causationId?: string;
  /** Which component produced the fact, e.g. `mobility-manager` or `agent:dc1-hv1`. */
  component: string;
  /** When it happened (ISO time from the producer's clock). */
  at: string;
}

/** The envelope of an event as stored and as published on JetStream: everything but its type and data. */
export interface RecordedEventBase {
  id: string;
  streamId: string;
  streamVersion: number;
  position: string;
  metadata: EventMetadata;
  recordedAt: string;
}

/**
 * An event as stored and as published on JetStream. Distributes over a union of events, so that
 * `RecordedEvent` (of every VM event) is a discriminated union: `switch (event.type)` narrows `event.data`.
 */
export type RecordedEvent<E extends { type: string; data: unknown } = VmEvent> = E extends unknown ? RecordedEventBase & { type: E['type']; data: E['data'] } : never;

export const vmStreamId = (vm: string) => `vm:${vm}`;
/** A hypervisor's health stream (HostDeclaredFailed, HostRecovered). */
export const hostStreamId = (hypervisor: string) => `host:${hypervisor}`;

/** A recorded VM event whose `data` narrows with its `type` (a discriminated union, one member per type). */
export type RecordedVmEvent<K extends VmEventType = VmEventType> = RecordedEvent<VmEventOf<K>>;
/** A location event as its followers (agents, ETRs, route injectors, ARP proxies) receive it. */
export type LocationEvent = RecordedVmEvent<LocationEventType>;

/**
 * Decodes a recorded VM event from the wire once: the envelope's fields are checked and `data`
 * is validated against its type's schema. Throws on an unknown type or bad data.
 */
export function parseRecordedVmEvent(raw: unknown): RecordedVmEvent {
  const r = raw as Partial<RecordedEvent<{ type: string; data: unknown }>>;
  if (!r || typeof r !== 'object' || typeof r.type !== 'string' || typeof r.streamId !== 'string' || typeof r.streamVersion !== 'number' || typeof r.id !== 'string')
    throw new Error('not a recorded event (id, streamId, streamVersion and type are required)');
  return { ...(r as RecordedEventBase), ...parseVmEvent(r.type, r.data) };
}

/** A recorded host event (`host:<hypervisor>` streams), its data narrowing with its type. */
export type RecordedHostEvent = RecordedEvent<HostEvent>;
