import type { PlaneEvent } from '@locus/contracts';
import { describePlaneEvent } from './move-timeline';

const event = (type: string, data: Record<string, unknown>, extra: Partial<PlaneEvent> = {}): PlaneEvent =>
  ({ id: `${type}-1`, plane: 'route', type, component: 'test', locationVersion: 2, at: '2026-12-01T00:00:00.000Z', data, ...extra }) as PlaneEvent;

describe('a plane event in words (describePlaneEvent)', () => {
  it('given a start-up reconcile of a site, when described, then it names the plane, the stream position it vouches for and what it holds', () => {
    expect(describePlaneEvent(event('RoutesReconciled', { site: 'dc2', trigger: 'start', through: 812, held: [], routes: 11 }))).toBe(
      'dc2 route injector agrees with the location events through #812 (at start)',
    );
    expect(describePlaneEvent(event('MappingReconciled', { site: 'dc1', trigger: 'start', through: 40, held: ['10.1.0.14/32', '10.1.0.15/32'], eids: 9 }, { plane: 'map' }))).toBe(
      'dc1 mapping (ETR) agrees with the location events through #40 (at start, 2 held)',
    );
    expect(describePlaneEvent(event('ArpReconciled', { site: 'branch', trigger: 'start', through: 7, held: [] }, { plane: 'arp' }))).toBe(
      'branch ARP proxy agrees with the location events through #7 (at start)',
    );
  });

  it('given a route a reconcile fixed and a registration that expired, when described, then each says what happened to which address', () => {
    expect(describePlaneEvent(event('ReconcileFixed', { site: 'dc2', prefix: '10.1.0.11/32', fix: 'withdrawn', reason: 'the VM runs at dc1' }))).toBe(
      'dc2 reconcile withdrawn 10.1.0.11/32: the VM runs at dc1',
    );
    expect(describePlaneEvent(event('RegistrationExpired', { site: 'dc1' }, { plane: 'map', eid: '10.1.0.10/32' }))).toBe('registration of 10.1.0.10/32 v2 by dc1 expired (not refreshed)');
  });

  it('given a type it has no words for, when described, then it is named as it is', () => {
    expect(describePlaneEvent(event('SomethingNew', {}))).toBe('SomethingNew');
  });
});
