import { broadcastAddress, canonicalCidr, cidrContains, cidrsOverlap, intToIpv4, ipv4ToInt, isCanonicalCidr, isUnicastMac, networkAddress, normalizeMac, parseCidr } from './net';

describe('net helpers', () => {
  it('given dotted quads, when converted, then they round-trip through unsigned integers', () => {
    expect(ipv4ToInt('255.255.255.255')).toBe(0xffffffff);
    expect(ipv4ToInt('10.1.0.10')).toBe(0x0a01000a);
    expect(intToIpv4(0xc0000201)).toBe('192.0.2.1');
    expect(() => ipv4ToInt('10.1.0')).toThrow();
  });

  it('given CIDRs, when parsed, then network, broadcast, containment and overlap are computed', () => {
    expect(parseCidr('10.1.0.0/33')).toBeUndefined();
    expect(networkAddress('10.1.0.0/24')).toBe('10.1.0.0');
    expect(broadcastAddress('10.1.0.0/24')).toBe('10.1.0.255');
    expect(broadcastAddress('0.0.0.0/0')).toBe('255.255.255.255');
    expect(isCanonicalCidr('10.1.0.0/24')).toBe(true);
    expect(isCanonicalCidr('10.1.0.5/24')).toBe(false);
    expect(canonicalCidr('10.1.0.5/24')).toBe('10.1.0.0/24');
    expect(cidrContains('10.1.0.0/24', '10.1.0.200')).toBe(true);
    expect(cidrContains('10.1.0.0/24', '10.1.1.1')).toBe(false);
    expect(cidrsOverlap('10.0.0.0/8', '10.1.0.0/24')).toBe(true);
    expect(cidrsOverlap('10.1.0.0/24', '10.1.1.0/24')).toBe(false);
  });

  it('given MACs, when normalised, then they are lowercase colon-separated and group MACs are not unicast', () => {
    expect(normalizeMac('52-54-00-AB-CD-EF')).toBe('52:54:00:ab:cd:ef');
    expect(() => normalizeMac('52:54:00:ab:cd')).toThrow();
    expect(() => normalizeMac('52:54-00:ab:cd:ef')).toThrow();
    expect(isUnicastMac('00:00:5e:00:01:01')).toBe(true);
    expect(isUnicastMac('01:00:5e:00:00:01')).toBe(false);
  });
});
