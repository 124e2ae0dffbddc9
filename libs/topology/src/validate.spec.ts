import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { defaultTopologyPath } from './load';
import { validateTopology } from './validate';

/** A small valid topology: two DCs sharing a stretched domain, one site-local domain each, one branch. */
function base() {
  return {
    name: 'test',
    workloadProfiles: { web: { workingSetMb: 256, dirtyRateMBps: 40, bootMs: 20000, shutdownMs: 8000 } },
    sites: [
      {
        name: 'dc1',
        kind: 'datacenter',
        rloc: '192.0.2.11',
        router: { ip: '198.51.100.11', mac: '02:00:00:00:11:01' },
        hostRoutes: true,
        mappingSystem: true,
        l3VirtualSwitch: false,
        arpProxy: true,
        anycastGateways: [
          { subnet: '10.1.0.0/24', ip: '10.1.0.1', mac: '00:00:5e:00:01:01' },
          { subnet: '10.11.0.0/24', ip: '10.11.0.1', mac: '00:00:5e:00:01:0b' },
        ],
      },
      {
        name: 'dc2',
        kind: 'datacenter',
        rloc: '192.0.2.12',
        router: { ip: '198.51.100.12', mac: '02:00:00:00:12:01' },
        hostRoutes: true,
        mappingSystem: true,
        anycastGateways: [
          { subnet: '10.1.0.0/24', ip: '10.1.0.1', mac: '00:00:5e:00:01:01' },
          { subnet: '10.12.0.0/24', ip: '10.12.0.1', mac: '00:00:5e:00:01:0c' },
        ],
      },
      {
        name: 'br1',
        kind: 'branch',
        rloc: '192.0.2.31',
        router: { ip: '198.51.100.31', mac: '02:00:00:00:31:01' },
        mappingSystem: true,
        anycastGateways: [] as Array<{ subnet: string; ip: string; mac: string }>,
      },
    ],
    l2Domains: [
      { name: 'web', kind: 'stretched', sites: ['dc1', 'dc2'], encapsulation: 'vxlan', segmentId: 10100, subnet: '10.1.0.0/24', gateway: '10.1.0.1' },
      { name: 'dc1-local', kind: 'site-local', sites: ['dc1'], encapsulation: 'vlan', segmentId: 110, subnet: '10.11.0.0/24', gateway: '10.11.0.1' },
      { name: 'dc2-local', kind: 'site-local', sites: ['dc2'], encapsulation: 'vlan', segmentId: 120, subnet: '10.12.0.0/24', gateway: '10.12.0.1' },
    ],
    hypervisors: [
      { name: 'dc1-hv1', site: 'dc1', l2Domains: ['web', 'dc1-local'], memoryMb: 65536, linkMbps: 10000, diskMBps: 1000 },
      { name: 'dc2-hv1', site: 'dc2', l2Domains: ['web', 'dc2-local'], memoryMb: 65536, linkMbps: 10000, diskMBps: 1000 },
    ],
    vms: [
      { name: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', l2Domain: 'web', memoryMb: 4096, profile: 'web', hypervisor: 'dc1-hv1' },
      { name: 'web-02', ip: '10.1.0.11', mac: '52:54:00:01:00:11', l2Domain: 'web', memoryMb: 4096, profile: 'web', hypervisor: 'dc2-hv1' },
      { name: 'app-01', ip: '10.11.0.10', mac: '52:54:00:11:00:10', l2Domain: 'dc1-local', memoryMb: 4096, profile: 'web', hypervisor: 'dc1-hv1' },
      { name: 'app-02', ip: '10.12.0.10', mac: '52:54:00:12:00:10', l2Domain: 'dc2-local', memoryMb: 4096, profile: 'web', hypervisor: 'dc2-hv1' },
    ],
  };
}

function problemsOf(raw: unknown): string[] {
  const result = validateTopology(raw);
  if (result.ok) throw new Error('expected the topology to be rejected');
  return result.problems;
}

describe('validateTopology', () => {
  it('given the default lab file, when validated, then it has no problems and no warnings', () => {
    const raw = parse(readFileSync(defaultTopologyPath(), 'utf8'));
    const result = validateTopology(raw);
    expect(result).toMatchObject({ ok: true, warnings: [] });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.topology.vms.length).toBeGreaterThanOrEqual(24);
  });

  it('given a small valid topology, when validated, then defaults are applied and it is accepted', () => {
    const result = validateTopology(base());
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.warnings).toEqual([]);
    const dc2 = result.topology.sites[1]!;
    expect(dc2.l3VirtualSwitch).toBe(false);
    expect(dc2.arpProxy).toBe(false);
    expect(result.topology.sites[2]!.anycastGateways).toEqual([]);
  });

  it('given a file with several errors at once, when validated, then every one of them is reported', () => {
    const raw = base();
    // duplicate IP
    raw.vms[1]!.ip = '10.1.0.10';
    // duplicate MAC
    raw.vms[3]!.mac = '52:54:00:11:00:10';
    // VM on a hypervisor that does not reach its L2 domain
    raw.vms[2]!.hypervisor = 'dc2-hv1';
    // unknown site reference
    raw.hypervisors.push({ name: 'dc3-hv1', site: 'dc3', l2Domains: [], memoryMb: 65536, linkMbps: 10000, diskMBps: 1000 });
    // overlapping subnets
    raw.l2Domains.push({ name: 'big', kind: 'site-local', sites: ['dc2'], encapsulation: 'vlan', segmentId: 130, subnet: '10.0.0.0/8', gateway: '10.200.0.1' });

    const problems = problemsOf(raw);

    expect(problems).toEqual(
      expect.arrayContaining([
        'vm web-02: ip 10.1.0.10 is already used by vm web-01',
        'vm app-02: mac 52:54:00:11:00:10 is already used by vm app-01',
        'vm app-01: hypervisor dc2-hv1 does not reach l2Domain dc1-local',
        'hypervisor dc3-hv1: unknown site dc3',
        'l2Domain big: subnet 10.0.0.0/8 overlaps subnet 10.1.0.0/24 of l2Domain web',
        'l2Domain big: subnet 10.0.0.0/8 overlaps subnet 10.11.0.0/24 of l2Domain dc1-local',
        'l2Domain big: subnet 10.0.0.0/8 overlaps subnet 10.12.0.0/24 of l2Domain dc2-local',
      ]),
    );
    expect(problems).toHaveLength(7);
  });

  it('given malformed fields, when validated, then each schema problem is reported with its path', () => {
    const raw = base() as Record<string, unknown> & ReturnType<typeof base>;
    raw.vms[3]!.mac = '52:54:00:zz:00:10';
    raw.vms[0]!.name = 'Web.01';
    (raw.sites[0] as Record<string, unknown>).colour = 'blue';
    delete (raw.hypervisors[1] as Partial<(typeof raw.hypervisors)[number]>).memoryMb;
    raw.l2Domains[0]!.subnet = '10.1.0.5/24';
    (raw.l2Domains[1] as Record<string, unknown>).kind = 'campus';

    const problems = problemsOf(raw);

    expect(problems).toEqual(
      expect.arrayContaining([
        'vms[3].mac: invalid MAC address',
        expect.stringMatching(/^vms\[0\]\.name: invalid name/),
        'sites[0]: unknown key "colour"',
        'hypervisors[1].memoryMb: required',
        'l2Domains[0].subnet: CIDR has host bits set (use the network address)',
        expect.stringMatching(/^l2Domains\[1\]\.kind: /),
      ]),
    );
    expect(problems).toHaveLength(6);
  });

  it('given MACs in upper case or with dashes, when validated, then they are normalised to lowercase colon form', () => {
    const raw = base();
    raw.vms[0]!.mac = '52-54-00-01-00-AA';
    raw.sites[0]!.router.mac = '02:00:00:00:11:0A';
    const result = validateTopology(raw);
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.topology.vms[0]!.mac).toBe('52:54:00:01:00:aa');
    expect(result.topology.sites[0]!.router.mac).toBe('02:00:00:00:11:0a');
  });

  it('given a MAC that differs only in case from another, when validated, then it is a duplicate', () => {
    const raw = base();
    raw.vms[0]!.mac = '52:54:00:01:00:AB';
    raw.vms[1]!.mac = '52:54:00:01:00:ab';
    expect(problemsOf(raw)).toEqual(['vm web-02: mac 52:54:00:01:00:ab is already used by vm web-01']);
  });

  it('given duplicate names of each kind, when validated, then each duplicate is reported per kind', () => {
    const raw = base();
    raw.sites.push({ ...raw.sites[2]!, rloc: '192.0.2.32', router: { ip: '198.51.100.32', mac: '02:00:00:00:32:01' } });
    raw.l2Domains.push({ ...raw.l2Domains[2]!, segmentId: 121, subnet: '10.13.0.0/24', gateway: '10.13.0.1' });
    raw.hypervisors.push({ ...raw.hypervisors[0]! });
    raw.vms.push({ ...raw.vms[0]!, ip: '10.1.0.99', mac: '52:54:00:01:00:99' });
    // a VM may share its name with a hypervisor: names are unique per kind
    raw.vms.push({ ...raw.vms[0]!, name: 'dc1-hv1', ip: '10.1.0.98', mac: '52:54:00:01:00:98' });

    expect(problemsOf(raw)).toEqual([
      'site br1: duplicate site name (sites[2] and sites[3])',
      'l2Domain dc2-local: duplicate l2Domain name (l2Domains[2] and l2Domains[3])',
      'hypervisor dc1-hv1: duplicate hypervisor name (hypervisors[0] and hypervisors[2])',
      'vm web-01: duplicate vm name (vms[0] and vms[4])',
    ]);
  });

  it('given references to unknown objects, when validated, then every unknown reference is named', () => {
    const raw = base();
    raw.l2Domains[0]!.sites = ['dc1', 'dc2', 'dc9'];
    raw.hypervisors[0]!.l2Domains = ['web', 'dc1-local', 'nowhere'];
    raw.vms[0]!.profile = 'nope';
    raw.vms[1]!.hypervisor = 'ghost';
    raw.vms[2]!.l2Domain = 'void';

    expect(problemsOf(raw)).toEqual(
      expect.arrayContaining([
        'l2Domain web: unknown site dc9',
        'hypervisor dc1-hv1: unknown l2Domain nowhere',
        'vm web-01: unknown profile nope',
        'vm web-02: unknown hypervisor ghost',
        'vm app-01: unknown l2Domain void',
      ]),
    );
  });

  it('given VM addresses outside or on the edges of their subnet, when validated, then each is reported', () => {
    const raw = base();
    raw.vms[0]!.ip = '10.2.0.10';
    raw.vms[1]!.ip = '10.1.0.1';
    raw.vms[2]!.ip = '10.11.0.0';
    raw.vms[3]!.ip = '10.12.0.255';

    expect(problemsOf(raw)).toEqual([
      'vm web-01: ip 10.2.0.10 is not inside subnet 10.1.0.0/24',
      'vm web-02: ip 10.1.0.1 is the gateway address of l2Domain web',
      'vm app-01: ip 10.11.0.0 is the network address of 10.11.0.0/24',
      'vm app-02: ip 10.12.0.255 is the broadcast address of 10.12.0.0/24',
    ]);
  });

  it('given placement and site rules broken, when validated, then each broken rule is reported', () => {
    const raw = base();
    // a hypervisor at a branch site, reaching a domain that does not span its site
    raw.hypervisors.push({ name: 'br1-hv1', site: 'br1', l2Domains: ['dc1-local'], memoryMb: 65536, linkMbps: 1000, diskMBps: 500 });
    // a site-local domain on two sites, a stretched domain on one
    raw.l2Domains.push({ name: 'wide-local', kind: 'site-local', sites: ['dc1', 'dc2'], encapsulation: 'vxlan', segmentId: 20000, subnet: '10.20.0.0/24', gateway: '10.20.0.1' });
    raw.l2Domains.push({ name: 'short-stretch', kind: 'stretched', sites: ['dc1'], encapsulation: 'vxlan', segmentId: 20001, subnet: '10.30.0.0/24', gateway: '10.30.0.1' });
    // more VM memory than the hypervisor has
    raw.vms[0]!.memoryMb = 62000;

    expect(problemsOf(raw)).toEqual([
      'l2Domain wide-local: site-local domain spans 2 sites (dc1, dc2); a site-local domain has exactly one site',
      'l2Domain short-stretch: stretched domain spans only 1 site (dc1); a stretched domain needs at least two sites',
      'hypervisor br1-hv1: site br1 is a branch site; branch sites have no hypervisors',
      'hypervisor br1-hv1: reaches l2Domain dc1-local, which does not span its site br1 (it spans dc1)',
      'hypervisor dc1-hv1: its 2 VMs need 66096 MB of memory but it has 65536 MB',
    ]);
  });

  it('given gateways that are wrong or inconsistent between sites, when validated, then each is reported', () => {
    const raw = base();
    raw.l2Domains[1]!.gateway = '10.99.0.1'; // not inside its subnet
    raw.sites[1]!.anycastGateways[0] = { subnet: '10.1.0.0/24', ip: '10.1.0.254', mac: '00:00:5e:00:01:02' }; // differs from dc1
    raw.sites[0]!.anycastGateways.push({ subnet: '10.77.0.0/24', ip: '10.78.0.1', mac: '00:00:5e:00:01:4d' }); // no such domain, ip outside

    expect(problemsOf(raw)).toEqual([
      'site dc1 anycast gateway 10.11.0.0/24: ip 10.11.0.1 differs from the gateway 10.99.0.1 of l2Domain dc1-local',
      'site dc1 anycast gateway 10.77.0.0/24: ip 10.78.0.1 is not inside subnet 10.77.0.0/24',
      'site dc1 anycast gateway 10.77.0.0/24: no l2Domain has subnet 10.77.0.0/24',
      'site dc2 anycast gateway 10.1.0.0/24: ip 10.1.0.254 differs from the gateway 10.1.0.1 of l2Domain web',
      'site dc2 anycast gateway 10.1.0.0/24: ip 10.1.0.254 differs from 10.1.0.1 at site dc1; an anycast gateway must use the same IP at every site',
      'site dc2 anycast gateway 10.1.0.0/24: mac 00:00:5e:00:01:02 differs from 00:00:5e:00:01:01 at site dc1; an anycast gateway must use the same virtual MAC at every site',
      'l2Domain dc1-local: gateway 10.99.0.1 is not inside subnet 10.11.0.0/24',
    ]);
  });

  it('given a gateway virtual MAC reused for another subnet or by a VM, when validated, then it is a duplicate MAC', () => {
    const raw = base();
    raw.sites[1]!.anycastGateways[1]!.mac = '00:00:5e:00:01:01'; // dc2-local reuses the stretched subnet's virtual MAC
    raw.vms[0]!.mac = '00:00:5e:00:01:0b'; // a VM uses dc1-local's virtual MAC

    expect(problemsOf(raw)).toEqual([
      'site dc2 anycast gateway 10.12.0.0/24: mac 00:00:5e:00:01:01 is already used by anycast gateway 10.1.0.0/24 at site dc1',
      'vm web-01: mac 00:00:5e:00:01:0b is already used by anycast gateway 10.11.0.0/24 at site dc1',
    ]);
  });

  it('given a stretched domain reached by more than 8 hypervisors, when validated, then it is accepted with a warning explaining why', () => {
    const raw = base();
    for (let i = 2; i <= 7; i++) {
      raw.hypervisors.push({ name: `dc${(i % 2) + 1}-hv${i}`, site: `dc${(i % 2) + 1}`, l2Domains: ['web'], memoryMb: 65536, linkMbps: 10000, diskMBps: 1000 });
    }
    const atLimit = validateTopology(raw);
    expect(atLimit).toMatchObject({ ok: true, warnings: [] });

    raw.hypervisors.push({ name: 'dc1-hv9', site: 'dc1', l2Domains: ['web'], memoryMb: 65536, linkMbps: 10000, diskMBps: 1000 });
    const result = validateTopology(raw);

    expect(result.ok).toBe(true);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/^l2Domain web: stretched L2 domain is reached by 9 hypervisors \(more than 8\)/);
    expect(result.warnings[0]).toMatch(/keep the hot VM mobility domain small/);
    expect(result.warnings[0]).toMatch(/failure domain/);
  });

  it('given a lower stretched-domain threshold option, when validated, then the warning uses it', () => {
    const result = validateTopology(base(), { maxStretchedDomainHypervisors: 1 });
    expect(result.ok).toBe(true);
    expect(result.warnings).toEqual([expect.stringMatching(/^l2Domain web: stretched L2 domain is reached by 2 hypervisors \(more than 1\)/)]);
  });

  it('given a stretched site without the anycast gateway, when validated, then it warns about the traffic trombone', () => {
    const raw = base();
    raw.sites[1]!.anycastGateways.shift();
    const result = validateTopology(raw);
    expect(result.ok).toBe(true);
    expect(result.warnings).toEqual([expect.stringMatching(/^l2Domain web: site dc2 carries no anycast gateway for 10\.1\.0\.0\/24/)]);
  });

  it('given reused segment ids and infrastructure addresses, when validated, then they are reported', () => {
    const raw = base();
    raw.l2Domains.push({ name: 'other', kind: 'stretched', sites: ['dc1', 'dc2'], encapsulation: 'vxlan', segmentId: 10100, subnet: '10.40.0.0/24', gateway: '10.40.0.1' });
    raw.l2Domains[2]!.segmentId = 5000;
    raw.sites[1]!.rloc = '192.0.2.11';

    expect(problemsOf(raw)).toEqual([
      'site dc2: rloc 192.0.2.11 is already used by site dc1 (rloc)',
      'l2Domain dc2-local: segmentId 5000 is not a valid VLAN id (1..4094)',
      'l2Domain other: VNI 10100 is already used by l2Domain web',
    ]);
  });

  it('given profile overrides, when validated, then the effective working set must fit the VM memory', () => {
    const raw = base() as ReturnType<typeof base> & { vms: Array<Record<string, unknown>> };
    raw.vms[0]!.profileOverrides = { workingSetMb: 8192 };
    expect(problemsOf(raw)).toEqual(['vm web-01: working set 8192 MB (profile web) exceeds its memory 4096 MB']);
  });
});
