import type { MapRegister, MapRequest } from '@locus/contracts';
import { signMessage, type SiteMac } from './authentication';
import { MapServer } from './map-server';
import { SitePolicy } from './site-policy';

/** Deterministic stand-in for HMAC-SHA-256 (the adapter injects the real one). */
const mac: SiteMac = (site, text) => `${site}-${[...text].reduce((h, c) => (h * 33 + c.charCodeAt(0)) >>> 0, 5381).toString(16)}`;

function world() {
  const clock = { labMs: 0, wallMs: 1_700_000_000_000 };
  const server = new MapServer({
    policy: new SitePolicy([
      { name: 'dc1', rloc: '192.0.2.11', claimable: ['10.1.0.0/24', '10.11.0.0/24'] },
      { name: 'dc2', rloc: '192.0.2.12', claimable: ['10.1.0.0/24', '10.12.0.0/24'] },
      { name: 'cloud', rloc: '192.0.2.21', claimable: ['10.21.0.0/24', '10.11.0.0/24'] },
      { name: 'branch', rloc: '192.0.2.31', claimable: [] },
    ]),
    mac,
    clock: { lab: () => clock.labMs, wall: () => clock.wallMs },
    registrationTtlMs: 180_000,
    replayWindowMs: 60_000,
    negativeTtlMinutes: 15,
    convergenceTimeoutMs: 30_000,
  });
  let n = 0;
  const rlocs: Record<string, string> = { dc1: '192.0.2.11', dc2: '192.0.2.12', cloud: '192.0.2.21', branch: '192.0.2.31' };
  const register = (site: string, eid: string, version: number, extra: Partial<MapRegister> = {}): MapRegister =>
    signMessage(
      {
        type: 'Map-Register' as const,
        site,
        nonce: (++n).toString(16).padStart(16, '0'),
        timestamp: clock.wallMs,
        wantMapNotify: true,
        keyId: 'hmac-sha-256' as const,
        records: [{ eid, vm: 'web-01', locators: [{ rloc: rlocs[site], priority: 1, weight: 100 }], ttl: 1440, version }],
        ...extra,
      },
      site,
      mac,
    );
  const request = (eid: string, itr?: string, subscribe = false): MapRequest => ({
    type: 'Map-Request',
    nonce: (++n).toString(16).padStart(16, '0'),
    eid,
    ...(itr ? { itr } : {}),
    subscribe,
    smrInvoked: false,
  });
  const snapshot = () => JSON.stringify(server.list(1000));
  return { server, clock, register, request, snapshot };
}

describe('map-server: authenticated registration', () => {
  it('given a signed Map-Register from dc1 for its VM, when received, then the EID is registered and acked', () => {
    const { server, register } = world();
    const d = server.register(register('dc1', '10.1.0.10/32', 1));
    expect(d).toMatchObject({ ok: true, accepted: [{ eid: '10.1.0.10/32', site: 'dc1', version: 1 }], changes: [{ kind: 'created' }] });
    expect(server.resolve('10.1.0.10')).toMatchObject({ site: 'dc1', version: 1, locators: [{ rloc: '192.0.2.11' }] });
  });

  it.each([
    ['a wrong HMAC', 'AUTH_FAILED', (m: MapRegister) => ({ ...m, authData: 'dc1-deadbeef' })],
    ['no HMAC', 'AUTH_FAILED', (m: MapRegister) => ({ ...m, authData: undefined })],
    ['an HMAC under another site key', 'AUTH_FAILED', (m: MapRegister) => signMessage({ ...m, authData: undefined }, 'dc2', mac)],
    ['a record altered after signing', 'AUTH_FAILED', (m: MapRegister) => ({ ...m, records: [{ ...m.records[0], version: 9 }] })],
  ])('given %s, when received, then it is refused as %s, counted, and the registry does not change', (_what, code, tamper) => {
    const { server, register, snapshot } = world();
    server.register(register('dc1', '10.1.0.11/32', 1));
    const before = snapshot();
    expect(server.register(tamper(register('dc1', '10.1.0.10/32', 1)))).toMatchObject({ ok: false, code });
    expect(snapshot()).toBe(before);
    expect(server.counters.refused[code]).toBe(1);
  });

  it('given a Map-Register already taken, when the same message arrives again, then it is refused as REPLAYED and changes nothing', () => {
    const { server, register, snapshot, clock } = world();
    const msg = register('dc1', '10.1.0.10/32', 1);
    expect(server.register(msg)).toMatchObject({ ok: true });
    const before = snapshot();
    clock.labMs += 10_000;
    expect(server.register(msg)).toMatchObject({ ok: false, code: 'REPLAYED', reason: expect.stringMatching(/already used/) });
    expect(snapshot()).toBe(before); // not even refreshed
  });

  it('given a Map-Register with a timestamp outside the window, when received, then it is refused as REPLAYED', () => {
    const { server, register, clock } = world();
    const msg = register('dc1', '10.1.0.10/32', 1);
    clock.wallMs += 61_000;
    expect(server.register(msg)).toMatchObject({ ok: false, code: 'REPLAYED', reason: expect.stringMatching(/old/) });
    expect(server.registry.size).toBe(0);
  });

  it('given an unknown site, when it registers, then UNKNOWN_SITE and nothing changes', () => {
    const { server, register } = world();
    expect(server.register(register('mars', '10.1.0.10/32', 1))).toMatchObject({ ok: false, code: 'UNKNOWN_SITE' });
    expect(server.registry.size).toBe(0);
  });

  it('given dc2 claiming a dc1-local EID among its own, when received, then the whole message is refused as EID_NOT_ALLOWED', () => {
    const { server, register } = world();
    const msg = register('dc2', '10.12.0.10/32', 1);
    const both = signMessage({ ...msg, authData: undefined, records: [...msg.records, { ...msg.records[0], eid: '10.11.0.10/32' }] }, 'dc2', mac);
    expect(server.register(both)).toMatchObject({ ok: false, code: 'EID_NOT_ALLOWED' });
    expect(server.registry.size).toBe(0);
    expect(server.counters.refused).toEqual({ EID_NOT_ALLOWED: 1 });
  });

  it('given the cloud (carrying dc1-local gateway), when it registers a dc1-local VM, then it is accepted', () => {
    const { server, register } = world();
    expect(server.register(register('cloud', '10.11.0.10/32', 2))).toMatchObject({ ok: true });
  });
});

