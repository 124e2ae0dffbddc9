import type { PlaneEvent } from './planes';
import { planeSubject } from './planes';
import { subjects } from './subjects';
import { decodeHostEventFrom, decodeLocationEventFrom, decodePlaneEventFrom, decodeStreamEventFrom, decodeVmEventFrom, EventRejected, isOwnEventSubject, type EventRejectReason } from './wire-events';

const prefix = 'lx';
const s = subjects(prefix);
const moveId = '0c4a83df-f936-4580-b8d1-464644c93c97';

const relocated = (vm = 'web-01') => ({
  id: 'e-1',
  streamId: `vm:${vm}`,
  streamVersion: 5,
  position: '12',
  type: 'VmRelocated',
  data: { moveId, vm, ip: '10.1.0.10', mac: '52:54:00:00:00:01', from: { hypervisor: 'dc1-hv1', site: 'dc1' }, to: { hypervisor: 'dc2-hv1', site: 'dc2' }, locationVersion: 2 },
  metadata: { correlationId: moveId, component: 'mobility-manager', at: '2024-01-01T00:00:00.000Z' },
  recordedAt: '2024-01-01T00:00:00.000Z',
});

const stopped = () => ({ ...relocated(), type: 'VmStoppedAtSource', data: { moveId, hypervisor: 'dc1-hv1', durationMs: 10 } });

const planeEvent = (over: Partial<PlaneEvent> = {}): PlaneEvent => ({
  id: 'RouteConfirmed:dc2:10.1.0.10/32:v2:e-1',
  plane: 'route',
  type: 'RouteConfirmed',
  component: 'route-injector:dc2',
  vm: 'web-01',
  eid: '10.1.0.10/32',
  locationVersion: 2,
  at: '2024-01-01T00:00:00.000Z',
  data: { site: 'dc2', prefix: '10.1.0.10/32', nextHop: '198.51.100.12', ms: 4, via: 'core-rib' },
  ...over,
});

function rejection(decode: () => unknown): { reason: EventRejectReason; message: string } {
  try {
    decode();
  } catch (err) {
    if (err instanceof EventRejected) return { reason: err.reason, message: err.message };
    throw err;
  }
  throw new Error('decoded, but should have been rejected');
}

describe('decodeVmEventFrom / decodeLocationEventFrom', () => {
  it('given a VmRelocated on its own location subject, when decoded, then it is the event', () => {
    const e = decodeLocationEventFrom(prefix, s.vmEvent('web-01', 'VmRelocated'), relocated());
    expect(e.type).toBe('VmRelocated');
    expect(e.streamId).toBe('vm:web-01');
  });

  it('given a copy of web-01 VmRelocated on web-02 subject, then it is dropped as wrong-source', () => {
    const r = rejection(() => decodeLocationEventFrom(prefix, s.vmEvent('web-02', 'VmRelocated'), relocated()));
    expect(r.reason).toBe('wrong-source');
    expect(r.message).toContain(s.vmEvent('web-01', 'VmRelocated'));
  });

  it('given an event whose data names another VM than its stream, then it is wrong-source', () => {
    const forged = { ...relocated('web-02'), data: { ...relocated('web-02').data, vm: 'web-01' } };
    expect(rejection(() => decodeVmEventFrom(prefix, s.vmEvent('web-02', 'VmRelocated'), forged)).reason).toBe('wrong-source');
  });

  it('given an event of another type than its subject, then it is wrong-source', () => {
    expect(rejection(() => decodeVmEventFrom(prefix, s.vmEvent('web-01', 'VmStartedAtTarget'), relocated())).reason).toBe('wrong-source');
    expect(rejection(() => decodeVmEventFrom(prefix, `${prefix}.evt.vm.web-01.VmRelocated`, relocated())).reason).toBe('wrong-source');
  });

  it('given a step event, then the location decoder refuses it and the VM decoder takes it', () => {
    expect(decodeVmEventFrom(prefix, s.vmEvent('web-01', 'VmStoppedAtSource'), stopped()).type).toBe('VmStoppedAtSource');
    expect(rejection(() => decodeLocationEventFrom(prefix, s.vmEvent('web-01', 'VmStoppedAtSource'), stopped())).reason).toBe('wrong-source');
  });

  it('given data that breaks its type schema, or no envelope, then it is undecodable', () => {
    const bad = { ...relocated(), data: { ...relocated().data, locationVersion: -1 } };
    expect(rejection(() => decodeLocationEventFrom(prefix, s.vmEvent('web-01', 'VmRelocated'), bad)).reason).toBe('undecodable');
    expect(rejection(() => decodeLocationEventFrom(prefix, s.vmEvent('web-01', 'VmRelocated'), { type: 'VmRelocated' })).reason).toBe('undecodable');
  });

  it('given a VM event under another prefix, then it is wrong-source', () => {
    expect(rejection(() => decodeVmEventFrom(prefix, subjects('other').vmEvent('web-01', 'VmRelocated'), relocated())).reason).toBe('wrong-source');
  });
});

