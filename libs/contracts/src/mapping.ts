import { z } from 'zod';
import { Name } from './names';

/**
 * The LISP-like mapping system (RFC 9301 control plane, RFC 9437 publish/subscribe): a
 * map-server / map-resolver holding EID -> locator-set registrations, the ETR of each site
 * registering the VMs that run there, and the ITR of each site caching what it resolved.
 *
 * User requests: `<prefix>.map.resolve`, `<prefix>.map.list` (plain JSON, `nats req`).
 * Control messages between the roles: `<prefix>.lisp.>` (never under `<prefix>.evt.>`, the
 * event stream). Facts for the convergence tracker: plane events `<prefix>.evt.map.<vm>.<type>`.
 */

/** Defaults; registration refresh and expiry are in lab (simulated) time. */
export const MAPPING_DEFAULTS = {
  /** An ETR refreshes each registration this often (s, lab time). */
  registerIntervalS: 60,
  /** A registration not refreshed for this long expires (s, lab time). */
  registrationTtlS: 180,
  /** TTL of a Map-Reply for a registered EID (minutes, lab time). */
  mapCacheTtlMin: 1440,
  /** TTL of a negative Map-Reply for an unknown EID (minutes, lab time). */
  negativeTtlMin: 15,
  /** An authenticated control message's timestamp must be within this many wall-clock ms of the receiver's clock. */
  replayWindowMs: 60_000,
} as const;

/** Records per Map-Register: a refresh of many EIDs is split so that each message stays well under 64 KiB. */
export const MAX_RECORDS_PER_REGISTER = 200;

export const MAPPING_KEY_ID = 'hmac-sha-256' as const;

const Ipv4 = z.ipv4('invalid IPv4 address');
/** An EID prefix, `a.b.c.d/len` (a VM is its /32). Host bits must be zero; the map-server checks that. */
export const EidPrefix = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'expected an EID prefix a.b.c.d/len');
const Nonce = z.string().regex(/^[0-9a-f]{16}$/, 'expected 16 hex digits');
const Version = z.int().positive();
const TtlMinutes = z.int().positive();
const AuthData = z.string().max(128);

/**
 * What every authenticated control message carries (Map-Register, Map-Notify, Map-Publish, SMR):
 * a nonce and the sender's wall-clock timestamp (the receiver's replay window), and `authData`,
 * the hex HMAC-SHA-256 of the canonical JSON of the message without `authData` (keys sorted, no
 * whitespace) under the key the site at the other end shares with the map-server.
 * `authData` is optional in the schema so that a missing HMAC is refused as AUTH_FAILED, counted
 * and logged, rather than as a malformed request.
 */
const Authenticated = {
  nonce: Nonce,
  /** Wall-clock epoch ms when the sender sent it. */
  timestamp: z.int().nonnegative(),
  keyId: z.literal(MAPPING_KEY_ID),
  authData: AuthData.optional(),
};

export const Locator = z.strictObject({
  rloc: Ipv4,
  /** Lower is preferred (LISP priority, 255 = do not use). */
  priority: z.int().min(0).max(255),
  /** Load share among locators of equal priority (0..100). */
  weight: z.int().min(0).max(100),
});
export type Locator = z.infer<typeof Locator>;

/** One EID record of a Map-Register: what the ETR claims, at which map version (= the VM's location version). */
export const RegisterRecord = z.strictObject({
  eid: EidPrefix,
  vm: Name.optional(),
  locators: z.array(Locator).min(1).max(8),
  /** TTL the map-resolver hands to ITRs for this mapping, in minutes. */
  ttl: TtlMinutes,
  version: Version,
  /** The move that put the VM there (from VmRelocated), so plane events can be joined to the move's timeline. */
  moveId: z.uuid().optional(),
});
export type RegisterRecord = z.infer<typeof RegisterRecord>;

/** A mapping as the map-server holds it and hands it out. */
export const MappingRecord = RegisterRecord.extend({ site: Name });
export type MappingRecord = z.infer<typeof MappingRecord>;

/**
 * Map-Register (ETR -> map-server, request/reply on `<prefix>.lisp.register`), signed with the
 * key of `site`. The reply is `{ok:true,notify}` (a Map-Notify ack) or `{ok:false,error}`.
 */
export const MapRegister = z.strictObject({
  type: z.literal('Map-Register'),
  site: Name,
  ...Authenticated,
  wantMapNotify: z.boolean(),
  records: z.array(RegisterRecord).min(1).max(MAX_RECORDS_PER_REGISTER),
  /**
   * The ETR is still registering its start-up snapshot: the ack names in `following` the records
   * whose change the map-server still follows to ITRs, and it owes each a `MappingConverged`.
   */
  reconciling: z.boolean().optional(),
});
export type MapRegister = z.infer<typeof MapRegister>;

