import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { connect, type NatsConnection } from 'nats';
import { Client } from 'pg';
import { mappingSubjects, subjects } from '@locus/contracts';
import { listAllVms } from '@locus/messaging';
import { seededRandom as rng, slope, summarize, TokenBucket } from '../libs/platform/src/stats';
import { generateTopology, renderTopologyYaml } from '../libs/topology/src/generate';
import { MoveBoard } from './cli/moves';
import { gobgpPropagation, natsRoundTripFloor, postgresCommitFloor } from './bench/floors';
import { allProcessCpu, ChildSet, machineCpu, requestJson, sampleProc, topCpu, SERVICES, startPrivateNats, tail, until, type Child, type ProcSample } from './bench/lab';
import { renderReport, type BenchResult } from './bench/report';

/**
 * `npm run bench` (node dist/tools/bench.js): drives cold moves against a lab at a given rate and
 * prints convergence percentiles, sustained moves/s, events appended/s, the services' peak RSS, and,
 * measured in the same run, the floors C (a single-row Postgres commit) and H (a NATS request/reply
 * round trip) with every result as a ratio to them, and GoBGP's propagation of one /32 to the core.
 * By default it starts its own lab (one process per service, fresh database, subject prefix and
 * stream, generated topology) and removes everything when it ends, also on Ctrl-C. See docs/benchmark.md.
 */

interface Opts {
  quick?: boolean;
  vms?: number;
  itrs?: number;
  hypervisorsPerSite: number;
  rate?: number;
  duration?: number;
  bootMs: number;
  shutdownMs: number;
  cacheFraction: number;
  idle?: boolean;
  attach?: boolean;
  json?: boolean;
  natsServer: 'auto' | 'shared' | 'private';
  logLevel: string;
  drain: number;
  startupTimeout: number;
  gobgp: boolean;
  keep?: boolean;
  pids?: string;
  maxInFlight: number;
  seed: number;
  sitesPerProcess?: number;
  planesTimeout?: number;
}

const num = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`not a non-negative number: ${v}`);
  return n;
};

const program = new Command()
  .name('npm run bench --')
  .description('Cold moves against a lab at a target rate: convergence, throughput, events/s, RSS, with the floors C and H measured in the same run.')
  .option('--quick', 'small preset: 1,000 VMs, 10 ITRs, 50 moves/s for 20 s (under 2 minutes in all)')
  .option('--vms <n>', 'VMs (default 10,000; --quick 1,000)', num)
  .option('--itrs <n>', 'sites, one ITR each (default 50; --quick 10)', num)
  .option('--hypervisors-per-site <n>', 'hypervisors per site', num, 2)
  .option('--rate <n>', 'moves offered per second (default 100; --quick 50)', num)
  .option('--duration <s>', 'seconds of load (default 60; --quick 20)', num)
  .option('--boot-ms <n>', 'guest boot time of every VM (0: pure control-plane cost)', num, 0)
  .option('--shutdown-ms <n>', 'guest shutdown time of every VM', num, 0)
  .option('--zero-boot', 'boot and shutdown of 0 ms (the default; said explicitly)')
  .option('--cache-fraction <f>', 'share of the EIDs each ITR caches before the load (so moves have ITRs to update)', num, 0.05)
  .option('--idle', 'no moves: start the lab, let it settle and measure memory (e.g. --vms 100000 --idle)')
  .option('--attach', 'measure a running lab (NATS_URL, DATABASE_URL, LOCUS_SUBJECT_PREFIX, LOCUS_STREAM) instead of starting one')
  .option('--pids <list>', 'with --attach: name=pid,... of the lab processes whose RSS to report')
  .option('--json', 'print the result as JSON (the human report goes to stderr)')
  .addOption(new Option('--nats-server <which>', 'auto: the shared NATS unless vm.list would outgrow its max_payload, then a private nats-server').choices(['auto', 'shared', 'private']).default('auto'))
  .option('--log-level <level>', 'log level of the lab services (their logs go to files in the run folder)', 'warn')
  .option('--drain <s>', 'seconds to wait after the load for moves to finish and converge', num, 20)
  .option('--startup-timeout <s>', 'seconds the manager may take to place the VMs (and each later start-up step)', num, 600)
  .option('--planes-timeout <s>', 'seconds each plane service may take to load (with --idle: then memory is measured anyway)', num)
  .option('--no-gobgp', 'skip the GoBGP propagation floor')
  .option('--keep', 'keep the run folder (topology, service logs) and print where it is')
  .option('--max-in-flight <n>', 'vm.move requests awaiting a reply at most', num, 2000)
  .option('--seed <n>', 'seed of the random choices', num, 1)
  .option('--sites-per-process <n>', 'sites per mapping-system / route-injector / arp-proxy process (default: all, or fewer on big labs so their snapshots load)', num)
  .parse();

