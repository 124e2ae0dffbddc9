import { z } from 'zod';
import { Location, MoveMode, Name } from './names';
import type { RequestEndpoint } from './subjects';

export const MoveVmRequest = z.strictObject({
  vm: Name,
  to: Name.describe('target hypervisor'),
  mode: MoveMode,
  requestId: z.string().min(1).max(128).optional().describe('idempotency key: the same key returns the same move'),
});
export type MoveVmRequest = z.infer<typeof MoveVmRequest>;

export const GetMoveRequest = z.strictObject({ moveId: z.uuid() });
export type GetMoveRequest = z.infer<typeof GetMoveRequest>;

export const GetVmRequest = z.strictObject({ vm: Name });
export type GetVmRequest = z.infer<typeof GetVmRequest>;

export const ListVmsRequest = z.strictObject({ site: Name.optional(), hypervisor: Name.optional() });
export type ListVmsRequest = z.infer<typeof ListVmsRequest>;

export const GetTopologyRequest = z.strictObject({});
export type GetTopologyRequest = z.infer<typeof GetTopologyRequest>;

/** Schema of each endpoint's request body, used by the transport to validate before any handler runs. */
export const REQUEST_SCHEMAS: Record<RequestEndpoint, z.ZodType> = {
  'vm.move': MoveVmRequest,
  'move.get': GetMoveRequest,
  'vm.get': GetVmRequest,
  'vm.list': ListVmsRequest,
  'topology.get': GetTopologyRequest,
};

// ---- replies (types only: services build them, clients read them) ----

export const MoveState = z.enum(['accepted', 'in-progress', 'completed', 'converged', 'failed', 'cancelled']);
export type MoveState = z.infer<typeof MoveState>;

export interface MoveAcceptedReply {
  moveId: string;
  vm: string;
  from: Location;
  to: Location;
  mode: MoveMode;
  /** true when the requestId had been seen before and this is the original move. */
  duplicate?: boolean;
}

export interface TimelineEntry {
  at: string;
  component: string;
  event: string;
  detail?: Record<string, unknown>;
}

export interface MoveView {
  moveId: string;
  vm: string;
  mode: MoveMode;
  from: Location;
  to: Location;
  state: MoveState;
  locationVersion: number;
  requestId?: string;
  acceptedAt: string;
  finishedAt?: string;
  downtimeMs?: number;
  totalMs?: number;
  timeline: TimelineEntry[];
  error?: { code: string; message: string };
}

export type VmRunState = 'running' | 'stopped' | 'moving';

export interface VmView {
  name: string;
  ip: string;
  mac: string;
  site: string;
  hypervisor: string;
  l2Domain: string;
  state: VmRunState;
  locationVersion: number;
}