describe('isOwnEventSubject', () => {
  it("given headers naming a VM's stream and type, then only that event's own subject matches", () => {
    expect(isOwnEventSubject(prefix, `${prefix}.evt.vm.web-01.loc.VmRelocated`, 'vm:web-01', 'VmRelocated')).toBe(true);
    expect(isOwnEventSubject(prefix, `${prefix}.evt.vm.web-01.MoveStarted`, 'vm:web-01', 'MoveStarted')).toBe(true);
    expect(isOwnEventSubject(prefix, `${prefix}.evt.vm.web-02.loc.VmRelocated`, 'vm:web-01', 'VmRelocated')).toBe(false);
    expect(isOwnEventSubject(prefix, `${prefix}.evt.vm.web-01.MoveStarted`, 'vm:web-01', 'VmRelocated')).toBe(false);
    expect(isOwnEventSubject(prefix, `${prefix}.evt.host.dc1-hv1.HostDeclaredFailed`, 'host:dc1-hv1', 'HostDeclaredFailed')).toBe(true);
  });
});

describe('decodePlaneEventFrom', () => {
  it('given a route event on the route plane subject of its VM, then it is the event', () => {
    expect(decodePlaneEventFrom(prefix, planeSubject(prefix, 'route', 'web-01', 'RouteConfirmed'), planeEvent()).type).toBe('RouteConfirmed');
  });

  it('given a route event on the arp plane subject, then it is wrong-source', () => {
    const r = rejection(() => decodePlaneEventFrom(prefix, planeSubject(prefix, 'arp', 'web-01', 'RouteConfirmed'), planeEvent()));
    expect(r.reason).toBe('wrong-source');
    expect(r.message).toContain('arp');
  });

  it('given an outcome, it is on the stored class (evt.); given a step, on the live class (live.); each on the other class is wrong-source', () => {
    expect(planeSubject(prefix, 'route', 'web-01', 'RouteConfirmed')).toBe(`${prefix}.evt.route.web-01.RouteConfirmed`);
    expect(planeSubject(prefix, 'route', 'web-01', 'RouteAdvertised')).toBe(`${prefix}.live.route.web-01.RouteAdvertised`);
    const advertised = planeEvent({
      type: 'RouteAdvertised',
      data: { site: 'dc2', prefix: '10.1.0.10/32', nextHop: '198.51.100.12', localPref: 101, largeCommunity: '65000:1:2', cause: 'relocated', reason: 'here' },
    });
    expect(decodeStreamEventFrom(prefix, `${prefix}.live.route.web-01.RouteAdvertised`, advertised).type).toBe('RouteAdvertised');
    expect(rejection(() => decodePlaneEventFrom(prefix, `${prefix}.evt.route.web-01.RouteAdvertised`, advertised)).reason).toBe('wrong-source');
    expect(rejection(() => decodeStreamEventFrom(prefix, `${prefix}.live.route.web-01.RouteConfirmed`, planeEvent())).reason).toBe('wrong-source');
  });

  it('given a subject of another type or another VM, then it is wrong-source', () => {
    expect(rejection(() => decodePlaneEventFrom(prefix, planeSubject(prefix, 'route', 'web-01', 'RouteWithdrawn'), planeEvent())).reason).toBe('wrong-source');
    expect(rejection(() => decodePlaneEventFrom(prefix, planeSubject(prefix, 'route', 'web-02', 'RouteConfirmed'), planeEvent())).reason).toBe('wrong-source');
  });

  it('given an event about an EID only, then any entity token is taken', () => {
    const e = planeEvent({ vm: undefined, plane: 'map', type: 'Registered', data: { site: 'dc2', rloc: '198.51.100.12', kind: 'moved', previousSite: 'dc1', publishTo: [], smrTo: ['branch'] } });
    delete (e as { vm?: string }).vm;
    expect(decodePlaneEventFrom(prefix, planeSubject(prefix, 'map', '10-1-0-10_32', 'Registered'), e).plane).toBe('map');
  });

  it("given a whole site's RoutesReconciled, then it is taken on that site's subject only", () => {
    const e = planeEvent({
      id: 'RoutesReconciled:dc1:start:40:x',
      type: 'RoutesReconciled',
      component: 'route-injector:dc1',
      locationVersion: 0,
      data: { site: 'dc1', trigger: 'start', through: 40, held: [] },
    });
    delete (e as { vm?: string }).vm;
    delete (e as { eid?: string }).eid;
    expect(decodePlaneEventFrom(prefix, planeSubject(prefix, 'route', 'dc1', 'RoutesReconciled'), e).data).toMatchObject({ site: 'dc1', through: 40 });
    expect(rejection(() => decodePlaneEventFrom(prefix, planeSubject(prefix, 'route', 'dc2', 'RoutesReconciled'), e))).toMatchObject({
      reason: 'wrong-source',
      message: expect.stringContaining('a RoutesReconciled of site dc1 came on lx.evt.route.dc2.RoutesReconciled'),
    });
    const arp = { ...e, id: 'ArpReconciled:dc1:start:40:x', plane: 'arp' as const, type: 'ArpReconciled', component: 'arp-proxy:dc1' };
    expect(decodePlaneEventFrom(prefix, planeSubject(prefix, 'arp', 'dc1', 'ArpReconciled'), arp).data).toMatchObject({ site: 'dc1', through: 40 });
    expect(rejection(() => decodePlaneEventFrom(prefix, planeSubject(prefix, 'arp', 'dc2', 'ArpReconciled'), arp)).reason).toBe('wrong-source');
    const map = { ...e, id: 'MappingReconciled:etr:dc1:start:40:x', plane: 'map' as const, type: 'MappingReconciled', component: 'etr:dc1', data: { ...e.data, eids: 3 } };
    expect(decodePlaneEventFrom(prefix, planeSubject(prefix, 'map', 'dc1', 'MappingReconciled'), map).data).toMatchObject({ site: 'dc1', through: 40, eids: 3 });
    expect(rejection(() => decodePlaneEventFrom(prefix, planeSubject(prefix, 'map', 'dc2', 'MappingReconciled'), map)).reason).toBe('wrong-source');
    expect(rejection(() => decodePlaneEventFrom(prefix, planeSubject(prefix, 'map', 'web-01', 'MappingReconciled'), { ...map, vm: 'web-01' })).reason).toBe('wrong-source');
  });

  it('given a fact whose data is not its type’s (a field missing, or of another type), then it is undecodable', () => {
    const missing = rejection(() =>
      decodePlaneEventFrom(prefix, planeSubject(prefix, 'route', 'web-01', 'RouteConfirmed'), planeEvent({ data: { site: 'dc2', prefix: '10.1.0.10/32', nextHop: 'x', via: 'core-rib' } })),
    );
    expect(missing.reason).toBe('undecodable');
    expect(missing.message).toContain('ms');
    const wrong = planeEvent({ plane: 'arp', type: 'ArpConverged', data: { site: 'dc2', rule: 'leaves-domain', proxy: 'install', stale: '2', repaired: 2, ms: 5 } });
    expect(rejection(() => decodePlaneEventFrom(prefix, planeSubject(prefix, 'arp', 'web-01', 'ArpConverged'), wrong)).reason).toBe('undecodable');
  });

  it('given a type its plane does not have, then it is undecodable', () => {
    const r = rejection(() => decodePlaneEventFrom(prefix, planeSubject(prefix, 'route', 'web-01', 'RouteTeleported'), planeEvent({ type: 'RouteTeleported' })));
    expect(r).toMatchObject({ reason: 'undecodable', message: 'unknown route plane event type RouteTeleported' });
  });

  it('given a known fact, then its data narrows with its plane and type, and fields of a newer publisher are kept', () => {
    const e = decodePlaneEventFrom(
      prefix,
      planeSubject(prefix, 'route', 'web-01', 'RouteConfirmed'),
      planeEvent({ data: { site: 'dc2', prefix: '10.1.0.10/32', nextHop: 'n', ms: 4, via: 'core-rib', extra: 1 } }),
    );
    if (e.plane !== 'route' || e.type !== 'RouteConfirmed') throw new Error('not narrowed');
    const ms: number = e.data.ms;
    expect(ms).toBe(4);
    expect(e.data).toMatchObject({ extra: 1 });
  });

  it('given an envelope without a plane, then it is undecodable', () => {
    expect(rejection(() => decodePlaneEventFrom(prefix, planeSubject(prefix, 'route', 'web-01', 'RouteConfirmed'), { ...planeEvent(), plane: 'bgp' })).reason).toBe('undecodable');
  });
});

