import { spawn } from 'node:child_process';
import type { Subscription } from 'nats';
import { signMessage } from '@locus/domain';
import { siteMac } from '../apps/mapping-system/src';
import { eventually, startTestLab, type TestLab } from './support/harness';
import { mapPlaneEvents, mappingClient, record, registered, RLOC, signedAs, signedRegister, startMapping, TEST_KEY_SEED, type RunningMappingSystem } from './support/mapping';

/** The seed earlier versions committed and used by default: whoever read the repository could sign with it. */
const COMMITTED_SEED = 'locus-lab-mapping-key-seed';

/**
 * What the map-server sends an xTR (Map-Publish, SMR, Map-Notify, Map-Reply) is authenticated like a
 * Map-Register: an HMAC under the key the site shares with the map-server, a fresh timestamp and
 * an unused nonce. A forged, unsigned, misaddressed or replayed one is refused, counted and logged,
 * and changes nothing; the genuine flows still work. There is no default key: the run's seed is
 * generated, and a mapping-system process without key material does not start.
 */
describe('mapping system: authenticated control messages', () => {
  let lab: TestLab;
  const c = () => mappingClient(lab);

  beforeAll(async () => {
    lab = await startTestLab();
  });
  afterAll(async () => {
    await lab?.stop();
  });

  describe('from a rogue publisher on the bus', () => {
    let mapping: RunningMappingSystem;
    let logs: () => any[];

    beforeAll(async () => {
      ({ system: mapping, logs } = await startMapping(lab));
      await registered(lab, '10.1.0.10', 1, 'dc1');
      await registered(lab, '10.12.0.10', 1, 'dc2');
      // the branch ITR caches web-01 (and subscribes): what the attacker wants to redirect
      expect(await c().resolve('10.1.0.10', 'branch', true)).toMatchObject({ ok: true, lookup: 'miss', site: 'dc1', version: 1 });
    });
    afterAll(async () => {
      await mapping?.stop();
    });

    const branchCache = async () => (await c().list({ itr: 'branch' })).entries.map((e: any) => `${e.prefix} ${e.site} v${e.version} ${e.rloc}`).sort();
    const refusals = async (message: string, code: string) => ((await c().list({ itr: 'branch' })).stats.refused[message]?.[code] ?? 0) as number;
    const mapServerRequests = async () => (await c().list()).stats.requests as number;
    const refusalLogged = (message: string, code: string, site: string) =>
      logs().some((l) => l.component === `xtr:${site}` && l.message === message && l.code === code && new RegExp(`^${message} to ${site} refused \\(${code}\\)`).test(l.msg));

    // The attack of issue 10: web-01's /32 redirected to an address of the attacker's, at a version that would win.
    const hijacked = { eid: '10.1.0.10/32', vm: 'web-01', site: 'dc2', locators: [{ rloc: '203.0.113.66', priority: 1, weight: 100 }], ttl: 1440, version: 9 };
    const publication = { type: 'Map-Publish' as const, itr: 'branch', record: hijacked };

    /** Sends a Map-Publish to the branch ITR that must be refused with `code`: nothing cached changes, and it is counted and logged. */
    async function expectPublishRefused(msg: unknown, code: string) {
      const before = await branchCache();
      const counted = await refusals('Map-Publish', code);
      expect(await c().req(c().subjects.publish('branch'), msg)).toMatchObject({ ok: false, error: { code } });
      expect(await branchCache()).toEqual(before);
      expect(await refusals('Map-Publish', code)).toBe(counted + 1);
      expect(refusalLogged('Map-Publish', code, 'branch')).toBe(true);
    }

    it("refuses a forged Map-Publish (the old unsigned format, a wrong HMAC, the committed seed, another ITR's key, another addressee) and the ITR cache does not change", async () => {
      const before = await branchCache();
      expect(before).toContain(`10.1.0.10/32 dc1 v1 ${RLOC.dc1}`);
      await expectPublishRefused(publication, 'AUTH_FAILED');
      await expectPublishRefused({ ...signedAs('branch', publication), authData: 'ab'.repeat(32) }, 'AUTH_FAILED');
      const { authData: _none, ...unsigned } = signedAs('branch', publication);
      await expectPublishRefused(unsigned, 'AUTH_FAILED');
      await expectPublishRefused(signedAs('branch', publication, { seed: COMMITTED_SEED }), 'AUTH_FAILED');
      // a publication genuinely meant for dc1, sent to branch; and one signed for branch but saying it is for dc1
      await expectPublishRefused(signedAs('dc1', { ...publication, itr: 'dc1' }), 'AUTH_FAILED');
      await expectPublishRefused(signedAs('branch', { ...publication, itr: 'dc1' }), 'AUTH_FAILED');
      expect(await branchCache()).toEqual(before);
      expect(await c().resolve('10.1.0.10', 'branch')).toMatchObject({ cached: true, site: 'dc1', version: 1, rloc: RLOC.dc1 });
      const cacheUpdates = (await mapPlaneEvents(lab)).filter((m) => m.event.type === 'CacheUpdated' && m.event.data.itr === 'branch' && m.event.data.version === 9);
      expect(cacheUpdates).toEqual([]);
    });

    it('takes a genuine Map-Publish once: the same message again, or one whose timestamp is outside the window, is refused as REPLAYED', async () => {
      const current = { eid: '10.1.0.10/32', vm: 'web-01', site: 'dc1', locators: [{ rloc: RLOC.dc1, priority: 1, weight: 100 }], ttl: 1440, version: 1 };
      const genuine = signedAs('branch', { type: 'Map-Publish' as const, itr: 'branch', record: current });
      expect(await c().req(c().subjects.publish('branch'), genuine)).toEqual({ ok: true, itr: 'branch', eid: '10.1.0.10/32', outcome: 'refreshed', holds: 1 });
      await expectPublishRefused(genuine, 'REPLAYED');
      await expectPublishRefused(signedAs('branch', { ...publication }, { timestamp: Date.now() - 10 * 60_000 }), 'REPLAYED');
    });

    it('refuses a forged or unsigned SMR: the ITR asks the map-resolver nothing; a genuine one makes it ask again', async () => {
      const smr = { type: 'SMR' as const, itr: 'branch', eid: '10.1.0.10/32', version: 9 };
      const requests = await mapServerRequests();
      for (const forged of [smr, { ...signedAs('branch', smr), authData: 'cd'.repeat(32) }, signedAs('branch', smr, { seed: COMMITTED_SEED })]) {
        const counted = await refusals('SMR', 'AUTH_FAILED');
        expect(await c().req(c().subjects.smr('branch'), forged)).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
        expect(await refusals('SMR', 'AUTH_FAILED')).toBe(counted + 1);
      }
      expect(refusalLogged('SMR', 'AUTH_FAILED', 'branch')).toBe(true);
      expect(await mapServerRequests()).toBe(requests);
      // signed with branch's key: it holds v1 < 9, so it asks again (and is answered v1: nothing newer exists)
      expect(await c().req(c().subjects.smr('branch'), signedAs('branch', smr))).toEqual({ ok: true, requested: true });
      await eventually(async () => (await mapServerRequests()) > requests, 10_000, 'the SMR-invoked Map-Request');
      expect(await c().resolve('10.1.0.10', 'branch')).toMatchObject({ site: 'dc1', version: 1 });
    });

    it('an ETR refuses a Map-Notify away that is unsigned, signed with the committed seed or replayed, and keeps claiming the EID', async () => {
      const away = {
        type: 'Map-Notify' as const,
        kind: 'away' as const,
        site: 'dc2',
        records: [{ eid: '10.12.0.10/32', vm: 'db-03', site: 'dc1', locators: [{ rloc: RLOC.dc1, priority: 1, weight: 100 }], ttl: 1440, version: 9 }],
      };
      const notify = (msg: unknown) => c().req(c().subjects.notify('dc2'), msg);
      const counted = async (code: 'AUTH_FAILED' | 'REPLAYED') => mapping.host.inboxes.get('dc2')!.refused['Map-Notify']?.[code] ?? 0;
      const { authData: _none, ...unsigned } = signedAs('dc2', away);
      const authFailed = await counted('AUTH_FAILED');
      expect(await notify(unsigned)).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
      expect(await notify(signedAs('dc2', away, { seed: COMMITTED_SEED }))).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
      expect(await notify(away)).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
      expect(await counted('AUTH_FAILED')).toBe(authFailed + 3);
      // a genuine Map-Notify captured earlier: outside the window, refused
      const replayed = await counted('REPLAYED');
      expect(await notify(signedAs('dc2', away, { timestamp: Date.now() - 5 * 60_000 }))).toMatchObject({ ok: false, error: { code: 'REPLAYED' } });
      // and a genuine one (an ack-kind notice, which releases nothing) taken once, refused the second time
      const ack = signedAs('dc2', { type: 'Map-Notify' as const, kind: 'ack' as const, site: 'dc2', records: [] });
      expect(await notify(ack)).toEqual({ ok: true, released: 0 });
      expect(await notify(ack)).toMatchObject({ ok: false, error: { code: 'REPLAYED' } });
      expect(await counted('REPLAYED')).toBe(replayed + 2);
      expect(refusalLogged('Map-Notify', 'REPLAYED', 'dc2')).toBe(true);
      expect(mapping.etr('dc2')!.claims.claim('10.12.0.10/32')).toMatchObject({ vm: 'db-03', version: 1 });
      expect(await c().resolve('10.12.0.10')).toMatchObject({ site: 'dc2', version: 1 });
    });

    it('refuses a Map-Register signed with the seed earlier versions committed', async () => {
      // signed with the run's key this would move web-01 to dc2 (see mapping-refusals.test.ts)
      const msg = signedRegister('dc2', [record('10.1.0.10/32', 9, RLOC.dc2, 'web-01')], { seed: COMMITTED_SEED });
      expect(await c().req(c().subjects.register, msg)).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
      expect(await c().resolve('10.1.0.10')).toMatchObject({ site: 'dc1', version: 1, rloc: RLOC.dc1 });
    });

    it('never logs the seed', () => {
      expect(logs().length).toBeGreaterThan(0);
      expect(JSON.stringify(logs())).not.toContain(TEST_KEY_SEED);
      expect(logs().some((l) => l.component === 'mapping-system' && l.keySource === 'the test run')).toBe(true);
    });
  });

  describe('from a rogue map-resolver', () => {
    let xtr: RunningMappingSystem;
    let rogue: Subscription;
    let answerWith: (nonce: string) => object = () => ({});

    beforeAll(async () => {
      // the branch ITR alone, and an impostor answering its Map-Requests (there is no real map-resolver here)
      ({ system: xtr } = await startMapping(lab, { mapServer: false, xtrSites: ['branch'] }));
      rogue = lab.client.subscribe(c().subjects.request, {
        callback: (_err, msg) => msg.respond(JSON.stringify({ ok: true, reply: answerWith(JSON.parse(new TextDecoder().decode(msg.data)).nonce) })),
      });
      await lab.client.flush();
    });
    afterAll(async () => {
      rogue?.unsubscribe();
      await xtr?.stop();
    });

    const itr = (body: object) => c().req(c().subjects.itr('branch'), body);
    const reply = (nonce: string, rloc: string) => ({
      type: 'Map-Reply' as const,
      nonce,
      eid: '10.1.0.10',
      prefix: '10.1.0.10/32',
      negative: false,
      record: { eid: '10.1.0.10/32', vm: 'web-01', site: 'dc2', locators: [{ rloc, priority: 1, weight: 100 }], ttl: 1440, version: 9 },
      ttl: 1440,
      subscribed: false,
    });

    it('an ITR does not cache a Map-Reply that is not signed with its key; it caches one that is', async () => {
      answerWith = (nonce) => reply(nonce, '203.0.113.66');
      expect(await itr({ op: 'resolve', eid: '10.1.0.10', forward: true })).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
      answerWith = (nonce) => signMessage(reply(nonce, '203.0.113.66'), 'branch', siteMac(COMMITTED_SEED));
      expect(await itr({ op: 'resolve', eid: '10.1.0.10', forward: true })).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
      const list = await itr({ op: 'list' });
      expect(list).toMatchObject({ ok: true, total: 0, stats: { refused: { 'Map-Reply': { AUTH_FAILED: 2 } } } });
      // the same reply signed with branch's key (what the map-resolver does) is taken
      answerWith = (nonce) => signMessage(reply(nonce, RLOC.dc2), 'branch', siteMac(TEST_KEY_SEED));
      expect(await itr({ op: 'resolve', eid: '10.1.0.10', forward: true })).toMatchObject({ ok: true, lookup: 'miss', cached: true, site: 'dc2', rloc: RLOC.dc2, version: 9 });
    });
  });

  describe('key material', () => {
    /** Runs the mapping-system service as deployed (dist/, `npm test` builds it) with `env` as its only LOCUS_MAPPING_KEY_* settings. */
    function runMappingSystem(env: Record<string, string>) {
      const base = { ...process.env };
      delete base.LOCUS_MAPPING_KEY_SEED;
      delete base.LOCUS_MAPPING_KEY_FILE;
      const child = spawn(process.execPath, ['dist/apps/mapping-system/src/main.js'], {
        cwd: `${__dirname}/..`,
        env: { ...base, NATS_URL: lab.config.natsUrl, LOCUS_SUBJECT_PREFIX: lab.config.subjectPrefix, LOCUS_STREAM: lab.config.streamName, LOCUS_METRICS_PORT: '0', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += String(d)));
      child.stderr.on('data', (d) => (out += String(d)));
      return new Promise<{ code: number | null; out: string }>((resolve) => child.once('exit', (code) => resolve({ code, out })));
    }

    it('a mapping-system process without key material refuses to start, and says how to give it some', async () => {
      const { code, out } = await runMappingSystem({});
      expect(code).toBe(1);
      expect(out).toMatch(/mapping-system failed to start: no mapping key material.*LOCUS_MAPPING_KEY_SEED or LOCUS_MAPPING_KEY_FILE/);
    });

    it('a mapping-system process given the seed earlier versions committed refuses to start, without printing it', async () => {
      const { code, out } = await runMappingSystem({ LOCUS_MAPPING_KEY_SEED: COMMITTED_SEED });
      expect(code).toBe(1);
      expect(out).toMatch(/the mapping key seed \(LOCUS_MAPPING_KEY_SEED\) has 26 characters; at least 32/);
      expect(out).not.toContain(COMMITTED_SEED);
    });
  });
});