const o = program.opts<Opts>();
// `npm run bench --quick` (without `--`) hands --quick to npm, which passes it on as npm_config_quick
if (process.env.npm_config_quick === 'true') o.quick = true;
const preset = o.quick ? 'quick' : 'default';
const V = o.vms ?? (o.quick ? 1000 : 10_000);
const I = o.itrs ?? (o.quick ? 10 : 50);
const RATE = o.rate ?? (o.quick ? 50 : 100);
const DURATION_S = o.duration ?? (o.quick ? 20 : 60);

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);


const children = new ChildSet();
let cleanupFn: (() => Promise<void>) | undefined;
let cleanupRun: Promise<void> | undefined;
/** Runs the cleanup once; every caller (normal end, error, Ctrl-C) waits for the same run. */
const cleanup = (): Promise<void> =>
  (cleanupRun ??= (cleanupFn?.() ?? Promise.resolve()).catch((err: Error) => {
    log(`cleanup: ${err.message}`);
  }));
let aborted = false;

async function main(): Promise<void> {
  const id = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `locus-bench-${id}-`));
  const random = rng(o.seed);
  const notes: string[] = [];
  const pgBase = process.env.BENCH_PG_BASE ?? 'postgres://postgres@127.0.0.1:5432';
  const sharedNats = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const prefix = o.attach ? (process.env.LOCUS_SUBJECT_PREFIX ?? 'locus') : `bench${id}`;
  const stream = o.attach ? (process.env.LOCUS_STREAM ?? 'LOCUS_EVENTS') : `BENCH_${id}`;
  const databaseUrl = o.attach ? (process.env.DATABASE_URL ?? `${pgBase}/locus`) : `${pgBase}/locus_bench_${id}`;
  const s = subjects(prefix);
  let natsUrl = sharedNats;
  let natsServer: 'shared' | 'private' = 'shared';
  const services: Child[] = [];
  let pg: Client | undefined;
  let nc: NatsConnection | undefined;
  let nc2: NatsConnection | undefined;

  cleanupFn = async () => {
    log('cleaning up: stopping the lab processes, dropping the database and the stream');
    await pg?.end().catch(() => undefined);
    await children.stopAll(3000);
    if (!o.attach) {
      if (natsServer === 'shared') {
        const c = await connect({ servers: natsUrl, maxReconnectAttempts: 0 }).catch(() => undefined);
        if (c) {
          await (await c.jetstreamManager()).streams.delete(stream).catch(() => undefined);
          await c.close();
        }
      }
      const admin = new Client({ connectionString: `${pgBase}/postgres` });
      await admin.connect().catch(() => undefined);
      await admin.query(`DROP DATABASE IF EXISTS "locus_bench_${id}" WITH (FORCE)`).catch((err) => log(`could not drop the database: ${(err as Error).message}`));
      await admin.end().catch(() => undefined);
    }
    await nc?.close().catch(() => undefined);
    await nc2?.close().catch(() => undefined);
    if (o.keep) log(`run folder kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };

  // ---- topology ----
  let vmNames: string[];
  let vmIp = new Map<string, string>();
  let vmSite = new Map<string, string>();
  let hvsBySite = new Map<string, string[]>();
  let hostRouteSites = new Set<string>();
  let itrSites: string[] = [];
  const topologyFile = join(dir, 'topology.yaml');
  if (!o.attach) {
    const { topology, layout } = generateTopology({ sites: I, vms: V, hypervisorsPerSite: o.hypervisorsPerSite, bootMs: o.bootMs, shutdownMs: o.shutdownMs });
    writeFileSync(topologyFile, renderTopologyYaml(topology, [`locus bench ${id}`]));
    vmNames = layout.vmNames;
    for (const vm of topology.vms ?? []) {
      vmIp.set(vm.name, vm.ip);
      vmSite.set(vm.name, vm.hypervisor.replace(/-hv\d+$/, ''));
    }
    for (const hv of topology.hypervisors ?? []) hvsBySite.set(hv.site, [...(hvsBySite.get(hv.site) ?? []), hv.name]);
    hostRouteSites = new Set(layout.siteNames);
    itrSites = layout.siteNames;
  } else vmNames = [];

  // ---- NATS: shared, or a private server when vm.list would not fit in one message ----
  if (!o.attach) {
    const probe = await connect({ servers: sharedNats, maxReconnectAttempts: 0 }).catch((err: Error) => {
      throw new Error(`NATS does not answer at ${sharedNats}: ${err.message}`);
    });
    const maxPayload = probe.info?.max_payload ?? 1024 * 1024;
    await probe.close();
    const vmListBytes = V * 175; // one VmView is ~150-175 bytes of JSON
    const needPrivate = o.natsServer === 'private' || (o.natsServer === 'auto' && vmListBytes > 0.9 * maxPayload);
    if (needPrivate) {
      const priv = await startPrivateNats(children, dir);
      natsUrl = priv.url;
      natsServer = 'private';
      if (o.natsServer === 'auto')
        notes.push(
          `private nats-server (JetStream, max_payload 64 MiB) at ${natsUrl}: vm.list of ${V} VMs is ~${Math.round(vmListBytes / 1024)} KiB in one reply, over the shared server's max_payload of ${Math.round(maxPayload / 1024)} KiB (the services load their snapshot with one unpaginated vm.list)`,
        );
      log(`private nats-server at ${natsUrl}`);
    }
  }
  nc = await connect({ servers: natsUrl, name: 'locus-bench' });
  nc2 = await connect({ servers: natsUrl, name: 'locus-bench-echo' });

  // ---- floors, before the lab loads the machine ----
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model?.trim() ?? '?',
    memGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.versions.node,
    nats: nc.info?.version ?? '?',
    postgres: '?',
  };
  if (!o.attach) {
    const admin = new Client({ connectionString: `${pgBase}/postgres` });
    await admin.connect();
    await admin.query(`CREATE DATABASE "locus_bench_${id}"`);
    machine.postgres = (await admin.query('SHOW server_version')).rows[0].server_version;
    await admin.end();
  }
  log('measuring the floors: C (Postgres commit), H (NATS round trip), GoBGP /32 propagation');
  const C = await postgresCommitFloor(databaseUrl);
  const H = await natsRoundTripFloor(nc, nc2, `${prefix}.bench.echo.${id}`);
  const gobgp = o.gobgp ? await gobgpPropagation().catch((err: Error) => ({ skipped: `failed: ${err.message}` })) : { skipped: '--no-gobgp' };
  log(`C ${C.median.toFixed(3)} ms, H ${H.median.toFixed(3)} ms${'median' in gobgp ? `, GoBGP ${gobgp.median.toFixed(1)} ms` : `, GoBGP ${gobgp.skipped}`}`);

  // ---- the lab ----
  const started = performance.now();
  let placeS: number | undefined;
  let startupProblem: string | undefined;
  if (!o.attach) {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NATS_URL: natsUrl,
      DATABASE_URL: databaseUrl,
      LOCUS_TOPOLOGY: topologyFile,
      LOCUS_SUBJECT_PREFIX: prefix,
      LOCUS_STREAM: stream,
      LOCUS_TIME_SCALE: '1',
      LOCUS_HA: 'false',
      LOCUS_BGP: 'memory',
      LOG_LEVEL: o.logLevel,
      NODE_ENV: 'production',
    };
    // BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the services
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const main = (app: string) => [...nodeArgs, join(__dirname, '..', 'apps', app, 'src', 'main.js')];
    log(`starting the lab: ${V} VMs, ${I} sites, ${I * o.hypervisorsPerSite} hypervisors (logs in ${dir})`);
    const manager = children.spawn('mobility-manager', process.execPath, main('mobility-manager'), env, dir);
    services.push(manager);
    const last = vmNames[vmNames.length - 1];
    await until(`the mobility manager to place ${V} VMs`, async () => ((await requestJson(nc!, s.request('vm.get'), { vm: last }, 2000)).ok ? true : undefined), o.startupTimeout * 1000, [manager]);
    log(`manager ready, ${V} VMs placed after ${((performance.now() - started) / 1000).toFixed(1)} s; starting agents, mapping system, route injectors, ARP proxies`);
    placeS = (performance.now() - started) / 1000;
    const planesTimeoutMs = (o.planesTimeout ?? o.startupTimeout) * 1000;
    try {
      // The plane services load their snapshot with one unpaginated vm.list per site and a 3 s timeout:
      // started all at once on a big lab they time out and retry for ever. So they start in groups of
      // sites (LOCUS_SITES / LOCUS_XTR_SITES), one process per group, each ready before the next starts.
      const spp = o.sitesPerProcess ?? (V * I > 100_000 ? Math.max(1, Math.floor(100_000 / V)) : I);
      const groups: string[][] = [];
      for (let i = 0; i < itrSites.length; i += spp) groups.push(itrSites.slice(i, i + spp));
      if (groups.length > 1)
        notes.push(`the plane services ran as ${groups.length} processes each (${spp} sites per process, started one after another): started at once, their ${I * 3} concurrent unpaginated vm.list snapshots of ${V} VMs time out (3 s) and retry without end`);
      const agents = children.spawn('hypervisor-agent', process.execPath, main('hypervisor-agent'), env, dir);
      services.push(agents);
      const ms = mappingSubjects(prefix);
      const perSiteCount = (site: string) => vmNames.filter((v) => vmSite.get(v) === site).length;
      let registered = 0;
      for (const [g, group] of groups.entries()) {
        const tag = groups.length > 1 ? `#${g + 1}` : '';
        const mapping = children.spawn(`mapping-system${tag}`, process.execPath, main('mapping-system'), { ...env, LOCUS_MAP_SERVER: g === 0 ? 'true' : 'false', LOCUS_XTR_SITES: group.join(',') }, dir);
        services.push(mapping);
        registered += group.reduce((a, x) => a + perSiteCount(x), 0);
        await until(`the mapping system to hold the registrations of ${group.length} more sites`, async () => {
          const r = await requestJson(nc!, ms.list, { limit: 1 }, 3000);
          return r.ok && r.total >= registered ? true : undefined;
        }, planesTimeoutMs, [mapping]);
      }
      for (const [g, group] of groups.entries()) {
        const tag = groups.length > 1 ? `#${g + 1}` : '';
        const routes = children.spawn(`route-injector${tag}`, process.execPath, main('route-injector'), { ...env, LOCUS_SITES: group.join(',') }, dir);
        services.push(routes);
        const lastSite = group[group.length - 1];
        await until(`the route injectors of ${group.join(',')} to originate their /32s`, async () => {
          const r = await requestJson(nc!, `${prefix}.routes.list`, { site: lastSite }, 5000);
          return r.ok && !r.sites?.[0]?.unavailable && r.sites?.[0]?.routes?.length >= perSiteCount(lastSite) ? true : undefined;
        }, planesTimeoutMs, [routes]);
      }
      for (const [g, group] of groups.entries()) {
        const tag = groups.length > 1 ? `#${g + 1}` : '';
        const arp = children.spawn(`arp-proxy${tag}`, process.execPath, main('arp-proxy'), { ...env, LOCUS_SITES: group.join(',') }, dir);
        services.push(arp);
        const lastSite = group[group.length - 1];
        await until(`the ARP proxies of ${group.join(',')}`, async () => {
          const r = await requestJson(nc!, `${prefix}.arp.list`, { site: lastSite }, 5000);
          return r.ok && !r.sites?.[0]?.unavailable ? true : undefined;
        }, planesTimeoutMs, [arp]);
      }
      await until('the agents', async () => {
        const hv = hvsBySite.get(itrSites[itrSites.length - 1])![0];
        const r = await requestJson(nc!, s.agent(hv, 'inventory'), {}, 3000);
        return r.ok !== false ? true : undefined;
      }, planesTimeoutMs, [agents]);
    } catch (err) {
      if (!o.idle || aborted) throw err;
      // --idle measures memory: say what did not start and measure what runs
      startupProblem = (err as Error).message.split('\n')[0];
      notes.push(`the lab did not start completely: ${startupProblem}; memory is measured for the processes that run`);
      log(`startup incomplete: ${startupProblem}`);
    }
  } else {
    const t = await requestJson(nc, s.request('topology.get'), {}, 30_000);
    if (!t.ok) throw new Error(`topology.get: ${JSON.stringify(t.error)}`);
    const vms = await listAllVms(nc, prefix, {}, { timeoutMs: 30_000 }); // page by page: one reply stays under max_payload
    vmNames = vms.filter((v) => v.state === 'running').map((v) => v.name);
    vmIp = new Map(vms.map((v) => [v.name, v.ip]));
    vmSite = new Map(vms.map((v) => [v.name, v.site]));
    hvsBySite = new Map();
    for (const hv of t.topology.hypervisors) hvsBySite.set(hv.site, [...(hvsBySite.get(hv.site) ?? []), hv.name]);
    hostRouteSites = new Set(t.topology.sites.filter((x: any) => x.hostRoutes).map((x: any) => x.name));
    itrSites = t.topology.sites.filter((x: any) => x.mappingSystem).map((x: any) => x.name);
    for (const kv of (o.pids ?? '').split(',').filter(Boolean)) {
      const [name, pid] = kv.split('=');
      if (!name || !/^\d+$/.test(pid ?? '')) throw new Error(`--pids wants name=pid,... not ${kv}`);
      services.push({ name, process: { pid: Number(pid), exitCode: null, signalCode: null } as any, logFile: '' });
    }
  }
  const labReadyS = o.attach || startupProblem ? undefined : (performance.now() - started) / 1000;
  if (labReadyS !== undefined) log(`lab ready after ${labReadyS.toFixed(1)} s`);

  // ---- ITR caches: each ITR resolves a share of the EIDs (so a move has ITRs to update) ----
  const warmStart = performance.now();
  let cachedEntries = 0;
  if (!o.idle && o.cacheFraction > 0) {
    const ms = mappingSubjects(prefix);
    const jobs: { itr: string; eid: string }[] = [];
    const perItr = Math.max(1, Math.round(vmNames.length * o.cacheFraction));
    for (const itr of itrSites) {
      const picked = new Set<number>();
      while (picked.size < Math.min(perItr, vmNames.length)) picked.add(Math.floor(random() * vmNames.length));
      for (const i of picked) jobs.push({ itr, eid: vmIp.get(vmNames[i])! });
    }
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const j = jobs[next++];
        const r = await requestJson(nc!, ms.resolve, { eid: j.eid, itr: j.itr, forward: true }, 10_000).catch(() => ({ ok: false }));
        if (r.ok) cachedEntries++;
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    log(`ITR caches warmed: ${cachedEntries} entries (${Math.round(o.cacheFraction * 100)}% of ${vmNames.length} EIDs at each of ${itrSites.length} ITRs) in ${((performance.now() - warmStart) / 1000).toFixed(1)} s`);
  }
  const warmS = (performance.now() - warmStart) / 1000;

  // ---- what the stream says: every event of the lab into the move board ----
  const board = new MoveBoard({ hostRouteSites });
  const released = new Set<string>();
  const completedAt = new Map<string, number>();
  const idleVms: string[] = [...vmNames];
  for (let i = idleVms.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [idleVms[i], idleVms[j]] = [idleVms[j], idleVms[i]];
  }
  const counts = { sent: 0, accepted: 0, timeouts: 0, completed: 0, failed: 0, cancelled: 0, completedInWindow: 0, late: 0 };
  const refused: Record<string, number> = {};
  const requestMs: number[] = [];
  let windowStart = 0;
  let windowEnd = Infinity;
  const decoder = new TextDecoder();
  const release = (moveId: string) => {
    if (released.has(moveId)) return;
    const m = board.moves.get(moveId);
    if (!m) return;
    released.add(moveId);
    if (m.to?.site && m.state !== 'failed' && m.state !== 'cancelled') vmSite.set(m.vm, m.to.site);
    idleVms.push(m.vm);
  };
  const ours = new Set<string>();
  nc.subscribe(s.eventsWildcard, {
    callback: (err, msg) => {
      if (err) return;
      let payload: any;
      try {
        payload = JSON.parse(decoder.decode(msg.data));
      } catch {
        return;
      }
      const moveId: string | undefined = payload?.data?.moveId ?? payload?.moveId;
      board.apply(msg.subject, payload);
      if (!moveId || !ours.has(moveId)) return;
      const m = board.moves.get(moveId);
      if (!m) return;
      const type = payload.type as string;
      const now = performance.now();
      if (type === 'MoveCompleted' && !completedAt.has(moveId)) {
        completedAt.set(moveId, now);
        counts.completed++;
        if (now >= windowStart && now <= windowEnd) counts.completedInWindow++;
      } else if (type === 'MoveFailed') counts.failed++;
      else if (type === 'MoveCancelled') counts.cancelled++;
      else if (type === 'MoveConvergenceLate') counts.late++;
      if (m.state === 'failed' || m.state === 'cancelled' || (completedAt.has(moveId) && board.convergence(m))) release(moveId);
    },
  });
  await nc.flush();

  // ---- load ----
  const procSamples = new Map<string, { max: ProcSample; last: ProcSample }>();
  const sampleAll = () => {
    for (const c of services) {
      const p = c.process.pid ? sampleProc(c.process.pid) : undefined;
      if (!p) continue;
      const prev = procSamples.get(c.name);
      procSamples.set(c.name, { max: { rss: Math.max(prev?.max.rss ?? 0, p.rss), hwm: Math.max(prev?.max.hwm ?? 0, p.hwm), cpuS: p.cpuS }, last: p });
    }
  };
  pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  const eventsPosition = async () => Number((await pg!.query('SELECT COALESCE(max(position), 0)::bigint AS p FROM events')).rows[0].p);
  const streamMessages = async () => Number((await (await nc!.jetstreamManager()).streams.info(stream)).state.messages);
  const backlog: { x: number; y: number }[] = [];
  const finished = () => counts.completed + counts.failed + counts.cancelled;
  let inFlight = 0;
  const pickTarget = (vm: string): string | undefined => {
    const here = vmSite.get(vm);
    const sites = [...hvsBySite.keys()].filter((x) => x !== here && hostRouteSites.has(x) && itrSites.includes(x));
    if (!sites.length) return undefined;
    const site = sites[Math.floor(random() * sites.length)];
    const hvs = hvsBySite.get(site)!;
    return hvs[Math.floor(random() * hvs.length)];
  };
  const sendOne = () => {
    const vm = idleVms.shift();
    if (!vm) return false;
    const to = pickTarget(vm);
    if (!to) return false;
    counts.sent++;
    inFlight++;
    const t0 = performance.now();
    const requestId = `bench-${id}-${counts.sent}`;
    void requestJson(nc!, s.request('vm.move'), { vm, to, mode: 'cold', requestId }, 10_000)
      .then((r) => {
        requestMs.push(performance.now() - t0);
        if (r.ok) {
          counts.accepted++;
          ours.add(r.moveId);
          // events of this move that arrived before the reply
          const m = board.moves.get(r.moveId);
          if (m && (m.state === 'failed' || m.state === 'cancelled')) release(r.moveId);
        } else {
          refused[r.error?.code ?? 'UNKNOWN'] = (refused[r.error?.code ?? 'UNKNOWN'] ?? 0) + 1;
          if (r.error?.code !== 'MOVE_IN_PROGRESS') idleVms.push(vm);
        }
      })
      .catch(() => {
        counts.timeouts++;
        idleVms.push(vm);
      })
      .finally(() => inFlight--);
    return true;
  };

  let events0 = 0;
  let stream0 = 0;
  let events1 = 0;
  let stream1 = 0;
  let windowS = 0;
  let drainS = 0;
  let starvedTicks = 0;
  const labCpuS = () => children.children.reduce((a, c) => a + (c.process.pid ? (sampleProc(c.process.pid)?.cpuS ?? 0) : 0), 0) + (process.cpuUsage().user + process.cpuUsage().system) / 1e6;
  const cpu0 = { machine: machineCpu(), lab: labCpuS(), procs: allProcessCpu() };
  let cpu1 = cpu0;
  if (!o.idle) {
    events0 = await eventsPosition();
    stream0 = await streamMessages();
    log(`load: cold moves at ${RATE}/s for ${DURATION_S} s`);
    const bucket = new TokenBucket(RATE, Math.max(1, RATE / 20));
    windowStart = performance.now();
    const endAt = windowStart + DURATION_S * 1000;
    let nextSample = windowStart;
    while (!aborted && performance.now() < endAt) {
      const now = performance.now();
      const n = bucket.take(now, Math.max(0, o.maxInFlight - inFlight));
      for (let k = 0; k < n; k++) if (!sendOne()) starvedTicks++;
      if (now >= nextSample) {
        backlog.push({ x: (now - windowStart) / 1000, y: counts.accepted - finished() });
        sampleAll();
        nextSample += 1000;
        if (Math.round((now - windowStart) / 1000) % 10 === 0)
          log(`t=${Math.round((now - windowStart) / 1000)} s: sent ${counts.sent}, accepted ${counts.accepted}, completed ${counts.completed}, backlog ${counts.accepted - finished()}, converged ${[...ours].filter((m) => board.moves.get(m) && board.convergence(board.moves.get(m)!)).length}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    windowEnd = performance.now();
    cpu1 = { machine: machineCpu(), lab: labCpuS(), procs: allProcessCpu() };
    windowS = (windowEnd - windowStart) / 1000;
    backlog.push({ x: windowS, y: counts.accepted - finished() });
    events1 = await eventsPosition();
    stream1 = await streamMessages();
    sampleAll();
    // ---- drain: let accepted moves finish and converge ----
    const drainStart = performance.now();
    let lastProgress = drainStart;
    let lastState = '';
    while (!aborted && performance.now() - drainStart < o.drain * 1000) {
      // with the tracker running, wait for its verdict (MoveConverged / MoveConvergenceLate) too
      const pending = [...ours].filter((id) => {
        const m = board.moves.get(id);
        if (!m) return true;
        if (m.state === 'failed' || m.state === 'cancelled') return false;
        if (!completedAt.has(id)) return true;
        return board.trackerSeen ? !(m.tracker || m.late) : !board.convergence(m);
      }).length;
      if (inFlight === 0 && pending === 0) break;
      const state = `${pending}/${finished()}`;
      if (state !== lastState) {
        lastState = state;
        lastProgress = performance.now();
      } else if (performance.now() - lastProgress > 10_000) break;
      sampleAll();
      await new Promise((r) => setTimeout(r, 200));
    }
    drainS = (performance.now() - drainStart) / 1000;
    if (starvedTicks) notes.push(`${starvedTicks} moves could not be sent when due: every VM was already moving or waiting for its previous move to converge (V too small for the rate)`);
  } else {
    log('idle: letting the lab settle for 10 s before measuring memory');
    for (let i = 0; i < 10 && !aborted; i++) {
      sampleAll();
      await new Promise((r) => setTimeout(r, 1000));
    }
    cpu1 = { machine: machineCpu(), lab: labCpuS(), procs: allProcessCpu() };
  }
  sampleAll();
  const cpuTotalS = cpu1.machine.totalS - cpu0.machine.totalS;

  // ---- results ----
  const mine = [...ours].map((id) => board.moves.get(id)).filter((m): m is NonNullable<typeof m> => !!m);
  const trackerMs = mine.map((m) => m.tracker?.ms).filter((x): x is number => x !== undefined);
  const observedMs = mine.map((m) => m.observed?.ms).filter((x): x is number => x !== undefined);
  const used = board.trackerSeen && trackerMs.length ? 'tracker' : observedMs.length ? 'observed' : 'none';
  const byService = new Map<string, { name: string; pid?: number; processes: number; peakMiB: number; maxRssMiB: number; cpuS: number }>();
  for (const c of services.filter((x) => x.name !== 'nats-server')) {
    const p = procSamples.get(c.name);
    const name = c.name.replace(/#\d+$/, '');
    const acc = byService.get(name) ?? { name, pid: c.process.pid, processes: 0, peakMiB: 0, maxRssMiB: 0, cpuS: 0 };
    acc.processes++;
    acc.peakMiB += (p?.max.hwm ?? 0) / 1048576;
    acc.maxRssMiB += (p?.max.rss ?? 0) / 1048576;
    acc.cpuS += p?.last.cpuS ?? 0;
    byService.set(name, acc);
  }
  const servicesRss = [...byService.values()].map((x) => ({ ...x, name: x.processes > 1 ? `${x.name} (${x.processes} processes)` : x.name }));
  const usage = process.cpuUsage();
  const result: BenchResult = {
    date: new Date().toISOString(),
    machine,
    command: process.argv.length > 2 ? `npm run bench -- ${process.argv.slice(2).join(' ')}` : o.quick ? 'npm run bench -- --quick' : 'npm run bench',
    config: {
      preset,
      vms: o.attach ? vmNames.length : V,
      itrs: o.attach ? itrSites.length : I,
      hypervisors: [...hvsBySite.values()].reduce((a, x) => a + x.length, 0),
      rate: RATE,
      durationS: DURATION_S,
      bootMs: o.bootMs,
      shutdownMs: o.shutdownMs,
      cacheFraction: o.cacheFraction,
      mode: 'cold',
      idle: !!o.idle,
      natsServer,
      rib: o.attach ? 'as the lab runs it' : 'memory (LOCUS_BGP=memory; GoBGP measured apart, above)',
      logLevel: o.logLevel,
      attach: !!o.attach,
    },
    startup: { labReadyS, placeS, cachedEntries, warmS },
    floors: {
      C: { ms: C.median, how: C.how },
      H: { ms: H.median, how: H.how },
      ...('median' in gobgp ? { gobgp: { ms: gobgp.median, p99: gobgp.p99, how: gobgp.how } } : { gobgpSkipped: gobgp.skipped }),
    },
    moves: {
      sent: counts.sent,
      accepted: counts.accepted,
      refused,
      timeouts: counts.timeouts,
      completed: counts.completed,
      failed: counts.failed,
      cancelled: counts.cancelled,
      windowS,
      sustainedPerS: windowS ? counts.completedInWindow / windowS : 0,
      acceptedPerS: windowS ? counts.accepted / windowS : 0,
      backlogEnd: backlog.length ? backlog[backlog.length - 1].y : 0,
      backlogMax: Math.max(0, ...backlog.map((b) => b.y)),
      backlogSlopePerS: slope(backlog.filter((b) => b.x >= Math.min(5, windowS / 4))),
      unfinished: counts.accepted - finished(),
      unconverged: mine.filter((m) => m.state === 'completed' && !board.convergence(m)).length,
      drainS,
      requestMs: summarize(requestMs),
      phases: {
        queued: summarize(mine.filter((m) => m.startedAt !== undefined && m.acceptedAt !== undefined).map((m) => m.startedAt! - m.acceptedAt!)),
        toCommit: summarize(mine.filter((m) => m.startedAt !== undefined && m.relocatedAt !== undefined).map((m) => m.relocatedAt! - m.startedAt!)),
        commitToCompleted: summarize(mine.filter((m) => m.finishedAt !== undefined && m.relocatedAt !== undefined && completedAt.has(m.moveId)).map((m) => m.finishedAt! - m.relocatedAt!)),
      },
    },
    convergence: {
      used,
      tracker: trackerMs.length ? summarize(trackerMs) : undefined,
      observed: observedMs.length ? summarize(observedMs) : undefined,
      late: counts.late,
      how:
        used === 'tracker'
          ? "the manager's convergence tracker: convergenceMs of each MoveConverged event (real ms from the location commit to the last plane agreeing); observed = from the plane events on the stream, for comparison"
          : 'observed: recordedAt of VmRelocated (the location commit) to the last plane event of the move on <prefix>.evt.> (map: Registered + CacheUpdated of every ITR the map-server updates; routes: RouteConfirmed at the target + RouteWithdrawn at the source; ARP decisions when there are any); no MoveConverged events were seen',
    },
    events: {
      appended: events1 - events0,
      perS: windowS ? (events1 - events0) / windowS : 0,
      streamMessages: stream1 - stream0,
      streamPerS: windowS ? (stream1 - stream0) / windowS : 0,
    },
    rss: {
      services: servicesRss,
      totalPeakMiB: servicesRss.reduce((a, x) => a + x.peakMiB, 0),
      totalMaxRssMiB: servicesRss.reduce((a, x) => a + x.maxRssMiB, 0),
      benchCpuS: (usage.user + usage.system) / 1e6,
      ...(cpuTotalS > 0
        ? {
            machineBusyPct: (100 * (cpu1.machine.busyS - cpu0.machine.busyS)) / cpuTotalS,
            labBusyPct: (100 * (cpu1.lab - cpu0.lab)) / cpuTotalS,
            topCpu: topCpu(cpu0.procs, cpu1.procs, cpuTotalS, (pid, comm) => {
              if (pid === process.pid) return 'bench';
              const mine = children.children.find((c) => c.process.pid === pid) ?? services.find((c) => c.process.pid === pid);
              if (mine) return mine.name.replace(/#\d+$/, '');
              return comm === 'postgres' ? 'postgres' : comm === 'nats-server' ? 'nats-server (shared)' : `${comm} (not this lab)`;
            }),
          }
        : {}),
    },
    notes,
  };
  if (result.moves.failed) {
    const errs = mine.filter((m) => m.error).slice(0, 3).map((m) => `${m.vm}: ${m.error}`);
    notes.push(`failed moves, e.g. ${errs.join('; ')}`);
  }
  if (o.json) {
    process.stderr.write(renderReport(result) + '\n');
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } else process.stdout.write(renderReport(result) + '\n');
  for (const c of services) if (c.logFile && !children.alive(c)) log(`${c.name} is not running any more; last log lines:\n${tail(c.logFile, 10)}`);
}

const onSignal = (signal: string) => {
  if (aborted) {
    children.killAllNow();
    process.exit(130);
  }
  aborted = true;
  log(`${signal}: stopping (Ctrl-C again to kill at once)`);
  void cleanup().finally(() => process.exit(130));
};
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('exit', () => children.killAllNow());

main()
  .catch((err: Error) => {
    if (!aborted) log(`failed: ${err.message}`);
    process.exitCode = aborted ? 130 : 1;
  })
  .finally(async () => {
    await cleanup();
    process.exit(process.exitCode ?? 0);
  });

