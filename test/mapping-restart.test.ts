import { eventually, startTestLab, type TestLab } from './support/harness';
import { itrHolds, mappingClient, registered, RLOC, startMapping, type RunningMappingSystem } from './support/mapping';

/**
 * Soft state, hard truth: the map-server and the xTRs run in separate instances here. The
 * map-server is killed, a VM moves while it is gone, and a new map-server (empty) converges again
 * without the move being sent again: the ETRs register again, the ITRs ask again for what they
 * cache, and the ITRs that held the EID get the new version. Then the xTRs are killed, a VM moves,
 * and restarted xTRs rebuild their claims from the location DB and the stream.
 */
describe('mapping system: restarts converge again', () => {
  let lab: TestLab;
  let xtrs: RunningMappingSystem;
  let branchItr: RunningMappingSystem | undefined;
  let mapServer: RunningMappingSystem;
  let serverLogs: () => any[];
  const c = () => mappingClient(lab);

  beforeAll(async () => {
    lab = await startTestLab();
    ({ system: mapServer, logs: serverLogs } = await startMapping(lab, { xtrSites: [] }));
    ({ system: xtrs } = await startMapping(lab, { mapServer: false, smrOnlyItrs: ['dc1'] }));
    await registered(lab, '10.1.0.10', 1, 'dc1');
  });
  afterAll(async () => {
    await branchItr?.stop();
    await xtrs?.stop();
    await mapServer?.stop();
    await lab?.stop();
  });

  it('a killed and restarted map-server re-converges: the ITRs that cached web-01 get the version of a move made while it was down', async () => {
    expect(await c().resolve('10.1.0.10', 'branch', true)).toMatchObject({ version: 1, rloc: RLOC.dc1, mapping: { subscribed: true } });
    expect(await c().resolve('10.1.0.10', 'dc1', true)).toMatchObject({ version: 1, mapping: { subscribed: false } });

    await mapServer.stop(); // it says goodbye to no one: to the others this is a crash

    const accepted = await lab.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
    await lab.waitForMove(accepted.moveId);
    await eventually(async () => xtrs.etr('dc2')!.claims.claim('10.1.0.10/32')?.version === 2, 10_000, 'dc2 ETR to claim web-01 v2');
    // nobody to register with: the caches still hold version 1
    expect(xtrs.itr('branch')!.cache.lookup('10.1.0.10')?.record).toMatchObject({ version: 1, site: 'dc1' });

    ({ system: mapServer, logs: serverLogs } = await startMapping(lab, { xtrSites: [] }));

    expect(await registered(lab, '10.1.0.10', 2, 'dc2')).toMatchObject({ rloc: RLOC.dc2 });
    expect(await itrHolds(lab, 'branch', '10.1.0.10', 2)).toMatchObject({ rloc: RLOC.dc2, site: 'dc2' });
    expect(await itrHolds(lab, 'dc1', '10.1.0.10', 2)).toMatchObject({ rloc: RLOC.dc2, site: 'dc2' });
    // the new map-server knows every VM again, and the subscriptions of the ITRs
    const t = lab.manager.topology;
    const expected = t.vms.filter((vm) => t.siteOfHypervisor(vm.hypervisor)?.mappingSystem).length;
    await eventually(async () => (await c().list()).total === expected, 10_000, 'every registration back');
    expect(mapServer.mapServer!.server.subscriptions.subscribers('10.1.0.10/32')).toEqual(['branch']);
    expect(serverLogs().filter((l) => /refused/.test(l.msg))).toEqual([]);
  });

  it('registrations expire when no ETR refreshes them; restarted xTRs rebuild their claims from the location DB and the stream', async () => {
    await xtrs.stop();
    // nobody refreshes now: after three refresh periods (lab time) the registrations expire
    await eventually(async () => (await c().resolve('10.21.0.10')).negative === true, 10_000, 'registrations to expire');
    await eventually(async () => serverLogs().some((l) => l.component === 'map-server' && /^registration of 10\.21\.0\.10\/32 by cloud expired/.test(l.msg)), 5000, 'the expiry to be logged');

    const accepted = await lab.req('vm.move', { vm: 'db-01', to: 'cloud-hv1', mode: 'cold' });
    await lab.waitForMove(accepted.moveId);

    ({ system: xtrs } = await startMapping(lab, { mapServer: false }));

    expect(await registered(lab, '10.11.0.10', 2, 'cloud')).toMatchObject({ rloc: RLOC.cloud });
    expect(xtrs.etr('dc1')!.claims.claim('10.11.0.10/32')).toBeUndefined();
    expect(xtrs.etr('cloud')!.claims.claim('10.11.0.10/32')).toMatchObject({ vm: 'db-01', version: 2 });
    // the restarted ITR's cache started empty (soft state) and fills again on a miss
    expect(await c().resolve('10.1.0.10', 'branch')).toMatchObject({ cached: false });
    expect(await c().resolve('10.11.0.10', 'branch', true)).toMatchObject({ lookup: 'miss', rloc: RLOC.cloud, version: 2 });
    expect(await c().resolve('10.1.0.10', 'branch', true)).toMatchObject({ lookup: 'miss', rloc: RLOC.dc2, version: 2 });
  });

  it('restarted ETRs say MappingReconciled once their snapshot is registered, holding an EID whose change an ITR must still follow; that one gets its MappingConverged', async () => {
    await xtrs.stop();
    const jsm = await lab.client.jetstreamManager();
    await jsm.consumers.delete(lab.config.streamName, xtrs.host.feedDurable);
    // branch's ITR runs apart and subscribes to web-02's EID: its change will have to reach it
    ({ system: branchItr } = await startMapping(lab, { mapServer: false, xtrSites: ['branch'] }));
    expect(await c().resolve('10.1.0.11', 'branch', true)).toMatchObject({ mapping: { subscribed: true } });

    const accepted = await lab.req('vm.move', { vm: 'web-02', to: 'dc2-hv1', mode: 'cold' });
    const done = await lab.waitForMove(accepted.moveId);
    const relocated = await jsm.streams.getMessage(lab.config.streamName, { last_by_subj: `${lab.config.subjectPrefix}.evt.vm.web-02.loc.VmRelocated` });
    expect(relocated.json<any>().data.locationVersion).toBe(done.locationVersion);

    ({ system: xtrs } = await startMapping(lab, { mapServer: false, xtrSites: ['dc1', 'dc2', 'cloud'] }));
    const last = (subject: string) => jsm.streams.getMessage(lab.config.streamName, { last_by_subj: `${lab.config.subjectPrefix}.${subject}` }).then((m) => ({ seq: m.seq, event: m.json<any>() }));
    const reconciledOf = (site: string) =>
      eventually(
        async () => {
          const r = await last(`evt.map.${site}.MappingReconciled`).catch(() => undefined);
          return r && r.event.data.through >= relocated.seq ? r.event : undefined;
        },
        15_000,
        `${site}'s MappingReconciled of this start`,
      );
    // (web-01, at dc2 since the first test, may be held too: branch subscribed to it, and its registration may have expired meanwhile)
    expect(await reconciledOf('dc2')).toMatchObject({ component: 'etr:dc2', data: { site: 'dc2', trigger: 'start', held: expect.arrayContaining(['10.1.0.11/32']) } });
    // the map-server followed it to branch: its MappingConverged at the new version, with no move id (a snapshot's registration)
    const converged = await eventually(
      async () => {
        const r = await last('evt.map.web-02.MappingConverged').catch(() => undefined);
        return r && r.event.locationVersion === done.locationVersion ? r.event : undefined;
      },
      15_000,
      "web-02's MappingConverged at its new version",
    );
    expect(converged).toMatchObject({ component: 'map-server', eid: '10.1.0.11/32', data: { site: 'dc2' } });
    expect(converged.moveId).toBeUndefined();
    expect([...converged.data.itrs, ...converged.data.dropped]).toEqual(['branch']);
    expect(await itrHolds(lab, 'branch', '10.1.0.11', done.locationVersion)).toMatchObject({ rloc: RLOC.dc2, site: 'dc2' });
    // the other sites had nothing to follow
    expect((await reconciledOf('dc1')).data).toMatchObject({ site: 'dc1', held: [] });
  });
});
