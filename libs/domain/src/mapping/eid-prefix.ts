/**
 * EIDs and EID prefixes (IPv4), and a longest-prefix-match table. The mapping system keys
 * everything by the canonical prefix text (`10.1.0.10/32` for a VM). Lookups probe one hash map
 * per prefix length in use (at most 33), never scan the table.
 */

export interface ParsedPrefix {
  /** Network address as an unsigned 32-bit integer (host bits zero). */
  readonly network: number;
  /** Prefix length 0..32. */
  readonly length: number;
}

/**
 * Dotted-quad IPv4 (four decimal octets 0-255, no leading zeros, nothing else) as an unsigned 32-bit
 * integer; undefined otherwise. One pass over the characters: it runs for every EID a list sorts or
 * a message names (a regular expression and a split were 10 % of the planes' start-up at 100,000 VMs).
 */
export function parseIpv4(ip: string): number | undefined {
  if (ip.length < 7 || ip.length > 15) return undefined;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return undefined; // a leading zero
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = (value << 8) | octet;
      octet = 0;
      digits = 0;
      dots++;
    } else return undefined;
  }
  if (digits === 0 || dots !== 3) return undefined;
  return ((value << 8) | octet) >>> 0;
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

/**
 * The first `limit` items (all without one) in `comparePrefixText` order of their keys, sorted, of
 * those whose key sorts after `after` when given: a page of a table. Each key is parsed once and only the page is kept in order (a heap of `limit`), so a
 * `limit: 1` probe of 100,000 EIDs is one pass, not a sort that parsed both sides of every comparison.
 */
export function firstByPrefix<T>(items: readonly T[], keyOf: (item: T) => string, limit = Infinity, after?: string): T[] {
  // A page's cursor: only the keys that sort after it (parsed once, not once per comparison).
  const cursor = after === undefined ? undefined : parseEidPrefix(after);
  const afterRank = cursor ? cursor.network * 64 + cursor.length : -1;
  const keyed: { item: T; rank: number }[] = [];
  const odd: T[] = []; // keys that are not canonical prefixes: after the others, by text (none in practice)
  for (const item of items) {
    const text = keyOf(item);
    if (after !== undefined && !cursor && comparePrefixText(text, after) <= 0) continue;
    const p = parseEidPrefix(text);
    if (p) {
      const rank = p.network * 64 + p.length;
      if (rank > afterRank) keyed.push({ item, rank });
    } else if (after === undefined || comparePrefixText(text, after) > 0) odd.push(item);
  }
  const byRank = (a: { rank: number }, b: { rank: number }) => a.rank - b.rank;
  const page = limit >= keyed.length ? keyed.sort(byRank) : smallest(keyed, Math.max(0, Math.floor(limit)));
  const out = page.map((k) => k.item);
  if (out.length < limit && odd.length) out.push(...odd.sort((a, b) => comparePrefixText(keyOf(a), keyOf(b))).slice(0, limit - out.length));
  return out;
}

/** The k entries of smallest rank, in rank order: a max-heap of k over one pass. */
function smallest<K extends { rank: number }>(all: readonly K[], k: number): K[] {
  if (k === 0) return [];
  const heap: K[] = [];
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].rank >= heap[i].rank) return;
      [heap[parent], heap[i]] = [heap[i], heap[parent]];
      i = parent;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < heap.length && heap[l].rank > heap[top].rank) top = l;
      if (r < heap.length && heap[r].rank > heap[top].rank) top = r;
      if (top === i) return;
      [heap[top], heap[i]] = [heap[i], heap[top]];
      i = top;
    }
  };
  for (const e of all) {
    if (heap.length < k) {
      heap.push(e);
      up(heap.length - 1);
    } else if (e.rank < heap[0].rank) {
      heap[0] = e;
      down(0);
    }
  }
  return heap.sort((a, b) => a.rank - b.rank);
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
