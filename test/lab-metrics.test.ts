import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, eventually, testConfig } from './support/harness';
import { ensureBuilt } from './support/processes';

const LAB = 'dist/apps/lab/src/main.js';

/** The environment of a test's lab: its own NATS prefix, stream and database, an in-memory RIB, JSON logs. */
function labEnv(config: ReturnType<typeof testConfig>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NATS_URL: config.natsUrl,
    DATABASE_URL: config.databaseUrl,
    LOCUS_SUBJECT_PREFIX: config.subjectPrefix,
    LOCUS_STREAM: config.streamName,
    LOCUS_BGP: 'memory',
    LOCUS_TIME_SCALE: '100',
    LOG_FORMAT: 'json',
  };
}

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
    const env = labEnv(config);
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

describe('npm run lab: stopping', () => {
  const config = testConfig();
  let child: ChildProcess | undefined;
  let out = '';
  beforeAll(() => ensureBuilt(LAB));
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await cleanup(config);
  }, 30_000);

  it('a second SIGTERM while it stops does not cut the stop short: it says so and exits cleanly', async () => {
    const env = labEnv(config);
    child = spawn(process.execPath, [LAB, '--no-console', '--no-metrics'], { cwd: join(__dirname, '..'), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let secondAt: number | undefined;
    const onOutput = (d: Buffer) => {
      out += String(d);
      // the second signal the moment the lab says it is stopping (its stop takes hundreds of ms: services, connections)
      if (secondAt === undefined && out.includes('"msg":"stopping the lab"')) {
        secondAt = performance.now();
        child!.kill('SIGTERM');
      }
    };
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);
    await eventually(async () => out.includes('"msg":"lab ready'), 45_000, `the lab to be ready:\n${out.slice(-2000)}`);
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child!.once('exit', (code, signal) => resolve([code, signal])));
    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
    console.log(`the lab exited ${(performance.now() - secondAt!).toFixed(0)} ms after the second SIGTERM`);
    expect(out).toMatch(/"msg":"already stopping the lab \(it exits within 15 s\)"/);
  }, 60_000);
  it('a SIGTERM while the lab starts ends it at once and takes its gobgpd speakers with it', async () => {
    out = '';
    const env = { ...labEnv(config), LOCUS_BGP: 'gobgp' };
    child = spawn(process.execPath, [LAB, '--no-console', '--no-metrics'], { cwd: join(__dirname, '..'), env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (out += String(d)));
    child.stderr!.on('data', (d: Buffer) => (out += String(d)));
    const speakersOf = (pid: number) =>
      readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
            return stat.includes('(gobgpd)') && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
          } catch {
            return false; // gone meanwhile
          }
        })
        .map(Number);
    // the lab is starting its route injectors: their gobgpd speakers run, the lab is not ready yet
    const speakers = await eventually(async () => (speakersOf(child!.pid!).length >= 2 ? speakersOf(child!.pid!) : undefined), 45_000, `gobgpd speakers of the lab:\n${out.slice(-2000)}`);
    expect(out).not.toMatch(/"msg":"lab ready/);
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child!.once('exit', (code, signal) => resolve([code, signal])));
    child.kill('SIGTERM');
    expect(await exited).toEqual([143, null]);
    expect(out).toMatch(/"msg":"SIGTERM while the lab was starting: exiting, and the gobgpd speakers and guests it started with it"/);
    await eventually(async () => (speakers.every((pid) => !existsSync(`/proc/${pid}`)) ? true : undefined), 5_000, 'the speakers to be gone');
  }, 60_000);
});
