import { generateTopology, renderTopologyYaml, subnetPrefixFor } from './generate';
import { parseTopology } from './load';
import { cidrContains } from './net';
import { validateTopology } from './validate';

describe('generateTopology', () => {
  it('given 3 sites, 2 hypervisors each and 50 VMs, then the YAML loads without problems or warnings', () => {
    const { topology, layout } = generateTopology({ sites: 3, vms: 50 });
    const yaml = renderTopologyYaml(topology, ['generated for a test']);
    const loaded = parseTopology(yaml, 'generated');
    expect(loaded.warnings).toEqual([]);
    expect(loaded.topology.sites.map((s) => s.name)).toEqual(['s01', 's02', 's03']);
    expect(layout.hypervisorNames).toEqual(['s01-hv1', 's01-hv2', 's02-hv1', 's02-hv2', 's03-hv1', 's03-hv2']);
    expect(loaded.topology.vms).toHaveLength(50);
    expect(loaded.topology.vms[0]).toMatchObject({ name: 'vm-00001', ip: '10.0.0.2', mac: '52:54:00:00:00:01', hypervisor: 's01-hv1', l2Domain: 's01-net' });
    expect(loaded.topology.vms[3]).toMatchObject({ name: 'vm-00004', ip: '10.0.0.3', hypervisor: 's01-hv2' });
  });

  it('puts every site in the mapping system with host routes and an ARP proxy, carrying every subnet’s anycast gateway', () => {
    const { topology } = generateTopology({ sites: 4, vms: 8 });
    const loaded = parseTopology(renderTopologyYaml(topology));
    for (const s of loaded.topology.sites) {
      expect(s).toMatchObject({ hostRoutes: true, mappingSystem: true, arpProxy: true });
      expect(s.anycastGateways.map((g) => g.subnet).sort()).toEqual(loaded.topology.l2Domains.map((d) => d.subnet).sort());
    }
  });

  it('gives every VM an address inside its site’s subnet, and a zero-length boot and shutdown by default', () => {
    const { topology } = generateTopology({ sites: 5, vms: 1234 });
    const loaded = parseTopology(renderTopologyYaml(topology));
    const subnet = new Map(loaded.topology.l2Domains.map((d) => [d.name, d.subnet]));
    for (const vm of loaded.topology.vms) expect(cidrContains(subnet.get(vm.l2Domain)!, vm.ip)).toBe(true);
    expect(loaded.topology.workloadProfiles.bench).toMatchObject({ bootMs: 0, shutdownMs: 0 });
    expect(generateTopology({ sites: 1, vms: 1, bootMs: 20000 }).topology.workloadProfiles!.bench.bootMs).toBe(20000);
  });

  it('sizes the subnets to the VMs per site (at most /24)', () => {
    expect(subnetPrefixFor(10)).toBe(24);
    expect(subnetPrefixFor(1000)).toBe(22);
    expect(subnetPrefixFor(10_000)).toBe(18);
  });

  it('given 100,000 VMs over 10 sites, then a valid topology (validated as data, without YAML)', () => {
    const { topology, layout } = generateTopology({ sites: 10, vms: 100_000 });
    expect(layout.subnetPrefix).toBe(18);
    const result = validateTopology(topology);
    expect(result.ok ? [] : result.problems.slice(0, 5)).toEqual([]);
  });

  it('is deterministic', () => {
    expect(renderTopologyYaml(generateTopology({ sites: 3, vms: 20 }).topology)).toBe(renderTopologyYaml(generateTopology({ sites: 3, vms: 20 }).topology));
  });

  it('refuses what cannot fit', () => {
    expect(() => generateTopology({ sites: 255, vms: 1 })).toThrow(RangeError);
    expect(() => generateTopology({ sites: 0, vms: 1 })).toThrow(RangeError);
    expect(() => generateTopology({ sites: 254, vms: 2 ** 24 })).toThrow(RangeError);
    expect(() => generateTopology({ sites: 2, vms: 1, hypervisorsPerSite: 0 })).toThrow(RangeError);
  });
});
