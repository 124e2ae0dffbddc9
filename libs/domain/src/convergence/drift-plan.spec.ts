import { AGENT_FILTER_LIMIT, hostsNamedBy, pacedStepStartMs, planAgentAsks, routePageLimit } from './drift-plan';

const HOSTS = ['dc1-hv1', 'dc1-hv2', 'dc2-hv1', 'dc2-hv2'];

describe('drift plan: which agent is asked about which VM', () => {
  it('given VMs that changed, when planned, then each agent is asked by name about the VMs the DB places on it and the hosts they just left only', () => {
    const plan = planAgentAsks(
      HOSTS,
      [
        { vm: 'web-07', hypervisor: 'dc2-hv1', everyAgent: false, related: ['dc1-hv1', 'dc2-hv1'] },
        { vm: 'db-03', hypervisor: 'dc1-hv2', everyAgent: false },
      ],
      { contiguous: false, namesPerRequest: 100 },
    );
    expect(Object.fromEntries(plan.requests)).toEqual({ 'dc1-hv1': [{ vms: ['web-07'] }], 'dc1-hv2': [{ vms: ['db-03'] }], 'dc2-hv1': [{ vms: ['web-07'] }] });
    expect(plan.requests.has('dc2-hv2')).toBe(false); // not asked at all
    expect(Object.fromEntries([...plan.askedOf].map(([vm, hosts]) => [vm, [...hosts].sort()]))).toEqual({ 'web-07': ['dc1-hv1', 'dc2-hv1'], 'db-03': ['dc1-hv2'] });
  });

  it('given a VM due again (a disagreement known), then every agent is asked about it by name: a copy may be on any host', () => {
    const plan = planAgentAsks(
      HOSTS,
      [
        { vm: 'web-07', hypervisor: 'dc2-hv1', everyAgent: true },
        { vm: 'db-03', hypervisor: 'dc1-hv2', everyAgent: false },
      ],
      { contiguous: false, namesPerRequest: 1 },
    );
    expect(plan.requests.get('dc2-hv2')).toEqual([{ vms: ['web-07'] }]);
    expect(plan.requests.get('dc1-hv2')).toEqual([{ vms: ['web-07', 'db-03'] }]);
    expect(plan.askedOf.has('web-07')).toBe(false); // asked of every agent
  });

  it('given a page of the sweep (names in a row) of more VMs than go by name, then every agent is asked for their range', () => {
    const page = ['app-01', 'app-02', 'app-03'].map((vm) => ({ vm, hypervisor: 'dc1-hv1', everyAgent: true }));
    const plan = planAgentAsks(HOSTS, page, { contiguous: true, namesPerRequest: 2 });
    for (const h of HOSTS) expect(plan.requests.get(h)).toEqual([{ from: 'app-01', through: 'app-03' }]);
    // the same names not in a row (random names that changed): by name, never a range that spans other VMs
    const named = planAgentAsks(HOSTS, page, { contiguous: false, namesPerRequest: 2 });
    for (const h of HOSTS) expect(named.requests.get(h)).toEqual([{ vms: ['app-01', 'app-02', 'app-03'] }]);
  });

  it('given more names for one agent than one request takes, then they are split; a host the topology does not have is never asked', () => {
    const many = Array.from({ length: AGENT_FILTER_LIMIT + 1 }, (_, i) => ({ vm: `vm-${i}`, hypervisor: 'dc1-hv1', everyAgent: false, related: ['gone-hv9'] }));
    const plan = planAgentAsks(HOSTS, many, { contiguous: false, namesPerRequest: 100 });
    expect([...plan.requests.keys()]).toEqual(['dc1-hv1']);
    expect(plan.requests.get('dc1-hv1')!.map((r) => r.vms!.length)).toEqual([AGENT_FILTER_LIMIT, 1]);
  });
});

describe('drift plan: the hosts a VM event names', () => {
  it('given a relocation, a boot and a repair, then the hosts the VM was, is and goes, and those a repair evicts', () => {
    expect(hostsNamedBy({ vm: 'web-07', from: { hypervisor: 'dc1-hv1', site: 'dc1' }, to: { hypervisor: 'dc2-hv1', site: 'dc2' }, locationVersion: 3 })).toEqual(['dc1-hv1', 'dc2-hv1']);
    expect(hostsNamedBy({ hypervisor: 'dc2-hv1', locationVersion: 3, durationMs: 10 })).toEqual(['dc2-hv1']);
    expect(hostsNamedBy({ hypervisor: 'dc1-hv1', evict: ['dc2-hv1', 'dc1-hv1'] })).toEqual(['dc1-hv1', 'dc2-hv1']);
    expect(hostsNamedBy({ code: 'TIMEOUT', phase: 'boot' })).toEqual([]);
    expect(hostsNamedBy(undefined)).toEqual([]);
  });
});

describe("drift plan: a site's page of routes per period", () => {
  it("given the site's RIB size, then it is walked in about the sweep's periods, no page below the floor nor above the filter limit", () => {
    expect(routePageLimit(200, 10, { min: 20, max: 1000 })).toBe(20);
    expect(routePageLimit(10_000, 10, { min: 20, max: 1000 })).toBe(1000);
    expect(routePageLimit(50_000, 10, { min: 20, max: 1000 })).toBe(1000);
    expect(routePageLimit(30, 10, { min: 20, max: 1000 })).toBe(20);
    expect(routePageLimit(0, 10, { min: 0, max: 1000 })).toBe(1);
  });
});

describe('drift plan: pacing the steps of a periodic check', () => {
  it('given 4 steps over 10 s, then they start 2.5 s apart, the first at once; unpaced or a single step, at once', () => {
    expect([0, 1, 2, 3].map((i) => pacedStepStartMs(i, 4, 10_000))).toEqual([0, 2500, 5000, 7500]);
    expect(pacedStepStartMs(5, 4, 10_000)).toBe(7500); // a step beyond the plan: no later than the last
    expect(pacedStepStartMs(2, 4, 0)).toBe(0);
    expect(pacedStepStartMs(0, 1, 10_000)).toBe(0);
  });
});
