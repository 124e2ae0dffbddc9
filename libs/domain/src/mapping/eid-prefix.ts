/**
 * EIDs and EID prefixes (IPv4), and a longest-prefix-match table. The mapping system keys
 * everything by the canonical prefix text (`10.1.0.10/32` for a VM). Lookups probe one hash map
 * per prefix length in use (at most 33), never scan the table.
 */
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);

export interface ParsedPrefix {
  /** Network address as an unsigned 32-bit integer (host bits zero). */
  readonly network: number;
  /** Prefix length 0..32. */
  readonly length: number;
}

export function parseIpv4(ip: string): number | undefined {
  if (!IPV4.test(ip)) return undefined;
  return ip.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
}

export function prefixMask(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/** Parses `a.b.c.d/len` with zero host bits; undefined when malformed or not canonical. */
export function parseEidPrefix(text: string): ParsedPrefix | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = parseIpv4(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (address === undefined || !/^(3[0-2]|[12]?\d)$/.test(lenText)) return undefined;
  const length = Number(lenText);
  if ((address & prefixMask(length)) >>> 0 !== address) return undefined;
  return { network: address, length };
}

export function formatEidPrefix(p: ParsedPrefix): string {
  return `${formatIpv4(p.network)}/${p.length}`;
}

/** The /32 EID of a host address: `10.1.0.10` -> `10.1.0.10/32` (an address already written as /32 is accepted). */
export function hostEid(ip: string): string {
  const bare = ip.endsWith('/32') ? ip.slice(0, -3) : ip;
  if (parseIpv4(bare) === undefined) throw new Error(`invalid IPv4 address: ${ip}`);
  return `${bare}/32`;
}

export function prefixContainsAddress(p: ParsedPrefix, address: number): boolean {
  return (address & prefixMask(p.length)) >>> 0 === p.network;
}

/** True when every address of `inner` lies in `outer`. */
export function prefixCovers(outer: ParsedPrefix, inner: ParsedPrefix): boolean {
  return inner.length >= outer.length && prefixContainsAddress(outer, inner.network);
}

/** Sorts canonical prefix texts by address, then length. */
export function comparePrefixText(a: string, b: string): number {
  const pa = parseEidPrefix(a);
  const pb = parseEidPrefix(b);
  if (!pa || !pb) return a < b ? -1 : a > b ? 1 : 0;
  return pa.network - pb.network || pa.length - pb.length;
}

/** A map from EID prefixes to values with exact get/set/delete and longest-prefix match. */
export class PrefixTable<V> {
  private readonly byLength = new Map<number, Map<number, V>>();
  /** Prefix lengths in use, longest first. */
  private lengths: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(p: ParsedPrefix): V | undefined {
    return this.byLength.get(p.length)?.get(p.network);
  }

  set(p: ParsedPrefix, value: V): void {
    let level = this.byLength.get(p.length);
    if (!level) {
      level = new Map();
      this.byLength.set(p.length, level);
      this.lengths = [...this.byLength.keys()].sort((a, b) => b - a);
    }
    if (!level.has(p.network)) this.count++;
    level.set(p.network, value);
  }

  delete(p: ParsedPrefix): boolean {
    const level = this.byLength.get(p.length);
    if (!level || !level.delete(p.network)) return false;
    this.count--;
    if (level.size === 0) {
      this.byLength.delete(p.length);
      this.lengths = this.lengths.filter((l) => l !== p.length);
    }
    return true;
  }

  /** Longest-prefix match for an address; `accept` can skip values (e.g. expired ones) to fall back to shorter prefixes. */
  match(address: number, accept: (value: V) => boolean = () => true): V | undefined {
    for (const length of this.lengths) {
      const value = this.byLength.get(length)!.get((address & prefixMask(length)) >>> 0);
      if (value !== undefined && accept(value)) return value;
    }
    return undefined;
  }

  *values(): IterableIterator<V> {
    for (const level of this.byLength.values()) yield* level.values();
  }
}
