import { applyLocationFact, checkFence, emptyInventory } from './host-inventory';

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
