import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { connect, type NatsConnection } from 'nats';
import { Client } from 'pg';
import { subjects } from '@locus/contracts';
import { dropDatabase } from '@locus/eventstore';
import { deleteStreamIfExists } from '@locus/messaging';
import { defaultTopologyPath, loadTopologyFile } from '@locus/topology';
import { seededRandom } from '../libs/platform/src/stats';
import { ChildSet, freePort, requestJson, tail, until, type Child } from './bench/lab';
import { buildSoakReport, renderSoakTable, type FaultWindow, type SoakFacts } from './soak/check';

/**
 * `npm run soak`: mixed moves against a lab whose manager and agents (one process per
 * hypervisor) run as child processes on a private nats-server, while a seeded fault injector
 * kills -9 services and nats-server, SIGSTOPs processes for 1–5 s and terminates the lab
 * database's Postgres backends. A checker then reads the event store and every agent and prints
 * what was lost, duplicated, double-located, drifting, spuriously failed over, or left unfinished.
 */
const program = new Command()
  .name('npm run soak --')
  .option('--quick', 'the CI preset: 60 s of moves and faults, ≤ 3 minutes in all')
  .option('--duration <s>', 'seconds of moves and faults (default 60 with --quick, else 600)')
  .option('--seed <n>', 'seed of the fault and move schedule (default: random, printed)')
  .option('--time-scale <n>', 'simulated ms per real ms', '50')
  .option('--drain <s>', 'seconds to wait after the last fault for every move to end', '45')
  .option('--json', 'print the result as JSON instead of a table')
  .option('--keep', 'keep the database, stream and logs (printed) for a look afterwards')
  .parse();
const opts = program.opts<{ quick?: boolean; duration?: string; seed?: string; timeScale: string; drain: string; json?: boolean; keep?: boolean }>();

