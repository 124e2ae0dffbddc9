import { RequesterIndex, SubscriptionIndex } from './subscriptions';

describe('subscription index', () => {
  it('given subscriptions, when asked for an EID, then only its subscribers come back', () => {
    const s = new SubscriptionIndex();
    expect(s.subscribe('branch', '10.1.0.10/32')).toBe(true);
    expect(s.subscribe('branch', '10.1.0.10/32')).toBe(false);
    s.subscribe('dc2', '10.1.0.10/32');
    s.subscribe('dc2', '10.1.0.11/32');
    expect(s.subscribers('10.1.0.10/32').sort()).toEqual(['branch', 'dc2']);
    expect(s.subscribers('10.9.9.9/32')).toEqual([]);
    expect(s.size).toBe(3);
    expect(s.unsubscribe('dc2', '10.1.0.10/32')).toBe(true);
    expect(s.eidsOf('dc2')).toEqual(['10.1.0.11/32']);
    expect(s.size).toBe(2);
  });
});

describe('requester index (SMR targets)', () => {
  it('given ITRs that resolved an EID, when asked while their copies live, then they are returned; after their TTL, not', () => {
    const r = new RequesterIndex();
    r.record('dc1', '10.1.0.10/32', 100);
    r.record('cloud', '10.1.0.10/32', 50);
    expect(r.live('10.1.0.10/32', 60)).toEqual(['dc1']);
    expect(r.sweep(60)).toBe(1);
    expect(r.size).toBe(1);
    r.record('dc1', '10.1.0.10/32', 200); // asked again: lives longer
    expect(r.sweep(150)).toBe(0);
    expect(r.live('10.1.0.10/32', 150)).toEqual(['dc1']);
  });
});
