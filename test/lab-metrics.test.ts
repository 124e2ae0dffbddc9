import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { cleanup, eventually, testConfig } from './support/harness';
import { ensureBuilt } from './support/processes';

const LAB = 'dist/apps/lab/src/main.js';

/**
 * `npm run lab` serves /metrics, /healthz and /readyz without being asked, on loopback, port 9464
 * (the whole lab, as one process; route injectors on an in-memory RIB here). Another lab on the
 * machine may hold 9464: then the lab says so in one warning and runs on without metrics.
 */
describe('npm run lab: metrics on by default', () => {
  const config = testConfig();
  let child: ChildProcess | undefined;
  let out = '';
  beforeAll(() => ensureBuilt(LAB));
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await cleanup(config);
  }, 30_000);

  it('serves /metrics on 127.0.0.1:9464 (or says why not) and says where', async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NATS_URL: config.natsUrl,
      DATABASE_URL: config.databaseUrl,
      LOCUS_SUBJECT_PREFIX: config.subjectPrefix,
      LOCUS_STREAM: config.streamName,
      LOCUS_BGP: 'memory',
      LOCUS_TIME_SCALE: '100',
      LOG_FORMAT: 'json',
    };
    delete env.LOCUS_METRICS_PORT;
    child = spawn(process.execPath, [LAB, '--no-console'], { cwd: join(__dirname, '..'), env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (out += String(d)));
    child.stderr!.on('data', (d) => (out += String(d)));
    const said = await eventually(
      async () => /"msg":"(metrics at http:\/\/127\.0\.0\.1:9464\/metrics|metrics not served: [^"]*)/.exec(out)?.[1],
      45_000,
      `the lab saying where its metrics are:\n${out.slice(-2000)}`,
    );
    if (said.startsWith('metrics not served')) {
      expect(said).toMatch(/9464.*--metrics-port N, or --no-metrics/); // another lab holds the port
      return;
    }
    const metrics = await fetch('http://127.0.0.1:9464/metrics');
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    for (const name of ['locus_moves_total', 'locus_convergence_seconds', 'locus_events_dropped_total', 'locus_agent_vms']) expect(text).toContain(`# TYPE ${name} `);
    expect((await fetch('http://127.0.0.1:9464/healthz')).status).toBe(200);
  }, 60_000);
});
