import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { connect, type NatsConnection } from 'nats';
import { Client } from 'pg';
import { mappingSubjects, subjects } from '@locus/contracts';
import { dropDatabase } from '@locus/eventstore';
import { deleteStreamIfExists, natsServers } from '@locus/messaging';
import { generateKeySeed } from '../apps/mapping-system/src';
import { defaultTopologyPath, loadTopologyFile } from '@locus/topology';
import { seededRandom } from '@locus/platform';
import { ChildSet, requestJson, tail, until, type Child } from './bench/lab';
import { buildSoakReport, renderSoakTable, type FaultWindow, type SoakFacts } from './soak/check';
import { NatsNodes } from './soak/nats-nodes';
import { PrivatePostgres } from './soak/private-postgres';

/**
 * `npm run soak`: mixed moves against a lab whose every service runs as a child process (the
 * manager, one agent per hypervisor, the mapping system, the route injectors, the ARP proxies), on
 * NATS of its own (by default a 3-node JetStream cluster with the event stream on 3 replicas) and
 * Postgres of its own, while a seeded fault injector kills -9 services and NATS nodes, SIGSTOPs
 * processes for 1–5 s, stops Postgres itself (immediate mode) and terminates its backends. A checker
 * then reads the event store, every agent and the drift check, and prints what was lost, duplicated,
 * double-located, drifting, left unconverged, spuriously failed over, or left unfinished.
 */
const program = new Command()
  .name('npm run soak --')
  .option('--quick', 'the CI preset: 60 s of moves and faults, ≤ 3 minutes in all')
  .option('--duration <s>', 'seconds of moves and faults (default 60 with --quick, else 600)')
  .option('--seed <n>', 'seed of the fault and move schedule (default: random, printed)')
  .option('--time-scale <n>', 'simulated ms per real ms', '50')
  .option('--drain <s>', 'seconds to wait after the last fault for every move to end', '45')
  .option('--nats <layout>', 'cluster: three nats-servers, the stream on 3 replicas, one node killed at a time; single: one nats-server, killed outright', 'cluster')
  .option('--postgres <where>', 'private: a cluster of its own, stopped and started by the faults (default where initdb runs); shared: SOAK_PG_BASE, only its backends terminated')
  .option('--json', 'print the result as JSON instead of a table')
  .option('--keep', 'keep the database, stream and logs (printed) for a look afterwards')
  .parse();
const opts = program.opts<{ quick?: boolean; duration?: string; seed?: string; timeScale: string; drain: string; nats: string; postgres?: string; json?: boolean; keep?: boolean }>();

