import type { HostRoute, RibPath } from '@locus/domain';
import { GoBgpClient } from './gobgp-api';
import type { BgpFabric, RibDriver, RibView } from './rib-driver';

/** A site's speaker: gobgpd over gRPC. `list` returns only the paths it originates itself. */
export class GoBgpRibDriver implements RibDriver {
  readonly kind = 'gobgp' as const;
  private readonly client: GoBgpClient;

  constructor(
    readonly site: string,
    readonly apiAddress: string,
  ) {
    this.client = new GoBgpClient(apiAddress);
  }

  advertise(route: HostRoute): Promise<void> {
    return this.client.addPath(route);
  }

  withdraw(path: RibPath): Promise<void> {
    return this.client.deletePath(path);
  }

  async list(prefix?: string | readonly string[]): Promise<RibPath[]> {
    return (await this.client.listPaths(prefix)).filter((p) => p.neighbour === '');
  }

  watch(listener: () => void): () => void {
    return this.client.watch(listener);
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/** The core's RIB (every site's paths as the WAN sees them), over gRPC. */
export class GoBgpRibView implements RibView {
  readonly kind = 'gobgp' as const;
  readonly client: GoBgpClient;

  constructor(readonly apiAddress: string) {
    this.client = new GoBgpClient(apiAddress);
  }

  list(prefix?: string | readonly string[]): Promise<RibPath[]> {
    return this.client.listPaths(prefix);
  }

  watch(listener: () => void): () => void {
    return this.client.watch(listener);
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/** gobgpd instances run elsewhere (compose: one container per site and a core), reached by their API addresses. */
export class RemoteGoBgpFabric implements BgpFabric {
  readonly kind = 'gobgp' as const;
  private readonly drivers = new Map<string, GoBgpRibDriver>();
  private coreView?: GoBgpRibView;

  constructor(
    readonly siteApis: Record<string, string>,
    readonly coreApi: string,
  ) {}

  driverFor(site: string): RibDriver {
    const address = this.siteApis[site];
    if (!address) throw new Error(`no gobgpd API address for site ${site} (LOCUS_GOBGP_API)`);
    let d = this.drivers.get(site);
    if (!d) this.drivers.set(site, (d = new GoBgpRibDriver(site, address)));
    return d;
  }

  core(): RibView {
    return (this.coreView ??= new GoBgpRibView(this.coreApi));
  }

  describe() {
    return { rib: 'gobgp', core: this.coreApi, sites: this.siteApis };
  }

  async stop(): Promise<void> {
    for (const d of this.drivers.values()) await d.close();
    await this.coreView?.close();
  }
}
