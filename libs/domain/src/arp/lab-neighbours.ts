/**
 * The lab's adjacent hosts: synthetic neighbours per L2 domain and site, so no topology
 * file has to list them. Each site a domain spans gets `perSite` hosts with addresses taken
 * from the top of the subnet downwards (skipping the broadcast address and any address a VM
 * or gateway uses) and locally administered MACs 02:4e:<domain#>:<site#>:00:<n>.
 */
export interface NeighbourDomain {
  name: string;
  subnet: string;
  sites: readonly string[];
}

export interface LabNeighbour {
  name: string;
  ip: string;
  mac: string;
  l2Domain: string;
  site: string;
}

export const DEFAULT_NEIGHBOURS_PER_SITE = 3;

export function labNeighbours(domains: readonly NeighbourDomain[], usedIps: ReadonlySet<string>, perSite = DEFAULT_NEIGHBOURS_PER_SITE): LabNeighbour[] {
  const out: LabNeighbour[] = [];
  domains.forEach((d, di) => {
    const range = subnetRange(d.subnet);
    if (!range) return;
    let next = range.broadcast - 1;
    d.sites.forEach((site, si) => {
      for (let n = 1; n <= perSite; n++) {
        while (next > range.network && usedIps.has(intToIp(next))) next--;
        if (next <= range.network) return;
        out.push({ name: `${d.name}-${site}-nb${n}`, ip: intToIp(next), mac: `02:4e:${hex(di + 1)}:${hex(si + 1)}:00:${hex(n)}`, l2Domain: d.name, site });
        next--;
      }
    });
  });
  return out;
}

function hex(n: number): string {
  return (n & 0xff).toString(16).padStart(2, '0');
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
}

function subnetRange(cidr: string): { network: number; broadcast: number } | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
  if (!m) return undefined;
  const len = Number(m[2]);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const network = (ipToInt(m[1]) & mask) >>> 0;
  return { network, broadcast: (network | (~mask >>> 0)) >>> 0 };
}
