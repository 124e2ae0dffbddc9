import { randomUUID } from 'node:crypto';
import { emptyInventory, type HostInventory } from '@locus/domain';
import { requestJson } from './support/request';
import { startLabWithPlanes, untilNoDrift } from './support/planes-lab';
import { capturingLogger, eventually, startTestLab, type TestLab } from './support/harness';
import { publishSyntheticVmEvent } from './support/planes';
import { registered } from './support/mapping';
import { startAgents, type RunningAgents } from '../apps/hypervisor-agent/src/start-agents';

const HOSTS = ['dc1-hv1', 'dc1-hv2', 'dc2-hv1', 'dc2-hv2', 'cloud-hv1', 'cloud-hv2', 'colo-hv1'];

/** The event types of one VM's stream, in order. */
async function streamTypes(lab: TestLab, vm: string): Promise<string[]> {
  return (await lab.manager.dataSource.query(`SELECT type FROM events WHERE stream_id = $1 ORDER BY stream_version`, [`vm:${vm}`])).map((r: { type: string }) => r.type);
}

async function lastEvent(lab: TestLab, vm: string, type: string): Promise<any> {
  const rows = await lab.manager.dataSource.query(`SELECT data FROM events WHERE stream_id = $1 AND type = $2 ORDER BY stream_version DESC LIMIT 1`, [`vm:${vm}`, type]);
  return rows[0]?.data;
}

/** Which hosts hold `vm`, and how, as the agents themselves say. */
function holders(hosts: { agent(name: string): any }[], vm: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const host of hosts)
    for (const h of HOSTS) {
      const v = host.agent(h)?.inventory.vms.get(vm);
      if (v) out[h] = `${v.state} v${v.locationVersion}`;
    }
  return out;
}

/** The disagreements of the hypervisors' plane (the lab of the second suite runs no network planes: those say they do not answer). */
const onHosts = (reply: { disagreements: any[] }) => reply.disagreements.filter((d) => d.plane === 'hypervisors');

/** A copied VmRelocated (new host, version + 1), published on the location event subject as any NATS client could. */
async function forgeRelocation(lab: TestLab, vm: string, to: { hypervisor: string; site: string }): Promise<void> {
  const v = (await lab.req('vm.get', { vm })).vm;
  await publishSyntheticVmEvent(lab.client, lab.config.subjectPrefix, vm, 'VmRelocated', {
    moveId: randomUUID(),
    vm,
    ip: v.ip,
    mac: v.mac,
    from: { hypervisor: v.hypervisor, site: v.site },
    to,
    locationVersion: v.locationVersion + 1,
    mode: 'cold',
  });
}

/**
 * Drift repairs itself, against the real NATS and Postgres with every plane running and the
 * periodic check every second over every VM: a forged location event and a direct agent `start`
 * (two copies) are found as disagreements of the hypervisors and repaired through the recorded
 * paths within seconds; the network planes follow the repair back to where the DB says.
 */
