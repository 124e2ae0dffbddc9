import { defaultTopologyPath, loadTopologyFile } from '@locus/topology';
import { renderScript } from './iproute2';
import { planDataplane, type Step } from './plan';

const { index: topology } = loadTopologyFile(defaultTopologyPath());
const plan = planDataplane(topology, { prefix: 'lab' });
const ipCommands = (ns: string) => plan.steps.filter((s): s is Extract<Step, { kind: 'ip' }> => s.kind === 'ip' && s.ns === ns).flatMap((s) => s.commands);

describe('planDataplane: the lab topology as namespaces (no I/O)', () => {
  it('names every namespace under the prefix: a core, a router per site (the branch as a client), a hypervisor, VM and neighbour each', () => {
    expect(plan.namespaces.every((n) => n.startsWith('lab-'))).toBe(true);
    expect(new Set(plan.namespaces).size).toBe(plan.namespaces.length);
    expect(plan.namespaces).toEqual(expect.arrayContaining(['lab-core', 'lab-router-dc1', 'lab-branch-branch', 'lab-hv-dc1-hv1', 'lab-vm-web-01', 'lab-nb-web-stretched-dc2-nb1']));
    expect(plan.namespaces.length).toBe(1 + topology.sites.length + topology.hypervisors.length + topology.vms.length + plan.neighbours.length);
  });

  it("keeps every interface name within the kernel's 15 characters", () => {
    const names = plan.steps.flatMap((s) => (s.kind === 'ip' ? s.commands : [])).flatMap((c) => [...c.matchAll(/link (?:add|set) (\S+)|peer name (\S+)/g)].map((m) => m[1] ?? m[2]));
    expect(names.length).toBeGreaterThan(100);
    expect(names.filter((n) => n.length > 15)).toEqual([]);
  });

  it('puts the anycast gateway on a macvlan with the virtual MAC over a bridge with the router MAC, at every site carrying the subnet', () => {
    for (const site of ['dc1', 'dc2']) {
      const cmds = ipCommands(`lab-router-${site}`);
      expect(cmds).toContain('link add g0 link d0 address 00:00:5e:00:01:01 type macvlan mode bridge');
      expect(cmds).toContain('addr add 10.1.0.1/32 dev g0');
      expect(cmds).toContain(`link set d0 address ${topology.site(site)!.router.mac}`);
    }
  });

  it("joins the stretched domain's bridges with a trunk; the cloud carries dc1-local's gateway without its L2 (proxy ARP, no /24)", () => {
    expect(ipCommands('lab-router-dc1')).toContain('link add t1-0 type veth peer name t0-0 netns lab-router-dc2');
    const cloud = ipCommands('lab-router-cloud');
    expect(cloud).toContain('addr add 10.11.0.1/32 dev g1');
    expect(cloud.some((c) => c.startsWith('route add 10.11.0.0/24'))).toBe(false);
    const sysctls = plan.steps.filter((s): s is Extract<Step, { kind: 'sysctl' }> => s.kind === 'sysctl' && s.ns === 'lab-router-cloud');
    expect(sysctls.some((s) => s.values['net/ipv4/conf/d1/proxy_arp'] === 1 && s.values['net/ipv4/neigh/d1/proxy_delay'] === 0)).toBe(true);
  });

  it('renders one bash script: the namespaces first, a batch per namespace', () => {
    const script = renderScript(plan.steps);
    expect(script.startsWith('set -euo pipefail\nip -batch - <<')).toBe(true);
    expect(script).toContain("ip -n 'lab-router-dc1' -batch -");
  });
});
