import { comparePrefixText, firstByPrefix, formatEidPrefix, formatIpv4, hostEid, parseEidPrefix, parseIpv4, prefixCovers, PrefixTable } from './eid-prefix';

describe('EID prefixes', () => {
  it('given prefix texts, when parsed, then only canonical IPv4 prefixes are accepted', () => {
    expect(parseEidPrefix('10.1.0.10/32')).toEqual({ network: 0x0a01000a, length: 32 });
    expect(parseEidPrefix('10.1.0.0/24')).toEqual({ network: 0x0a010000, length: 24 });
    expect(parseEidPrefix('10.1.0.5/24')).toBeUndefined();
    expect(parseEidPrefix('10.1.0.10')).toBeUndefined();
    expect(parseEidPrefix('10.1.0.300/32')).toBeUndefined();
    expect(parseEidPrefix('10.1.0.0/33')).toBeUndefined();
    expect(formatEidPrefix(parseEidPrefix('0.0.0.0/0')!)).toBe('0.0.0.0/0');
  });

  it('given a host address, when turned into an EID, then it is its /32', () => {
    expect(hostEid('10.1.0.10')).toBe('10.1.0.10/32');
    expect(hostEid('10.1.0.10/32')).toBe('10.1.0.10/32');
    expect(() => hostEid('nope')).toThrow();
  });

  it('given two prefixes, when checking cover, then a /32 inside a /24 is covered and a /16 is not', () => {
    const net = parseEidPrefix('10.1.0.0/24')!;
    expect(prefixCovers(net, parseEidPrefix('10.1.0.10/32')!)).toBe(true);
    expect(prefixCovers(net, parseEidPrefix('10.1.0.0/24')!)).toBe(true);
    expect(prefixCovers(net, parseEidPrefix('10.1.0.0/16')!)).toBe(false);
    expect(prefixCovers(net, parseEidPrefix('10.11.0.10/32')!)).toBe(false);
  });

  it('sorts prefix texts by address', () => {
    expect(['10.1.0.12/32', '10.1.0.2/32', '10.0.0.0/8'].sort(comparePrefixText)).toEqual(['10.0.0.0/8', '10.1.0.2/32', '10.1.0.12/32']);
  });

  it('given dotted quads, when parsed, then exactly four decimal octets 0-255 without leading zeros are addresses', () => {
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4('10.1.0.10')).toBe(0x0a01000a);
    expect(parseIpv4('192.168.100.200')).toBe(0xc0a864c8);
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '1.2.3.',
      '.1.2.3',
      '1..2.3',
      '256.1.1.1',
      '1.2.3.256',
      '01.2.3.4',
      '1.2.3.04',
      '00.0.0.0',
      '1000.1.1.1',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '1.2.3.4\n',
      '1.2.-3.4',
      '+1.2.3.4',
      '1.2.3.a',
      '1,2,3,4',
      '１.2.3.4',
      '10.1.0.10/32',
    ])
      expect({ bad, parsed: parseIpv4(bad) }).toEqual({ bad, parsed: undefined });
    // Every address formats back to itself.
    for (const n of [0, 1, 255, 256, 0x0a01000a, 0x7fffffff, 0x80000000, 0xfffffffe]) expect(parseIpv4(formatIpv4(n))).toBe(n);
  });

  it('given a table and a page size, when paged, then the first entries in address order, each key parsed once, whatever the size', () => {
    const prefixes = ['10.1.0.12/32', '10.1.0.2/32', '10.0.0.0/8', '192.168.0.1/32', '10.1.0.0/24', '9.255.255.255/32', '10.1.0.2/31'];
    const sorted = [...prefixes].sort(comparePrefixText);
    const items = prefixes.map((prefix, i) => ({ prefix, i }));
    for (const limit of [0, 1, 2, 3, 6, 7, 100, Infinity]) expect(firstByPrefix(items, (x) => x.prefix, limit).map((x) => x.prefix)).toEqual(sorted.slice(0, limit));
    expect(firstByPrefix(items, (x) => x.prefix).map((x) => x.prefix)).toEqual(sorted);
    // After a cursor: the page that follows it (the cursor itself excluded), whether or not it is in the table.
    for (const [after, limit] of [
      ['10.1.0.0/24', 2],
      ['10.1.0.2/32', Infinity],
      ['10.1.0.3/32', 1],
      ['192.168.0.1/32', 5],
      ['0.0.0.0/0', 3],
    ] as const)
      expect(firstByPrefix(items, (x) => x.prefix, limit, after).map((x) => x.prefix)).toEqual(sorted.filter((p) => comparePrefixText(p, after) > 0).slice(0, limit));
    // A key that is not a canonical prefix comes after the others, by text.
    expect(firstByPrefix([{ prefix: 'junk' }, { prefix: '10.0.0.1/32' }], (x) => x.prefix, 2).map((x) => x.prefix)).toEqual(['10.0.0.1/32', 'junk']);
    expect(firstByPrefix([{ prefix: 'junk' }, { prefix: '10.0.0.1/32' }], (x) => x.prefix, 1).map((x) => x.prefix)).toEqual(['10.0.0.1/32']);
  });

  it('given 20,000 EIDs in random order, when a page of 1, 10 or 1,000 is taken, then the same as sorting them all', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const eids = [...new Set(Array.from({ length: 20_000 }, () => `${formatIpv4(Math.floor(random() * 2 ** 32))}/32`))];
    const sorted = [...eids].sort(comparePrefixText);
    for (const limit of [1, 10, 1000]) expect(firstByPrefix(eids, (e) => e, limit)).toEqual(sorted.slice(0, limit));
    // Paging through with the cursor gives the whole table once, in order.
    const paged: string[] = [];
    for (let page = firstByPrefix(eids, (e) => e, 4096); page.length > 0; page = firstByPrefix(eids, (e) => e, 4096, paged[paged.length - 1])) paged.push(...page);
    expect(paged).toEqual(sorted);
  });
});

describe('prefix table', () => {
  it('given a /24 and a /32 inside it, when matching addresses, then the longest prefix wins', () => {
    const t = new PrefixTable<string>();
    t.set(parseEidPrefix('10.1.0.0/24')!, 'net');
    t.set(parseEidPrefix('10.1.0.10/32')!, 'host');
    expect(t.match(0x0a01000a)).toBe('host');
    expect(t.match(0x0a01000b)).toBe('net');
    expect(t.match(0x0a02000b)).toBeUndefined();
    expect(t.size).toBe(2);
  });

  it('given an entry the caller rejects (expired), when matching, then a shorter prefix answers', () => {
    const t = new PrefixTable<string>();
    t.set(parseEidPrefix('10.1.0.0/24')!, 'net');
    t.set(parseEidPrefix('10.1.0.10/32')!, 'expired');
    expect(t.match(0x0a01000a, (v) => v !== 'expired')).toBe('net');
  });

  it('given entries, when deleted, then size and matches follow', () => {
    const t = new PrefixTable<number>();
    const p = parseEidPrefix('10.1.0.10/32')!;
    t.set(p, 1);
    t.set(p, 2);
    expect(t.size).toBe(1);
    expect(t.get(p)).toBe(2);
    expect(t.delete(p)).toBe(true);
    expect(t.delete(p)).toBe(false);
    expect(t.size).toBe(0);
    expect(t.match(0x0a01000a)).toBeUndefined();
    expect([...t.values()]).toEqual([]);
  });
});
