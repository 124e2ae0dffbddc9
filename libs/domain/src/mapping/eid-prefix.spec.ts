import { comparePrefixText, formatEidPrefix, hostEid, parseEidPrefix, prefixCovers, PrefixTable } from './eid-prefix';

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