describe('map-server: versions never go back', () => {
  it('given v2 at dc2, when dc1 registers v1 (late or duplicated), then the record is refused as FENCED and v2 stays', () => {
    const { server, register } = world();
    server.register(register('dc2', '10.1.0.10/32', 2));
    const d = server.register(register('dc1', '10.1.0.10/32', 1));
    expect(d).toMatchObject({ ok: true, accepted: [], changes: [], refused: [{ eid: '10.1.0.10/32', version: 1, code: 'FENCED', heldVersion: 2, heldBy: 'dc2' }] });
    expect(server.resolve('10.1.0.10')).toMatchObject({ site: 'dc2', version: 2 });
  });

  it('given the same version registered twice by its site, then the second is a refresh, not a change', () => {
    const { server, register } = world();
    server.register(register('dc1', '10.1.0.10/32', 1));
    expect(server.register(register('dc1', '10.1.0.10/32', 1))).toMatchObject({ ok: true, changes: [], refreshed: 1 });
  });
});

describe('map-server: resolution, publish/subscribe and SMR', () => {
  it('given an unknown EID, when requested, then a negative reply with the 15-minute TTL', () => {
    const { server, request } = world();
    expect(server.request(request('10.99.0.1')).reply).toMatchObject({ negative: true, prefix: '10.99.0.1/32', ttl: 15 });
  });

  it('given subscribers and SMR holders of an EID, when it moves, then only they are told: subscribers by publication, the others by SMR', () => {
    const { server, register, request } = world();
    server.register(register('dc1', '10.1.0.10/32', 1));
    server.register(register('dc1', '10.1.0.11/32', 1));
    server.request(request('10.1.0.10', 'branch', true));
    server.request(request('10.1.0.10', 'cloud', false));
    server.request(request('10.1.0.11', 'dc2', true)); // another EID: not touched
    server.request(request('10.1.0.10')); // a query: not remembered
    const d = server.register(register('dc2', '10.1.0.10/32', 2));
    expect(d).toMatchObject({ ok: true, changes: [{ kind: 'moved', previous: { site: 'dc1', version: 1 }, publishTo: ['branch'], smrTo: ['cloud'] }] });
  });

  it('given a negative reply to a subscriber, when the EID is registered, then the subscriber gets it published', () => {
    const { server, register, request } = world();
    expect(server.request(request('10.1.0.10', 'branch', true)).reply).toMatchObject({ negative: true, subscribed: true });
    const d = server.register(register('dc1', '10.1.0.10/32', 1));
    expect(d).toMatchObject({ ok: true, changes: [{ kind: 'created', publishTo: ['branch'] }] });
  });

  it('given a move held by a subscriber and an SMR holder, when the publication is acked and the SMR-invoked request answered, then it converged once', () => {
    const { server, register, request, clock } = world();
    server.register(register('dc1', '10.1.0.10/32', 1));
    server.request(request('10.1.0.10', 'branch', true));
    server.request(request('10.1.0.10', 'cloud', false));
    clock.wallMs += 5_000;
    server.register(register('dc2', '10.1.0.10/32', 2));
    clock.wallMs += 3;
    expect(server.published('branch', '10.1.0.10/32', { outcome: 'installed', holds: 2 })).toBeUndefined();
    clock.wallMs += 4;
    const { reply, report } = server.request({ ...request('10.1.0.10', 'cloud', false), smrInvoked: true });
    expect(reply.record).toMatchObject({ site: 'dc2', version: 2 });
    expect(report).toMatchObject({ outcome: 'converged', vm: 'web-01', site: 'dc2', previousSite: 'dc1', itrs: ['branch', 'cloud'], ms: 7 });
  });

  it('given a subscriber that no longer holds the EID, when it says so, then its subscription ends and it does not hold convergence back', () => {
    const { server, register, request } = world();
    server.register(register('dc1', '10.1.0.10/32', 1));
    server.request(request('10.1.0.10', 'branch', true));
    server.register(register('dc2', '10.1.0.10/32', 2));
    expect(server.published('branch', '10.1.0.10/32', { outcome: 'not-held' })).toMatchObject({ outcome: 'converged', dropped: ['branch'] });
    expect(server.subscriptions.subscribers('10.1.0.10/32')).toEqual([]);
  });

  it('given registrations not refreshed, when swept after the TTL, then they expire', () => {
    const { server, register, clock } = world();
    server.register(register('dc1', '10.1.0.10/32', 1));
    clock.labMs += 179_999;
    expect(server.sweep().expired).toEqual([]);
    clock.labMs += 1;
    expect(server.sweep().expired.map((e) => e.eid)).toEqual(['10.1.0.10/32']);
    expect(server.resolve('10.1.0.10')).toBeUndefined();
  });
});
