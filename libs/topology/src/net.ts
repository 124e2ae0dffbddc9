// Small IPv4 / MAC helpers used by the topology schema and validator. Pure functions, no I/O.

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const MAC = /^[0-9a-f]{2}(?:([:-])[0-9a-f]{2})(?:\1[0-9a-f]{2}){4}$/i;

export interface Ipv4Cidr {
  /** Network address as an unsigned 32-bit integer. */
  readonly network: number;
  /** Prefix length 0..32. */
  readonly prefix: number;
  /** Directed broadcast address as an unsigned 32-bit integer. */
  readonly broadcast: number;
}

export function isIpv4(value: string): boolean {
  return IPV4.test(value);
}

/** Dotted quad to unsigned 32-bit integer. Throws on malformed input. */
export function ipv4ToInt(ip: string): number {
  if (!isIpv4(ip)) throw new Error(`invalid IPv4 address: ${ip}`);
  return ip.split('.').reduce((acc, octet) => ((acc << 8) | Number(octet)) >>> 0, 0);
}

export function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 0xff).join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/len` without requiring the host bits to be zero. Returns undefined when malformed. */
export function parseCidr(cidr: string): (Ipv4Cidr & { readonly address: number }) | undefined {
  const slash = cidr.indexOf('/');
  if (slash < 0) return undefined;
  const ip = cidr.slice(0, slash);
  const len = cidr.slice(slash + 1);
  if (!isIpv4(ip) || !/^(?:3[0-2]|[12]?\d)$/.test(len)) return undefined;
  const prefix = Number(len);
  const address = ipv4ToInt(ip);
  const network = (address & maskOf(prefix)) >>> 0;
  const broadcast = (network | (~maskOf(prefix) >>> 0)) >>> 0;
  return { address, network, prefix, broadcast };
}

/** True when `cidr` is well-formed and its host bits are zero (10.1.0.0/24, not 10.1.0.5/24). */
export function isCanonicalCidr(cidr: string): boolean {
  const parsed = parseCidr(cidr);
  return parsed !== undefined && parsed.address === parsed.network;
}

/** The canonical form of a CIDR (host bits cleared); undefined when malformed. */
export function canonicalCidr(cidr: string): string | undefined {
  const parsed = parseCidr(cidr);
  return parsed && `${intToIpv4(parsed.network)}/${parsed.prefix}`;
}

export function cidrContains(cidr: string, ip: string): boolean {
  const parsed = parseCidr(cidr);
  if (!parsed || !isIpv4(ip)) return false;
  const n = ipv4ToInt(ip);
  return n >= parsed.network && n <= parsed.broadcast;
}

export function cidrsOverlap(a: string, b: string): boolean {
  const pa = parseCidr(a);
  const pb = parseCidr(b);
  if (!pa || !pb) return false;
  return pa.network <= pb.broadcast && pb.network <= pa.broadcast;
}

export function networkAddress(cidr: string): string | undefined {
  const parsed = parseCidr(cidr);
  return parsed && intToIpv4(parsed.network);
}

export function broadcastAddress(cidr: string): string | undefined {
  const parsed = parseCidr(cidr);
  return parsed && intToIpv4(parsed.broadcast);
}

/** Accepts `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff` in any case. */
export function isMac(value: string): boolean {
  return MAC.test(value);
}

/** Lowercase, colon-separated form of a MAC address. Throws on malformed input. */
export function normalizeMac(value: string): string {
  if (!isMac(value)) throw new Error(`invalid MAC address: ${value}`);
  return value.toLowerCase().replace(/-/g, ':');
}

/** Group (multicast/broadcast) MACs have the least significant bit of the first octet set. */
export function isUnicastMac(value: string): boolean {
  return isMac(value) && (parseInt(value.slice(0, 2), 16) & 1) === 0;
}
