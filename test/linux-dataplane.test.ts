import { LinuxDataplane, namespacesWith } from '@locus/dataplane';
import { defaultTopologyPath, loadTopologyFile } from '@locus/topology';
import { uniqueId } from './support/harness';
import { describeWithNamespaces, pings } from './support/netns';

describeWithNamespaces('Linux dataplane: the lab topology as network namespaces', () => {
  const { index: topology } = loadTopologyFile(defaultTopologyPath());
  const dataplane = new LinuxDataplane(topology, { prefix: `t${uniqueId()}` });
  const names = dataplane.names;

  afterAll(async () => {
    await dataplane.remove();
  });

  it('builds a namespace per router, hypervisor, VM and neighbour, a core and the branch, all under the lab prefix', async () => {
    const built = await dataplane.build();
    const existing = await namespacesWith(names.namespacePrefix);
    expect(existing.sort()).toEqual([...dataplane.plan.namespaces].sort());
    expect(built).toMatchObject({ namespaces: existing.length, leftovers: 0 });
    expect(existing).toEqual(
      expect.arrayContaining([names.core(), names.router('dc1'), names.router('branch'), names.hypervisor('dc1-hv1'), names.vm('web-01'), names.neighbour('dc1-local-dc1-nb1')]),
    );
  });

  it('forwards: a VM reaches its anycast gateway, neighbours reach VMs across the stretched trunk, the branch reaches every site through the core', async () => {
    expect(await pings(names.vm('web-01'), '10.1.0.1')).toBe(true);
    expect(await pings(names.neighbour('web-stretched-dc1-nb1'), '10.1.0.10')).toBe(true); // web-01 at dc1
    expect(await pings(names.neighbour('web-stretched-dc1-nb1'), '10.1.0.12')).toBe(true); // web-03 at dc2, over the trunk
    expect(await pings(names.router('branch'), '10.12.0.10')).toBe(true);
    expect(await pings(names.vm('app-01'), '10.21.0.10')).toBe(true); // dc1-local to cloud-local, routed
  });

  it('the gateway answers with its virtual MAC at every site; the router segment (proxy ARP) with the router MAC', async () => {
    await pings(names.vm('web-03'), '10.1.0.1'); // at dc2
    await pings(names.vm('web-01'), '10.1.0.1'); // at dc1
    const gatewayMacSeenBy = async (vm: string) => (await dataplane.neighbourTablesOf(names.vm(vm))).find((e) => e.ip === '10.1.0.1')?.mac;
    expect(await gatewayMacSeenBy('web-01')).toBe('00:00:5e:00:01:01');
    expect(await gatewayMacSeenBy('web-03')).toBe('00:00:5e:00:01:01');
    expect(await dataplane.routerMac('dc1', 'web-stretched')).toBe('02:00:00:00:11:01');
  });

  it('a second build finds the first as a leftover (a crashed run) and replaces it; remove leaves no namespace of the prefix', async () => {
    const again = await dataplane.build();
    expect(again.leftovers).toBe(dataplane.plan.namespaces.length);
    expect(await pings(names.vm('web-01'), '10.1.0.1')).toBe(true);
    expect(await dataplane.remove()).toBe(dataplane.plan.namespaces.length);
    expect(await namespacesWith(names.namespacePrefix)).toEqual([]);
  });
});
