/**
 * Facts reported by the network planes (mapping system, host-route injectors, ARP proxies).
 * They are derived, soft state: each service publishes them straight to the event stream
 * (subject `<prefix>.evt.<plane>.<entity>.<type>`, msg id = `id`), not through the location
 * store. The convergence tracker reads them to time every move per plane.
 */
export const PLANES = ['map', 'route', 'arp'] as const;
export type Plane = (typeof PLANES)[number];

export interface PlaneEvent<D extends Record<string, unknown> = Record<string, unknown>> {
  /** Deterministic where possible (e.g. `<itr>:<eid>:<version>`), so a repeat is dropped by JetStream. */
  id: string;
  plane: Plane;
  /** e.g. `Registered`, `CacheUpdated`, `RouteAdvertised`, `RouteWithdrawn`, `ProxyInstalled`, `NeighbourRepaired`. */
  type: string;
  /** The component that did it, e.g. `map-server`, `itr:branch`, `route-injector:dc2`, `arp-proxy:dc1`. */
  component: string;
  vm?: string;
  /** The VM's address as the plane sees it (EID, /32 prefix or ARP target). */
  eid?: string;
  moveId?: string;
  /** The location version this fact is about: planes never go back. */
  locationVersion: number;
  at: string;
  data: D;
}

export function planeSubject(prefix: string, plane: Plane, entity: string, type: string): string {
  return `${prefix}.evt.${plane}.${entity}.${type}`;
}