describe('decodeHostEventFrom / decodeStreamEventFrom', () => {
  const failed = {
    id: 'h-1',
    streamId: 'host:dc1-hv1',
    streamVersion: 1,
    position: '3',
    type: 'HostDeclaredFailed',
    data: { hypervisor: 'dc1-hv1', silentMs: 15000, vms: ['web-01'] },
    metadata: relocated().metadata,
    recordedAt: relocated().recordedAt,
  };

  it('given a host event on its host subject, then it is the event', () => {
    expect(decodeHostEventFrom(prefix, s.streamEvent('host:dc1-hv1', 'HostDeclaredFailed'), failed).data.hypervisor).toBe('dc1-hv1');
  });

  it('given a host event about another host than its subject, then it is wrong-source', () => {
    expect(rejection(() => decodeHostEventFrom(prefix, s.streamEvent('host:dc2-hv1', 'HostDeclaredFailed'), failed)).reason).toBe('wrong-source');
    const named = { ...failed, data: { ...failed.data, hypervisor: 'dc2-hv1' } };
    expect(rejection(() => decodeHostEventFrom(prefix, s.streamEvent('host:dc1-hv1', 'HostDeclaredFailed'), named)).reason).toBe('wrong-source');
  });

  it('dispatches by the subject category, and refuses a subject outside the event classes', () => {
    expect(decodeStreamEventFrom(prefix, s.vmEvent('web-01', 'VmRelocated'), relocated())).toMatchObject({ type: 'VmRelocated' });
    expect(decodeStreamEventFrom(prefix, s.streamEvent('host:dc1-hv1', 'HostDeclaredFailed'), failed)).toMatchObject({ type: 'HostDeclaredFailed' });
    expect(decodeStreamEventFrom(prefix, planeSubject(prefix, 'route', 'web-01', 'RouteConfirmed'), planeEvent())).toMatchObject({ plane: 'route' });
    expect(rejection(() => decodeStreamEventFrom(prefix, `${prefix}.evt.bgp.web-01.RouteConfirmed`, planeEvent())).reason).toBe('wrong-source');
    expect(rejection(() => decodeStreamEventFrom(prefix, planeSubject(prefix, 'arp', 'web-01', 'RouteConfirmed'), planeEvent())).reason).toBe('wrong-source');
  });
});
