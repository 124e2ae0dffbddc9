import { eventually, readStream, startTestLab, type TestLab } from './support/harness';
import { itrHolds, mapPlaneEvents, mappingClient, registered, RLOC, startMapping, type RunningMappingSystem } from './support/mapping';

/**
 * The mapping system against the real NATS and Postgres: after a cold move between data centers
 * (web-01 dc1 -> dc2, stretched L2) and to the cloud (db-01 on dc1-local -> cloud, which carries
 * dc1-local's gateway), every ITR that cached the EID holds the new RLOC and version (subscribers
 * by publication, the SMR-only ITR by re-requesting), the old site's ETR was notified, and
 * map.resolve says so; an ITR that never cached the EID resolves it right on its next miss.
 */
describe('mapping system: cold moves', () => {
  let lab: TestLab;
  let mapping: RunningMappingSystem;
  let logs: () => any[];
  const c = () => mappingClient(lab);

  beforeAll(async () => {
    lab = await startTestLab();
    ({ system: mapping, logs } = await startMapping(lab, { smrOnlyItrs: ['dc2'] }));
    await registered(lab, '10.1.0.10', 1, 'dc1');
    await registered(lab, '10.11.0.10', 1, 'dc1');
  });
  afterAll(async () => {
    await mapping?.stop();
    await lab?.stop();
  });

  it('registers every VM of every mapping site from the location DB, each at its location version', async () => {
    const t = lab.manager.topology;
    const atMappingSites = t.vms.filter((vm) => t.siteOfHypervisor(vm.hypervisor)?.mappingSystem);
    const list = await eventually(async () => {
      const r = await c().list();
      return r.total === atMappingSites.length ? r : undefined;
    });
    expect(list.entries.map((e: any) => e.vm).sort()).toEqual(atMappingSites.map((vm) => vm.name).sort());
    expect(list.entries.find((e: any) => e.prefix === '10.21.0.10/32')).toMatchObject({ vm: 'burst-01', site: 'cloud', rloc: RLOC.cloud, version: 1, ttl: 1440 });
    expect(list.stats).toMatchObject({ refused: {} });
    expect(await c().resolve('10.1.0.10')).toMatchObject({ ok: true, source: 'map-resolver', rloc: RLOC.dc1, site: 'dc1', version: 1, ttl: 1440, negative: false, mapping: { vm: 'web-01' } });
  });

  it('fills ITR caches on a miss and answers later packets from the cache', async () => {
    for (const itr of ['branch', 'dc1', 'dc2']) {
      expect(await c().resolve('10.1.0.10', itr, true)).toMatchObject({ ok: true, source: `itr:${itr}`, lookup: 'miss', cached: true, rloc: RLOC.dc1, version: 1 });
    }
    expect(await c().resolve('10.1.0.10', 'branch', true)).toMatchObject({ lookup: 'hit', version: 1, mapping: { subscribed: true } });
    expect(await c().resolve('10.1.0.10', 'dc2')).toMatchObject({ cached: true, mapping: { subscribed: false } }); // SMR-only
    expect(await c().resolve('10.1.0.10', 'cloud')).toMatchObject({ ok: true, cached: false });
  });

  it('after web-01 moves dc1 -> dc2 cold, every ITR that cached it holds the new RLOC and version, and map.resolve says so', async () => {
    const accepted = await lab.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
    expect(await lab.waitForMove(accepted.moveId)).toMatchObject({ state: 'completed', locationVersion: 2 });

    await registered(lab, '10.1.0.10', 2, 'dc2');
    for (const itr of ['branch', 'dc1', 'dc2']) {
      expect(await itrHolds(lab, itr, '10.1.0.10', 2)).toMatchObject({ rloc: RLOC.dc2, site: 'dc2', version: 2 });
    }
    expect(await c().resolve('10.1.0.10')).toMatchObject({ rloc: RLOC.dc2, site: 'dc2', version: 2 });

    // one line for the move, when all three ITRs that cached it hold version 2
    const line = await eventually(async () => logs().find((l) => /^mapping converged/.test(l.msg) && l.eid === '10.1.0.10/32' && l.version === 2));
    expect(line).toMatchObject({ component: 'map-server', vm: 'web-01', site: 'dc2', previousSite: 'dc1', moveId: accepted.moveId, itrs: ['branch', 'dc1', 'dc2'], missing: [] });
    expect(line.ms).toEqual(expect.any(Number));

    // the old site's ETR was told and stopped claiming; the new one registered it
    const dc1 = mapping.etr('dc1')!;
    expect(dc1.claims.away.get('10.1.0.10/32')).toMatchObject({ vm: 'web-01', version: 2, site: 'dc2' });
    expect(dc1.claims.claim('10.1.0.10/32')).toBeUndefined();
    expect(mapping.etr('dc2')!.claims.claim('10.1.0.10/32')).toMatchObject({ vm: 'web-01', version: 2 });
    expect(logs().some((l) => l.component === 'etr:dc1' && /^Map-Notify: 10\.1\.0\.10\/32 \(web-01\) is away at dc2/.test(l.msg))).toBe(true);
  });

  it('published the registration, the notifies and one CacheUpdated per ITR as live map facts, and MappingConverged to the stream with their times', async () => {
    const events = await eventually(async () => {
      const all = await mapPlaneEvents(lab);
      return all.filter((m) => m.event.eid === '10.1.0.10/32' && m.event.locationVersion === 2).length >= 7 ? all : undefined;
    });
    const v2 = events.filter((m) => m.event.eid === '10.1.0.10/32' && m.event.locationVersion === 2);
    const updated = v2.filter((m) => m.event.type === 'CacheUpdated');
    expect(updated.map((m) => `${m.event.component} ${m.event.data.via}`).sort()).toEqual(['itr:branch publish', 'itr:dc1 publish', 'itr:dc2 smr']);
    for (const m of updated) {
      // a step: live on core NATS, not stored
      expect(m.subject).toBe(`${lab.config.subjectPrefix}.live.map.web-01.CacheUpdated`);
      expect(m.event).toMatchObject({ plane: 'map', vm: 'web-01', moveId: expect.any(String), data: { eid: '10.1.0.10/32', version: 2, rloc: RLOC.dc2, site: 'dc2' } });
    }
    expect(v2.filter((m) => m.event.type === 'Registered').map((m) => m.event.data)).toEqual([expect.objectContaining({ site: 'dc2', previousSite: 'dc1', kind: 'moved' })]);
    expect(
      v2
        .filter((m) => m.event.type === 'Notified')
        .map((m) => m.event.data)
        .sort((a: any, b: any) => a.kind.localeCompare(b.kind)),
    ).toEqual([
      { kind: 'ack', to: 'dc2', site: 'dc2' },
      { kind: 'away', to: 'dc1', site: 'dc2', acked: true },
    ]);
    // the outcome is stored, with the times of the steps it stands for
    const converged = v2.filter((m) => m.event.type === 'MappingConverged');
    expect(converged).toHaveLength(1);
    expect(converged[0].subject).toBe(`${lab.config.subjectPrefix}.evt.map.web-01.MappingConverged`);
    expect(converged[0].event.data).toMatchObject({ site: 'dc2', itrs: ['branch', 'dc1', 'dc2'], registeredAt: expect.any(String) });
    expect(Object.keys(converged[0].event.data.itrAt).sort()).toEqual(['branch', 'dc1', 'dc2']);
    const stored = (await readStream(lab.client, lab.config.streamName)).filter((m) => m.event?.plane === 'map' && m.event.eid === '10.1.0.10/32' && m.event.locationVersion === 2);
    expect(stored.map((m) => m.event.type)).toEqual(['MappingConverged']);
    expect(stored[0].msgId).toBe(stored[0].event.id);
  });

  it('an ITR that never cached web-01 resolves it correctly on its next miss', async () => {
    expect(await c().resolve('10.1.0.10', 'cloud')).toMatchObject({ cached: false });
    expect(await c().resolve('10.1.0.10', 'cloud', true)).toMatchObject({ lookup: 'miss', cached: true, rloc: RLOC.dc2, site: 'dc2', version: 2 });
  });

  it('after db-01 moves cold from dc1-local to the cloud (which carries its gateway), the cloud registers it and the caches follow', async () => {
    expect(await c().resolve('10.11.0.10', 'branch', true)).toMatchObject({ lookup: 'miss', rloc: RLOC.dc1, version: 1 });
    const accepted = await lab.req('vm.move', { vm: 'db-01', to: 'cloud-hv1', mode: 'cold' });
    expect(await lab.waitForMove(accepted.moveId)).toMatchObject({ state: 'completed', locationVersion: 2 });
    expect(await registered(lab, '10.11.0.10', 2, 'cloud')).toMatchObject({ rloc: RLOC.cloud });
    expect(await itrHolds(lab, 'branch', '10.11.0.10', 2)).toMatchObject({ rloc: RLOC.cloud, site: 'cloud' });
    expect(mapping.etr('dc1')!.claims.away.get('10.11.0.10/32')).toMatchObject({ site: 'cloud', version: 2 });
  });

  it('answers unknown EIDs negatively (15 minutes) and caches the negative reply at the ITR', async () => {
    expect(await c().resolve('10.99.0.1')).toMatchObject({ ok: true, negative: true, ttl: 15, mapping: { prefix: '10.99.0.1/32' } });
    expect(await c().resolve('10.99.0.1', 'branch', true)).toMatchObject({ lookup: 'miss', cached: true, negative: true, ttl: 15 });
  });

  it('logged no errors and refused no registration on the way', async () => {
    expect(logs().filter((l) => l.level >= 50)).toEqual([]);
    expect((await c().list()).stats.refused).toEqual({});
  });

  it('lists an ITR cache, and refuses unknown ITRs and a forward without an ITR', async () => {
    const branch = await c().list({ itr: 'branch' });
    expect(branch).toMatchObject({ ok: true, source: 'itr:branch' });
    expect(branch.entries.map((e: any) => e.prefix)).toEqual(expect.arrayContaining(['10.1.0.10/32', '10.11.0.10/32']));
    expect(await c().resolve('10.1.0.10', 'mars')).toMatchObject({ ok: false, error: { code: 'UNKNOWN_SITE' } });
    expect(await c().req(c().subjects.resolve, { eid: '10.1.0.10', forward: true })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: 'forward: forward needs an itr' } });
    expect(await c().req(c().subjects.resolve, { eid: 'web-01' })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });
});
