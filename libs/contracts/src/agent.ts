import { z } from 'zod';
import { Name } from './names';

/** What the mobility manager asks of one hypervisor agent, one request per move step. */
export const AgentStepRequest = z.strictObject({
  moveId: z.uuid(),
  vm: Name,
  /** Fencing token: the agent refuses to run a VM for a version older than one it has seen. */
  locationVersion: z.number().int().positive(),
  /** For `transfer`: the hypervisor the config comes from. */
  peer: Name.optional(),
});
export type AgentStepRequest = z.infer<typeof AgentStepRequest>;

export interface AgentStepReply {
  moveId: string;
  vm: string;
  hypervisor: string;
  /** Simulated duration of the step in ms (the agent's clock, scaled for labs and tests). */
  durationMs: number;
  bytes?: number;
  /** true when this step had already been done for this move and the stored result is returned. */
  replayed: boolean;
}

export const AgentInventoryRequest = z.strictObject({});
export interface AgentInventoryReply {
  hypervisor: string;
  vms: { name: string; state: 'running' | 'stopped' | 'incoming'; locationVersion: number }[];
}
