import { checkMoveRequest, moveInProgress, sameLocation, unknownTarget } from './move-request';

const topology = { hypervisor: (name: string) => (['dc1-hv1', 'dc2-hv1'].includes(name) ? { name } : undefined) };

describe('checks of a move request, written once (decider, planner, move.plan)', () => {
  it('given a target that names no hypervisor, then UNKNOWN_TARGET, before anything about the VM', () => {
    expect(checkMoveRequest(topology, { vm: 'nope', to: 'dc9-hv9' }, undefined)).toEqual({
      code: 'UNKNOWN_TARGET',
      message: 'no hypervisor named dc9-hv9; see locus.topology.get for the hypervisors',
    });
    expect(unknownTarget(topology, 'dc2-hv1')).toBeUndefined();
  });

  it('given a VM the location database does not have, then UNKNOWN_VM', () => {
    expect(checkMoveRequest(topology, { vm: 'nope', to: 'dc2-hv1' }, undefined)).toEqual({ code: 'UNKNOWN_VM', message: 'no VM named nope' });
  });

  it('given a VM already on the target, then SAME_LOCATION; elsewhere, nothing to refuse', () => {
    expect(checkMoveRequest(topology, { vm: 'web-01', to: 'dc1-hv1' }, { hypervisor: 'dc1-hv1' })).toEqual({ code: 'SAME_LOCATION', message: 'VM web-01 already runs on dc1-hv1' });
    expect(sameLocation('web-01', 'dc1-hv1', 'dc2-hv1')).toBeUndefined();
    expect(checkMoveRequest(topology, { vm: 'web-01', to: 'dc2-hv1' }, { hypervisor: 'dc1-hv1' })).toBeUndefined();
  });

  it('given a VM that moves, then MOVE_IN_PROGRESS naming the move and where it is; not moving, nothing', () => {
    expect(moveInProgress('web-01', { moveId: 'm-1', stage: 'source-stopped' })).toEqual({ code: 'MOVE_IN_PROGRESS', message: 'VM web-01 is already moving (move m-1, source-stopped)' });
    expect(moveInProgress('web-01', undefined)).toBeUndefined();
  });
});
