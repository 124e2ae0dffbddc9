import { z } from 'zod';
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

/** The envelope every plane event carries, checked once where it is consumed (its `data` is the plane's own). */
const PlaneEventEnvelope = z.looseObject({
  id: z.string().min(1),
  plane: z.enum(PLANES),
  type: z.string().min(1),
  component: z.string().min(1),
  vm: z.string().optional(),
  eid: z.string().optional(),
  moveId: z.string().optional(),
  locationVersion: z.number().int().nonnegative(),
  at: z.string(),
  data: z.record(z.string(), z.unknown()),
});

/** Decodes a plane event's envelope read from the wire; throws when it is not a plane event's (its `data` is checked by `parsePlaneEventData`). */
export function parsePlaneEvent(raw: unknown): PlaneEvent {
  return PlaneEventEnvelope.parse(raw) as PlaneEvent;
}

const str = z.string();
const num = z.number();
/** The fields a plane fact of each type always carries in `data` (more may follow: a newer publisher's are kept). */
export const PLANE_EVENT_SCHEMAS = {
  map: {
    Registered: z.looseObject({ site: str, rloc: str, kind: str, previousSite: str.optional(), publishTo: z.array(str), smrTo: z.array(str) }),
    Notified: z.looseObject({ kind: z.enum(['ack', 'away']), to: str, site: str }),
    RegistrationExpired: z.looseObject({ site: str }),
    CacheUpdated: z.looseObject({ itr: str, eid: str, version: num, rloc: str, site: str, via: z.enum(['map-reply', 'publish', 'smr']) }),
    MappingConverged: z.looseObject({
      site: str,
      previousSite: str.optional(),
      kind: z.enum(['created', 'updated', 'moved']),
      itrs: z.array(str),
      dropped: z.array(str),
      ms: num,
      registeredAt: str.optional(),
      itrAt: z.record(str, str).optional(),
    }),
    /**
     * A whole site's ETR after its start (no `vm`): the map-server holds every EID the site hosts,
     * as of every location event up to stream sequence `through` (they were all in its snapshot), at
     * the snapshot's version, and no ITR holds an older one, but for the EIDs in `held` (ITRs still
     * being updated: each gets its `MappingConverged`). A move committed before the mapping system
     * started gets no `MappingConverged` of its own: its registration came from the snapshot.
     */
    MappingReconciled: z.looseObject({ site: str, trigger: z.literal('start'), through: num, held: z.array(str), eids: num }),
  },
  route: {
    RouteAdvertised: z.looseObject({ site: str, prefix: str, nextHop: str, localPref: num, largeCommunity: str, cause: str, reason: str }),
    RouteWithdrawn: z.looseObject({
      site: str,
      prefix: str,
      nextHop: str,
      cause: str,
      reason: str,
      replacedBy: z.looseObject({ site: str, locationVersion: num, source: str }).optional(),
      breakBeforeMake: z.boolean(),
    }),
    RouteConfirmed: z.looseObject({ site: str, prefix: str, nextHop: str, ms: num, via: str, advertisedAt: str.optional() }),
    ReconcileFixed: z.looseObject({
      site: str,
      prefix: str,
      vm: str.optional(),
      fix: z.enum(['added', 'replaced', 'withdrawn', 'deferred']),
      reason: str,
      locationVersion: num.optional(),
      trigger: str,
    }),
    /**
     * The site's RIB agrees with the location DB. Of the whole site (no `vm`): after its start-up
     * reconcile, for every location event up to stream sequence `through` (they were all in its
     * snapshot), except the /32s in `held` (an old route still waiting for its new site's
     * confirmation). Of one VM (`vm`, `locationVersion`): a relocation away from the site that its
     * snapshot already held, and the site originates no /32 of the VM below that version. Either way
     * the site that a move left has nothing to withdraw: it never originated the old route.
     */
    RoutesReconciled: z.looseObject({ site: str, trigger: z.enum(['start', 'snapshot']), through: num.optional(), held: z.array(str), routes: num.optional() }),
  },
  arp: {
    ProxyInstalled: z.looseObject({ site: str, ip: str, mac: str, l2Domain: str }),
    ProxyRemoved: z.looseObject({ site: str, ip: str, l2Domain: str }),
    GratuitousArpSent: z.looseObject({ site: str, ip: str, mac: str, l2Domain: str, announce: z.boolean() }),
    NeighbourStale: z.looseObject({ site: str, neighbour: str, neighbourIp: str, ip: str, since: str, expiresBy: str }),
    NeighbourRepaired: z.looseObject({ site: str, neighbour: str, neighbourIp: str, ip: str, how: str, repairedAt: str, staleMs: num.optional() }),
    ArpConverged: z.looseObject({ site: str, rule: str, proxy: str, stale: num, repaired: num, ms: num, installed: z.boolean().optional() }),
    /**
     * A whole site's ARP proxy after its start (no `vm`): its proxy entries and neighbours agree with
     * every location event up to stream sequence `through`, but for the VM addresses in `held` (a
     * neighbour still holds a wrong MAC: each gets its `ArpConverged` once repaired). A move
     * committed before the proxy started gets no `ArpConverged` of its own from it.
     */
    ArpReconciled: z.looseObject({ site: str, trigger: z.literal('start'), through: num, held: z.array(str) }),
  },
} as const satisfies Record<Plane, Record<string, z.ZodType<Record<string, unknown>>>>;

