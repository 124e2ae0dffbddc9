import { EtrClaims } from './etr-claims';

const claims = (site = 'dc1') => new EtrClaims(site, (eid) => eid.startsWith('10.1.0.') || (site === 'dc1' && eid.startsWith('10.11.0.')));

describe('ETR claims follow the location events', () => {
  it('given a VM placed here, then its /32 is claimed at its location version; repeated, it is a duplicate', () => {
    const c = claims();
    expect(c.learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 })).toBe('claimed');
    expect(c.learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 })).toBe('duplicate');
    expect(c.claims()).toEqual([{ eid: '10.1.0.10/32', vm: 'web-01', version: 1 }]);
  });

  it('given a claimed VM relocated away, then the claim ends; a late older event does not bring it back', () => {
    const c = claims();
    c.learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 });
    expect(c.learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc2', locationVersion: 2 })).toBe('released');
    expect(c.learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 })).toBe('stale');
    expect(c.size).toBe(0);
  });

  it('given events out of order (v2 before v1), then only v2 counts', () => {
    const c = claims('dc2');
    expect(c.learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc2', locationVersion: 2 })).toBe('claimed');
    expect(c.learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 })).toBe('stale');
    expect(c.claim('10.1.0.10/32')?.version).toBe(2);
  });

  it('given a VM at this site outside what the site may claim, then it is not claimed', () => {
    const c = claims('dc2');
    expect(c.learn({ vm: 'db-01', ip: '10.11.0.10', site: 'dc2', locationVersion: 2 })).toBe('not-allowed');
    expect(c.size).toBe(0);
  });

  it('given a Map-Notify that the EID is away at a newer version, then the claim ends and the notice is kept; the later event changes nothing, an older one claims nothing', () => {
    const c = claims();
    c.learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 });
    expect(c.notifiedAway({ eid: '10.1.0.10/32', vm: 'web-01', version: 2, site: 'dc2', at: 5 })).toBe('released');
    expect(c.away.get('10.1.0.10/32')).toMatchObject({ version: 2, site: 'dc2' });
    expect(c.learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 })).toBe('stale');
    expect(c.learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc2', locationVersion: 2 })).toBe('not-mine');
    expect(c.size).toBe(0);
  });

  it('given a claim at v3, when an old away notice for v2 arrives, then the claim is kept', () => {
    const c = claims();
    c.learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 3 });
    expect(c.notifiedAway({ eid: '10.1.0.10/32', vm: 'web-01', version: 2, site: 'dc2', at: 5 })).toBe('kept');
    expect(c.size).toBe(1);
  });

  describe('the ETRs of a process share one table of location versions', () => {
    const shared = () => {
      const versions = new Map<string, number>();
      return { versions, dc1: new EtrClaims('dc1', () => true, versions), dc2: new EtrClaims('dc2', () => true, versions) };
    };

    it('given a VM claimed at dc1, when it moves to dc2, then dc1 releases and dc2 claims, whichever learns it first', () => {
      for (const order of [
        ['dc1', 'dc2'],
        ['dc2', 'dc1'],
      ] as const) {
        const p = shared();
        for (const site of order) p[site].learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 });
        const moved = { vm: 'web-01', ip: '10.1.0.10', site: 'dc2', locationVersion: 2 };
        const outcomes = Object.fromEntries(order.map((site) => [site, p[site].learn(moved)]));
        expect(outcomes).toEqual({ dc1: 'released', dc2: 'claimed' });
        expect(p.versions.get('web-01')).toBe(2);
      }
    });

    it('given the move learned by both, when the event comes again or an older one arrives, then nothing changes at either site', () => {
      const p = shared();
      p.dc1.learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 });
      p.dc2.learn({ vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 });
      const moved = { vm: 'web-01', ip: '10.1.0.10', site: 'dc2', locationVersion: 2 };
      p.dc1.learn(moved);
      p.dc2.learn(moved);
      expect([p.dc1.learn(moved), p.dc2.learn(moved)]).toEqual(['duplicate', 'duplicate']);
      const old = { vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 };
      expect([p.dc1.learn(old), p.dc2.learn(old)]).toEqual(['stale', 'stale']);
      expect([p.dc1.size, p.dc2.claim('10.1.0.10/32')?.version]).toEqual([0, 2]);
    });
  });
});