const SHARED_PG_BASE = process.env.SOAK_PG_BASE ?? 'postgres://postgres@127.0.0.1:5432';
const NATS_BINARY = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';
const appMain = (app: string) => join(__dirname, '..', 'apps', app, 'src', 'main.js');
/** Simulated heartbeat and failure timeout; at time scale 50 that is 0.4 s and 4 s of real time. */
const HEARTBEAT_SIM_MS = 20_000;
const HOST_TIMEOUT_SIM_MS = 200_000;
const MODES = ['cold', 'warm', 'hot'] as const;
/** The plane services, one process each, beside the manager and the agents. */
const PLANES = { 'mapping-system': 'mapping-system', 'route-injector': 'route-injector', 'arp-proxy': 'arp-proxy' } as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => {
  if (!opts.json) process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

async function main(): Promise<number> {
  const durationS = Number(opts.duration ?? (opts.quick ? 60 : 600));
  const seed = Number(opts.seed ?? Math.floor(Math.random() * 2 ** 31));
  const timeScale = Number(opts.timeScale);
  const drainS = Number(opts.drain);
  if (![durationS, seed, timeScale, drainS].every(Number.isFinite) || durationS <= 0 || timeScale <= 0)
    throw new Error('--duration, --seed, --time-scale and --drain take numbers (duration and time scale > 0)');
  if (opts.nats !== 'cluster' && opts.nats !== 'single') throw new Error(`--nats is cluster or single, not ${opts.nats}`);
  const pgWhere = PrivatePostgres.locate();
  if (opts.postgres !== undefined && opts.postgres !== 'private' && opts.postgres !== 'shared') throw new Error(`--postgres is private or shared, not ${opts.postgres}`);
  if (opts.postgres === 'private' && 'unavailable' in pgWhere) throw new Error(`--postgres private: ${pgWhere.unavailable}`);
  const privatePg = opts.postgres !== 'shared' && 'bin' in pgWhere;
  // Two generators: the faults' schedule does not depend on how many moves went out meanwhile.
  const faultRand = seededRandom(seed);
  const moveRand = seededRandom(seed ^ 0x5bd1e995);
  const pick = <T>(xs: readonly T[], rand = faultRand): T => xs[Math.floor(rand() * xs.length)];
  const between = (lo: number, hi: number, rand = faultRand) => lo + rand() * (hi - lo);

  const id = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'locus-soak-'));
  const prefix = `soak${id}`;
  const stream = `SOAK_${id}`;
  const { index: topology } = loadTopologyFile(defaultTopologyPath());
  const hosts = topology.topology.hypervisors.map((h) => h.name);
  const sites = topology.topology.sites.map((x) => x.name);
  const hostTimeoutRealMs = HOST_TIMEOUT_SIM_MS / timeScale;
  log(
    `seed ${seed}, ${durationS} s of faults, time scale ${timeScale}, NATS ${opts.nats === 'cluster' ? '3-node JetStream cluster (stream R3)' : 'one server'}, ` +
      `Postgres ${privatePg ? 'of its own (stopped by faults)' : `shared (backends terminated${'unavailable' in pgWhere ? `; no private cluster: ${pgWhere.unavailable}` : ''})`}, prefix ${prefix}, logs in ${dir}`,
  );

  const children = new ChildSet();
  let nats: NatsNodes | undefined;
  let pgServer: PrivatePostgres | undefined;
  let databaseUrl = `${SHARED_PG_BASE}/locus_soak_${id}`;
  const services = new Map<string, Child>();
  const killedBySoak = new Set<Child>();
  const crashes: string[] = [];
  let stopping = false;
  let nc: NatsConnection | undefined;
  const faults: FaultWindow[] = [];
  const sent: { requestId: string; vm: string; to: string; mode: string; moveId?: string; refused?: string; unanswered?: boolean }[] = [];
  let exitCode = 1;
  /** One short-lived connection per query: the soak's own link must not depend on a Postgres that faults restart. */
  const query = async (sql: string) => {
    const c = new Client({ connectionString: databaseUrl });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return (await c.query(sql)).rows;
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  try {
    nats = await NatsNodes.start(children, NATS_BINARY, join(dir, 'nats'), opts.nats === 'cluster' ? 3 : 1);
    if (privatePg) {
      pgServer = await PrivatePostgres.start(children, (pgWhere as { bin: string }).bin, dir);
      databaseUrl = `${pgServer.url}/locus_soak`;
    }
    const env = {
      ...process.env,
      NATS_URL: nats.url,
      DATABASE_URL: databaseUrl,
      LOCUS_SUBJECT_PREFIX: prefix,
      LOCUS_STREAM: stream,
      LOCUS_STREAM_REPLICAS: nats.clustered ? '3' : '1',
      LOCUS_TIME_SCALE: String(timeScale),
      LOCUS_HA: 'true',
      LOCUS_HEARTBEAT_MS: String(HEARTBEAT_SIM_MS),
      LOCUS_HOST_TIMEOUT_MS: String(HOST_TIMEOUT_SIM_MS),
      LOCUS_DRIFT_INTERVAL_MS: '0',
      // every mapping-system process of the run shares this seed; a new one per run
      LOCUS_MAPPING_KEY_SEED: generateKeySeed(),
      LOCUS_BGP: 'memory',
      LOG_LEVEL: 'info',
    };
    const s = subjects(prefix);
    const ms = mappingSubjects(prefix);
    // A supervisor, as a deployment has: a service that exits on its own is counted and started again.
    const spawnService = (name: string) => {
      const app = name === 'manager' ? 'mobility-manager' : name in PLANES ? PLANES[name as keyof typeof PLANES] : 'hypervisor-agent';
      const c = children.spawn(name, process.execPath, [appMain(app)], app === 'hypervisor-agent' ? { ...env, LOCUS_HYPERVISORS: name } : env, dir);
      services.set(name, c);
      c.process.once('exit', (code, signal) => {
        if (stopping || killedBySoak.has(c)) return;
        crashes.push(`${name} exited by itself (${code ?? signal})`);
        log(`${name} exited by itself (${code ?? signal}); starting it again`);
        setTimeout(() => !stopping && services.get(name) === c && spawnService(name), 1000);
      });
      return c;
    };
    const lastVm = topology.topology.vms[topology.topology.vms.length - 1].name;
    // A site each plane serves (the route injectors only where the topology injects host routes).
    const routeSite = topology.topology.sites.find((x) => x.hostRoutes)!.name;
    const arpSite = sites[0];
    const probes: Record<string, () => Promise<boolean>> = {
      manager: async () => (await requestJson(nc!, s.request('vm.get'), { vm: lastVm }, 2000)).ok === true,
      'mapping-system': async () => (await requestJson(nc!, ms.list, { limit: 1 }, 2000)).ok === true,
      'route-injector': async () => {
        const r = await requestJson(nc!, `${prefix}.routes.list`, { site: routeSite, limit: 1 }, 2000);
        return r.ok === true && !r.sites?.[0]?.unavailable;
      },
      'arp-proxy': async () => {
        const r = await requestJson(nc!, `${prefix}.arp.list`, { site: arpSite }, 2000);
        return r.ok === true && !r.sites?.[0]?.unavailable;
      },
    };
    const ready = async (name: string, timeoutMs = 60_000) => {
      const probe = probes[name] ?? (async () => (await requestJson(nc!, s.agent(name, 'inventory'), {}, 2000)).ok !== false);
      await until(name === 'manager' ? 'the manager to place every VM' : name, async () => ((await probe()) ? true : undefined), timeoutMs, [services.get(name)!]);
    };

    nc = await connect({ servers: natsServers(nats.url), maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    spawnService('manager');
    await ready('manager');
    const rest = [...hosts, ...Object.keys(PLANES)];
    for (const name of rest) spawnService(name);
    await Promise.all(rest.map((name) => ready(name)));
    log(`lab ready: manager, ${hosts.length} agent processes, ${Object.keys(PLANES).join(', ')}`);

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
    const stoppable = ['manager', ...hosts, ...Object.keys(PLANES)];
    const kinds = ['kill-service', 'kill-service', 'kill-nats', 'stop', 'stop', 'pg-terminate', ...(pgServer ? (['pg-stop'] as const) : [])] as const;
    const injecting = (async () => {
      await sleep(between(1000, 3000));
      while (Date.now() < endAt) {
        const kind = pick(kinds);
        const at = Date.now();
        let target: string;
        if (kind === 'kill-service') {
          target = pick(stoppable);
          killedBySoak.add(services.get(target)!);
          services.get(target)!.process.kill('SIGKILL');
          await sleep(between(500, 3000));
          spawnService(target);
          await ready(target).catch((err) => log(`${target} did not come back: ${(err as Error).message}`));
        } else if (kind === 'kill-nats') {
          // On a cluster one node at a time (the other two keep the quorum); a single server goes down outright.
          target = pick(nats!.names);
          nats!.child(target).process.kill('SIGKILL');
          await sleep(between(1000, 4000));
          await nats!.restart(target);
        } else if (kind === 'stop') {
          target = pick([...stoppable, ...nats!.names]);
          const isNats = target.startsWith('nats-');
          const proc = isNats ? nats!.child(target).process : services.get(target)!.process;
          proc.kill('SIGSTOP');
          // A NATS node frozen past the failure timeout cuts the agents connected to it off from the
          // manager, which cannot tell that from a failed host (and is right to fail it over, fenced):
          // node freezes stay well under the timeout (2.5 s of 4 s), a service's go up to 5 s.
          await sleep(isNats ? between(1000, 2500) : between(1000, 5000));
          proc.kill('SIGCONT');
        } else if (kind === 'pg-stop') {
          target = 'postgres (immediate)';
          await pgServer!.stopImmediately();
          await sleep(between(1000, 4000));
          await pgServer!.startServer();
        } else {
          const rows = await query(`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).catch(() => [{ n: -1 }]);
          target = `${rows[0].n} backends`;
        }
        faults.push({ kind, target, startMs: at - started, endMs: Date.now() - started });
        log(`fault ${kind} ${target}: ${((Date.now() - at) / 1000).toFixed(1)} s`);
        await sleep(between(2000, 6000));
      }
    })();
    await Promise.all([moving, injecting]);
    const lastFaultEndMs = faults.length ? Math.max(...faults.map((f) => f.endMs)) : 0;
    log(`faults over (${faults.length}); draining up to ${drainS} s`);

    // Drain: every move the store accepted ends, and every completed one not superseded has its convergence verdict, or the drain runs out.
    const unfinished = async () =>
      (
        await query(
          `SELECT (SELECT count(*) FROM events a WHERE a.type = 'MoveAccepted' AND NOT EXISTS (
              SELECT 1 FROM events t WHERE t.type IN ('MoveCompleted','MoveConverged','MoveFailed','MoveCancelled') AND t.data->>'moveId' = a.data->>'moveId'))
           + (SELECT count(*) FROM events c WHERE c.type = 'MoveCompleted' AND NOT EXISTS (
              SELECT 1 FROM events v WHERE v.type IN ('MoveConverged','MoveConvergenceLate') AND v.data->>'moveId' = c.data->>'moveId')
              -- a later relocation of the VM supersedes it: no verdict will come, none is owed
              AND NOT EXISTS (SELECT 1 FROM events r WHERE r.stream_id = c.stream_id AND r.type = 'VmRelocated' AND r.position > c.position))::int AS n`,
        ).catch(() => [{ n: -1 }])
      )[0].n as number;
    const drainEnd = Date.now() + drainS * 1000;
    while ((await unfinished()) !== 0 && Date.now() < drainEnd) await sleep(500);

    // Facts: the event store, every agent's inventory, the manager's drift check.
    const events = (await query(`SELECT id, type, data, extract(epoch FROM recorded_at) * 1000 AS at FROM events ORDER BY position`)).map((r) => ({
      id: r.id as string,
      type: r.type as string,
      data: r.data,
      atMs: Number(r.at) - started,
    }));
    const inventories = new Map<string, string[] | undefined>();
    for (const h of hosts) {
      const r = await requestJson(nc, s.agent(h, 'inventory'), {}, 5000).catch(() => undefined);
      inventories.set(
        h,
        r?.vms?.map((v: { name: string }) => v.name),
      );
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
    for (const c of children.children) if (children.alive(c)) c.process.kill('SIGCONT');
    await nc?.close().catch(() => undefined);
    // The services first, then NATS and Postgres under them.
    await children.stop(children.children.filter((c) => !c.name.startsWith('nats-') && c.name !== 'postgres'));
    if (!opts.keep && !pgServer) {
      const admin = nats && (await connect({ servers: natsServers(nats.url), maxReconnectAttempts: 0 }).catch(() => undefined));
      if (admin) {
        await deleteStreamIfExists(await admin.jetstreamManager(), stream).catch(() => undefined);
        await admin.close();
      }
      await dropDatabase(databaseUrl).catch((err) => log(`could not drop locus_soak_${id}: ${(err as Error).message}`));
    }
    await children.stopAll();
    if (!opts.keep) {
      rmSync(dir, { recursive: true, force: true });
      pgServer?.remove();
    } else
      log(
        `kept: logs and NATS stores in ${dir}${pgServer ? `, the Postgres cluster in ${pgServer.dataDir} (start: postgres -D ${pgServer.dataDir} -p ${pgServer.port})` : `, database locus_soak_${id}`}`,
      );
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
