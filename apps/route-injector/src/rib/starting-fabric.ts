import type { HostRoute, RibPath } from '@locus/domain';
import type { BgpFabric, RibDriver, RibView } from './rib-driver';

/**
 * A fabric still starting (a spawned gobgpd fabric peers in 5–9 s: GoBGP 3 waits that long before
 * its first connect): its drivers and core can be handed out at once, and each call waits for
 * the fabric. The route injectors load their location snapshot meanwhile, and the process's other
 * planes are not held up by their start.
 */
export class StartingFabric implements BgpFabric {
  /** The fabric once it is up; rejects as its start did. */
  readonly started: Promise<BgpFabric>;
  private fabric?: BgpFabric;

  constructor(
    readonly kind: BgpFabric['kind'],
    starting: Promise<BgpFabric>,
  ) {
    this.started = starting.then((f) => (this.fabric = f));
    // A failed start is reported where `started` is awaited (the injectors' start), not as an unhandled rejection here.
    this.started.catch(() => undefined);
  }

  driverFor(site: string): RibDriver {
    const driver = this.started.then((f) => f.driverFor(site));
    driver.catch(() => undefined);
    return { ...deferredView(this.kind, driver), site, advertise: async (route: HostRoute) => (await driver).advertise(route), withdraw: async (path: RibPath) => (await driver).withdraw(path) };
  }

  core(): RibView {
    const core = this.started.then((f) => f.core());
    core.catch(() => undefined);
    return deferredView(this.kind, core);
  }

  describe(): Record<string, unknown> {
    return this.fabric?.describe() ?? { kind: this.kind, starting: true };
  }

  async stop(): Promise<void> {
    const fabric = await this.started.catch(() => undefined);
    await fabric?.stop();
  }
}

/** A view whose calls wait for it; a watcher registered before it is up is registered once it is. */
function deferredView(kind: BgpFabric['kind'], view: Promise<RibView>): RibView {
  return {
    kind,
    list: async (prefix?: string | readonly string[]) => (await view).list(prefix),
    watch(listener: () => void) {
      let unwatch: (() => void) | undefined;
      let cancelled = false;
      view.then(
        (v) => {
          if (!cancelled) unwatch = v.watch(listener);
        },
        () => undefined,
      );
      return () => {
        cancelled = true;
        unwatch?.();
      };
    },
    close: async () => (await view.catch(() => undefined))?.close(),
  };
}
