import { MappingRegistry } from './registry';

const rec = (eid: string, version: number, rloc = '192.0.2.11') => ({ eid, vm: 'web-01', locators: [{ rloc, priority: 1, weight: 100 }], ttl: 1440, version });

describe('mapping registry', () => {
  it('given nothing, when an EID is registered, then it is created and matches its address', () => {
    const r = new MappingRegistry(180_000);
    expect(r.apply('dc1', rec('10.1.0.10/32', 1), 0)).toMatchObject({ outcome: 'created' });
    expect(r.match('10.1.0.10', 1)).toMatchObject({ site: 'dc1', version: 1 });
    expect(r.match('10.1.0.11', 1)).toBeUndefined();
  });

  it('given v1 at dc1, when dc2 registers v2, then it moved and the previous holder is returned', () => {
    const r = new MappingRegistry(180_000);
    r.apply('dc1', rec('10.1.0.10/32', 1), 0);
    expect(r.apply('dc2', rec('10.1.0.10/32', 2, '192.0.2.12'), 10)).toMatchObject({ outcome: 'moved', previous: { site: 'dc1', version: 1 }, entry: { site: 'dc2', version: 2 } });
  });

  it('given v2, when v1 arrives late (reordered), then it is stale and nothing changes', () => {
    const r = new MappingRegistry(180_000);
    r.apply('dc2', rec('10.1.0.10/32', 2, '192.0.2.12'), 0);
    const before = JSON.stringify(r.entries(1));
    expect(r.apply('dc1', rec('10.1.0.10/32', 1), 1)).toEqual({ outcome: 'stale', held: { site: 'dc2', version: 2 } });
    expect(JSON.stringify(r.entries(1))).toBe(before);
  });

  it('given v2 at dc2, when dc1 claims the same version, then it is stale (one site per version)', () => {
    const r = new MappingRegistry(180_000);
    r.apply('dc2', rec('10.1.0.10/32', 2, '192.0.2.12'), 0);
    expect(r.apply('dc1', rec('10.1.0.10/32', 2), 1)).toMatchObject({ outcome: 'stale' });
  });

  it('given a registration, when refreshed in time, then it lives on; when not, then it expires', () => {
    const r = new MappingRegistry(180_000);
    r.apply('dc1', rec('10.1.0.10/32', 1), 0);
    expect(r.apply('dc1', rec('10.1.0.10/32', 1), 60_000)).toMatchObject({ outcome: 'refreshed' });
    expect(r.expire(180_000)).toEqual([]);
    expect(r.expire(240_000).map((e) => e.eid)).toEqual(['10.1.0.10/32']);
    expect(r.match('10.1.0.10', 240_001)).toBeUndefined();
  });

  it('given an expired registration, when an older version is registered, then it is still stale (versions never go back)', () => {
    const r = new MappingRegistry(1000);
    r.apply('dc2', rec('10.1.0.10/32', 2, '192.0.2.12'), 0);
    r.expire(5000);
    expect(r.apply('dc1', rec('10.1.0.10/32', 1), 5000)).toMatchObject({ outcome: 'stale' });
    expect(r.apply('dc2', rec('10.1.0.10/32', 2, '192.0.2.12'), 5000)).toMatchObject({ outcome: 'created' });
  });

  it('given a registration past its expiry but not yet swept, then lookups do not return it', () => {
    const r = new MappingRegistry(1000);
    r.apply('dc1', rec('10.1.0.10/32', 1), 0);
    expect(r.get('10.1.0.10/32', 1000)).toBeUndefined();
    expect(r.match('10.1.0.10', 1000)).toBeUndefined();
  });

  it('given a /24 and a /32, when matching, then the longest prefix answers', () => {
    const r = new MappingRegistry(180_000);
    r.apply('dc1', rec('10.1.0.0/24', 1), 0);
    r.apply('dc2', rec('10.1.0.10/32', 3, '192.0.2.12'), 0);
    expect(r.match('10.1.0.10', 1)?.site).toBe('dc2');
    expect(r.match('10.1.0.99', 1)?.site).toBe('dc1');
  });
});
