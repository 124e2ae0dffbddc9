/**
 * Which of a process's sites originate each /32: what their injectors advertised and have not
 * withdrawn, reset from a site's own table when it is reconciled. It picks the sites a location
 * event or a RouteConfirmed must reach besides those it names (a site that still holds an old
 * path withdraws it), so that the other sites are not asked at all. It may name a site that no
 * longer holds the path (that site then finds nothing to do), never omit one that does: an
 * advertisement is recorded before it is made, a withdrawal after it succeeded.
 */
export class SiteOriginators {
  private readonly sitesOf = new Map<string, Set<string>>();

  add(prefix: string, site: string): void {
    const sites = this.sitesOf.get(prefix);
    if (sites) sites.add(site);
    else this.sitesOf.set(prefix, new Set([site]));
  }

  remove(prefix: string, site: string): void {
    const sites = this.sitesOf.get(prefix);
    if (!sites) return;
    sites.delete(site);
    if (sites.size === 0) this.sitesOf.delete(prefix);
  }

  /** The site's table as listed now: it originates exactly these prefixes. */
  reset(site: string, prefixes: Iterable<string>): void {
    const held = new Set(prefixes);
    for (const [prefix, sites] of [...this.sitesOf]) if (sites.has(site) && !held.has(prefix)) this.remove(prefix, site);
    for (const prefix of held) this.add(prefix, site);
  }

  of(prefix: string): readonly string[] {
    const sites = this.sitesOf.get(prefix);
    return sites ? [...sites] : [];
  }
}
