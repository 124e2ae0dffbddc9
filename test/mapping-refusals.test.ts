import { headers } from 'nats';
import { HEADERS } from '@locus/contracts';
import { eventually, readStream, startTestLab, type TestLab } from './support/harness';
import { itrHolds, mappingClient, record, registered, RLOC, signedAs, signedRegister, startMapping, type RunningMappingSystem } from './support/mapping';

/**
 * The map-server refuses a Map-Register with a missing or wrong HMAC, a replayed nonce, an unknown
 * site or an EID the site may not claim: each refusal is logged and counted and changes nothing.
 * Map versions never go back, whatever order or how often the location events and the control
 * messages arrive.
 */
describe('mapping system: refused registrations and versions that never go back', () => {
  let lab: TestLab;
  let mapping: RunningMappingSystem;
  let logs: () => any[];
  const c = () => mappingClient(lab);
  const register = (msg: unknown) => c().req(c().subjects.register, msg);
  const refusedCount = async (code: string) => ((await c().list()).stats.refused[code] ?? 0) as number;

  beforeAll(async () => {
    lab = await startTestLab();
    ({ system: mapping, logs } = await startMapping(lab));
    await registered(lab, '10.1.0.10', 1, 'dc1');
    await registered(lab, '10.12.0.10', 1, 'dc2');
  });
  afterAll(async () => {
    await mapping?.stop();
    await lab?.stop();
  });

  /** Sends a Map-Register that must be refused with `code`, and checks that nothing changed and that it was counted and logged. */
  async function expectRefused(msg: unknown, code: string, site: string) {
    const before = await c().registry();
    const counted = await refusedCount(code);
    expect(await register(msg)).toMatchObject({ ok: false, error: { code } });
    expect(await c().registry()).toEqual(before);
    expect(await refusedCount(code)).toBe(counted + 1);
    expect(logs().some((l) => l.component === 'map-server' && l.code === code && l.site === site && /^Map-Register from .* refused/.test(l.msg))).toBe(true);
  }

  // dc2 tries to take web-01 (really at dc1) to dc2 at a newer version: accepted, this would change the registry.
  const hijack = () => signedRegister('dc2', [record('10.1.0.10/32', 9, RLOC.dc2, 'web-01')]);

  it('refuses a Map-Register with a wrong HMAC', async () => {
    await expectRefused({ ...hijack(), authData: 'ab'.repeat(32) }, 'AUTH_FAILED', 'dc2');
  });

  it('refuses a Map-Register without an HMAC', async () => {
    const { authData: _none, ...unsigned } = hijack();
    await expectRefused(unsigned, 'AUTH_FAILED', 'dc2');
  });

  it('refuses a Map-Register signed with a key derived from another seed (also the one earlier versions committed)', async () => {
    await expectRefused(signedRegister('dc2', [record('10.1.0.10/32', 9, RLOC.dc2, 'web-01')], { seed: 'not-the-lab-seed' }), 'AUTH_FAILED', 'dc2');
    await expectRefused(signedRegister('dc2', [record('10.1.0.10/32', 9, RLOC.dc2, 'web-01')], { seed: 'locus-lab-mapping-key-seed' }), 'AUTH_FAILED', 'dc2');
  });

  it('refuses a replayed Map-Register (same nonce) and one whose timestamp is outside the window', async () => {
    // a genuine refresh of what dc2 registered (db-03 at dc2, version 1) is taken ...
    const refresh = signedRegister('dc2', [record('10.12.0.10/32', 1, RLOC.dc2, 'db-03')]);
    expect(await register(refresh)).toMatchObject({ ok: true, notify: { kind: 'ack', site: 'dc2', nonce: refresh.nonce, records: [{ eid: '10.12.0.10/32', version: 1 }] } });
    // ... and the same bytes again are a replay
    await expectRefused(refresh, 'REPLAYED', 'dc2');
    await expectRefused(signedRegister('dc2', [record('10.12.0.10/32', 1, RLOC.dc2, 'db-03')], { timestamp: Date.now() - 10 * 60_000 }), 'REPLAYED', 'dc2');
  });

  it('refuses a Map-Register from an unknown site (also one outside the mapping system)', async () => {
    await expectRefused(signedRegister('mars', [record('10.1.0.10/32', 9, '192.0.2.99', 'web-01')]), 'UNKNOWN_SITE', 'mars');
    await expectRefused(signedRegister('colo', [record('10.31.0.10/32', 9, '192.0.2.41')]), 'UNKNOWN_SITE', 'colo');
  });

  it('refuses an EID outside the prefixes the site may claim: another site subnet, a wider prefix, a branch', async () => {
    // dc2 has no dc1-local gateway (the cloud has): db-01 10.11.0.10 is not dc2's to claim
    await expectRefused(signedRegister('dc2', [record('10.12.0.20/32', 1, RLOC.dc2, 'app-03'), record('10.11.0.10/32', 9, RLOC.dc2, 'db-01')]), 'EID_NOT_ALLOWED', 'dc2');
    await expectRefused(signedRegister('dc1', [record('10.1.0.0/16', 9, RLOC.dc1)]), 'EID_NOT_ALLOWED', 'dc1');
    await expectRefused(signedRegister('branch', [record('10.1.0.10/32', 9, RLOC.branch, 'web-01')]), 'EID_NOT_ALLOWED', 'branch');
    // and a locator that is not the site's RLOC
    await expectRefused(signedRegister('dc1', [record('10.1.0.10/32', 9, RLOC.dc2, 'web-01')]), 'EID_NOT_ALLOWED', 'dc1');
  });

  it('an ETR refuses a Map-Notify not signed with its key, and keeps claiming the EID', async () => {
    const forged = {
      type: 'Map-Notify',
      kind: 'away',
      site: 'dc2',
      nonce: '00000000000000ff',
      timestamp: Date.now(),
      keyId: 'hmac-sha-256',
      authData: 'ab'.repeat(32),
      records: [{ eid: '10.12.0.10/32', vm: 'db-03', site: 'dc1', locators: [{ rloc: RLOC.dc1, priority: 1, weight: 100 }], ttl: 1440, version: 9 }],
    };
    expect(await c().req(c().subjects.notify('dc2'), forged)).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
    expect(mapping.etr('dc2')!.claims.claim('10.12.0.10/32')).toMatchObject({ vm: 'db-03', version: 1 });
  });

  describe('versions never go back', () => {
    let moveId: string;
    beforeAll(async () => {
      await c().resolve('10.1.0.10', 'branch', true);
      const accepted = await lab.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
      moveId = accepted.moveId;
      await lab.waitForMove(moveId);
      await registered(lab, '10.1.0.10', 2, 'dc2');
      await itrHolds(lab, 'branch', '10.1.0.10', 2);
    });

    /** Publishes a stored event again under a fresh message id, so JetStream keeps it and every consumer sees it again. */
    async function republish(type: string, vm = 'web-01') {
      const msgs = await readStream(lab.client, lab.config.streamName);
      const original = msgs.find((m) => m.event.type === type && m.event.streamId === `vm:${vm}`)!;
      const h = headers();
      h.set(HEADERS.stream, original.event.streamId);
      await lab.client.jetstream().publish(original.subject, JSON.stringify(original.event), { msgID: `replay-${original.msgId}-${Date.now()}`, headers: h });
    }

    async function etrsIdle() {
      const jsm = await lab.client.jetstreamManager();
      await eventually(
        async () => {
          // One consumer feeds every ETR of the mapping process (dc1, dc2, cloud).
          const info = await jsm.consumers.info(lab.config.streamName, mapping.host.feedDurable);
          return info.num_pending === 0 && info.num_ack_pending === 0;
        },
        10_000,
        'ETR consumers to catch up',
      );
    }

    const state = async () => ({
      resolve: await c().resolve('10.1.0.10'),
      branch: (await c().resolve('10.1.0.10', 'branch')).mapping,
      dc1: mapping.etr('dc1')!.claims.claim('10.1.0.10/32') ?? null,
      dc2: mapping.etr('dc2')!.claims.claim('10.1.0.10/32') ?? null,
    });

    it('a duplicated VmRelocated and a late VmPlaced (version 1) change no claim, registration or cache', async () => {
      await republish('VmRelocated');
      await republish('VmPlaced');
      await etrsIdle();
      const after = await state();
      expect(after).toMatchObject({ resolve: { site: 'dc2', version: 2 }, branch: { site: 'dc2', version: 2 }, dc1: null, dc2: { version: 2 } });
      expect(logs().some((l) => l.component === 'etr:dc1' && /ignored stale location event/.test(l.msg) && l.vm === 'web-01' && l.locationVersion === 1)).toBe(true);
    });

    it('a genuine but stale Map-Register of version 1 from dc1 is fenced record by record, and dc1 is told the EID is away', async () => {
      const away = logs().filter((l) => l.component === 'etr:dc1' && /^Map-Notify: 10\.1\.0\.10\/32/.test(l.msg)).length;
      const reply = await register(signedRegister('dc1', [record('10.1.0.10/32', 1, RLOC.dc1, 'web-01')]));
      expect(reply).toMatchObject({ ok: true, notify: { kind: 'ack', records: [], refused: [{ eid: '10.1.0.10/32', version: 1, code: 'FENCED', heldVersion: 2, heldBy: 'dc2' }] } });
      expect(await c().resolve('10.1.0.10')).toMatchObject({ site: 'dc2', version: 2 });
      await eventually(async () => logs().filter((l) => l.component === 'etr:dc1' && /^Map-Notify: 10\.1\.0\.10\/32/.test(l.msg)).length > away);
    });

    it('an ITR refuses a publication and a Map-Reply older than what it holds', async () => {
      const stale = { eid: '10.1.0.10/32', vm: 'web-01', site: 'dc1', locators: [{ rloc: RLOC.dc1, priority: 1, weight: 100 }], ttl: 1440, version: 1 };
      const publication = signedAs('branch', { type: 'Map-Publish' as const, itr: 'branch', record: stale });
      expect(await c().req(c().subjects.publish('branch'), publication)).toEqual({ ok: true, itr: 'branch', eid: '10.1.0.10/32', outcome: 'stale', holds: 2 });
      const installed = mapping
        .itr('branch')!
        .cache.installReply({ type: 'Map-Reply', nonce: '00000000000000aa', eid: '10.1.0.10', prefix: '10.1.0.10/32', negative: false, record: stale, ttl: 1440, subscribed: true });
      expect(installed.outcome).toBe('stale');
      expect((await c().resolve('10.1.0.10', 'branch')).mapping).toMatchObject({ site: 'dc2', version: 2, rloc: RLOC.dc2 });
    });
  });
});
