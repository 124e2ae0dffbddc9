import { locationEventFixtures as ev } from '@locus/contracts';
import { RouteTracker, SiteOriginators } from '@locus/domain';
import { routeAudience } from './route-facts';

describe('routeAudience: the route injectors a location event goes to', () => {
  it('given a relocation, then the site left and the site reached', () => {
    expect(routeAudience(ev.relocated('web-01', ['dc1', 'dc1-hv1'], ['dc2', 'dc2-hv1']), new RouteTracker(), new SiteOriginators())).toEqual(['dc1', 'dc2']);
  });

  it('given a third site that still originates the /32 (an old path), when the VM moves on, then that site hears it too', () => {
    const originators = new SiteOriginators();
    originators.add('10.1.0.10/32', 'dc3');
    expect(routeAudience(ev.relocated('web-01', ['dc1', 'dc1-hv1'], ['dc2', 'dc2-hv1']), new RouteTracker(), originators)).toEqual(['dc1', 'dc2', 'dc3']);
  });

  it('given a start or a stop, which names no site, then the site the VM is at (as tracked before the event) and the originators', () => {
    const tracker = new RouteTracker();
    tracker.apply({ type: 'placed', vm: 'web-01', ip: '10.1.0.10', site: 'dc2', locationVersion: 2 });
    const originators = new SiteOriginators();
    originators.add('10.1.0.10/32', 'dc1');
    expect(routeAudience(ev.startedAtTarget('web-01', 'dc2-hv1'), tracker, originators)).toEqual(['dc2', 'dc1']);
    expect(routeAudience(ev.failed('web-01'), tracker, originators)).toEqual(['dc2', 'dc1']);
  });

  it('given a stop of a VM the process does not know, then no site', () => {
    expect(routeAudience(ev.failed('web-99'), new RouteTracker(), new SiteOriginators())).toEqual([]);
  });

  it('given a failed move that leaves the VM running at the source (no route fact), then no site', () => {
    expect(routeAudience(ev.failed('web-01', false), new RouteTracker(), new SiteOriginators())).toEqual([]);
  });
});
