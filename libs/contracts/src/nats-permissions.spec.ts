import { mappingSubjects } from './mapping';
import { allows, MANAGER_DURABLES, NATS_ROLES, natsInboxPrefix, natsPermissions, planeRequestSubjects, SERVICE_ROLES, subjectMatches, type NatsRole } from './nats-permissions';
import { planeSubject } from './planes';
import { routingSubjects } from './routing';
import { AGENT_ACTIONS, REQUEST_ENDPOINTS, subjects, type RequestEndpoint } from './subjects';

const prefix = 'lx';
const stream = 'LX_EVENTS';
const perms = natsPermissions(prefix, stream);
const s = subjects(prefix);
const publishers = (subject: string) => NATS_ROLES.filter((r) => allows(perms[r].publish, subject));
const subscribers = (subject: string) => NATS_ROLES.filter((r) => allows(perms[r].subscribe, subject));

describe('subjectMatches', () => {
  it.each([
    ['a.*.c', 'a.b.c', true],
    ['a.*.c', 'a.b.d', false],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['a.b', 'a.b.c', false],
    ['a.*.loc.*', 'a.*.loc.*', true],
  ])('%s matches %s: %s', (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });
});

describe('natsPermissions', () => {
  it('lets only the manager (its outbox relay) publish VM, location and host events', () => {
    expect(publishers(s.vmEvent('web-01', 'VmRelocated'))).toEqual(['manager', 'admin']);
    expect(s.vmEvent('web-01', 'VmRelocated')).toContain('.loc.');
    expect(publishers(s.vmEvent('web-01', 'VmStoppedAtSource'))).toEqual(['manager', 'admin']);
    expect(publishers(s.streamEvent('host:dc1-hv1', 'HostDeclaredFailed'))).toEqual(['manager', 'admin']);
  });

  it('lets only the manager call agent steps; the agents may also ask each other for inventory', () => {
    for (const action of AGENT_ACTIONS.filter((a) => a !== 'inventory')) expect(publishers(s.agent('dc1-hv1', action))).toEqual(['manager', 'admin']);
    expect(publishers(s.agent('dc1-hv1', 'inventory'))).toEqual(['manager', 'agent', 'admin']);
    expect(subscribers(s.agent('dc1-hv1', 'start'))).toEqual(['agent', 'admin']);
  });

  it('lets each plane publish its own plane events only', () => {
    expect(publishers(planeSubject(prefix, 'map', 'web-01', 'CacheUpdated'))).toEqual(['mapping', 'admin']);
    expect(publishers(planeSubject(prefix, 'route', 'web-01', 'RouteConfirmed'))).toEqual(['route-injector', 'admin']);
    expect(publishers(planeSubject(prefix, 'arp', 'web-01', 'ArpConverged'))).toEqual(['arp-proxy', 'admin']);
  });

  it('lets the operator call every request endpoint and the planes public ones, and publish nothing else of the prefix', () => {
    const requests = (Object.keys(REQUEST_ENDPOINTS) as RequestEndpoint[]).map((e) => s.request(e));
    for (const subject of [...requests, ...planeRequestSubjects(prefix)]) expect(allows(perms.operator.publish, subject)).toBe(true);
    const ofPrefix = perms.operator.publish.filter((p) => p.startsWith(`${prefix}.`));
    expect(ofPrefix.sort()).toEqual([...requests, ...planeRequestSubjects(prefix)].sort());
    expect(allows(perms.operator.publish, s.heartbeat('dc1-hv1'))).toBe(false);
    expect(allows(perms.operator.publish, mappingSubjects(prefix).register)).toBe(false);
    expect(allows(perms.operator.publish, routingSubjects(prefix).siteRoutesReconcile('dc1'))).toBe(false);
    expect(allows(perms.operator.subscribe, s.vmEvent('web-01', 'VmRelocated'))).toBe(true);
    expect(perms.operator.respond).toBe(false);
  });

  it('serves each request endpoint from its own service only', () => {
    expect(subscribers(s.request('vm.move'))).toEqual(['manager', 'admin']);
    expect(subscribers(s.heartbeat('dc1-hv1'))).toEqual(['manager', 'admin']);
    expect(subscribers(mappingSubjects(prefix).list)).toEqual(['mapping', 'admin']);
    expect(subscribers(routingSubjects(prefix).routesList)).toEqual(['route-injector', 'admin']);
    expect(subscribers(routingSubjects(prefix).arpStale)).toEqual(['arp-proxy', 'admin']);
    expect(subscribers(mappingSubjects(prefix).register)).toEqual(['mapping', 'admin']);
  });

  it('lets every follower ask vm.list and heartbeats come from agents only', () => {
    expect(publishers(s.request('vm.list'))).toEqual(['agent', 'mapping', 'route-injector', 'arp-proxy', 'operator', 'admin']);
    expect(publishers(s.heartbeat('dc1-hv1'))).toEqual(['agent', 'admin']);
  });

  it('gives each service role an inbox nobody else may read, and lets it answer the requests it receives', () => {
    for (const role of SERVICE_ROLES) {
      const inbox = `${natsInboxPrefix(role)}.abc.1`;
      expect(subscribers(inbox)).toEqual([role, 'admin']);
      expect(perms[role].respond).toBe(true);
    }
    expect(subscribers('_INBOX.abc.1')).toEqual(['operator', 'admin']);
  });

  it('lets only the manager create or change the stream, and its two durables exactly', () => {
    expect(publishers(`$JS.API.STREAM.CREATE.${stream}`)).toEqual(['manager', 'admin']);
    expect(publishers(`$JS.API.STREAM.UPDATE.${stream}`)).toEqual(['manager', 'admin']);
    expect(publishers(`$JS.API.STREAM.DELETE.${stream}`)).toEqual(['admin']);
    expect(publishers(`$JS.API.CONSUMER.CREATE.${stream}.${MANAGER_DURABLES.saga}.${s.vmEvents}`)).toContain('manager');
    expect(allows(perms.manager.publish, `$JS.API.CONSUMER.CREATE.${stream}.some-other.${s.vmEvents}`)).toBe(false);
    expect(allows(perms.manager.publish, `$JS.ACK.${stream}.${MANAGER_DURABLES.convergence}.1.2.3.4.5`)).toBe(true);
  });

  it('lets a follower create its feed consumer with the location filter only (route injectors also RouteConfirmed)', () => {
    const create = (durable: string, filter: string) => `$JS.API.CONSUMER.CREATE.${stream}.${durable}.${filter}`;
    const followers: NatsRole[] = ['agent', 'mapping', 'route-injector', 'arp-proxy'];
    for (const role of followers) {
      expect(allows(perms[role].publish, create('x', s.locationEvents))).toBe(true);
      expect(allows(perms[role].publish, create('x', s.eventsWildcard))).toBe(false);
      expect(allows(perms[role].publish, create('x', s.vmEvents))).toBe(false);
    }
    const confirmed = s.event('route', '*', 'RouteConfirmed');
    expect(publishers(create('x', confirmed))).toEqual(['route-injector', 'admin']);
    expect(allows(perms.operator.publish, create('x', s.locationEvents))).toBe(false);
  });

  it('derives every subject from the prefix: nothing of another prefix is allowed', () => {
    const other = subjects('other');
    for (const role of NATS_ROLES.filter((r) => r !== 'admin')) {
      expect(allows(perms[role].publish, other.vmEvent('web-01', 'VmRelocated'))).toBe(false);
      expect(allows(perms[role].publish, other.request('vm.move'))).toBe(false);
    }
  });
});
