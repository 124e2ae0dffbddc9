import { decideHostDrift, stuckRepairAction, type HostDriftInput, type HostView } from './host-drift';

/** web-01: the DB places it on dc1-hv1 (dc1) at location version 1, running. */
const db = (over: Partial<HostDriftInput['location']> = {}): HostDriftInput['location'] => ({ vm: 'web-01', site: 'dc1', hypervisor: 'dc1-hv1', state: 'running', locationVersion: 1, ...over });
const given = (location: HostDriftInput['location'], ...hosts: HostView[]) => ({
  when: (answered = true) => decideHostDrift({ location, hosts, locationHostAnswered: answered }),
});
const runs = (hypervisor: string, locationVersion = 1): HostView => ({ hypervisor, held: { state: 'running', locationVersion }, seen: locationVersion });

describe('drift on the hypervisors: where a VM runs, against the location DB', () => {
  it('given the VM running on the DB host at the DB version and nowhere else, then no disagreement and no repair', () => {
    expect(given(db(), runs('dc1-hv1')).when()).toEqual({ disagreements: [] });
  });

  it('given a forged VmRelocated (dc1-hv1 dropped it and saw v2, dc2-hv1 holds it incoming at v2), then missing, extra copy and version ahead, and the repair reasserts at v3, evicts dc2-hv1 and boots it on dc1-hv1', () => {
    const decision = given(db(), { hypervisor: 'dc1-hv1', seen: 2 }, { hypervisor: 'dc2-hv1', held: { state: 'incoming', locationVersion: 2 }, seen: 2 }).when();
    expect(decision.disagreements.map((d) => [d.kind, d.component, d.hosts])).toEqual([
      ['missing', 'agent:dc1-hv1', ['dc1-hv1', 'dc2-hv1']],
      ['extra-copy', 'agent:dc2-hv1', ['dc2-hv1', 'dc1-hv1']],
      ['version-ahead', 'agent:dc1-hv1', ['dc1-hv1']],
      ['version-ahead', 'agent:dc2-hv1', ['dc2-hv1']],
    ]);
    expect(decision.disagreements[0]).toEqual({
      plane: 'hypervisors',
      component: 'agent:dc1-hv1',
      vm: 'web-01',
      kind: 'missing',
      hosts: ['dc1-hv1', 'dc2-hv1'],
      detail: 'dc1-hv1 does not hold web-01; a copy is on dc2-hv1 (incoming v2); the DB places web-01 on dc1-hv1 (dc1) v1',
    });
    expect(decision.repair).toMatchObject({
      vm: 'web-01',
      hypervisor: 'dc1-hv1',
      reassert: { expectedLocationVersion: 1, locationVersion: 3, evict: ['dc2-hv1'] },
      start: { locationVersion: 3 },
    });
    expect(decision.repair!.findings.map((f) => f.kind)).toEqual(['missing', 'extra-copy', 'version-ahead', 'version-ahead']);
  });

  it('given a forged event to a host that does not exist (only dc1-hv1 saw it), then the repair still rises above it', () => {
    const decision = given(db(), { hypervisor: 'dc1-hv1', seen: 7 }).when();
    expect(decision.disagreements.map((d) => d.kind)).toEqual(['missing', 'version-ahead']);
    expect(decision.disagreements[0].detail).toBe('dc1-hv1 does not hold web-01; no agent holds it; the DB places web-01 on dc1-hv1 (dc1) v1');
    expect(decision.repair).toMatchObject({ reassert: { locationVersion: 8, evict: [] }, start: { locationVersion: 8 } });
  });

  it('given a direct start on dc2-hv1 (two copies running at v1), then an extra copy, and the repair reasserts at v2 evicting dc2-hv1 without a boot', () => {
    const decision = given(db(), runs('dc1-hv1'), runs('dc2-hv1')).when();
    expect(decision.disagreements).toEqual([
      {
        plane: 'hypervisors',
        component: 'agent:dc2-hv1',
        vm: 'web-01',
        kind: 'extra-copy',
        hosts: ['dc2-hv1', 'dc1-hv1'],
        detail: 'dc2-hv1 holds a copy of web-01 (running v1); the DB places web-01 on dc1-hv1 (dc1) v1',
      },
    ]);
    expect(decision.repair).toEqual({
      vm: 'web-01',
      hypervisor: 'dc1-hv1',
      findings: [expect.objectContaining({ kind: 'extra-copy' })],
      reassert: { expectedLocationVersion: 1, locationVersion: 2, evict: ['dc2-hv1'] },
    });
  });

  it('given the DB host lost the VM and nobody is ahead, then missing, and the repair only boots it there at the DB version (nothing to fence)', () => {
    const decision = given(db({ locationVersion: 4 }), { hypervisor: 'dc1-hv1', seen: 4 }).when();
    expect(decision.disagreements.map((d) => d.kind)).toEqual(['missing']);
    expect(decision.repair).toEqual({ vm: 'web-01', hypervisor: 'dc1-hv1', findings: [expect.objectContaining({ kind: 'missing' })], start: { locationVersion: 4 } });
  });

  it('given the DB host holds it incoming (a repair whose boot did not finish), then not running, and the repair boots it', () => {
    const decision = given(db({ locationVersion: 3 }), { hypervisor: 'dc1-hv1', held: { state: 'incoming', locationVersion: 3 }, seen: 3 }).when();
    expect(decision.disagreements).toEqual([expect.objectContaining({ kind: 'not-running', detail: 'dc1-hv1 holds web-01 incoming (v3); the DB places web-01 on dc1-hv1 (dc1) v3, running' })]);
    expect(decision.repair).toMatchObject({ start: { locationVersion: 3 } });
    expect(decision.repair!.reassert).toBeUndefined();
  });

  it('given a start on the DB host itself at a made-up version 99, then version ahead, and the repair reasserts at 100 without a boot', () => {
    const decision = given(db(), runs('dc1-hv1', 99)).when();
    expect(decision.disagreements.map((d) => d.kind)).toEqual(['version-ahead']);
    expect(decision.repair).toMatchObject({ reassert: { locationVersion: 100, evict: [] } });
    expect(decision.repair!.start).toBeUndefined();
  });

  it('given a VM the DB says is stopped, held stopped on its host (or not at all), then no disagreement; a copy elsewhere is one, evicted without a boot', () => {
    expect(given(db({ state: 'stopped' }), { hypervisor: 'dc1-hv1', held: { state: 'stopped', locationVersion: 1 }, seen: 1 }).when()).toEqual({ disagreements: [] });
    expect(given(db({ state: 'stopped' })).when()).toEqual({ disagreements: [] });
    const copy = given(db({ state: 'stopped' }), runs('dc2-hv1')).when();
    expect(copy.disagreements.map((d) => d.kind)).toEqual(['extra-copy']);
    expect(copy.repair).toMatchObject({ reassert: { locationVersion: 2, evict: ['dc2-hv1'] } });
    expect(copy.repair!.start).toBeUndefined();
  });

  it('given a VM moving (source running, target incoming), then nothing: the saga owns it; but a host ahead of the DB is named', () => {
    const moving = db({ state: 'moving' });
    expect(given(moving, runs('dc1-hv1'), { hypervisor: 'dc2-hv1', held: { state: 'incoming', locationVersion: 1 }, seen: 1 }).when()).toEqual({ disagreements: [] });
    const fenced = given(moving, { hypervisor: 'dc1-hv1', seen: 2 }, { hypervisor: 'dc2-hv1', held: { state: 'incoming', locationVersion: 2 }, seen: 2 }).when();
    expect(fenced.disagreements.map((d) => d.kind)).toEqual(['version-ahead', 'version-ahead']);
    expect(fenced.repair).toEqual({ vm: 'web-01', hypervisor: 'dc1-hv1', findings: expect.any(Array), reassert: { expectedLocationVersion: 1, locationVersion: 3, evict: ['dc2-hv1'] } });
  });

  it('given a move just committed (web-01 at dc2-hv1 v2) whose source has not heard it yet (a stopped copy at v1), then no drift while the move converges; past its deadline, an extra copy', () => {
    const moved = db({ site: 'dc2', hypervisor: 'dc2-hv1', locationVersion: 2 });
    const lagging: HostView = { hypervisor: 'dc1-hv1', held: { state: 'stopped', locationVersion: 1 }, seen: 1 };
    const decide = (converging: boolean) => decideHostDrift({ location: moved, hosts: [runs('dc2-hv1', 2), lagging], locationHostAnswered: true, converging });
    expect(decide(true)).toEqual({ disagreements: [] });
    expect(decide(false).disagreements.map((d) => [d.kind, d.component])).toEqual([['extra-copy', 'agent:dc1-hv1']]);
    expect(decide(false).repair?.reassert).toEqual({ expectedLocationVersion: 2, locationVersion: 3, evict: ['dc1-hv1'] });
  });

  it('while a move converges, a copy that runs, or one at the DB version, is drift all the same', () => {
    const moved = db({ site: 'dc2', hypervisor: 'dc2-hv1', locationVersion: 2 });
    const decide = (copy: HostView) => decideHostDrift({ location: moved, hosts: [runs('dc2-hv1', 2), copy], locationHostAnswered: true, converging: true });
    expect(decide(runs('dc1-hv1', 1)).disagreements.map((d) => d.kind)).toEqual(['extra-copy']);
    expect(decide({ hypervisor: 'dc1-hv1', held: { state: 'stopped', locationVersion: 1 }, seen: 2 }).disagreements.map((d) => d.kind)).toEqual(['extra-copy']);
  });

  it('given the DB host did not answer, then nothing is decided (a down host is the HA monitor’s)', () => {
    expect(given(db(), runs('dc2-hv1')).when(false)).toEqual({ disagreements: [] });
  });

  it('says what a human must do when a repair is stuck', () => {
    expect(stuckRepairAction({ vm: 'web-01', hypervisor: 'dc1-hv1' }, 'FENCED: dc1-hv1 has seen web-01 at 9')).toBe(
      'web-01 does not run on dc1-hv1, where the location DB places it, and the repair could not boot it there (FENCED: dc1-hv1 has seen web-01 at 9). ' +
        'Make dc1-hv1 able to boot it (bring its agent back, free what it lacks), then run drift.check {"vms":["web-01"]} to repair it again',
    );
  });
});