type PlaneSchemas = typeof PLANE_EVENT_SCHEMAS;
/** A plane event whose `data` narrows with its `plane` and `type` (a discriminated union, one member per fact). */
export type KnownPlaneEvent = {
  [P in Plane]: { [T in keyof PlaneSchemas[P]]: Omit<PlaneEvent, 'plane' | 'type' | 'data'> & { plane: P; type: T; data: z.infer<PlaneSchemas[P][T] & z.ZodType> } }[keyof PlaneSchemas[P]];
}[Plane];

/** Checks a plane event's `data` against the schema of its plane and type; throws on an unknown type or data that is not that fact's. */
export function parsePlaneEventData(e: PlaneEvent): KnownPlaneEvent {
  const schemas: Record<string, z.ZodType<Record<string, unknown>>> = PLANE_EVENT_SCHEMAS[e.plane];
  const schema = Object.prototype.hasOwnProperty.call(schemas, e.type) ? schemas[e.type] : undefined;
  if (!schema) throw new Error(`unknown ${e.plane} plane event type ${e.type}`);
  return { ...e, data: schema.parse(e.data) } as KnownPlaneEvent;
}

/**
 * The planes' outcomes: what the convergence tracker decides a move by, and what a plane repaired.
 * These are stored: published to the event stream on `<prefix>.evt.<plane>.<entity>.<type>`.
 * Every other plane fact is a step on the way (a registration, one ITR's cache, a route
 * advertised, a proxy entry, one neighbour's stale or repaired entry): published live on core NATS,
 * `<prefix>.live.<plane>.<entity>.<type>`, for whoever watches (console, `locus watch`,
 * `nats sub`), not stored. A cold move has ~4 outcomes and ~12 steps; storing and delivering the
 * steps through JetStream cost more than the rest of the move's events together, and the outcomes
 * carry the timings the tracker reports (`registeredAt`, `itrAt`, `advertisedAt`, `installed`).
 */
export const PLANE_OUTCOME_TYPES = [
  'MappingConverged',
  'MappingReconciled',
  'RegistrationExpired',
  'RouteConfirmed',
  'RouteWithdrawn',
  'ReconcileFixed',
  'RoutesReconciled',
  'ArpConverged',
  'ArpReconciled',
] as const;
const OUTCOME_TYPES: ReadonlySet<string> = new Set(PLANE_OUTCOME_TYPES);
/** Whether a plane fact of this type is stored on the event stream (an outcome) or only published live (a step). */
export function isPlaneOutcomeType(type: string): boolean {
  return OUTCOME_TYPES.has(type);
}

/** Where a plane fact is published: `<prefix>.evt.…` for an outcome (stored), `<prefix>.live.…` for a step (core NATS). */
export function planeSubject(prefix: string, plane: Plane, entity: string, type: string): string {
  return `${prefix}.${isPlaneOutcomeType(type) ? 'evt' : 'live'}.${plane}.${entity}.${type}`;
}

/** A plane's subjects of both classes, for permissions: `<prefix>.evt.<plane>.*.*` and `<prefix>.live.<plane>.*.*`. */
export function planeSubjects(prefix: string, plane: Plane): string[] {
  return [`${prefix}.evt.${plane}.*.*`, `${prefix}.live.${plane}.*.*`];
}

/**
 * The one "done" fact a plane service publishes per move (besides its step events), so the
 * convergence tracker knows when that plane agrees with the move's location version:
 * `MappingConverged` (map-server: every ITR that cached the EID holds the new version) and
 * `ArpConverged` (each ARP proxy of the VM's L2 domain: no neighbour holds a wrong MAC).
 * Host routes need none: the new site's `RouteConfirmed` and the old site's `RouteWithdrawn`
 * are already per-move facts. `at` of these two is wall-clock time.
 */
export const PLANE_CONVERGED_TYPES = ['MappingConverged', 'ArpConverged'] as const;

export interface MappingConvergedData extends Record<string, unknown> {
  site: string;
  previousSite?: string;
  kind: 'created' | 'updated' | 'moved';
  /** ITRs that held the EID when it changed and hold the new version now. */
  itrs: string[];
  /** ITRs that turned out not to cache it any more (restarted); they do not count. */
  dropped: string[];
  /** Real ms from the registration to the last ITR (the map-server's clock). */
  ms: number;
  /** When the map-server took the registration (the step fact `Registered` is live only). */
  registeredAt?: string;
  /** When each ITR of `itrs` acknowledged the new version (the steps `Notified`/`CacheUpdated` are live only). */
  itrAt?: Record<string, string>;
}

export interface ArpConvergedData extends Record<string, unknown> {
  site: string;
  /** The decision rule of this site for the move (stays-in-domain, leaves-domain, ...). */
  rule: string;
  /** What the site did with a proxy entry for the VM's IP (install, keep, remove, none). */
  proxy: string;
  /** Neighbours that held the VM's old MAC after the move, and how many of them were repaired. */
  stale: number;
  repaired: number;
  /** Real ms from the location event to no neighbour holding a wrong MAC. */
  ms: number;
  /** Whether this site installed a proxy entry for the move (the step `ProxyInstalled` is live only). */
  installed?: boolean;
}
