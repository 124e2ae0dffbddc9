import { mappingSubjects } from './mapping';
import { planeSubjects, type Plane } from './planes';
import { routingSubjects } from './routing';
import { AGENT_ACTIONS, REQUEST_ENDPOINTS, subjects, type RequestEndpoint } from './subjects';

/**
 * Who may do what on the bus, derived from the same subject helpers every service uses, so a
 * subject renamed in this package changes the NATS permissions with it. One NATS user per role
 * (`npm run locus -- nats-auth` writes their nkeys and the server's `authorization` block).
 */
export const NATS_ROLES = ['manager', 'agent', 'mapping', 'route-injector', 'arp-proxy', 'operator', 'admin'] as const;
export type NatsRole = (typeof NATS_ROLES)[number];
export const SERVICE_ROLES = ['manager', 'agent', 'mapping', 'route-injector', 'arp-proxy'] as const satisfies readonly NatsRole[];
export type ServiceRole = (typeof SERVICE_ROLES)[number];

export function isNatsRole(name: string): name is NatsRole {
  return (NATS_ROLES as readonly string[]).includes(name);
}

/** The durable consumers of the mobility manager: fixed names, so its rights on them are exact. */
export const MANAGER_DURABLES = { saga: 'mobility-move-saga', convergence: 'mobility-convergence' } as const;

export interface RolePermissions {
  /** Subjects the role may publish to (NATS wildcards); everything else is refused by the server. */
  publish: string[];
  /** Subjects the role may subscribe to. */
  subscribe: string[];
  /** May answer the requests it receives (one reply each, to whatever reply subject they carry). */
  respond: boolean;
}

/**
 * Where a role's request replies come back: a service role has an inbox of its own, so no other
 * role may subscribe to its replies (JetStream deliveries included); the operator keeps NATS's
 * default `_INBOX`, which `nats req` uses.
 */
export function natsInboxPrefix(role: NatsRole): string {
  return role === 'operator' || role === 'admin' ? '_INBOX' : `_INBOX_${role}`;
}

/** The public request endpoints of the network planes, which an operator may call too (README, "Subjects"). */
export function planeRequestSubjects(prefix: string): string[] {
  const map = mappingSubjects(prefix);
  const routing = routingSubjects(prefix);
  return [map.resolve, map.list, routing.routesList, routing.routesReconcile, routing.arpStale, routing.arpList];
}

const JS_API = '$JS.API';

/** A durable pull consumer's rights: create it with this filter only, read its info, pull from it and ack. */
function consumerRights(stream: string, durable: string, filter: string): string[] {
  return [
    `${JS_API}.CONSUMER.CREATE.${stream}.${durable}.${filter}`,
    `${JS_API}.CONSUMER.INFO.${stream}.${durable}`,
    `${JS_API}.CONSUMER.MSG.NEXT.${stream}.${durable}`,
    `$JS.ACK.${stream}.${durable}.>`,
  ];
}

/**
 * The least every service needs: JetStream's account check and the stream's info (a feed notes the
 * stream's last sequence before its snapshot), NATS service discovery (`nats micro ls` pings), and
 * its own inbox. The feed consumers of the agents and planes are named per process
 * (`feedDurableName`), so their durable token is a wildcard; the filter subject they may create a
 * consumer with is not.
 */
function serviceBase(role: ServiceRole, stream: string): RolePermissions {
  return {
    publish: [`${JS_API}.INFO`, `${JS_API}.STREAM.INFO.${stream}`],
    subscribe: [`${natsInboxPrefix(role)}.>`, '$SRV.>'],
    respond: true,
  };
}

function merge(base: RolePermissions, extra: { publish?: string[]; subscribe?: string[] }): RolePermissions {
  const unique = (xs: string[]) => [...new Set(xs)];
  return { publish: unique([...base.publish, ...(extra.publish ?? [])]), subscribe: unique([...base.subscribe, ...(extra.subscribe ?? [])]), respond: base.respond };
}

/**
 * Per-role allow lists for the subjects under `prefix` and the event stream `stream`:
 *
 * - manager (with its outbox relay): the only publisher of VM and host events (`evt.vm.>`, location
 *   events included, and `evt.host.>`), the only caller of agent steps, serves the request
 *   endpoints, hears heartbeats, asks the planes what they hold (drift), owns the stream and its
 *   two durables;
 * - agent: serves its steps (and `inventory`, which a postcopy target also asks of its source),
 *   heartbeats, reads `vm.list`, asks `drift.check` about VMs its host holds differently from the
 *   location DB, and follows the location events;
 * - mapping, route-injector, arp-proxy: serve their endpoints, publish their own plane's events
 *   only (outcomes `evt.<plane>.*.*` and live steps `live.<plane>.*.*` of map, route or arp), read `vm.list`, follow the location
 *   events (the route injectors also `RouteConfirmed`); the mapping system speaks LISP among its roles;
 * - operator: calls the request endpoints (the manager's and the planes' public ones), reads the
 *   events as they pass (`locus watch`), service discovery and read-only JetStream info;
 * - admin: everything (stream maintenance: `--fresh`, deleting a stream, the bench); no service runs as admin.
 */
