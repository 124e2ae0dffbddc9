import { defaultTopologyPath, loadTopologyFile } from '@locus/topology';
import type { MoveMode } from '@locus/contracts';
import { checkMoveRules } from './move-rules';

// The default lab: dc1 + dc2 share web-stretched; dc1-local, dc2-local, cloud-local, colo-local are site-local;
// cloud has an L3-capable vswitch and carries dc1-local's gateway; colo has no host routes and no mapping.
const { index } = loadTopologyFile(defaultTopologyPath());
const vm = (name: string) => {
  const v = index.vm(name)!;
  return { name: v.name, l2Domain: v.l2Domain, memoryMb: v.memoryMb, hypervisor: v.hypervisor };
};
const check = (name: string, mode: MoveMode, to: string, extra: { hostsDown?: string[]; targetUsedMb?: number } = {}) =>
  checkMoveRules(index, { vm: vm(name), mode, to, hostsDown: new Set(extra.hostsDown ?? []), targetUsedMb: extra.targetUsedMb ?? 0 });

describe('network rules for a hot move', () => {
  it('given web-01 on the stretched domain, when moved hot to dc2, then allowed; location, L2 announce, mapping and host routes change', () => {
    const v = check('web-01', 'hot', 'dc2-hv1');
    expect(v).toMatchObject({ ok: true, warnings: [], leavesL2Domain: false });
    if (v.ok) expect(v.planes).toEqual(['location', 'l2-announce', 'mapping', 'host-routes']);
  });
  it('given db-01 on dc1-local, when moved hot to dc2, then HOT_MOVE_NEEDS_L2_ADJACENCY naming the domain and the alternative', () => {
    const v = check('db-01', 'hot', 'dc2-hv1');
    expect(v).toMatchObject({ ok: false, code: 'HOT_MOVE_NEEDS_L2_ADJACENCY' });
    if (!v.ok) {
      expect(v.message).toMatch(/dc1-local \(VLAN 110, 10\.11\.0\.0\/24\)/);
      expect(v.message).toMatch(/Move it cold or warm instead/);
      expect(v.message).toMatch(/dc1-hv2/);
    }
  });
  it('given an L3-capable virtual switch at the target site, when moved hot out of the domain, then allowed with a warning', () => {
    const v = check('db-01', 'hot', 'cloud-hv1');
    expect(v).toMatchObject({ ok: true, leavesL2Domain: true });
    if (v.ok) expect(v.warnings[0]).toMatch(/L3-capable/);
  });
});

describe('network rules for warm and cold moves out of the L2 domain', () => {
  it.each(['warm', 'cold'] as const)('given colo without host routes or mapping, when web-01 is moved %s there, then IP_NOT_REACHABLE_AT_TARGET', (mode) => {
    const v = check('web-01', mode, 'colo-hv1');
    expect(v).toMatchObject({ ok: false, code: 'IP_NOT_REACHABLE_AT_TARGET' });
    if (!v.ok) expect(v.message).toMatch(/host-route injection or the mapping system/);
  });
  it('given dc2 does not carry dc1-local’s gateway, when db-01 is moved cold to dc2, then FIRST_HOP_GATEWAY_MISSING naming the sites that do', () => {
    const v = check('db-01', 'cold', 'dc2-hv1');
    expect(v).toMatchObject({ ok: false, code: 'FIRST_HOP_GATEWAY_MISSING' });
    if (!v.ok) expect(v.message).toMatch(/10\.11\.0\.1.*Sites that do: dc1, cloud/);
  });
  it('given a warm move, the gateway message also names the cached gateway MAC', () => {
    const v = check('db-01', 'warm', 'dc2-hv1');
    if (!v.ok) expect(v.message).toMatch(/MAC in its ARP cache/);
    else throw new Error('expected a refusal');
  });
  it('given the cloud carries dc1-local’s gateway, when db-01 is moved cold to the cloud, then allowed; mapping, routes and ARP proxy change', () => {
    const v = check('db-01', 'cold', 'cloud-hv1');
    expect(v).toMatchObject({ ok: true, leavesL2Domain: true, planes: ['location', 'mapping', 'host-routes', 'arp-proxy'] });
  });
});

describe('capacity and host health', () => {
  it('given the target has not enough free memory, then TARGET_FULL with the figures', () => {
    const v = check('db-01', 'cold', 'dc1-hv2', { targetUsedMb: 262144 - 1024 });
    expect(v).toMatchObject({ ok: false, code: 'TARGET_FULL' });
    if (!v.ok) expect(v.message).toMatch(/1024 MiB free of 262144 MiB; db-01 needs 65536 MiB/);
  });
  it('given the target is declared failed, then HOST_DOWN', () => {
    expect(check('web-01', 'cold', 'dc2-hv1', { hostsDown: ['dc2-hv1'] })).toMatchObject({ ok: false, code: 'HOST_DOWN' });
  });
});