/** A record of a Map-Register the map-server did not take because it holds a newer (or equal) version elsewhere. */
export const RefusedRecord = z.strictObject({
  eid: EidPrefix,
  version: Version,
  code: z.literal('FENCED'),
  heldVersion: Version,
  heldBy: Name,
});
export type RefusedRecord = z.infer<typeof RefusedRecord>;

/**
 * Map-Notify (map-server -> ETR), signed with the addressee site's key.
 * `ack`: reply to a Map-Register (echoes its nonce). `away`: sent on `<prefix>.lisp.notify.<site>`
 * to the site that registered the EID before: the EID now lives at `records[].site`; stop claiming
 * it. The ETR takes an `away` only with a valid HMAC, a fresh timestamp and an unused nonce.
 */
export const MapNotify = z.strictObject({
  type: z.literal('Map-Notify'),
  kind: z.enum(['ack', 'away']),
  site: Name,
  ...Authenticated,
  records: z.array(MappingRecord),
  refused: z.array(RefusedRecord).optional(),
  /**
   * Of the ack of a `reconciling` Map-Register: its EIDs whose change (this one's or an earlier one
   * at the same version) the map-server still follows to ITRs that cached an older version; it
   * publishes `MappingConverged` for each once they hold this one.
   */
  following: z.array(EidPrefix).optional(),
});
export type MapNotify = z.infer<typeof MapNotify>;

/**
 * Map-Request (ITR or map.resolve -> map-resolver, request/reply on `<prefix>.lisp.request`).
 * With `itr`, the map-server remembers who asked: `subscribe` makes it a subscriber (RFC 9437:
 * mapping changes are published to it), otherwise it is solicited (SMR) on a change while its
 * cached copy lives. Without `itr` it is a query and nothing is remembered.
 */
export const MapRequest = z.strictObject({
  type: z.literal('Map-Request'),
  nonce: Nonce,
  eid: Ipv4,
  itr: Name.optional(),
  subscribe: z.boolean().default(false),
  smrInvoked: z.boolean().default(false),
});
export type MapRequest = z.infer<typeof MapRequest>;

/**
 * Map-Reply: the record covering the EID (longest match), or negative for `prefix` with a short
 * TTL. To an ITR's Map-Request (`itr` set) it is signed with that ITR's key (`authData`); the
 * echoed nonce, fresh for each request, is its replay protection.
 */
export const MapReply = z.strictObject({
  type: z.literal('Map-Reply'),
  nonce: Nonce,
  eid: Ipv4,
  /** The record's prefix, or for a negative reply the prefix the negative entry covers. */
  prefix: EidPrefix,
  negative: z.boolean(),
  record: MappingRecord.optional(),
  ttl: TtlMinutes,
  subscribed: z.boolean(),
  authData: AuthData.optional(),
});
export type MapReply = z.infer<typeof MapReply>;

/**
 * Publication to a subscribed ITR (RFC 9437), request/reply on `<prefix>.lisp.publish.<itr>`,
 * signed with the ITR's key; the reply is a PublishAck, or `{ok:false,error}` (AUTH_FAILED,
 * REPLAYED) when the ITR refuses it.
 */
export const MapPublish = z.strictObject({
  type: z.literal('Map-Publish'),
  itr: Name,
  ...Authenticated,
  record: MappingRecord,
});
export type MapPublish = z.infer<typeof MapPublish>;

export interface PublishAck {
  ok: true;
  itr: string;
  eid: string;
  /** `not-held`: the ITR no longer caches the EID (restarted, expired) and the subscription ends. */
  outcome: 'installed' | 'refreshed' | 'stale' | 'not-held';
  /** The version the ITR holds after the publication. */
  holds?: number;
}

/**
 * Solicit-Map-Request (map-server -> ITR, on `<prefix>.lisp.smr.<itr>`), signed with the ITR's
 * key: re-request `eid` if you hold a version older than `version`.
 */
export const SolicitMapRequest = z.strictObject({
  type: z.literal('SMR'),
  itr: Name,
  ...Authenticated,
  eid: EidPrefix,
  version: Version,
});
export type SolicitMapRequest = z.infer<typeof SolicitMapRequest>;

/** Broadcast by a map-server when it starts (`<prefix>.lisp.hello`): ETRs register again, ITRs request their cached EIDs again. */
export const MapServerHello = z.strictObject({ type: z.literal('Map-Server-Hello'), epoch: z.string().min(1), at: z.string() });
export type MapServerHello = z.infer<typeof MapServerHello>;

/** The most EIDs one filtered `map.list` may name. */
export const MAP_LIST_MAX_EIDS = 1000;
/** `eids` of `map.list`: only the entries of exactly these EID prefixes (a VM is its /32). */
export const EidFilter = z.array(EidPrefix).min(1, 'name at least one EID prefix, or leave eids out').max(MAP_LIST_MAX_EIDS, `at most ${MAP_LIST_MAX_EIDS} EID prefixes per request; split the list`);

