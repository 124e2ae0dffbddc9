import type { MapReply, MappingRecord } from '@locus/contracts';
import { MapCache } from './map-cache';

const record = (version: number, site = 'dc1', rloc = '192.0.2.11'): MappingRecord => ({ eid: '10.1.0.10/32', vm: 'web-01', site, locators: [{ rloc, priority: 1, weight: 100 }], ttl: 1440, version });
const reply = (r?: MappingRecord, ttl = 1440): MapReply => ({
  type: 'Map-Reply',
  nonce: '0000000000000001',
  eid: '10.1.0.10',
  prefix: r?.eid ?? '10.1.0.10/32',
  negative: !r,
  ...(r ? { record: r } : {}),
  ttl: r ? ttl : 15,
  subscribed: true,
});

function cache() {
  const clock = { now: 0 };
  return { c: new MapCache('branch', () => clock.now), clock };
}

describe('ITR map cache', () => {
  it('given a miss, when the Map-Reply is installed, then lookups hit it until its TTL runs out', () => {
    const { c, clock } = cache();
    expect(c.lookup('10.1.0.10')).toBeUndefined();
    expect(c.installReply(reply(record(1))).outcome).toBe('installed');
    expect(c.lookup('10.1.0.10')?.record).toMatchObject({ version: 1, site: 'dc1' });
    clock.now = 1440 * 60_000;
    expect(c.lookup('10.1.0.10')).toBeUndefined();
    expect(c.expire().map((e) => e.eid)).toEqual(['10.1.0.10/32']);
  });

  it('given v2 cached, when v1 arrives (reordered reply or publication), then it is stale and v2 stays', () => {
    const { c } = cache();
    c.installReply(reply(record(2, 'dc2', '192.0.2.12')));
    expect(c.installReply(reply(record(1))).outcome).toBe('stale');
    expect(c.applyPublish(record(1)).outcome).toBe('stale');
    expect(c.lookup('10.1.0.10')?.record?.version).toBe(2);
  });

  it('given v2 held before its entry expired, when v1 arrives afterwards, then it is still stale (never older than ever held)', () => {
    const { c, clock } = cache();
    c.installReply(reply(record(2, 'dc2', '192.0.2.12'), 1));
    clock.now = 120_000;
    c.expire();
    expect(c.installReply(reply(record(1))).outcome).toBe('stale');
    expect(c.installReply(reply(record(2, 'dc2', '192.0.2.12'))).outcome).toBe('installed'); // the same version on the next miss
  });

  it('given v1 cached and subscribed, when v2 is published, then it is installed; the same publication again is a refresh', () => {
    const { c } = cache();
    c.installReply(reply(record(1)));
    expect(c.applyPublish(record(2, 'dc2', '192.0.2.12'))).toMatchObject({ outcome: 'installed', entry: { via: 'publish', record: { site: 'dc2' } } });
    expect(c.applyPublish(record(2, 'dc2', '192.0.2.12')).outcome).toBe('refreshed');
  });

  it('given nothing cached, when a publication arrives, then it is not held (the ITR restarted) and nothing is installed', () => {
    const { c } = cache();
    expect(c.applyPublish(record(2)).outcome).toBe('not-held');
    expect(c.size).toBe(0);
  });

  it('given a Map-Request in flight, when a newer publication overtakes its reply, then the publication is installed and the late reply is stale', () => {
    const { c } = cache();
    expect(c.applyPublish(record(2, 'dc2', '192.0.2.12'), true).outcome).toBe('installed');
    expect(c.installReply(reply(record(1))).outcome).toBe('stale');
    expect(c.lookup('10.1.0.10')?.record?.version).toBe(2);
  });

  it('given a mapping cached, when a negative reply arrives, then the mapping is kept', () => {
    const { c } = cache();
    c.installReply(reply(record(1)));
    expect(c.installReply(reply(undefined)).outcome).toBe('kept');
    expect(c.lookup('10.1.0.10')?.negative).toBe(false);
  });

  it('given a negative entry, when the mapping arrives, then it replaces the negative entry', () => {
    const { c } = cache();
    expect(c.installReply(reply(undefined))).toMatchObject({ outcome: 'installed', entry: { negative: true, ttl: 15 } });
    expect(c.installReply(reply(record(1))).outcome).toBe('installed');
    expect(c.lookup('10.1.0.10')?.negative).toBe(false);
  });

  it('given an SMR, then only an ITR holding an older version or a negative entry asks again', () => {
    const { c } = cache();
    expect(c.wantsRefresh('10.1.0.10/32', 2)).toBe(false);
    c.installReply(reply(undefined));
    expect(c.wantsRefresh('10.1.0.10/32', 2)).toBe(true);
    c.installReply(reply(record(1)));
    expect(c.wantsRefresh('10.1.0.10/32', 2)).toBe(true);
    c.installReply(reply(record(2)));
    expect(c.wantsRefresh('10.1.0.10/32', 2)).toBe(false);
  });
});