const PG_BASE = process.env.SOAK_PG_BASE ?? 'postgres://postgres@127.0.0.1:5432';
const NATS_BINARY = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';
const MANAGER = join(__dirname, '..', 'apps', 'mobility-manager', 'src', 'main.js');
const AGENT = join(__dirname, '..', 'apps', 'hypervisor-agent', 'src', 'main.js');
/** Simulated heartbeat and failure timeout; at time scale 50 that is 0.4 s and 4 s of real time. */
const HEARTBEAT_SIM_MS = 20_000;
const HOST_TIMEOUT_SIM_MS = 200_000;
const MODES = ['cold', 'warm', 'hot'] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => {
  if (!opts.json) process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

async function main(): Promise<number> {
  const durationS = Number(opts.duration ?? (opts.quick ? 60 : 600));
  const seed = Number(opts.seed ?? Math.floor(Math.random() * 2 ** 31));
  const timeScale = Number(opts.timeScale);
  const drainS = Number(opts.drain);
  if (![durationS, seed, timeScale, drainS].every(Number.isFinite) || durationS <= 0 || timeScale <= 0) throw new Error('--duration, --seed, --time-scale and --drain take numbers (duration and time scale > 0)');
  // Two generators: the faults' schedule does not depend on how many moves went out meanwhile.
  const faultRand = seededRandom(seed);
  const moveRand = seededRandom(seed ^ 0x5bd1e995);
  const pick = <T>(xs: readonly T[], rand = faultRand): T => xs[Math.floor(rand() * xs.length)];
  const between = (lo: number, hi: number, rand = faultRand) => lo + rand() * (hi - lo);

  const id = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'locus-soak-'));
  const databaseUrl = `${PG_BASE}/locus_soak_${id}`;
  const prefix = `soak${id}`;
  const stream = `SOAK_${id}`;
  const { index: topology } = loadTopologyFile(defaultTopologyPath());
  const hosts = topology.topology.hypervisors.map((h) => h.name);
  const hostTimeoutRealMs = HOST_TIMEOUT_SIM_MS / timeScale;
  log(`seed ${seed}, ${durationS} s of faults, time scale ${timeScale}, database locus_soak_${id}, prefix ${prefix}, logs in ${dir}`);

  const children = new ChildSet();
  const natsPort = await freePort();
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const natsDir = join(dir, 'nats');
  let nats: Child | undefined;
  const startNats = async () => {
    nats = children.spawn('nats-server', NATS_BINARY, ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', natsDir], process.env, dir);
    await until('nats-server', async () => (await connect({ servers: natsUrl, maxReconnectAttempts: 0, timeout: 500 }).then((c) => c.close()), true), 15_000, [nats]);
  };
  const env = {
    ...process.env,
    NATS_URL: natsUrl,
    DATABASE_URL: databaseUrl,
    LOCUS_SUBJECT_PREFIX: prefix,
    LOCUS_STREAM: stream,
    LOCUS_TIME_SCALE: String(timeScale),
    LOCUS_HA: 'true',
    LOCUS_HEARTBEAT_MS: String(HEARTBEAT_SIM_MS),
    LOCUS_HOST_TIMEOUT_MS: String(HOST_TIMEOUT_SIM_MS),
    LOCUS_CONVERGENCE: 'false',
    LOCUS_DRIFT_INTERVAL_MS: '0',
    LOG_LEVEL: 'info',
  };
  const s = subjects(prefix);
  const services = new Map<string, Child>();
  const killedBySoak = new Set<Child>();
  const crashes: string[] = [];
  let stopping = false;
  // A supervisor, as a deployment has: a service that exits on its own is counted and started again.
  const spawnService = (name: string) => {
    const c = name === 'manager' ? children.spawn('manager', process.execPath, [MANAGER], env, dir) : children.spawn(name, process.execPath, [AGENT], { ...env, LOCUS_HYPERVISORS: name }, dir);
    services.set(name, c);
    c.process.once('exit', (code, signal) => {
      if (stopping || killedBySoak.has(c)) return;
      crashes.push(`${name} exited by itself (${code ?? signal})`);
      log(`${name} exited by itself (${code ?? signal}); starting it again`);
      setTimeout(() => !stopping && services.get(name) === c && spawnService(name), 1000);
    });
    return c;
  };
  let nc: NatsConnection | undefined;
  const ready = async (name: string, timeoutMs = 60_000) => {
    const c = services.get(name)!;
    const lastVm = topology.topology.vms[topology.topology.vms.length - 1].name;
    if (name === 'manager') await until('the manager to place every VM', async () => ((await requestJson(nc!, s.request('vm.get'), { vm: lastVm }, 2000)).ok ? true : undefined), timeoutMs, [c]);
    else await until(`agent ${name}`, async () => ((await requestJson(nc!, s.agent(name, 'inventory'), {}, 2000)).ok !== false ? true : undefined), timeoutMs, [c]);
  };

  const faults: FaultWindow[] = [];
  const sent: { requestId: string; vm: string; to: string; mode: string; moveId?: string; refused?: string; unanswered?: boolean }[] = [];
  let exitCode = 1;
  let pg: Client | undefined;
  try {
    await startNats();
    nc = await connect({ servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    spawnService('manager');
    await ready('manager');
    for (const h of hosts) spawnService(h);
    await Promise.all(hosts.map((h) => ready(h)));
    log(`lab ready: manager + ${hosts.length} agent processes`);

    const started = Date.now();
    const endAt = started + durationS * 1000;
    // Moves: one every ~0.3 s, a random VM to a random host of its L2 domain, a random mode (the manager refuses what does not fit).
    const moving = (async () => {
      let n = 0;
      while (Date.now() < endAt) {
        const vm = pick(topology.topology.vms, moveRand);
        // Where the VM is now (when the manager answers), so that most moves go somewhere.
        const here = (await requestJson(nc!, s.request('vm.get'), { vm: vm.name }, 2000).catch(() => undefined))?.vm?.hypervisor;
        const targets = topology.topology.hypervisors.filter((h) => h.l2Domains.includes(vm.l2Domain) && h.name !== here);
        if (!targets.length) continue; // a VM whose L2 domain has one host cannot move
        const to = pick(targets, moveRand).name;
        const mode = pick(MODES, moveRand);
        const entry: (typeof sent)[number] = { requestId: `soak-${id}-${n++}`, vm: vm.name, to, mode };
        sent.push(entry);
        // Asked again with the same idempotency key when unanswered: the same key returns the same move.
        for (let attempt = 0; attempt < 4 && !entry.moveId && !entry.refused; attempt++) {
          try {
            const r = await requestJson(nc!, s.request('vm.move'), { vm: vm.name, to, mode, requestId: entry.requestId }, 3000);
            if (r.ok) entry.moveId = r.moveId;
            else entry.refused = r.error?.code ?? 'refused';
          } catch {
            await sleep(500);
          }
        }
        entry.unanswered = !entry.moveId && !entry.refused;
        await sleep(between(100, 500, moveRand));
      }
    })();

    // Faults: one at a time, a random pause between them.
    pg = new Client({ connectionString: databaseUrl });
    // Its own backend is spared by the fault, but not by the final DROP DATABASE … WITH (FORCE) after a failure.
    pg.on('error', (err) => log(`soak's Postgres connection: ${err.message}`));
    await pg.connect();
    const injecting = (async () => {
      await sleep(between(1000, 3000));
      while (Date.now() < endAt) {
        const kind = pick(['kill-service', 'kill-service', 'kill-nats', 'stop', 'stop', 'pg-terminate'] as const);
        const at = Date.now();
        if (kind === 'kill-service') {
          const name = pick(['manager', ...hosts]);
          killedBySoak.add(services.get(name)!);
          services.get(name)!.process.kill('SIGKILL');
          await sleep(between(500, 3000));
          spawnService(name);
          await ready(name).catch((err) => log(`${name} did not come back: ${(err as Error).message}`));
          faults.push({ kind, target: name, startMs: at - started, endMs: Date.now() - started });
        } else if (kind === 'kill-nats') {
          nats!.process.kill('SIGKILL');
          await sleep(between(1000, 4000));
          await startNats();
          faults.push({ kind, target: 'nats-server', startMs: at - started, endMs: Date.now() - started });
        } else if (kind === 'stop') {
          const name = pick(['manager', 'nats-server', ...hosts]);
          const proc = name === 'nats-server' ? nats!.process : services.get(name)!.process;
          proc.kill('SIGSTOP');
          await sleep(between(1000, 5000));
          proc.kill('SIGCONT');
          faults.push({ kind, target: name, startMs: at - started, endMs: Date.now() - started });
        } else {
          const r = await pg
            .query(`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
            .catch(() => ({ rows: [{ n: -1 }] }));
          faults.push({ kind, target: `${r.rows[0].n} backends`, startMs: at - started, endMs: Date.now() - started });
        }
        const f = faults[faults.length - 1];
        log(`fault ${kind} ${f.target}: ${((f.endMs - f.startMs) / 1000).toFixed(1)} s`);
        await sleep(between(2000, 6000));
      }
    })();
    await Promise.all([moving, injecting]);
    const lastFaultEndMs = faults.length ? Math.max(...faults.map((f) => f.endMs)) : 0;
    log(`faults over (${faults.length}); draining up to ${drainS} s`);

    // Drain: every move the store accepted ends, or the drain runs out.
    const openMoves = async () =>
      (
        await pg!.query(
          `SELECT count(*)::int AS n FROM events a WHERE a.type = 'MoveAccepted' AND NOT EXISTS (
             SELECT 1 FROM events t WHERE t.type IN ('MoveCompleted','MoveConverged','MoveFailed','MoveCancelled') AND t.data->>'moveId' = a.data->>'moveId')`,
        )
      ).rows[0].n as number;
    const drainEnd = Date.now() + drainS * 1000;
    while ((await openMoves()) > 0 && Date.now() < drainEnd) await sleep(500);

    // Facts: the event store, every agent's inventory, the manager's drift check.
    const events = (await pg.query(`SELECT id, type, data, extract(epoch FROM recorded_at) * 1000 AS at FROM events ORDER BY position`)).rows.map((r) => ({
      id: r.id as string,
      type: r.type as string,
      data: r.data,
      atMs: Number(r.at) - started,
    }));
    await pg.end();
    pg = undefined;
    const inventories = new Map<string, string[] | undefined>();
    for (const h of hosts) {
      const r = await requestJson(nc, s.agent(h, 'inventory'), {}, 5000).catch(() => undefined);
      inventories.set(h, r?.vms?.map((v: { name: string }) => v.name));
    }
    const drift = await requestJson(nc, s.request('drift.check'), {}, 15_000).catch((err) => ({ ok: false, error: { message: (err as Error).message } }));
    const facts: SoakFacts = { seed, durationS, timeScale, hostTimeoutRealMs, heartbeatRealMs: HEARTBEAT_SIM_MS / timeScale, lastFaultEndMs, sent, faults, events, inventories, drift, crashes };
    const report = buildSoakReport(facts);
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderSoakTable(report));
    exitCode = report.ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`soak failed: ${(err as Error).message}\n`);
    for (const c of children.children.slice(-3)) process.stderr.write(`--- ${c.name} ---\n${tail(c.logFile, 10)}\n`);
  } finally {
    stopping = true;
    await pg?.end().catch(() => undefined);
    for (const c of children.children) if (children.alive(c)) c.process.kill('SIGCONT');
    await nc?.close().catch(() => undefined);
    await children.stop(children.children.filter((c) => c.name !== 'nats-server'));
    if (!opts.keep) {
      const admin = await connect({ servers: natsUrl, maxReconnectAttempts: 0 }).catch(() => undefined);
      if (admin) {
        await deleteStreamIfExists(await admin.jetstreamManager(), stream).catch(() => undefined);
        await admin.close();
      }
      await dropDatabase(databaseUrl).catch((err) => log(`could not drop locus_soak_${id}: ${(err as Error).message}`));
    }
    await children.stopAll();
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
    else log(`kept: database locus_soak_${id}, logs ${dir}`);
  }
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`soak failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
