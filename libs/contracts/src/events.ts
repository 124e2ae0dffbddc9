import { z } from 'zod';
import { Location, MoveMode, Name } from './names';

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

export const MoveAccepted = z.object({
  ...MoveRef,
  vm: Name,
  mode: MoveMode,
  from: Location,
  to: Location,
  requestId: z.string().optional(),
  /** The location version the move starts from. */
  locationVersion: z.number().int().positive(),
});

export const VmStoppedAtSource = z.object({ ...MoveRef, hypervisor: Name, durationMs: z.number().nonnegative() });
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
});
export const VmStartedAtTarget = z.object({
  ...MoveRef,
  hypervisor: Name,
  locationVersion: z.number().int().positive(),
  durationMs: z.number().nonnegative(),
});
export const MoveCompleted = z.object({
  ...MoveRef,
  locationVersion: z.number().int().positive(),
  downtimeMs: z.number().nonnegative(),
  totalMs: z.number().nonnegative(),
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

export const VM_EVENT_SCHEMAS = {
  VmPlaced,
  MoveAccepted,
  VmStoppedAtSource,
  VmConfigTransferred,
  VmRelocated,
  VmStartedAtTarget,
  MoveCompleted,
  MoveFailed,
  VmRestartedAtSource,
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

/** An event as stored and as published on JetStream. */
export interface RecordedEvent<E extends { type: string; data: unknown } = VmEvent> {
  id: string;
  streamId: string;
  streamVersion: number;
  position: string;
  type: E['type'];
  data: E['data'];
  metadata: EventMetadata;
  recordedAt: string;
}

export const vmStreamId = (vm: string) => `vm:${vm}`;
