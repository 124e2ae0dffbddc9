import { ensureBuilt, spawnService, type ServiceChild } from './support/processes';
import { eventually, testConfig } from './support/harness';

const CONSOLE = 'dist/apps/console/src/main.js';
const ANSI = /\u001b\[/;

/**
 * Logs readable in a file too: a service whose output is piped writes one JSON object per line by
 * default, and with LOG_FORMAT=pretty the same readable `[component] message` lines as in a
 * terminal, without colour codes. The console, run alone against the real NATS with no lab behind
 * it, logs two lines at once (connected, waiting for the manager): enough to see the format.
 */
describe('log format when piped', () => {
  const children: ServiceChild[] = [];
  const run = (env: Record<string, string>) => {
    const config = testConfig();
    const child = spawnService(CONSOLE, config, { LOCUS_CONSOLE_PORT: '0', ...env });
    children.push(child);
    return child;
  };
  beforeAll(() => ensureBuilt(CONSOLE));
  afterAll(async () => {
    for (const c of children) c.child.kill('SIGTERM');
    await Promise.all(children.map((c) => c.exited));
  });

  it('LOG_FORMAT=pretty: one readable line per step, the component first, no JSON and no colour codes', async () => {
    const child = run({ LOG_FORMAT: 'pretty' });
    const out = await eventually(
      async () => (/\[console\] console: waiting for the mobility manager/.test(child.output()) ? child.output() : undefined),
      15_000,
      'the console waiting for the manager',
    );
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[nats\] connected to NATS$/m);
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: \[console\] console: waiting for the mobility manager to answer topology\.get$/m);
    expect(out).toMatch(/^    subject: "\S+\.topology\.get"$/m); // the fields beneath, one per line
    expect(out).not.toMatch(ANSI);
    expect(out.split('\n').filter((l) => l.startsWith('{'))).toEqual([]);
  });

  it('by default, piped: one JSON object per line, with the component and the message', async () => {
    const child = run({ LOG_FORMAT: 'auto' });
    const lines = await eventually(
      async () => {
        const l = child.lines();
        return l.some((x) => x.component === 'console') ? l : undefined;
      },
      15_000,
      'a JSON line of the console',
    );
    expect(lines[0]).toMatchObject({ level: 30, component: 'nats', msg: 'connected to NATS', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(child.output()).not.toMatch(ANSI);
  });

  it('an unknown LOG_FORMAT stops the service at start, saying the formats', async () => {
    const child = run({ LOG_FORMAT: 'fancy' });
    const { code } = await child.exited;
    expect(code).toBe(1);
    expect(child.output()).toMatch(/expected one of "auto"\|"pretty"\|"json"\s+→ at LOG_FORMAT/);
  });
});
