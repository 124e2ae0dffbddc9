import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { capturingLogger, startTestLab, type TestLab } from './support/harness';
import { registered, startMapping, type RunningMappingSystem } from './support/mapping';
import { startConsole, type RunningConsole } from '../apps/console/src';
import { startRouteInjectors, type RunningRouteInjectors } from '../apps/route-injector/src/start-route-injectors';
import { InMemoryFabric } from '../apps/route-injector/src';
import { startArpProxies, type RunningArpProxies } from '../apps/arp-proxy/src/start-arp-proxies';

/** Debian's chromium (installed by .ci/run); playwright-core drives it, it downloads no browser. */
const CHROMIUM = process.env.LOCUS_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
/** Screenshots of each case, kept as the run's artifacts (gitignored). */
export const ARTIFACTS = join(__dirname, '..', 'test-artifacts', 'console');

/**
 * The web console in a real headless Chromium against a running lab (manager with the
 * convergence tracker, agents, mapping system, route injectors on an in-memory RIB, ARP
 * proxies): the page shows every site and VM, a cold move started from the page shows the plan
 * first, then fills its timeline in order from the event stream and ends "converged in N ms"
 * with the figure `move.get` records; a refused move shows the rule's message; nothing is loaded
 * from outside the console's own server.
 */
