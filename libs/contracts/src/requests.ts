import { z } from 'zod';
import { Location, MoveMode, Name } from './names';
import type { RequestEndpoint } from './subjects';
import type { HostedVmState } from './agent';
import type { HostDriftKind } from './events';

/** Per-move overrides of the VM's workload profile and the engine's limits. */
export const MoveOptions = z.strictObject({
  dirtyRateMBps: z.number().nonnegative().optional(),
  workingSetMb: z.number().positive().optional(),
  bandwidthMbps: z.number().positive().optional().describe('cap below the two hosts’ links'),
  downtimeLimitMs: z.number().positive().max(60_000).optional(),
  maxRounds: z.number().int().positive().max(1000).optional(),
  maxDataFactor: z.number().positive().max(100).optional(),
  policy: z.enum(['throttle', 'postcopy', 'abort']).optional().describe('what a hot move does when it does not converge'),
});
export type MoveOptions = z.infer<typeof MoveOptions>;

export const MoveVmRequest = z.strictObject({
  vm: Name,
  to: Name.describe('target hypervisor'),
  mode: MoveMode,
  requestId: z
    .string()
    .min(1)
    .max(128)
    // Postgres stores no NUL in text; no control character is a key anyone types or logs well.
    .regex(/^[^\u0000-\u001f\u007f]+$/, 'no control characters (U+0000–U+001F, U+007F)')
    .optional()
    .describe('idempotency key: the same key returns the same move'),
  options: MoveOptions.optional(),
});
export type MoveVmRequest = z.infer<typeof MoveVmRequest>;

/** A move's id, or its first 8 characters or more (what the logs, `locus watch` and `--wait` show). */
export const MoveIdOrPrefix = z
  .string()
  .regex(/^[0-9a-f]{8}(?:[0-9a-f-]{0,28})$/i, 'expected a move id (UUID) or its first 8 characters or more')
  .describe('a move id, or its first 8 characters or more');
export const GetMoveRequest = z.strictObject({ moveId: MoveIdOrPrefix });
export type GetMoveRequest = z.infer<typeof GetMoveRequest>;
export const CancelMoveRequest = z.strictObject({ moveId: MoveIdOrPrefix });
export type CancelMoveRequest = z.infer<typeof CancelMoveRequest>;
/** Same body as vm.move; nothing is appended. */
export const PlanMoveRequest = MoveVmRequest;
export type PlanMoveRequest = MoveVmRequest;

export const GetVmRequest = z.strictObject({ vm: Name });
export type GetVmRequest = z.infer<typeof GetVmRequest>;

/** VMs a `vm.list` page holds when the request names no `limit`, and the most it may name. */
export const VM_LIST_DEFAULT_LIMIT = 1000;
export const VM_LIST_MAX_LIMIT = 5000;

export const ListVmsRequest = z.strictObject({
  site: Name.optional(),
  hypervisor: Name.optional(),
  after: Name.optional().describe("exclusive cursor: only VMs whose name sorts after this one (the previous page's `next`)"),
  limit: z.number().int().min(1).max(VM_LIST_MAX_LIMIT).optional().describe(`VMs in this page, default ${VM_LIST_DEFAULT_LIMIT}`),
});
export type ListVmsRequest = z.infer<typeof ListVmsRequest>;

export const GetTopologyRequest = z.strictObject({});
export type GetTopologyRequest = z.infer<typeof GetTopologyRequest>;

/** The most VMs one `drift.check` may name (the planes' filter limit). */
export const DRIFT_CHECK_MAX_VMS = 1000;

/**
 * `drift.check {}`: compare every plane (the hypervisors' inventories included) with the location
 * DB now, and repair what the hypervisors disagree about. `vms`: only these VMs (an agent that
 * finds its inventory differs from the DB names its VMs here). `repair: false`: report only.
 */
export const DriftCheckRequest = z.strictObject({
  vms: z.array(Name).min(1, 'name at least one VM, or leave vms out').max(DRIFT_CHECK_MAX_VMS, `at most ${DRIFT_CHECK_MAX_VMS} VMs per request; split the list`).optional(),
  repair: z.boolean().optional(),
});
export type DriftCheckRequest = z.infer<typeof DriftCheckRequest>;

/** Schema of each endpoint's request body, used by the transport to validate before any handler runs. */
export const REQUEST_SCHEMAS: Record<RequestEndpoint, z.ZodType> = {
  'vm.move': MoveVmRequest,
  'move.get': GetMoveRequest,
  'move.plan': PlanMoveRequest,
  'move.cancel': CancelMoveRequest,
  'vm.get': GetVmRequest,
  'vm.list': ListVmsRequest,
  'topology.get': GetTopologyRequest,
  'drift.check': DriftCheckRequest,
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
  warnings?: string[];
  prediction?: MovePrediction;
  /** Present when the source host's outbound slots are taken: the move's place in its queue (1 = next to start). */
  queuePosition?: number;
}

export interface TimelineEntry {
  at: string;
  component: string;
  event: string;
  detail?: Record<string, unknown>;
}