describe('drift repair: the periodic check repairs what the hypervisors disagree about', () => {
  let lab: TestLab;
  let stop: (() => Promise<void>) | undefined;
  const figures: Record<string, number> = {};

  beforeAll(async () => {
    ({ lab, stop } = await startLabWithPlanes({ convergenceTracking: true, convergenceDeadlineMs: 2000, driftIntervalMs: 1000 * 1000, driftSlice: 100 }));
    await untilNoDrift(lab, 20_000, 'no drift at start');
  }, 60_000);

  afterAll(async () => {
    console.log(`drift repair in this run (real ms from the fault to the VM running where the DB says): ${JSON.stringify(figures)}`);
    await stop?.();
  });

  const driftLines = (re: RegExp) => lab.logs().filter((l) => (l.component === 'drift-detector' || l.component === 'drift-repair') && re.test(l.msg));

  it('a forged VmRelocated: found (missing, extra copy, version ahead) and repaired: web-01 runs on dc1-hv1 again at a new version, planes included', async () => {
    const forgedAt = Date.now();
    await forgeRelocation(lab, 'web-01', { hypervisor: 'dc2-hv1', site: 'dc2' });
    // The attack took: the real host dropped the VM.
    await eventually(async () => lab.logs().some((l) => l.component === 'agent:dc1-hv1' && /^fenced: web-01 was relocated away at version 2/.test(l.msg)), 10_000, 'dc1-hv1 fenced by the forgery');

    const vm = await eventually(
      async () => {
        const v = (await lab.req('vm.get', { vm: 'web-01' })).vm;
        const held = holders([lab.agents.host], 'web-01');
        const ran = v.locationVersion === 3 && v.hypervisor === 'dc1-hv1' && v.state === 'running' && held['dc1-hv1'] === 'running v3' && Object.keys(held).length === 1;
        return ran && (await streamTypes(lab, 'web-01')).includes('VmRestartedByRepair') ? v : undefined;
      },
      15_000,
      'web-01 running on dc1-hv1 alone at v3, its boot recorded',
    );
    figures.forged = Date.now() - forgedAt;
    expect(vm).toMatchObject({ site: 'dc1', hypervisor: 'dc1-hv1' });
    expect(figures.forged).toBeLessThan(10_000);

    // Found, with its kind and hosts, then repaired through the recorded paths.
    const found = driftLines(/^drift: agent:.* \(web-01\) disagrees with the location DB/).map((l) => [l.kind, l.hosts]);
    expect(found).toEqual(
      expect.arrayContaining([
        ['missing', ['dc1-hv1', 'dc2-hv1']],
        ['extra-copy', ['dc2-hv1', 'dc1-hv1']],
        ['version-ahead', ['dc1-hv1']],
      ]),
    );
    expect(await streamTypes(lab, 'web-01')).toEqual(['VmPlaced', 'VmLocationReasserted', 'VmRestartedByRepair']);
    const reasserted = await lastEvent(lab, 'web-01', 'VmLocationReasserted');
    expect(reasserted).toMatchObject({ hypervisor: 'dc1-hv1', site: 'dc1', locationVersion: 3, previousVersion: 1, evict: ['dc2-hv1'], start: true });
    expect(reasserted.findings.map((f: any) => f.kind)).toEqual(expect.arrayContaining(['missing', 'extra-copy', 'version-ahead']));
    expect(await lastEvent(lab, 'web-01', 'VmRestartedByRepair')).toMatchObject({ repairId: reasserted.repairId, hypervisor: 'dc1-hv1', locationVersion: 3 });

    // The network followed the repair: the mapping says dc1 at v3, and every plane agrees with the DB again.
    await registered(lab, '10.1.0.10', 3, 'dc1');
    await untilNoDrift(lab, 15_000, 'every plane agreeing after the repair');
    figures.planesAgree = Date.now() - forgedAt;

    // Not fenced any more: the next move of web-01 completes.
    const moved = await lab.req('vm.move', { vm: 'web-01', to: 'dc1-hv2', mode: 'cold' });
    expect(moved.ok).toBe(true);
    expect((await lab.waitForMove(moved.moveId, ['completed'], 20_000)).state).toMatch(/completed|converged/);
    // The source drops its stopped copy when its feed brings the relocation, which may come after the completion.
    await eventually(async () => JSON.stringify(holders([lab.agents.host], 'web-01')) === JSON.stringify({ 'dc1-hv2': 'running v4' }), 10_000, 'web-01 held by dc1-hv2 alone');
  });

  it('a direct agent start on another host (two copies): found as an extra copy and stopped there within seconds; web-02 keeps running on dc1-hv2', async () => {
    const startedAt = Date.now();
    const direct = await requestJson<any>(lab.client, `${lab.config.subjectPrefix}.agent.dc2-hv2.start`, { moveId: randomUUID(), vm: 'web-02', locationVersion: 1 }, 10_000);
    expect(direct).toMatchObject({ ok: true, hypervisor: 'dc2-hv2', vm: 'web-02' });

    await eventually(
      async () => {
        const held = holders([lab.agents.host], 'web-02');
        return held['dc1-hv2'] === 'running v2' && Object.keys(held).length === 1 ? held : undefined;
      },
      15_000,
      'the copy on dc2-hv2 dropped, web-02 on dc1-hv2 at v2',
    );
    figures.twoCopies = Date.now() - startedAt;
    expect(figures.twoCopies).toBeLessThan(10_000);

    expect(await streamTypes(lab, 'web-02')).toEqual(['VmPlaced', 'VmLocationReasserted']);
    expect(await lastEvent(lab, 'web-02', 'VmLocationReasserted')).toMatchObject({
      hypervisor: 'dc1-hv2',
      locationVersion: 2,
      evict: ['dc2-hv2'],
      start: false,
      findings: [{ kind: 'extra-copy', hosts: ['dc2-hv2', 'dc1-hv2'] }],
    });
    expect(
      driftLines(/^drift: agent:dc2-hv2 \(web-02\) disagrees with the location DB: extra-copy: dc2-hv2 holds a copy of web-02 \((incoming|running) v1\); the DB places web-02 on dc1-hv2 \(dc1\) v1$/),
    ).toHaveLength(1);
    expect(lab.logs().some((l) => l.component === 'agent:dc2-hv2' && /^fenced: web-02 was relocated away at version 2/.test(l.msg))).toBe(true);
    expect((await lab.req('vm.get', { vm: 'web-02' })).vm).toMatchObject({ hypervisor: 'dc1-hv2', state: 'running', locationVersion: 2 });
    await untilNoDrift(lab, 15_000, 'every plane agreeing after the repair');
  });

  it('a repair that cannot boot the VM is loudly stuck (recorded, an error saying what to do), not tried again periodically, and done once the host can', async () => {
    const agent = lab.agents.host.agent('dc2-hv2')!;
    agent.bootFailure = 'disk /var/lib/libvirt/images is read-only';
    agent.inventory.vms.delete('jump-02'); // the hypervisor lost it
    const stuck = await eventually(async () => lastEvent(lab, 'jump-02', 'VmRepairStuck'), 15_000, 'the repair declared stuck');
    expect(stuck).toMatchObject({
      hypervisor: 'dc2-hv2',
      locationVersion: 1,
      reason: 'dc2-hv2 refused the boot: AGENT_FAILED dc2-hv2 cannot boot jump-02: disk /var/lib/libvirt/images is read-only',
      action: expect.stringContaining('then run drift.check {"vms":["jump-02"]} to repair it again'),
      findings: [expect.objectContaining({ kind: 'missing', hosts: ['dc2-hv2'] })],
    });
    const errors = () => lab.logs().filter((l) => l.component === 'drift-repair' && l.level === 50 && l.vm === 'jump-02');
    expect(errors()[0]?.msg).toMatch(/^drift repair stuck: jump-02 does not run on dc2-hv2, where the location DB places it, and the repair could not boot it there/);

    // Three more periodic checks: the disagreement stays known, the stuck repair is not tried again.
    const seen = new Set<string>();
    await eventually(
      async () => {
        const last = lab.manager.drift.last;
        if (last) seen.add(last.checkedAt);
        return seen.size >= 4 && last?.disagreements.some((d) => d.vm === 'jump-02' && d.kind === 'missing');
      },
      15_000,
      'three more periodic checks still finding jump-02 missing',
    );
    expect((await streamTypes(lab, 'jump-02')).filter((t) => t === 'VmRepairStuck')).toHaveLength(1);
    expect(errors()).toHaveLength(1);

    // The host can boot again: an explicit check repairs it.
    agent.bootFailure = undefined;
    const done = await lab.req('drift.check', { vms: ['jump-02'] });
    expect(done.repairs).toEqual([expect.objectContaining({ vm: 'jump-02', outcome: 'restarted', hypervisor: 'dc2-hv2', locationVersion: 1 })]);
    expect(holders([lab.agents.host], 'jump-02')).toEqual({ 'dc2-hv2': 'running v1' });
    expect(await streamTypes(lab, 'jump-02')).toEqual(['VmPlaced', 'VmRepairStuck', 'VmRestartedByRepair']);
  });
});

