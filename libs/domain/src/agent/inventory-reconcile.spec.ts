import { applyLocationFact, emptyInventory } from './host-inventory';
import { compareInventory } from './inventory-reconcile';

describe('an agent reconciles its inventory with the location DB', () => {
  it('given the inventory and the DB agreeing, then no difference', () => {
    const inv = emptyInventory('dc1-hv2');
    applyLocationFact(inv, { type: 'placed', vm: 'web-02', hypervisor: 'dc1-hv2', locationVersion: 1 });
    expect(compareInventory(inv, [{ vm: 'web-02', state: 'running', locationVersion: 1 }])).toEqual({ extra: [], missing: [] });
  });

  it('given a stale inventory (a copy the DB places elsewhere, a VM the DB places here gone), then both are named', () => {
    const inv = emptyInventory('dc1-hv2');
    inv.vms.set('web-05', { state: 'running', locationVersion: 1 });
    expect(compareInventory(inv, [{ vm: 'web-02', state: 'running', locationVersion: 1 }])).toEqual({
      extra: [{ vm: 'web-05', state: 'running', locationVersion: 1 }],
      missing: [{ vm: 'web-02', locationVersion: 1 }],
    });
  });

  it('given a forged relocation dropped a VM the DB still places here, then it is missing with the version this host saw', () => {
    const inv = emptyInventory('dc1-hv1');
    applyLocationFact(inv, { type: 'placed', vm: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 1 });
    applyLocationFact(inv, { type: 'relocated', vm: 'web-01', from: 'dc1-hv1', to: 'dc2-hv1', locationVersion: 2 });
    expect(compareInventory(inv, [{ vm: 'web-01', state: 'running', locationVersion: 1 }])).toEqual({ extra: [], missing: [{ vm: 'web-01', locationVersion: 1, seen: 2 }] });
  });

  it('given a VM moving or stopped in the DB and not held here, then it is not missing (its saga, or nobody, runs it)', () => {
    const inv = emptyInventory('dc1-hv1');
    expect(
      compareInventory(inv, [
        { vm: 'web-01', state: 'moving', locationVersion: 2 },
        { vm: 'jump-01', state: 'stopped', locationVersion: 2 },
      ]),
    ).toEqual({ extra: [], missing: [] });
  });
});

describe('host inventory: a drift repair (reasserted location)', () => {
  it('given a copy on a host the repair does not name, then it is dropped and the fence rises', () => {
    const inv = emptyInventory('dc2-hv1');
    inv.vms.set('web-01', { state: 'running', locationVersion: 1 });
    expect(applyLocationFact(inv, { type: 'reasserted', vm: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 2 })).toBe('applied');
    expect(inv.vms.has('web-01')).toBe(false);
    expect(inv.seen.get('web-01')).toBe(2);
  });

  it('given the named host runs it, then it keeps running at the new version; lacking it, it holds it incoming for the boot', () => {
    const running = emptyInventory('dc1-hv1');
    applyLocationFact(running, { type: 'placed', vm: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 1 });
    applyLocationFact(running, { type: 'reasserted', vm: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 2 });
    expect(running.vms.get('web-01')).toEqual({ state: 'running', locationVersion: 2 });
    const dropped = emptyInventory('dc1-hv1');
    applyLocationFact(dropped, { type: 'placed', vm: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 1 });
    applyLocationFact(dropped, { type: 'relocated', vm: 'web-01', from: 'dc1-hv1', to: 'dc2-hv1', locationVersion: 2 });
    expect(applyLocationFact(dropped, { type: 'reasserted', vm: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 3 })).toBe('applied');
    expect(dropped.vms.get('web-01')).toEqual({ state: 'incoming', locationVersion: 3 });
  });

  it('given a host that never had the VM, then the repair is not its business', () => {
    const inv = emptyInventory('cloud-hv1');
    expect(applyLocationFact(inv, { type: 'reasserted', vm: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 2 })).toBe('not-mine');
    expect(inv.seen.size).toBe(0);
  });
});
