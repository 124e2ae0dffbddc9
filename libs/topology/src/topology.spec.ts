import { defaultTopologyPath, loadTopologyFile } from './load';
import { TopologyIndex } from './topology';

describe('TopologyIndex', () => {
  const { index, topology } = loadTopologyFile(defaultTopologyPath());

  it('given the default lab, when looking up objects by name, then each resolves and unknown names do not', () => {
    expect(index.name).toBe('default');
    expect(index.site('dc1')?.kind).toBe('datacenter');
    expect(index.site('branch')?.kind).toBe('branch');
    expect(index.hypervisor('dc2-hv1')?.site).toBe('dc2');
    expect(index.vm('web-01')).toMatchObject({ ip: '10.1.0.10', mac: '52:54:00:01:00:10', l2Domain: 'web-stretched' });
    expect(index.l2Domain('web-stretched')).toMatchObject({ kind: 'stretched', encapsulation: 'vxlan', sites: ['dc1', 'dc2'] });
    expect(index.site('dc9')).toBeUndefined();
    expect(index.hypervisor('nope')).toBeUndefined();
    expect(index.vm('nope')).toBeUndefined();
    expect(index.l2Domain('nope')).toBeUndefined();
  });

  it('given a VM with profile overrides, when asking for its profile, then the overrides are merged over the named profile', () => {
    expect(index.profileOf('db-02')).toEqual({ workingSetMb: 12288, dirtyRateMBps: 900, bootMs: 90000, shutdownMs: 30000 });
    expect(index.profileOf('db-01')).toEqual(index.profile('db'));
    expect(index.profile('db')?.dirtyRateMBps).toBe(600);
    expect(index.profileOf('nope')).toBeUndefined();
  });

  it('given the default lab, when asking what is where, then hypervisors, sites and reachability match the file', () => {
    expect(index.hypervisorsAt('dc1').map((h) => h.name)).toEqual(['dc1-hv1', 'dc1-hv2']);
    expect(index.hypervisorsAt('cloud').map((h) => h.name)).toEqual(['cloud-hv1', 'cloud-hv2']);
    expect(index.hypervisorsAt('branch')).toEqual([]);
    expect(index.hypervisorsAt('nope')).toEqual([]);
    expect(index.siteOfHypervisor('cloud-hv2')?.name).toBe('cloud');
    expect(index.siteOfHypervisor('nope')).toBeUndefined();

    expect(index.reaches('dc1-hv1', 'web-stretched')).toBe(true);
    expect(index.reaches('dc2-hv2', 'web-stretched')).toBe(true);
    expect(index.reaches('dc1-hv1', 'dc2-local')).toBe(false);
    expect(index.reaches('cloud-hv1', 'dc1-local')).toBe(false);
    expect(index.reaches('nope', 'web-stretched')).toBe(false);

    expect(index.hypervisorsReaching('web-stretched').map((h) => h.name)).toEqual(['dc1-hv1', 'dc1-hv2', 'dc2-hv1', 'dc2-hv2']);
    expect(index.l2DomainsAt('dc1').map((d) => d.name)).toEqual(['web-stretched', 'dc1-local']);
    expect(index.vmsIn('cloud-local').length).toBeGreaterThan(0);
    expect(index.vmsOn('dc1-hv1').every((vm) => index.reaches('dc1-hv1', vm.l2Domain))).toBe(true);
    expect(index.sitesWithGatewayFor('10.11.0.0/24').map((s) => s.name)).toEqual(['dc1', 'cloud']);
    expect(index.sitesWithGatewayFor('10.1.0.0/24').map((s) => s.name)).toEqual(['dc1', 'dc2']);
  });

  it('given an index, when serialised, then toJSON gives sites, l2Domains, hypervisors and vms with effective profiles', () => {
    const json = JSON.parse(JSON.stringify(index));
    expect(Object.keys(json)).toEqual(['sites', 'l2Domains', 'hypervisors', 'vms']);
    expect(json.sites).toHaveLength(5);
    expect(json.hypervisors[0]).toEqual({ name: 'dc1-hv1', site: 'dc1', l2Domains: ['web-stretched', 'dc1-local'], memoryMb: 262144, linkMbps: 10000, diskMBps: 1000 });
    expect(json.vms).toHaveLength(topology.vms.length);
    expect(json.vms.find((vm: { name: string }) => vm.name === 'db-02')).toMatchObject({
      name: 'db-02',
      site: 'dc1',
      hypervisor: 'dc1-hv2',
      workload: { dirtyRateMBps: 900 },
    });
  });

  it('given an index, when its objects are mutated, then it refuses and the source topology is untouched', () => {
    const own = new TopologyIndex(topology);
    expect(() => {
      (own.vm('web-01') as { ip: string }).ip = '10.1.0.99';
    }).toThrow(TypeError);
    expect(own.topology).not.toBe(topology);
    const json = own.toJSON();
    json.vms[0]!.ip = '10.9.9.9';
    expect(own.vm(json.vms[0]!.name)?.ip).not.toBe('10.9.9.9');
  });
});