export function natsPermissions(prefix: string, stream: string): Record<NatsRole, RolePermissions> {
  const s = subjects(prefix);
  const map = mappingSubjects(prefix);
  const routing = routingSubjects(prefix);
  const requests = (Object.keys(REQUEST_ENDPOINTS) as RequestEndpoint[]).map((e) => s.request(e));
  const agentSteps = AGENT_ACTIONS.map((a) => s.agent('*', a));
  const snapshot = s.request('vm.list');
  const ownPlane = (plane: Plane) => planeSubjects(prefix, plane);
  const followLocations = (stream_: string) => consumerRights(stream_, '*', s.locationEvents);
  const lisp = [map.register, map.request, map.hello, map.notify('*'), map.publish('*'), map.smr('*'), map.itr('*')];

  return {
    manager: merge(serviceBase('manager', stream), {
      publish: [
        s.vmEvents,
        s.event('host', '*', '*'),
        ...agentSteps,
        map.list,
        routing.routesList,
        routing.arpStale,
        `${JS_API}.STREAM.CREATE.${stream}`,
        `${JS_API}.STREAM.UPDATE.${stream}`,
        ...consumerRights(stream, MANAGER_DURABLES.saga, s.vmEvents),
        ...consumerRights(stream, MANAGER_DURABLES.convergence, s.eventsWildcard),
        // The convergence tracker repositions its durable at start by deleting it.
        `${JS_API}.CONSUMER.DELETE.${stream}.${MANAGER_DURABLES.convergence}`,
      ],
      subscribe: [...requests, s.heartbeat('*')],
    }),
    agent: merge(serviceBase('agent', stream), {
      // drift.check: an agent whose inventory differs from the location DB names the VMs (its reconcile).
      publish: [s.heartbeat('*'), s.agent('*', 'inventory'), snapshot, s.request('drift.check'), ...followLocations(stream)],
      subscribe: agentSteps,
    }),
    mapping: merge(serviceBase('mapping', stream), {
      publish: [...lisp, snapshot, ...ownPlane('map'), ...followLocations(stream)],
      subscribe: [...lisp, map.resolve, map.list],
    }),
    'route-injector': merge(serviceBase('route-injector', stream), {
      publish: [
        routing.siteRoutesList('*'),
        routing.siteRoutesReconcile('*'),
        snapshot,
        ...ownPlane('route'),
        ...followLocations(stream),
        ...consumerRights(stream, '*', s.event('route', '*', 'RouteConfirmed')),
      ],
      subscribe: [routing.routesList, routing.routesReconcile, routing.siteRoutesList('*'), routing.siteRoutesReconcile('*')],
    }),
    'arp-proxy': merge(serviceBase('arp-proxy', stream), {
      publish: [routing.siteArpStale('*'), routing.siteArpList('*'), snapshot, ...ownPlane('arp'), ...followLocations(stream)],
      subscribe: [routing.arpStale, routing.arpList, routing.siteArpStale('*'), routing.siteArpList('*')],
    }),
    operator: {
      publish: [
        ...requests,
        ...planeRequestSubjects(prefix),
        '$SRV.>',
        `${JS_API}.INFO`,
        `${JS_API}.STREAM.NAMES`,
        `${JS_API}.STREAM.LIST`,
        `${JS_API}.STREAM.INFO.${stream}`,
        `${JS_API}.STREAM.MSG.GET.${stream}`,
        `${JS_API}.CONSUMER.NAMES.${stream}`,
        `${JS_API}.CONSUMER.LIST.${stream}`,
        `${JS_API}.CONSUMER.INFO.${stream}.*`,
      ],
      subscribe: [`${natsInboxPrefix('operator')}.>`, s.eventsWildcard, s.liveWildcard],
      respond: false,
    },
    admin: { publish: ['>'], subscribe: ['>'], respond: true },
  };
}

/** Where a role's nkey seed lives in a directory written by `nats-auth`: `<dir>/<role>.nk`. */
export function natsSeedFileName(role: NatsRole): string {
  return `${role}.nk`;
}

/** What a service connects with: its role (which fixes its inbox) and the file holding its nkey seed. */
export interface NatsCredentials {
  role: NatsRole;
  seedFile: string;
}

/** NATS subject matching: `*` is one token, `>` one or more trailing tokens (a literal wildcard token in `subject` is matched like any other). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** Whether an allow list lets `subject` through. */
export function allows(allowList: readonly string[], subject: string): boolean {
  return allowList.some((pattern) => subjectMatches(pattern, subject));
}