describe('console in a browser', () => {
  let lab: TestLab;
  let mapping: RunningMappingSystem;
  let routes: RunningRouteInjectors;
  let arp: RunningArpProxies;
  let web: RunningConsole;
  let browser: Browser;
  let page: Page;
  const fabric = new InMemoryFabric(['dc1', 'dc2', 'cloud']);
  const planes = capturingLogger();
  /** Every request the page made that was not to the console itself (aborted). */
  const outside: string[] = [];

  beforeAll(async () => {
    if (!CHROMIUM) throw new Error('no chromium on this machine: apt-get install -y chromium (.ci/run does)');
    mkdirSync(ARTIFACTS, { recursive: true });
    lab = await startTestLab({ convergenceTracking: true, convergenceDeadlineMs: 10_000 });
    ({ system: mapping } = await startMapping(lab));
    routes = await startRouteInjectors(lab.config, planes.logger, { fabric });
    arp = await startArpProxies(lab.config, planes.logger);
    await registered(lab, '10.1.0.10', 1, 'dc1');
    web = await startConsole(lab.config, planes.logger, { port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.route('**/*', (route) => {
      if (route.request().url().startsWith(web.url)) return route.continue();
      outside.push(route.request().url());
      return route.abort();
    });
    await page.goto(web.url);
    await page.waitForSelector('body[data-ready="true"]');
  });

  afterAll(async () => {
    await browser?.close();
    await web?.stop();
    await arp?.stop();
    await routes?.stop();
    await mapping?.stop();
    await lab?.stop();
    await fabric.stop();
  });

  it('loads with every site, its planes, every hypervisor and every VM where vm.list says it is', async () => {
    const topology = (await lab.req('topology.get', {})).topology;
    for (const site of topology.sites) expect(await page.locator(`.site[data-site="${site.name}"]`).count()).toBe(1);
    expect(await page.locator('.site[data-site="dc1"] [data-plane]').allTextContents()).toEqual(['mapping', 'host routes', 'ARP proxy']);
    expect(await page.locator('.domain[data-domain="web-stretched"] .badge.stretched').count()).toBe(1);
    const vms = await lab.vms();
    expect(vms.length).toBeGreaterThan(20);
    for (const vm of vms) expect(await page.locator(`.hypervisor[data-hypervisor="${vm.hypervisor}"] .vm[data-vm="${vm.name}"]`).count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'topology.png'), fullPage: true });
  });

  it('a cold move started from the page: the plan first, then a timeline that fills in order and ends converged in N ms', async () => {
    await page.selectOption('#move-vm', 'web-01');
    await page.selectOption('#move-to', 'dc2-hv1');
    await page.selectOption('#move-mode', 'cold');
    await page.click('#plan-btn');
    await page.waitForSelector('#plan [data-verdict="allowed"]');
    expect(await page.textContent('#plan [data-field="planes"]')).toBe('location, mapping, host-routes');
    await page.screenshot({ path: join(ARTIFACTS, 'plan.png'), fullPage: true });

    await page.click('#move-btn');
    await page.waitForSelector('#timeline-verdict.converged', { timeout: 30_000 });
    const moveId = await page.getAttribute('#timeline-title', 'data-move');
    const recorded = await lab.waitForMove(moveId!, ['converged']);
    // The verdict can show the page's own figure (the same definition) before the tracker's
    // MoveConverged reaches the page: wait for that event to be on the timeline too.
    await page.waitForSelector('#timeline-list li[data-event="MoveConverged"]', { timeout: 30_000 });
    // one figure: the page says what the tracker recorded
    expect(await page.textContent('#timeline-verdict')).toBe(`converged in ${Math.round(recorded.convergenceMs)} ms after the location commit`);

    const events = await page.locator('#timeline-list li').evaluateAll((items) => items.map((li) => li.getAttribute('data-event') ?? ''));
    const at = (e: string) => {
      expect(events).toContain(e);
      return events.indexOf(e);
    };
    expect(at('MoveAccepted')).toBe(0);
    expect(at('MoveStarted')).toBeLessThan(at('VmStoppedAtSource'));
    expect(at('VmStoppedAtSource')).toBeLessThan(at('VmConfigTransferred'));
    expect(at('VmConfigTransferred')).toBeLessThan(at('VmRelocated'));
    // the planes follow the location commit: the map-server and the route injectors of both sites
    for (const plane of ['Registered', 'MappingConverged', 'RouteAdvertised', 'RouteConfirmed', 'RouteWithdrawn']) expect(at(plane)).toBeGreaterThan(at('VmRelocated'));
    expect(at('VmStartedAtTarget')).toBeLessThan(at('MoveCompleted'));
    expect(events[events.length - 1]).toBe('MoveConverged');
    expect(await page.locator('#timeline-planes [data-plane]').allTextContents()).toEqual([expect.stringMatching(/^mapping ✓/), expect.stringMatching(/^host routes ✓ .*\(\+dc2 -dc1\)$/)]);

    // the topology follows: web-01 is drawn at dc2-hv1 now, and the move is in the table and the histogram
    await page.waitForSelector('.hypervisor[data-hypervisor="dc2-hv1"] .vm[data-vm="web-01"]');
    expect(await page.textContent(`#moves tr[data-move="${moveId}"] [data-field="convergence"]`)).toBe(`${Math.round(recorded.convergenceMs)} ms`);
    expect(await page.locator('#histogram rect[data-count="1"]').count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'move-timeline.png'), fullPage: true });
  });

  it("a refused move shows the rule's message, and there is nothing to move", async () => {
    const expected = await lab.req('move.plan', { vm: 'web-02', to: 'cloud-hv1', mode: 'hot' });
    expect(expected).toMatchObject({ ok: true, allowed: false, refusal: { code: expect.any(String), message: expect.any(String) } });
    await page.selectOption('#move-vm', 'web-02');
    await page.selectOption('#move-to', 'cloud-hv1');
    await page.selectOption('#move-mode', 'hot');
    await page.click('#plan-btn');
    await page.waitForSelector(`#plan [data-verdict="refused"][data-code="${expected.refusal.code}"]`);
    expect(await page.textContent('#plan .message')).toBe(expected.refusal.message);
    expect(await page.isHidden('#plan-actions')).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'refused.png'), fullPage: true });
  });

  it('loads nothing from outside the machine: every request went to the console, which forbids any other origin', async () => {
    expect(outside).toEqual([]);
    const res = await fetch(web.url);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(await res.text()).not.toMatch(/https?:\/\//);
  });
});