/** What map.resolve / map.list forward to an ITR (`<prefix>.lisp.itr.<itr>`), wherever it runs. */
export const ItrQuery = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('resolve'), eid: Ipv4, forward: z.boolean().optional() }),
  z.strictObject({ op: z.literal('list'), limit: z.int().min(1).max(5000).optional(), eids: EidFilter.optional() }),
]);
export type ItrQuery = z.infer<typeof ItrQuery>;

// ---- user requests ----

/**
 * `map.resolve {"eid"}`: the map-resolver's answer. `{"eid","itr"}`: what that ITR's cache holds,
 * without changing it. `{"eid","itr","forward":true}`: a packet for the EID reaches the ITR: a hit
 * answers from the cache, a miss sends a Map-Request and caches the Map-Reply.
 */
export const MapResolveRequest = z
  .strictObject({ eid: Ipv4, itr: Name.optional(), forward: z.boolean().optional() })
  .refine((r) => !r.forward || r.itr !== undefined, { message: 'forward needs an itr', path: ['forward'] });
export type MapResolveRequest = z.infer<typeof MapResolveRequest>;

/**
 * `map.list {"itr"?,"eids"?,"limit"?}`: registrations of the map-server, or the entries of one ITR's
 * cache (by prefix, first `limit`, default 1000). `eids` (1..1000 EID prefixes, e.g. `10.1.0.10/32`):
 * only the entries of exactly those prefixes, and `total` counts those.
 */
export const MapListRequest = z.strictObject({ itr: Name.optional(), eids: EidFilter.optional(), limit: z.int().min(1).max(5000).optional() });
export type MapListRequest = z.infer<typeof MapListRequest>;

export interface MappingView {
  /** The EID prefix of the entry, e.g. `10.1.0.10/32`. */
  prefix: string;
  vm?: string;
  negative: boolean;
  rloc?: string;
  site?: string;
  version?: number;
  locators?: Locator[];
  /** Record TTL in minutes. */
  ttl: number;
  /** Lab-time seconds until the entry expires. */
  expiresInS: number;
  /** ITR entries: subscribed to publications (RFC 9437) rather than relying on SMR. */
  subscribed?: boolean;
}

export interface MapResolveReply {
  ok: true;
  eid: string;
  /** `map-resolver`, or `itr:<site>` when an ITR's cache answered. */
  source: string;
  /** false when an ITR holds nothing for the EID (only for `itr` queries). */
  cached?: boolean;
  /** ITR `forward` queries: `hit` answered from the cache, `miss` resolved and cached now. */
  lookup?: 'hit' | 'miss';
  mapping?: MappingView;
  /** Flattened from `mapping` for `nats req` readers. */
  rloc?: string;
  site?: string;
  version?: number;
  ttl?: number;
  negative?: boolean;
}

export interface MapListReply {
  ok: true;
  source: string;
  /** Entries held (with `eids`: entries of those prefixes held). */
  total: number;
  entries: MappingView[];
  stats?: Record<string, unknown>;
}

// ---- plane events (PlaneEvent with plane 'map') ----

export const MAP_PLANE_EVENT_TYPES = ['Registered', 'RegistrationExpired', 'Notified', 'CacheUpdated', 'MappingConverged', 'MappingReconciled'] as const;
export type MapPlaneEventType = (typeof MAP_PLANE_EVENT_TYPES)[number];

export interface CacheUpdatedData extends Record<string, unknown> {
  itr: string;
  eid: string;
  version: number;
  rloc: string;
  site: string;
  /** How it got there: a Map-Reply to a miss, a publication, or a Map-Reply to an SMR-invoked request. */
  via: 'map-reply' | 'publish' | 'smr';
}

// ---- subjects ----

export interface MappingSubjects {
  resolve: string;
  list: string;
  register: string;
  request: string;
  hello: string;
  notify(site: string): string;
  publish(itr: string): string;
  smr(itr: string): string;
  itr(itr: string): string;
}

export function mappingSubjects(prefix: string): MappingSubjects {
  return {
    resolve: `${prefix}.map.resolve`,
    list: `${prefix}.map.list`,
    register: `${prefix}.lisp.register`,
    request: `${prefix}.lisp.request`,
    hello: `${prefix}.lisp.hello`,
    notify: (site) => `${prefix}.lisp.notify.${site}`,
    publish: (itr) => `${prefix}.lisp.publish.${itr}`,
    smr: (itr) => `${prefix}.lisp.smr.${itr}`,
    itr: (itr) => `${prefix}.lisp.itr.${itr}`,
  };
}
