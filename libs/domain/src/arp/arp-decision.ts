/**
 * ARP decisions per move and per site, as pure functions. The decision table (docs/routes-and-arp.md):
 *
 * | VM's move seen from a site S of its L2 domain D | S does                                        |
 * |-------------------------------------------------|-----------------------------------------------|
 * | stays inside D (hot, warm or cold)              | nothing: same IP and MAC on the same L2       |
 * | leaves D (to a site D does not span)            | proxy-ARP the IP with S's router MAC + GARP    |
 * | leaves D, proxy switched off at S               | nothing: neighbours stale until their timeout  |
 * | comes back into D                               | remove the proxy entry, announce the VM's MAC  |
 * | moves between two sites outside D               | keep the proxy entry (new location version)    |
 * Sites that D does not span have no neighbours of the subnet: they do nothing.
 */
export interface ArpDomain {
  name: string;
  kind: 'stretched' | 'site-local';
  sites: readonly string[];
  subnet: string;
  gateway: string;
}

export interface ArpSite {
  name: string;
  routerMac: string;
  /** The site's proxy switch (topology `arpProxy`). */
  proxyEnabled: boolean;
  gateways: readonly { subnet: string; ip: string; mac: string }[];
}

export interface ArpVm {
  vm: string;
  ip: string;
  mac: string;
}

export type ArpRule = 'not-in-domain' | 'stays-in-domain' | 'leaves-domain' | 'leaves-domain-proxy-off' | 'returns-to-domain' | 'still-away';

export interface ArpMoveDecision {
  site: string;
  rule: ArpRule;
  /** What the site's proxy does with the VM's IP. */
  proxy: 'install' | 'remove' | 'keep' | 'none';
  /** Gratuitous ARP the site sends: the IP with this MAC (router MAC for a proxy, the VM's own MAC on return). */
  garp?: { ip: string; mac: string };
  reason: string;
  /** Whether the VM's first-hop gateway answers with the same virtual MAC where it is now. */
  gateway?: { ok: boolean; reason: string };
}

export interface ArpMoveInput {
  site: ArpSite;
  domain: ArpDomain;
  vm: ArpVm;
  from: string;
  to: string;
  mode?: 'hot' | 'warm' | 'cold';
  /** The site the VM moved to (for the anycast gateway check). */
  targetSite?: ArpSite;
}

/** What site `input.site` does about one move of one VM, and why (one line for the log). */
export function decideArpForMove(input: ArpMoveInput): ArpMoveDecision {
  const { site, domain, vm, from, to } = input;
  const mode = input.mode ?? 'cold';
  const gateway = input.targetSite ? gatewayCheck(domain, input.targetSite, site) : undefined;
  const base = { site: site.name, gateway };
  if (!domain.sites.includes(site.name)) return { ...base, rule: 'not-in-domain', proxy: 'none', reason: `${domain.name} does not span ${site.name}: no neighbours of ${vm.vm} here` };
  const wasIn = domain.sites.includes(from);
  const isIn = domain.sites.includes(to);
  if (wasIn && isIn) {
    const how =
      mode === 'hot'
        ? `hot move inside ${domain.kind} L2 domain ${domain.name}: the target's RARP/GARP updates the switches' MAC tables and neighbours' entries (same MAC) stay valid`
        : `${mode} move inside L2 domain ${domain.name}: ${vm.vm} keeps IP and MAC on the same L2, so neighbours' ARP entries stay right`;
    return { ...base, rule: 'stays-in-domain', proxy: 'none', reason: `no proxy: ${how}` };
  }
  if (wasIn && !isIn) {
    if (!site.proxyEnabled)
      return {
        ...base,
        rule: 'leaves-domain-proxy-off',
        proxy: 'none',
        reason: `${vm.vm} left ${domain.name} for ${to} but the ARP proxy is switched off at ${site.name}: neighbours keep its old MAC until their own ARP timeout`,
      };
    return {
      ...base,
      rule: 'leaves-domain',
      proxy: 'install',
      garp: { ip: vm.ip, mac: site.routerMac },
      reason: `${vm.vm} left ${domain.name} for ${to} keeping ${vm.ip}: ${site.name} answers ARP for it with the router MAC ${site.routerMac} and sends gratuitous ARP`,
    };
  }
  if (!wasIn && isIn)
    return {
      ...base,
      rule: 'returns-to-domain',
      proxy: site.proxyEnabled ? 'remove' : 'none',
      garp: { ip: vm.ip, mac: vm.mac },
      reason: `${vm.vm} is back in ${domain.name} at ${to}: proxy entry removed, its own MAC ${vm.mac} announced`,
    };
  return {
    ...base,
    rule: 'still-away',
    proxy: site.proxyEnabled ? 'keep' : 'none',
    reason: `${vm.vm} moved from ${from} to ${to}, both outside ${domain.name}: ${site.proxyEnabled ? 'the proxy entry stays' : 'proxy switched off'}`,
  };
}

/** Should `site` proxy-ARP for a VM of `domain` that is at `vmSite` (the steady state, e.g. after a restart)? */
export function proxyWanted(site: ArpSite, domain: ArpDomain, vmSite: string): boolean {
  return site.proxyEnabled && domain.sites.includes(site.name) && !domain.sites.includes(vmSite);
}

/** The VM's cached gateway entry stays valid when its new site answers for the gateway IP with the same virtual MAC. */
export function gatewayCheck(domain: ArpDomain, target: ArpSite, home: ArpSite): { ok: boolean; reason: string } {
  const there = target.gateways.find((g) => g.subnet === domain.subnet && g.ip === domain.gateway);
  const here = home.gateways.find((g) => g.subnet === domain.subnet && g.ip === domain.gateway);
  if (!there) return { ok: false, reason: `${target.name} does not carry gateway ${domain.gateway} of ${domain.subnet}: the VM loses its first hop` };
  if (here && here.mac !== there.mac) return { ok: false, reason: `${target.name} answers ${domain.gateway} with ${there.mac}, not ${here.mac}: the VM's cached gateway entry is wrong` };
  return { ok: true, reason: `${target.name} answers ${domain.gateway} with the same virtual MAC ${there.mac}: the VM's cached gateway entry stays valid` };
}