export interface PrecopyRoundView {
  round: number;
  sentBytes: number;
  durationMs: number;
  dirtyBytes: number;
  throttlePct: number;
  expectedDowntimeMs: number;
  /** A real hypervisor's pass (QEMU's `query-migrate`), not the model's. */
  measured?: boolean;
  /** The hypervisor switched over at the end of this pass. */
  completed?: boolean;
  /** The dirty rate the hypervisor saw during the pass, bytes/s. */
  dirtyRateBps?: number;
}

export interface MoveView {
  moveId: string;
  vm: string;
  mode: MoveMode;
  cause: 'operator' | 'ha-restart';
  from: Location;
  to: Location;
  state: MoveState;
  locationVersion: number;
  requestId?: string;
  /** Place in the source host's queue of outbound moves while `accepted`. */
  queuePosition?: number;
  acceptedAt: string;
  finishedAt?: string;
  /** VM stopped to VM running, in simulated ms, as the agents measured it (the source's stop or pause to the target's boot or resume). */
  downtimeMs?: number;
  /** The same by the model: the sum of the down phases' durations, what `move.plan` predicts. */
  modelDowntimeMs?: number;
  /** First step to VM running at the target (postcopy: to the last page), in simulated ms. */
  totalMs?: number;
  /** Simulated ms of each phase, e.g. {"precopy": 3436, "stop-and-copy": 96, "resume": 20}. */
  phases: Record<string, number>;
  rounds: PrecopyRoundView[];
  dataSentBytes?: number;
  warnings: string[];
  planes: string[];
  timeline: TimelineEntry[];
  error?: { code: string; message: string };
  /** Real ms from the location commit to the last network plane agreeing with the new location version (state `converged`). */
  convergenceMs?: number;
  /** Per plane of the move: real ms after the commit and what it did, e.g. {"host-routes": {"ms": 2.7, "advertised": "dc2", "withdrawn": "dc1"}}. */
  planeTimes?: Record<string, { ms: number; [detail: string]: unknown }>;
  /** Set when the planes did not all agree within the deadline: what was still stale then (kept after a later convergence). */
  convergenceLate?: { afterMs: number; at: string; stale: { plane: string; component: string; detail: string }[] };
}

/** One way a plane disagrees with the location DB. */
export interface DriftView {
  /** `hypervisors`: the agents' inventories (where the VM runs) against the location DB. */
  plane: 'mapping' | 'host-routes' | 'arp-proxy' | 'hypervisors';
  /** e.g. `map-server`, `itr:branch`, `route-injector:dc1`, `arp-proxy:dc1`, `agent:dc1-hv1`. */
  component: string;
  vm?: string;
  /** On the `hypervisors` plane: what kind of disagreement, and the hosts involved. */
  kind?: HostDriftKind;
  hosts?: string[];
  detail: string;
}

/** What a drift check did about a VM the hypervisors disagree about. */
export interface DriftRepairView {
  vm: string;
  repairId: string;
  /**
   * `reasserted`: the DB's location recorded again at `locationVersion` (copies elsewhere dropped);
   * `restarted`: booted again on the DB's host; `stuck`: could not be repaired (recorded, logged as an error);
   * `refused`: not done, the VM changed since it was compared (the next check decides again);
   * `pending`: the boot did not answer in time (the next check looks again).
   */
  outcome: 'reasserted' | 'restarted' | 'stuck' | 'refused' | 'pending';
  hypervisor: string;
  locationVersion: number;
  evicted?: string[];
  detail: string;
}

export interface DriftReply {
  checkedAt: string;
  /** VMs compared (running or stopped, not moving). */
  vms: number;
  /** VMs left out: moving, or a move whose convergence is still being tracked. */
  skipped: string[];
  disagreements: DriftView[];
  /** What this check repaired (only when something was). */
  repairs?: DriftRepairView[];
  /** With `vms`: the names the location DB does not have. */
  unknown?: string[];
}

export interface MovePrediction {
  phases: Record<string, number>;
  rounds: PrecopyRoundView[];
  outcome: 'switchover' | 'postcopy' | 'abort' | 'stop-and-restart';
  reason?: string;
  dataSentBytes: number;
  totalMs: number;
  downtimeMs?: number;
}

export type VmRunState = 'running' | 'stopped' | 'moving';

/** One page of `vm.list`, by name. `next` (the last name of this page) is set when more may follow: ask again with `{"after": next}`. */
export interface ListVmsReply {
  vms: VmView[];
  next?: string;
}

export interface VmView {
  name: string;
  ip: string;
  mac: string;
  site: string;
  hypervisor: string;
  l2Domain: string;
  state: VmRunState;
  locationVersion: number;
  /**
   * While the VM moves: what its hypervisor (the source before the commit, the target after) is
   * doing with it as recorded, e.g. `stopped` after the shutdown, `incoming` before the boot. An
   * agent that restarts mid-move takes it from here instead of assuming the VM runs.
   */
  hostState?: HostedVmState;
}
