import { eventually, startTestLab, testConfig, type TestLab } from './support/harness';
import { ensureBuilt, freePort, spawnService, type ServiceChild } from './support/processes';

const CONSOLE = 'dist/apps/console/src/main.js';

/**
 * The console run alone (compose's and Kubernetes' `console`) is a Locus service like the others:
 * /healthz at once, /readyz `still starting` while the mobility manager does not answer
 * topology.get, then ready once it has the topology and listens.
 */
describe('the console as a service: liveness and readiness', () => {
  let lab: TestLab | undefined;
  let console_: ServiceChild | undefined;
  beforeAll(() => ensureBuilt(CONSOLE));
  afterAll(async () => {
    console_?.child.kill('SIGTERM');
    await console_?.exited;
    await lab?.stop();
  });

  it('is live at once, ready only once the manager has answered, and then serves the page', async () => {
    const config = testConfig();
    const metricsPort = await freePort();
    console_ = spawnService(CONSOLE, config, { LOCUS_CONSOLE_PORT: '0', LOCUS_METRICS_PORT: String(metricsPort) });
    const at = (path: string) => fetch(`http://127.0.0.1:${metricsPort}${path}`).catch(() => undefined);
    await eventually(async () => (await at('/healthz'))?.status === 200, 15_000, 'the console live');
    await eventually(async () => console_!.lines().some((l) => /waiting for the mobility manager/.test(l.msg)), 15_000, 'the console waiting for the manager');
    const starting = await at('/readyz');
    expect(starting?.status).toBe(503);
    expect(await starting!.json()).toMatchObject({ status: 'fail', checks: [{ name: 'started', ok: false }] });

    lab = await startTestLab(config);
    await eventually(async () => (await at('/readyz'))?.status === 200, 30_000, 'the console ready');
    const url = console_.lines().find((l) => l.component === 'console' && l.url)?.url as string;
    const state: any = await (await fetch(`${url}api/state`)).json();
    expect(state).toMatchObject({ ok: true, prefix: config.subjectPrefix });
    expect(state.vms.length).toBe(lab.manager.topology.topology.vms.length);
  });
});