/**
 * Agents reconcile with the location DB (periodic drift off: only the agents' own reports and
 * explicit checks repair here). cloud-hv2's agent runs in a process of its own, so it can restart
 * with what its hypervisor still runs.
 */
describe('drift repair: agents reconcile with the location DB, and a move stuck by a forgery is unfenced', () => {
  let lab: TestLab;
  let cloud: RunningAgents;
  const cloudLogs = capturingLogger();
  const hosts = () => [lab.agents.host, cloud.host];

  beforeAll(async () => {
    lab = await startTestLab({ hypervisors: HOSTS.filter((h) => h !== 'cloud-hv2') });
    cloud = await startAgents({ ...lab.config, hypervisors: ['cloud-hv2'] }, cloudLogs.logger);
  }, 60_000);

  afterAll(async () => {
    await cloud?.stop();
    await lab?.stop();
  });

  it('an agent restarted with a stale inventory (a copy placed elsewhere, a VM it lost) reports it on start, and the manager repairs both', async () => {
    // What cloud-hv2's hypervisor runs when its agent comes back: burst-03 is gone, a copy of burst-01 (cloud-hv1's) runs.
    const before = cloud.host.agent('cloud-hv2')!.inventory;
    const held: HostInventory = emptyInventory('cloud-hv2');
    for (const [vm, v] of before.vms) if (vm !== 'burst-03') held.vms.set(vm, { ...v });
    for (const [vm, version] of before.seen) held.seen.set(vm, version);
    held.vms.set('burst-01', { state: 'running', locationVersion: 1 });
    await cloud.stop();
    const logs = capturingLogger();
    cloud = await startAgents({ ...lab.config, hypervisors: ['cloud-hv2'] }, logs.logger, { held: new Map([['cloud-hv2', held]]) });

    await eventually(
      async () => {
        const burst01 = holders(hosts(), 'burst-01');
        const burst03 = holders(hosts(), 'burst-03');
        return burst03['cloud-hv2'] === 'running v1' && Object.keys(burst01).join() === 'cloud-hv1' && burst01['cloud-hv1'] === 'running v2';
      },
      15_000,
      'burst-03 booted again on cloud-hv2, the copy of burst-01 dropped',
    );

    const said = logs.lines().find((l) => /^inventory differs from the location DB \(start\)/.test(l.msg));
    expect(said).toMatchObject({ component: 'agent:cloud-hv2', extra: [{ vm: 'burst-01', state: 'running', locationVersion: 1 }], missing: [{ vm: 'burst-03', locationVersion: 1 }] });
    expect(said.msg).toBe(
      "inventory differs from the location DB (start): holds burst-01 (running v1), which the DB does not place here; lacks burst-03 (v1), which the DB says run here; asking the manager's drift check",
    );
    const answered = await eventually(async () => logs.lines().find((l) => /^drift check of this inventory: /.test(l.msg)), 10_000, 'the manager’s answer');
    expect(answered.repairs).toEqual(expect.arrayContaining(['burst-01: reasserted', 'burst-03: restarted']));
    expect(await streamTypes(lab, 'burst-03')).toEqual(['VmPlaced', 'VmRestartedByRepair']);
    expect(await streamTypes(lab, 'burst-01')).toEqual(['VmPlaced', 'VmLocationReasserted']);
    expect(await lastEvent(lab, 'burst-01', 'VmLocationReasserted')).toMatchObject({
      hypervisor: 'cloud-hv1',
      evict: ['cloud-hv2'],
      findings: [{ kind: 'extra-copy', hosts: ['cloud-hv2', 'cloud-hv1'] }],
    });
    const check = await lab.req('drift.check', { vms: ['burst-01', 'burst-03'] });
    expect(check).toMatchObject({ ok: true, vms: 2 });
    expect(onHosts(check)).toEqual([]);
  });

  it('after a NATS reconnect an agent reconciles: a copy it should not hold is reported and dropped through the repair', async () => {
    const agent = cloud.host.agent('cloud-hv2')!;
    agent.inventory.vms.set('jump-03', { state: 'running', locationVersion: 1 }); // jump-03 runs on cloud-hv1
    await cloud.nc.reconnect();
    await eventually(
      async () => {
        const held = holders(hosts(), 'jump-03');
        return Object.keys(held).join() === 'cloud-hv1' && held['cloud-hv1'] === 'running v2';
      },
      15_000,
      'the copy of jump-03 on cloud-hv2 dropped',
    );
    expect(await lastEvent(lab, 'jump-03', 'VmLocationReasserted')).toMatchObject({ hypervisor: 'cloud-hv1', evict: ['cloud-hv2'] });
  });

  it('a move fenced by a forged event and stuck restarting at its source is unfenced by the repair, and the copy the forgery left is dropped', async () => {
    await forgeRelocation(lab, 'app-01', { hypervisor: 'dc2-hv2', site: 'dc2' });
    await eventually(async () => !lab.agents.host.agent('dc1-hv1')!.inventory.vms.has('app-01'), 10_000, 'dc1-hv1 fenced by the forgery');
    const move = await lab.req('vm.move', { vm: 'app-01', to: 'dc1-hv2', mode: 'cold' });
    const failed = await lab.waitForMove(move.moveId, ['failed'], 15_000);
    expect(failed.error.code).toBe('FENCED');
    // The restart at the source is fenced too (the host has seen v2): the VM stays moving.
    expect((await lab.req('vm.get', { vm: 'app-01' })).vm.state).toBe('moving');

    const check = await lab.req('drift.check', { vms: ['app-01'] });
    expect(onHosts(check).map((d: any) => [d.kind, d.hosts])).toEqual([
      ['version-ahead', ['dc1-hv1']],
      ['version-ahead', ['dc2-hv2']],
    ]);
    expect(check.repairs).toEqual([expect.objectContaining({ vm: 'app-01', outcome: 'reasserted', hypervisor: 'dc1-hv1', locationVersion: 3, evicted: ['dc2-hv2'] })]);
    // The saga's restart at the source now carries v3: no longer fenced.
    await eventually(async () => (await lab.req('vm.get', { vm: 'app-01' })).vm.state === 'running', 15_000, 'app-01 restarted at its source');
    expect((await streamTypes(lab, 'app-01')).slice(-2)).toEqual(['VmLocationReasserted', 'VmRestartedAtSource']);
    await eventually(
      async () => {
        const held = holders(hosts(), 'app-01');
        return Object.keys(held).join() === 'dc1-hv1' && held['dc1-hv1'] === 'running v3';
      },
      10_000,
      'app-01 on dc1-hv1 alone',
    );
    expect(onHosts(await lab.req('drift.check', { vms: ['app-01'] }))).toEqual([]);
  });

  it('drift.check refuses bad input with nothing written, and names VMs the DB does not have', async () => {
    const events = await lab.eventCount();
    expect(await lab.req('drift.check', { vms: [] })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: 'vms: name at least one VM, or leave vms out' } });
    expect(await lab.req('drift.check', { vms: ['Web_01'] })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await lab.req('drift.check', { vms: ['nope-01'] })).toMatchObject({ ok: false, error: { code: 'UNKNOWN_VM', message: 'no VM named nope-01' } });
    const some = await lab.req('drift.check', { vms: ['web-05', 'nope-01'], repair: false });
    expect(some).toMatchObject({ ok: true, vms: 1, unknown: ['nope-01'] });
    expect(onHosts(some)).toEqual([]);
    expect(await lab.eventCount()).toBe(events);
  });
});
