import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requestJson } from './support/request';
import { capturingLogger, startTestLab, type TestLab } from './support/harness';
import { mappingOptions } from './support/mapping';
import { ensureBuilt, freePort } from './support/processes';
import { startArpProxies, type RunningArpProxies } from '../apps/arp-proxy/src/start-arp-proxies';
import { startMappingSystem, type RunningMappingSystem } from '../apps/mapping-system/src/start-mapping-system';
import { routeSites, startRouteInjectors, type RunningRouteInjectors } from '../apps/route-injector/src/start-route-injectors';
import { InMemoryFabric } from '../apps/route-injector/src';

const ROOT = join(__dirname, '..');
const run = promisify(execFile);

/**
 * Error messages that say what is wrong, as a newcomer meets them over NATS: a missing field is
 * `required`, a field of the wrong type says which type and what came, a body that is not an
 * object says so; a site, hypervisor or VM that names nothing is refused with the same typed code
 * on every subject that takes one (nothing written); `npm run -s req` with no lab says so in words.
 */
describe('error messages: what is wrong, said the same way on every subject', () => {
  let lab: TestLab;
  let mapping: RunningMappingSystem;
  let routes: RunningRouteInjectors;
  let arp: RunningArpProxies;
  const { logger } = capturingLogger();
  const ask = (subject: string, body: unknown) => requestJson<any>(lab.client, subject, body, 10_000);
  const at = (name: string) => `${lab.config.subjectPrefix}.${name}`;

  beforeAll(async () => {
    lab = await startTestLab();
    mapping = await startMappingSystem(lab.config, logger, mappingOptions());
    const hostRouteSites = routeSites(lab.manager.topology)
      .filter((s) => s.hostRoutes)
      .map((s) => s.name);
    routes = await startRouteInjectors(lab.config, logger, { fabric: new InMemoryFabric(hostRouteSites), holdMs: 50 });
    arp = await startArpProxies(lab.config, logger);
  }, 60_000);

  afterAll(async () => {
    await arp?.stop();
    await routes?.stop();
    await mapping?.stop();
    await lab?.stop();
  });

  /** Sends the request, expects the refusal, and that nothing was appended meanwhile. */
  async function refused(subject: string, body: unknown, code: string, message: string | RegExp) {
    const before = await lab.eventCount();
    const reply = typeof body === 'string' ? await rawAsk(subject, body) : await ask(subject, body);
    expect(reply).toMatchObject({ ok: false, error: { code } });
    if (typeof message === 'string') expect(reply.error.message).toBe(message);
    else expect(reply.error.message).toMatch(message);
    expect(await lab.eventCount()).toBe(before);
  }
  async function rawAsk(subject: string, text: string) {
    const msg = await lab.client.request(subject, new TextEncoder().encode(text), { timeout: 10_000 });
    return JSON.parse(new TextDecoder().decode(msg.data));
  }

  it('a missing mode is `mode: required`, a wrong type names the type, an array body must be an object', async () => {
    await refused(at('vm.move'), { vm: 'web-02', to: 'dc2-hv1' }, 'BAD_REQUEST', 'mode: required');
    await refused(at('move.plan'), { vm: 'web-02', to: 'dc2-hv1' }, 'BAD_REQUEST', 'mode: required');
    await refused(at('vm.move'), { vm: 'web-02', to: 'dc2-hv1', mode: 'teleport' }, 'BAD_REQUEST', 'mode: expected one of "hot", "warm", "cold", got the string "teleport"');
    await refused(at('vm.move'), { vm: 7, to: 'dc2-hv1', mode: 'cold' }, 'BAD_REQUEST', 'vm: expected a string, got the number 7');
    await refused(at('vm.list'), { limit: '10' }, 'BAD_REQUEST', 'limit: expected a number, got the string "10"');
    await refused(at('arp.stale'), { vms: 'db-01' }, 'BAD_REQUEST', 'vms: expected an array, got the string "db-01"');
    await refused(at('vm.get'), '[1,2]', 'BAD_REQUEST', 'the body must be a JSON object ({"name": value, …}), not an array');
    await refused(at('routes.list'), '"dc1"', 'BAD_REQUEST', 'the body must be a JSON object ({"name": value, …}), not the string "dc1"');
  });

  it.each([
    ['vm.list', { site: 'nowhere' }, 'UNKNOWN_SITE', /^no site named nowhere; the sites are branch, cloud, colo, dc1, dc2$/],
    ['vm.list', { hypervisor: 'nohost' }, 'UNKNOWN_HYPERVISOR', /^no hypervisor named nohost; the hypervisors are /],
    ['routes.list', { site: 'nowhere' }, 'UNKNOWN_SITE', /^no site named nowhere; the sites are /],
    ['routes.reconcile', { site: 'nowhere' }, 'UNKNOWN_SITE', /^no site named nowhere; the sites are /],
    ['arp.list', { site: 'nowhere' }, 'UNKNOWN_SITE', /^no site named nowhere; the sites are /],
    ['arp.stale', { vm: 'nope' }, 'UNKNOWN_VM', 'no VM named nope'],
    ['arp.stale', { vms: ['nope', 'nada'] }, 'UNKNOWN_VM', 'no VM named nada, nope'],
    ['vm.get', { vm: 'nope' }, 'UNKNOWN_VM', 'no VM named nope'],
    ['vm.move', { vm: 'nope', to: 'dc2-hv1', mode: 'cold' }, 'UNKNOWN_VM', 'no VM named nope'],
    ['move.plan', { vm: 'nope', to: 'dc2-hv1', mode: 'cold' }, 'UNKNOWN_VM', 'no VM named nope'],
    ['move.plan', { vm: 'web-02', to: 'nohost', mode: 'cold' }, 'UNKNOWN_TARGET', /^no hypervisor named nohost/],
    ['drift.check', { vms: ['nope'] }, 'UNKNOWN_VM', 'no VM named nope'],
    ['map.resolve', { eid: '10.1.0.10', itr: 'nowhere' }, 'UNKNOWN_SITE', /^no ITR named nowhere/],
    ['map.list', { itr: 'nowhere' }, 'UNKNOWN_SITE', /^no ITR named nowhere/],
  ] as const)('%s %j is refused with %s, nothing written', (subject, body, code, message) => refused(at(subject), body, code, message));

  it('a list of VMs of which some are unknown answers for the known ones and lists the others', async () => {
    const reply = await ask(at('arp.stale'), { vms: ['db-01', 'nope'] });
    expect(reply).toMatchObject({ ok: true, stale: expect.any(Array), unknown: ['nope'] });
    expect(await ask(at('arp.stale'), { vm: 'db-01' })).toEqual({ ok: true, stale: expect.any(Array) });
  });

  it('known names are answered as before', async () => {
    expect((await ask(at('vm.list'), { site: 'dc1' })).vms.length).toBeGreaterThan(0);
    expect((await ask(at('vm.list'), { hypervisor: 'dc1-hv1' })).ok).toBe(true);
    expect((await ask(at('arp.list'), { site: 'dc1' })).ok).toBe(true);
    expect((await ask(at('routes.list'), { site: 'dc1' })).ok).toBe(true);
    // a rule's refusal is still the plan's answer
    const here = (await ask(at('vm.get'), { vm: 'web-02' })).vm.hypervisor;
    expect(await ask(at('move.plan'), { vm: 'web-02', to: here, mode: 'cold' })).toMatchObject({ ok: true, allowed: false, refusal: { code: 'SAME_LOCATION' } });
  });

  it('npm run -s req with no lab says so in words, not 503', async () => {
    ensureBuilt('dist/tools/req.js');
    const req = async (env: Record<string, string>, ...args: string[]) => {
      const result = await run(process.execPath, ['dist/tools/req.js', ...args], { cwd: ROOT, env: { ...process.env, ...env } }).catch((e) => e);
      return { code: result.code ?? 0, stderr: String(result.stderr) };
    };
    const nobody = await req({ NATS_URL: lab.config.natsUrl }, 'nolab-at-all.vm.get', '{"vm":"web-01"}');
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/nobody answers nolab-at-all\.vm\.get: no service listens on it\. Is the lab running \(npm run lab\)/);
    expect(nobody.stderr).not.toMatch(/503/);
    const noNats = await req({ NATS_URL: `nats://127.0.0.1:${await freePort()}` }, 'locus.vm.get', '{"vm":"web-01"}');
    expect(noNats.code).toBe(1);
    expect(noNats.stderr).toMatch(/cannot reach NATS at nats:\/\/127\.0\.0\.1:\d+: nothing listens there\. Start the lab \(npm run lab\)/);
  });
});
