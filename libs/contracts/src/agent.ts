import { z } from 'zod';
import { Name } from './names';

/** What the mobility manager asks of one hypervisor agent, one request per move step. */
export const AgentStepRequest = z.strictObject({
  moveId: z.uuid(),
  vm: Name,
  /** Fencing token: the agent refuses to run a VM for a version older than one it has seen. */
  locationVersion: z.number().int().positive(),
  /** For `transfer`, `receive-state` and `postcopy-pull`: the other hypervisor. */
  peer: Name.optional(),
  /** Bytes to send or receive in this step (pre-copy round, stop-and-copy, state, postcopy pull). */
  bytes: z.number().nonnegative().optional(),
  /** Link bandwidth for this move (min of both hosts' links or the per-move cap), bytes/s. */
  bandwidthBps: z.number().positive().optional(),
  /** Pre-copy: the vCPU throttle during this round (auto-converge), and the guest's dirtying behaviour. */
  throttlePct: z.number().min(0).max(99).optional(),
  dirtyRateBps: z.number().nonnegative().optional(),
  workingSetBytes: z.number().positive().nullable().optional(),
  /** Pre-copy: which round this is (part of the step's identity: a repeat of round 3 is not round 4). */
  round: z.number().int().nonnegative().optional(),
  /** Durations fixed by the move's plan (shutdown, boot, resume). */
  durationMs: z.number().nonnegative().optional(),
  diskBps: z.number().positive().optional(),
  /** Pre-copy on a real hypervisor: the move's limits, which it applies itself (QEMU's downtime-limit, auto-converge). */
  downtimeLimitMs: z.number().positive().optional(),
  policy: z.enum(['throttle', 'postcopy', 'abort']).optional(),
});
export type AgentStepRequest = z.infer<typeof AgentStepRequest>;

export interface AgentStepReply {
  moveId: string;
  vm: string;
  hypervisor: string;
  /** Simulated duration of the step in ms (the agent's clock, scaled for labs and tests). */
  durationMs: number;
  /** Wall-clock epoch ms (sub-ms precision) at which the agent began and finished the step's work: a stop's start is when the VM stops serving, a boot's end when it serves again. */
  startedAt?: number;
  endedAt?: number;
  bytes?: number;
  /** Pre-copy round: unique bytes the guest dirtied while the round was sent. */
  dirtyBytes?: number;
  /** Pre-copy round on a real hypervisor: its own figures for the pass (the saga records them as they are). */
  measured?: boolean;
  completed?: boolean;
  throttlePct?: number;
  expectedDowntimeMs?: number;
  dirtyRateBps?: number;
  /** Announce: offsets of the RARP rounds after resume. */
  offsetsMs?: number[];
  /** true when this step had already been done for this move and the stored result is returned. */
  replayed: boolean;
}

/** What a hypervisor does with a VM it holds: `incoming` is committed here but not booted or resumed yet. */
export type HostedVmState = 'running' | 'stopped' | 'incoming' | 'suspended' | 'paused';

/**
 * `{}`: every VM the host holds. With a filter (what a drift check asks): only the VMs named in
 * `vms` and those whose name is within `from`..`through` (both inclusive, by code point), held or
 * not, with the newest location version the host has seen of each.
 */
export const AgentInventoryRequest = z.strictObject({
  vms: z.array(Name).min(1).max(1000, 'at most 1000 VMs per request; split the list').optional(),
  from: Name.optional(),
  through: Name.optional(),
});
export type AgentInventoryRequest = z.infer<typeof AgentInventoryRequest>;
export interface AgentInventoryReply {
  hypervisor: string;
  vms: { name: string; state: HostedVmState; locationVersion: number }[];
  /** With a filter: each VM of it this host has seen (held or left), at the newest location version it saw (its fence). */
  seen?: { name: string; locationVersion: number }[];
}
