import { randomBytes } from 'node:crypto';
import type { Subscription } from 'nats';
import { eventually, startTestLab, type TestLab } from './support/harness';
import { mappingClient, record, RLOC, signedAs, startMapping, type RunningMappingSystem } from './support/mapping';

/**
 * What an ETR's start-up reconcile relies on, at the map-server alone (no xTR runs; the test plays
 * the ETR of dc2 and the ITR of branch): the ack of a `reconciling` Map-Register names in
 * `following` each EID whose change an ITR has not answered yet, also when the change came with
 * an earlier Map-Register (this one is then a refresh), and the map-server publishes a
 * `MappingConverged` without a move id for it once the ITR holds it. Without `reconciling`, or with
 * no ITR to wait for, nothing is named and no such event is published.
 */
describe('mapping system: the map-server follows what a reconciling ETR holds', () => {
  let lab: TestLab;
  let mapServer: RunningMappingSystem;
  let branch: Subscription | undefined;
  /** Publications to branch, unanswered until the test answers them. */
  const publications: { eid: string; version: number; answer: (holds: number) => void }[] = [];
  const c = () => mappingClient(lab);
  const vmOf = (eid: string) => (eid === '10.12.0.202/32' ? 'probe-barrier' : 'probe-vm');
  const register = (eid: string, version: number, reconciling: boolean) =>
    c().req(
      c().subjects.register,
      signedAs('dc2', { type: 'Map-Register', site: 'dc2', wantMapNotify: true, records: [record(eid, version, RLOC.dc2, vmOf(eid))], ...(reconciling ? { reconciling: true } : {}) }),
    );
  const lastConverged = async (vm = 'probe-vm') => {
    const jsm = await lab.client.jetstreamManager();
    const m = await jsm.streams.getMessage(lab.config.streamName, { last_by_subj: `${lab.config.subjectPrefix}.evt.map.${vm}.MappingConverged` }).catch(() => undefined);
    return m?.json<any>();
  };

  beforeAll(async () => {
    lab = await startTestLab();
    ({ system: mapServer } = await startMapping(lab, { xtrSites: [] }));
    branch = lab.client.subscribe(c().subjects.publish('branch'), {
      callback: (_err, msg) => {
        const body = msg.json<any>();
        publications.push({ eid: body.record.eid, version: body.record.version, answer: (holds) => msg.respond(JSON.stringify({ ok: true, outcome: 'updated', holds })) });
      },
    });
  });
  afterAll(async () => {
    branch?.unsubscribe();
    await mapServer?.stop();
    await lab?.stop();
  });

  it('a refresh of a change still followed is named in following; its MappingConverged comes once the ITR holds it', async () => {
    const eid = '10.12.0.200/32';
    expect(await register(eid, 1, false)).toMatchObject({ ok: true });
    // branch subscribes: the next change must reach it
    expect(await c().req(c().subjects.request, { type: 'Map-Request', nonce: randomBytes(8).toString('hex'), eid: '10.12.0.200', itr: 'branch', subscribe: true })).toMatchObject({ ok: true });

    const first = await register(eid, 2, false);
    expect(first.notify.following).toBeUndefined(); // not reconciling: not asked
    await eventually(async () => publications.find((p) => p.eid === eid && p.version === 2), 5000, 'the publication of v2 to branch');
    // the ETR restarted meanwhile and registers its snapshot: v2 again, a refresh of the change branch has not answered
    const again = await register(eid, 2, true);
    expect(again.notify.following).toEqual([eid]);
    expect((await lastConverged())?.locationVersion).not.toBe(2);

    publications.find((p) => p.eid === eid && p.version === 2)!.answer(2);
    const converged = await eventually(async () => ((await lastConverged())?.locationVersion === 2 ? lastConverged() : undefined), 5000, 'MappingConverged of v2');
    expect(converged).toMatchObject({ component: 'map-server', eid, vm: 'probe-vm', data: { site: 'dc2', itrs: ['branch'] } });
    expect(converged.moveId).toBeUndefined();
  });

  it('a change with no ITR to follow, or not from a reconcile, is named in no following and gets no MappingConverged without a move id', async () => {
    const before = await lastConverged();
    const quiet = await register('10.12.0.201/32', 1, true);
    expect(quiet).toMatchObject({ ok: true });
    expect(quiet.notify.following).toBeUndefined();
    // branch still subscribes to .200: a change of it not from a reconcile is followed, and not owed
    expect((await register('10.12.0.200/32', 3, false)).notify.following).toBeUndefined();
    const published = await eventually(async () => publications.find((p) => p.eid === '10.12.0.200/32' && p.version === 3), 5000, 'the publication of v3 to branch');
    published.answer(3);
    await eventually(async () => mapServer.mapServer!.reports.find((r) => r.eid === '10.12.0.200/32' && r.version === 3 && r.outcome === 'converged'), 5000, 'v3 to converge');
    // A barrier: a change a reconcile is owed, answered after v3's convergence; the map-server
    // publishes its events in order, so once this one is stored, v3's would be too.
    await register('10.12.0.202/32', 1, false);
    await c().req(c().subjects.request, { type: 'Map-Request', nonce: randomBytes(8).toString('hex'), eid: '10.12.0.202', itr: 'branch', subscribe: true });
    expect((await register('10.12.0.202/32', 2, true)).notify.following).toEqual(['10.12.0.202/32']);
    (await eventually(async () => publications.find((p) => p.eid === '10.12.0.202/32' && p.version === 2), 5000, 'the publication of .202 v2')).answer(2);
    await eventually(async () => (await lastConverged('probe-barrier'))?.locationVersion === 2 || undefined, 5000, "the barrier's MappingConverged");
    expect(await lastConverged()).toEqual(before);
  });
});
