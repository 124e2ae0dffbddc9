import { mappingSubjects, type MapRegister } from '@locus/contracts';
import { refreshSliceOf } from '@locus/domain';
import { eventually, startTestLab, type TestLab } from './support/harness';
import { mappingClient, startMapping, type RunningMappingSystem } from './support/mapping';
import { recordedPlaneFacts } from './support/planes';

/**
 * The ETRs' periodic refresh, spread over the period: at lab time x10 with a 12 s interval (1.2 s
 * real) the period has 4 ticks; each refresh message carries the EIDs of one tick only, every EID
 * is registered again once per period, and nothing expires although the registrations live only
 * three periods (3.6 s real) and the test waits more than twice that.
 */
describe('mapping system: the registration refresh is spread over the period', () => {
  let lab: TestLab;
  let mapping: RunningMappingSystem;

  beforeAll(async () => {
    lab = await startTestLab();
    ({ system: mapping } = await startMapping(lab, { timeScale: 10, registerIntervalS: 12, registrationTtlS: 4 }));
  });
  afterAll(async () => {
    await mapping?.stop();
    await lab?.stop();
  });

  it('sends each tick the EIDs of its slice only, refreshes every EID once a period, and lets none expire', async () => {
    const t = lab.manager.topology;
    const expected = t.vms.filter((vm) => t.siteOfHypervisor(vm.hypervisor)?.mappingSystem).length;
    await eventually(async () => (await mappingClient(lab).list()).total === expected, 10_000, 'every VM registered');

    const seen: { site: string; eids: string[] }[] = [];
    const sub = lab.client.subscribe(mappingSubjects(lab.config.subjectPrefix).register, {
      callback: (_err, msg) => {
        const m = msg.json<MapRegister>();
        seen.push({ site: m.site, eids: m.records.map((r) => r.eid) });
      },
    });
    const waitedMs = 8_000;
    await new Promise((r) => setTimeout(r, waitedMs)); // a duration under test: more than two registration lifetimes
    sub.unsubscribe();

    // One tick's slice per message: the refresh is not all of a site's EIDs at once.
    for (const m of seen) expect(new Set(m.eids.map((eid) => refreshSliceOf(eid, 4))).size).toBe(1);
    // Every EID again in each period (1.2 s): 6 periods in 8 s, at least 4 even on a loaded machine.
    const times = new Map<string, number>();
    for (const m of seen) for (const eid of m.eids) times.set(eid, (times.get(eid) ?? 0) + 1);
    expect(times.size).toBe(expected);
    for (const n of times.values()) expect(n).toBeGreaterThanOrEqual(4);
    // Nothing expired: every registration is still held.
    expect((await mappingClient(lab).list()).total).toBe(expected);
    expect((await recordedPlaneFacts(lab.client, 'map')).filter((f) => f.event.type === 'RegistrationExpired')).toEqual([]);
  });
});
