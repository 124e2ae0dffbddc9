import type { ErrorCode } from '@locus/contracts';

/**
 * The checks of a move request against where the VM is and what it is doing, each written once:
 * the VM decider runs them on the VM's stream (the authority), the planner and `move.plan` on the
 * projections (to answer before anything is appended). Undefined: nothing to refuse.
 */
export interface MoveRefusal {
  code: ErrorCode;
  message: string;
}

/** The target names no hypervisor of the topology. */
export function unknownTarget(topology: { hypervisor(name: string): unknown }, to: string): MoveRefusal | undefined {
  return topology.hypervisor(to) ? undefined : { code: 'UNKNOWN_TARGET', message: `no hypervisor named ${to}; see locus.topology.get for the hypervisors` };
}

/** The VM already moves (`stage`: its phase on the stream, or its state in the projection). */
export function moveInProgress(vm: string, move: { moveId: string; stage: string } | undefined): MoveRefusal | undefined {
  return move ? { code: 'MOVE_IN_PROGRESS', message: `VM ${vm} is already moving (move ${move.moveId}, ${move.stage})` } : undefined;
}

/** The VM already runs on the target. */
export function sameLocation(vm: string, hypervisor: string, to: string): MoveRefusal | undefined {
  return hypervisor === to ? { code: 'SAME_LOCATION', message: `VM ${vm} already runs on ${to}` } : undefined;
}

/**
 * A request to move `vm` to `to`, against the topology and where the VM is (undefined: no such VM),
 * in the order every endpoint answers: UNKNOWN_TARGET, UNKNOWN_VM, SAME_LOCATION.
 */
export function checkMoveRequest(topology: { hypervisor(name: string): unknown }, req: { vm: string; to: string }, at: { hypervisor: string } | undefined): MoveRefusal | undefined {
  return unknownTarget(topology, req.to) ?? (at ? sameLocation(req.vm, at.hypervisor, req.to) : { code: 'UNKNOWN_VM', message: `no VM named ${req.vm}` });
}
