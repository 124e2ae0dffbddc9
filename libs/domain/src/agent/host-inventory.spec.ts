import type { VmEvent } from '@locus/contracts';
import { fold } from '../vm/vm.decider';
import { applyLocationFact, checkFence, emptyInventory, recordedHostState } from './host-inventory';

describe('host inventory: location facts are applied once and never go back', () => {
  it('given a VM placed here, when the same fact is redelivered, then it is a duplicate and nothing changes', () => {
    const inv = emptyInventory('dc1-hv1');
    expect(applyLocationFact(inv, { type: 'placed', vm: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 1 })).toBe('applied');
    const before = JSON.stringify([...inv.vms]);
    expect(applyLocationFact(inv, { type: 'placed', vm: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 1 })).toBe('duplicate');
    expect(JSON.stringify([...inv.vms])).toBe(before);
  });
  it('given a VM relocated away at version 2, when an older fact arrives, then it is stale and the VM stays gone', () => {
    const inv = emptyInventory('dc1-hv1');
    applyLocationFact(inv, { type: 'placed', vm: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 1 });
    expect(applyLocationFact(inv, { type: 'relocated', vm: 'web-01', from: 'dc1-hv1', to: 'dc2-hv1', locationVersion: 2 })).toBe('applied');
    expect(inv.vms.has('web-01')).toBe(false);
    expect(applyLocationFact(inv, { type: 'placed', vm: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 1 })).toBe('stale');
    expect(inv.vms.has('web-01')).toBe(false);
  });
  it('given a VM relocated here, then it is incoming at the new version until it boots', () => {
    const inv = emptyInventory('dc2-hv1');
    applyLocationFact(inv, { type: 'relocated', vm: 'web-01', from: 'dc1-hv1', to: 'dc2-hv1', locationVersion: 2 });
    expect(inv.vms.get('web-01')).toEqual({ state: 'incoming', locationVersion: 2 });
  });
  it('ignores facts about other hosts', () => {
    const inv = emptyInventory('cloud-hv1');
    expect(applyLocationFact(inv, { type: 'placed', vm: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 1 })).toBe('not-mine');
    expect(inv.vms.size).toBe(0);
  });
});

describe('fencing', () => {
  it('given the host saw version 2, when asked to act for version 1, then it refuses', () => {
    const inv = emptyInventory('dc1-hv1');
    applyLocationFact(inv, { type: 'placed', vm: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 1 });
    applyLocationFact(inv, { type: 'relocated', vm: 'web-01', from: 'dc1-hv1', to: 'dc2-hv1', locationVersion: 2 });
    expect(checkFence(inv, 'web-01', 1)).toMatchObject({ ok: false });
    expect(checkFence(inv, 'web-01', 2)).toEqual({ ok: true });
  });
});

describe('the recorded host state an agent restarts from', () => {
  const MOVE = '00000000-0000-4000-8000-000000000001';
  const dc1 = { site: 'dc1', hypervisor: 'dc1-hv1' };
  const dc2 = { site: 'dc2', hypervisor: 'dc2-hv1' };
  const placed: VmEvent = {
    type: 'VmPlaced',
    data: { vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', l2Domain: 'web', site: 'dc1', hypervisor: 'dc1-hv1', memoryMb: 4096, locationVersion: 1 },
  };
  const accepted = (mode: 'cold' | 'warm' | 'hot'): VmEvent => ({
    type: 'MoveAccepted',
    data: { moveId: MOVE, vm: 'web-01', mode, from: dc1, to: dc2, locationVersion: 1, cause: 'operator', warnings: [], planes: ['location'] },
  });
  const started: VmEvent = { type: 'MoveStarted', data: { moveId: MOVE, hypervisor: 'dc1-hv1' } };
  const stopped: VmEvent = { type: 'VmStoppedAtSource', data: { moveId: MOVE, hypervisor: 'dc1-hv1', durationMs: 8000 } };
  const transferred: VmEvent = { type: 'VmConfigTransferred', data: { moveId: MOVE, from: 'dc1-hv1', to: 'dc2-hv1', bytes: 65536, durationMs: 5 } };
  const relocated = (mode: 'cold' | 'hot'): VmEvent => ({
    type: 'VmRelocated',
    data: { moveId: MOVE, vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', from: dc1, to: dc2, locationVersion: 2, mode },
  });
  const failed: VmEvent = { type: 'MoveFailed', data: { moveId: MOVE, code: 'UNAVAILABLE', message: 'x', phase: 'source-stopped', restartAtSource: true } };
  const hostState = (...events: VmEvent[]) => recordedHostState(fold(events));

  it('given no move, then the VM runs (or stays stopped)', () => {
    expect(hostState(placed)).toBe('running');
  });
  it('given a cold move whose stop is recorded, then the source holds it stopped', () => {
    expect(hostState(placed, accepted('cold'), started)).toBe('running');
    expect(hostState(placed, accepted('cold'), started, stopped, transferred)).toBe('stopped');
  });
  it('given the location committed at the target, then the target holds it incoming until the boot is recorded', () => {
    expect(hostState(placed, accepted('cold'), started, stopped, transferred, relocated('cold'))).toBe('incoming');
  });
  it('given a hot move resumed at the target and announcing, then it runs there', () => {
    const switched: VmEvent = { type: 'VmPausedAndCopied', data: { moveId: MOVE, hypervisor: 'dc1-hv1', bytes: 1, durationMs: 1, reason: 'converged' } };
    const switching: VmEvent = { type: 'SwitchoverStarted', data: { moveId: MOVE, reason: 'converged', remainingBytes: 1, expectedDowntimeMs: 1 } };
    const resumed: VmEvent = { type: 'VmResumedAtTarget', data: { moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 2, durationMs: 20 } };
    expect(hostState(placed, accepted('hot'), started, switching, switched)).toBe('paused');
    expect(hostState(placed, accepted('hot'), started, switching, switched, relocated('hot'), resumed)).toBe('running');
  });
  it('given a failed move restarting at the source after the stop, then the source holds it stopped: the restart boots it', () => {
    expect(hostState(placed, accepted('cold'), started, stopped, failed)).toBe('stopped');
  });
});
