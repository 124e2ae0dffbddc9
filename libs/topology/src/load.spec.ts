import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { generateTopology, renderTopologyYaml } from './generate';
import { defaultTopologyPath, flowMappingLine, loadTopologyFile, parseInPieces, parseTopology, TopologyError } from './load';

describe('loadTopologyFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'locus-topology-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function write(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  function thrown(fn: () => unknown): TopologyError {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(TopologyError);
      return err as TopologyError;
    }
    throw new Error('expected a TopologyError');
  }

  it('given the repository, when asking for the default path, then it is the absolute path of topologies/default.yaml', () => {
    const path = defaultTopologyPath();
    expect(isAbsolute(path)).toBe(true);
    expect(path.endsWith(join('topologies', 'default.yaml'))).toBe(true);
  });

  it('given the default lab file, when loaded, then topology, index and no warnings are returned', () => {
    const { topology, index, warnings } = loadTopologyFile(defaultTopologyPath());
    expect(warnings).toEqual([]);
    expect(topology.sites.map((s) => s.name)).toEqual(['dc1', 'dc2', 'cloud', 'colo', 'branch']);
    expect(index.vm('web-01')?.hypervisor).toBe('dc1-hv1');
  });

  it('given a file loaded twice by one process, then both get one shared copy; after the file changes, a new one; without VMs, another', () => {
    const yaml = (vms: number) => renderTopologyYaml(generateTopology({ sites: 2, vms }).topology);
    const path = write('shared.yaml', yaml(10));
    const first = loadTopologyFile(path);
    expect(loadTopologyFile(path)).toBe(first);
    expect(first.topology).toBe(first.index.topology); // one copy: what is returned is the index's own
    const bare = loadTopologyFile(path, { withoutVms: true });
    expect(bare).not.toBe(first);
    expect(bare.index.vms).toHaveLength(0);
    writeFileSync(path, yaml(12));
    const changed = loadTopologyFile(path);
    expect(changed).not.toBe(first);
    expect(changed.index.vms).toHaveLength(12);
    // Repeated names are one string each, and VMs without overrides share one profile object.
    const [a, b] = changed.index.vms.filter((v) => v.hypervisor === changed.index.vms[0].hypervisor);
    expect(b).toBeDefined();
    expect(changed.index.profileOf(a.name)).toBeDefined();
    expect(changed.index.profileOf(a.name)).toBe(changed.index.profileOf(b.name));
  });

  it('given a file with several problems, when loaded, then the error names the file first and lists every problem on its own line', () => {
    const path = write(
      'broken.yaml',
      `
name: broken
workloadProfiles:
  web: { workingSetMb: 256, dirtyRateMBps: 40, bootMs: 20000, shutdownMs: 8000 }
sites:
  - { name: dc1, kind: datacenter, rloc: 192.0.2.11, router: { ip: 198.51.100.11, mac: "02:00:00:00:11:01" } }
l2Domains:
  - { name: a, kind: site-local, sites: [dc1], encapsulation: vlan, segmentId: 10, subnet: 10.1.0.0/24, gateway: 10.1.0.1 }
  - { name: b, kind: site-local, sites: [dc1], encapsulation: vlan, segmentId: 11, subnet: 10.1.0.0/16, gateway: 10.1.255.1 }
hypervisors:
  - { name: hv1, site: dc7, l2Domains: [a], memoryMb: 65536, linkMbps: 10000, diskMBps: 1000 }
vms:
  - { name: vm1, ip: 10.1.0.10, mac: "52:54:00:00:00:01", l2Domain: a, memoryMb: 1024, profile: web, hypervisor: hv1 }
  - { name: vm2, ip: 10.1.0.10, mac: "52:54:00:00:00:01", l2Domain: a, memoryMb: 1024, profile: web, hypervisor: hv1 }
`,
    );

    const err = thrown(() => loadTopologyFile(path));
    const lines = err.message.split('\n');

    expect(lines[0]).toBe(`Invalid topology ${path}: 4 problems`);
    expect(lines.slice(1)).toEqual([
      '  - vm vm2: ip 10.1.0.10 is already used by vm vm1',
      '  - vm vm2: mac 52:54:00:00:00:01 is already used by vm vm1',
      '  - l2Domain b: subnet 10.1.0.0/16 overlaps subnet 10.1.0.0/24 of l2Domain a',
      '  - hypervisor hv1: unknown site dc7',
    ]);
    expect(err.source).toBe(path);
    expect(err.problems).toHaveLength(4);
  });

  it('given a file with schema errors, when loaded, then the error lists each with its path', () => {
    const path = write('schema.yaml', 'name: Bad.Name\nsites: []\nvms:\n  - { name: vm1 }\n');
    const err = thrown(() => loadTopologyFile(path));
    expect(err.message.split('\n')[0]).toBe(`Invalid topology ${path}: ${err.problems.length} problems`);
    expect(err.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^name: invalid name/), 'vms[0].ip: required', 'vms[0].mac: required']));
  });

  it('given malformed YAML or duplicate keys, when loaded, then the YAML errors are reported', () => {
    const path = write('dup.yaml', 'name: a\nname: b\nsites: []\n');
    const err = thrown(() => loadTopologyFile(path));
    expect(err.problems).toEqual(['yaml line 2, column 1: Map keys must be unique']);
  });

  it('given a missing file, when loaded, then a TopologyError names the file', () => {
    const path = join(dir, 'missing.yaml');
    const err = thrown(() => loadTopologyFile(path));
    expect(err.message.split('\n')[0]).toBe(`Invalid topology ${path}: 1 problem`);
    expect(err.problems[0]).toMatch(/^cannot read file: ENOENT/);
  });

  it('given YAML text, when parsed inline, then it is validated the same way', () => {
    const err = thrown(() => parseTopology('name: x\nsites: []\nbogus: 1\n', 'inline.yaml'));
    expect(err.message).toBe('Invalid topology inline.yaml: 1 problem\n  - (topology): unknown key "bogus"');
  });
});

describe('parseInPieces (large files without one big YAML Document)', () => {
  const generated = renderTopologyYaml(generateTopology({ sites: 3, vms: 2500 }).topology, ['generated for a test']);

  it('given a generated 2,500-VM topology or the default lab, then it gives exactly what one Document gives', () => {
    for (const text of [generated, readFileSync(defaultTopologyPath(), 'utf8')]) {
      const pieces = parseInPieces(text);
      expect(pieces).toBeDefined();
      expect(pieces!.value).toEqual(parse(text));
    }
  });

  it('given sequences at column 0, multi-line items, comments and CRLF, then it still gives what one Document gives', () => {
    const items = Array.from({ length: 2100 }, (_, i) => `- name: vm${i}\n  # a comment\n\n  tags: [a, "b c"]\n  note: |\n    line one\n    - not an item\n`).join('');
    for (const text of [`name: x\nvms:\n${items}other: {a: 1}\n`, `name: x\r\nvms:\r\n  - {a: 1}\r\n  - b\r\n`]) {
      expect(parseInPieces(text)?.value).toEqual(parse(text));
    }
  });

  it.each([
    ['an alias to an anchor in another piece', `vms:\n  - &first {a: 1}\n${'  - {b: 2}\n'.repeat(1500)}  - *first\n`],
    ['a quoted scalar running over a top-level key', 'name: "a\nvms: b"\n'],
    ['a document marker', 'name: a\n---\nname: b\n'],
    ['a directive', '%YAML 1.2\n---\nname: a\n'],
    ['a duplicate top-level key', 'name: a\nname: b\n'],
    ['a top-level flow mapping', '{ name: a }\n'],
    ['a YAML error in an item', 'vms:\n  - { a: 1\n  - b\n'],
    ['a YAML warning (unknown tag)', 'name: !foo a\n'],
  ])('given %s, then it declines (the whole text is parsed as one Document)', (_, text) => {
    expect(parseInPieces(text)).toBeUndefined();
  });

  it('given a generated VM line, then it is read without the YAML parser, as the parser reads it', () => {
    const line = generated.split('\n').find((l) => l.startsWith('  - { name: vm-'))!;
    expect(flowMappingLine(line)).toEqual(parse(`vms:\n${line}\n`).vms[0]);
    expect(flowMappingLine('  - { name: vm-1, ip: 10.0.0.2, mac: "52:54:00:00:00:01", memoryMb: 512, subnet: 10.0.0.0/24 }')).toEqual({
      name: 'vm-1',
      ip: '10.0.0.2',
      mac: '52:54:00:00:00:01',
      memoryMb: 512,
      subnet: '10.0.0.0/24',
    });
  });

  it.each([
    ['an octal-looking int', '0123'],
    ['a float', '1.5'],
    ['a trailing-dot float', '10.'],
    ['an exponent', '1e5'],
    ['hex', '0x1F'],
    ['octal', '0o17'],
    ['a boolean', 'true'],
    ['a capitalised null', 'Null'],
    ['a tilde', '~'],
    ['a signed int', '-5'],
    ['a quoted comma', '"a,b"'],
    ['an escape', '"a\\"b"'],
    ['a single-quoted string', "'x'"],
    ['a plain scalar with a space', 'a b'],
    ['a plain scalar with a colon', '52:54'],
    ['a nested mapping', '{ b: 1 }'],
    ['a list', '[a, b]'],
    ['an anchor', '&x a'],
    ['an empty value', ''],
  ])('given a value that is %s, then the line is left to the YAML parser, and the file still reads as one Document reads it', (_, value) => {
    const line = `  - { name: vm-1, value: ${value} }`;
    expect(flowMappingLine(line)).toBeUndefined();
    const text = `name: x\nvms:\n${line}\n  - { name: vm-2, value: 2 }\n`;
    let whole: unknown;
    try {
      whole = parse(text);
    } catch {
      return expect(parseInPieces(text)).toBeUndefined();
    }
    const pieces = parseInPieces(text);
    if (pieces) expect(pieces.value).toEqual(whole);
  });

  it.each([
    ['a comment after the item', '  - { a: 1 } # note'],
    ['a duplicate key', '  - { a: 1, a: 2 }'],
    ['no space after the colon', '  - { a:1 }'],
    ['two spaces after the dash', '  -  { a: 1 }'],
    ['a prototype key', '  - { __proto__: 1 }'],
    ['an empty mapping', '  - { }'],
  ])('given %s, then the line is left to the YAML parser', (_, line) => {
    expect(flowMappingLine(line)).toBeUndefined();
  });

  it('given a large file with a YAML error near the end, then the error has the line and column of the whole file', () => {
    const lines = generated.split('\n');
    const at = lines.length - 3; // a VM line near the end
    lines[at] = lines[at].replace('{ name:', '{ name: [');
    const err = (() => {
      try {
        parseTopology(lines.join('\n'), 'broken.yaml');
      } catch (e) {
        return e as TopologyError;
      }
      throw new Error('expected a TopologyError');
    })();
    expect(err).toBeInstanceOf(TopologyError);
    expect(err.problems[0]).toMatch(new RegExp(`^yaml line ${at + 1}, column \\d+: `));
  });
});

describe('loading a topology without its VMs (processes that learn them from the location DB)', () => {
  it('given the default lab, when loaded without VMs, then it has the same sites and hypervisors and no VM', () => {
    const whole = loadTopologyFile(defaultTopologyPath());
    const lean = loadTopologyFile(defaultTopologyPath(), { withoutVms: true });
    expect(whole.topology.vms.length).toBeGreaterThan(0);
    expect(lean.topology.vms).toEqual([]);
    expect(lean.topology.sites).toEqual(whole.topology.sites);
    expect(lean.topology.hypervisors).toEqual(whole.topology.hypervisors);
    expect(lean.topology.l2Domains).toEqual(whole.topology.l2Domains);
  });
});
