import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { connect, type NatsConnection } from 'nats';
import { Client } from 'pg';
import { ListVmsRequest } from '@locus/contracts';
import { ratio } from '@locus/platform';
import { gobgpPropagation, natsRoundTripFloor, postgresCommitFloor, type FloorResult } from './bench/floors';
import { ChildSet, startPrivateNats } from './bench/lab';
import { renderReport, usedSummary, type BenchResult, type CompareFigures } from './bench/report';
import { runLab, type LabRun, type RunConfig, type Session } from './bench/run';
import { PROCESS_LAYOUTS, type ProcessLayout } from './bench/start-lab';
import { renderLinuxBench, runLinuxDataplaneBench } from './bench/linux-dataplane';
import { renderQemuFidelity, runQemuFidelity } from './bench/qemu-fidelity';

/**
 * `npm run bench` (node dist/tools/bench.js): drives cold moves against a lab at a given rate and
 * prints convergence percentiles, sustained moves/s, events appended/s, the services' peak RSS, the
 * per-move Postgres and stream costs, and, measured in the same run, the floors C (a single-row
 * Postgres commit) and H (a NATS request/reply round trip) with every result as a ratio to them,
 * and GoBGP's propagation of one /32 to the core. With --overload a second phase offers twice the
 * peak; with --compare-vms the same configuration runs again on a smaller lab. By default it starts
 * its own lab (fresh database, subject prefix and stream, generated topology) and removes everything
 * when it ends, also on Ctrl-C. The lab run is tools/bench/run.ts; see docs/benchmark.md.
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
  maxInFlight?: number;
  seed: number;
  sitesPerProcess?: number;
  processes: ProcessLayout;
  planesTimeout?: number;
  overload?: boolean;
  compareVms?: number;
  requestTimeout: number;
  dataplane: 'lab' | 'linux';
  hypervisor: 'simulated' | 'qemu';
  moves: number;
  timeScale: number;
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
  .option('--max-in-flight <n>', 'vm.move requests awaiting a reply at most (default: max(2000, rate x request timeout), so the load stays open-loop)', num)
  .option('--request-timeout <ms>', 'client timeout of each vm.move request (well above 100 ms: a slow answer counts as slow, not as a timeout)', num, 10_000)
  .option('--overload', 'phase 1 offers --rate for --duration (its completed rate is the peak), phase 2 offers twice the peak for as long; prints both and the answers of phase 2 by kind')
  .option('--compare-vms <n>', 'after the main run, the same configuration (ITRs, rate, duration) on a fresh lab of N VMs; prints both convergence p50s and their ratio', num)
  .option('--seed <n>', 'seed of the random choices', num, 1)
  .addOption(new Option('--processes <layout>', 'how the services are grouped into processes: per-service (five), planes (the manager, and the four plane services in one), one (the whole lab, as `npm run lab`)').choices([...PROCESS_LAYOUTS]).default('per-service'))
  .addOption(new Option('--dataplane <kind>', 'linux: the default topology as network namespaces, a batch of moves with a ping train each, the manager\'s convergence beside the first packet (root); lab: the load run above').choices(['lab', 'linux']).default('lab'))
  .addOption(new Option('--hypervisor <kind>', 'qemu: fidelity of the pre-copy model: for a few real QEMU guests (accel=tcg), locus.move.plan\'s prediction (dirty rate sampled with calc-dirty-rate) beside QEMU\'s actual rounds, data sent and downtime').choices(['simulated', 'qemu']).default('simulated'))
  .option('--moves <n>', 'with --dataplane linux: moves in the batch', num, 6)
  .option('--time-scale <n>', 'with --dataplane linux: simulated ms per real ms', num, 20)
  .option('--sites-per-process <n>', 'sites per mapping-system / route-injector / arp-proxy process, started one group after another (default, or 0: all, one process per service, started at once)', num)
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
const cleanups = new Set<() => Promise<void>>();
let privateNatsDir: string | undefined;
let cleanupRun: Promise<void> | undefined;
/** Runs every registered cleanup once; every caller (normal end, error, Ctrl-C) waits for the same run. */
const cleanup = (): Promise<void> =>
  (cleanupRun ??= (async () => {
    for (const fn of [...cleanups].reverse())
      await fn().catch((err: Error) => {
        log(`cleanup: ${err.message}`);
      });
    await children.stopAll(3000);
    if (privateNatsDir) rmSync(privateNatsDir, { recursive: true, force: true });
  })());
let aborted = false;

/** Does this build's vm.list take pages ({after, limit})? Then no reply carries every VM. */
const vmListPaged = () => ListVmsRequest.safeParse({ limit: 1 }).success;

async function main(): Promise<void> {
  if (o.hypervisor === 'qemu') {
    const rows = await runQemuFidelity(undefined, (line) => log(line));
    process.stdout.write(o.json ? JSON.stringify(rows, null, 2) + '\n' : renderQemuFidelity(rows) + '\n');
    return;
  }
  if (o.dataplane === 'linux') {
    const result = await runLinuxDataplaneBench({ moves: o.moves, timeScale: o.timeScale, log });
    process.stdout.write(o.json ? JSON.stringify(result, null, 2) + '\n' : renderLinuxBench(result) + '\n');
    return;
  }
  if (o.compareVms !== undefined && (o.attach || o.idle)) throw new Error('--compare-vms runs a second lab of its own: not with --attach or --idle');
  if (o.overload && o.idle) throw new Error('--overload needs a load: not with --idle');
  const notes: string[] = [];
  const pgBase = process.env.BENCH_PG_BASE ?? 'postgres://postgres@127.0.0.1:5432';
  const sharedNats = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const session: Session = {
    natsUrl: sharedNats,
    natsServer: 'shared',
    pgBase,
    children,
    log,
    aborted: () => aborted,
    onCleanup: (fn) => {
      cleanups.add(fn);
      return () => cleanups.delete(fn);
    },
  };

  // ---- NATS: shared, or a private server when vm.list would not fit in one message ----
  if (!o.attach) {
    const probe = await connect({ servers: sharedNats, maxReconnectAttempts: 0 }).catch((err: Error) => {
      throw new Error(`NATS does not answer at ${sharedNats}: ${err.message}`);
    });
    const maxPayload = probe.info?.max_payload ?? 1024 * 1024;
    await probe.close();
    const biggest = Math.max(V, o.compareVms ?? 0);
    const vmListBytes = biggest * 175; // one VmView is ~150-175 bytes of JSON
    const paged = vmListPaged();
    const needPrivate = o.natsServer === 'private' || (o.natsServer === 'auto' && !paged && vmListBytes > 0.9 * maxPayload);
    if (needPrivate) {
      privateNatsDir = mkdtempSync(join(tmpdir(), 'locus-bench-nats-'));
      const priv = await startPrivateNats(children, privateNatsDir);
      session.natsUrl = priv.url;
      session.natsServer = 'private';
      if (o.natsServer === 'auto')
        notes.push(
          `private nats-server (JetStream, max_payload 64 MiB) at ${priv.url}: vm.list of ${biggest} VMs is ~${Math.round(vmListBytes / 1024)} KiB in one reply, over the shared server's max_payload of ${Math.round(maxPayload / 1024)} KiB (this build's vm.list is not paged)`,
        );
      log(`private nats-server at ${priv.url}`);
    }
  }
  const nc: NatsConnection = await connect({ servers: session.natsUrl, name: 'locus-bench' });
  const nc2: NatsConnection = await connect({ servers: session.natsUrl, name: 'locus-bench-echo' });
  cleanups.add(async () => {
    await nc.close().catch(() => undefined);
    await nc2.close().catch(() => undefined);
  });
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model?.trim() ?? '?',
    memGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.versions.node,
    nats: nc.info?.version ?? '?',
    postgres: '?',
  };

  // ---- floors, in the main lab's database before its services load the machine ----
  let C: FloorResult | undefined;
  let H: FloorResult | undefined;
  type GoBgpFloor = Awaited<ReturnType<typeof gobgpPropagation>>;
  let gobgp = { skipped: '--no-gobgp' } as GoBgpFloor;
  const floors = async (databaseUrl: string) => {
    const pg = new Client({ connectionString: databaseUrl });
    await pg.connect();
    machine.postgres = (await pg.query('SHOW server_version')).rows[0].server_version;
    await pg.end();
    log('measuring the floors: C (Postgres commit), H (NATS round trip), GoBGP /32 propagation');
    C = await postgresCommitFloor(databaseUrl);
    H = await natsRoundTripFloor(nc, nc2, `bench.echo.${Date.now().toString(36)}${randomBytes(2).toString('hex')}`);
    if (o.gobgp) gobgp = await gobgpPropagation().catch((err: Error) => ({ skipped: `failed: ${err.message}` }));
    log(`C ${C.median.toFixed(3)} ms, H ${H.median.toFixed(3)} ms${'median' in gobgp ? `, GoBGP ${gobgp.median.toFixed(1)} ms` : `, GoBGP ${gobgp.skipped}`}`);
  };

  const cfg: RunConfig = {
    label: 'main',
    vms: V,
    itrs: I,
    hypervisorsPerSite: o.hypervisorsPerSite,
    rate: RATE,
    durationS: DURATION_S,
    bootMs: o.bootMs,
    shutdownMs: o.shutdownMs,
    cacheFraction: o.cacheFraction,
    idle: !!o.idle,
    attach: !!o.attach,
    pids: o.pids,
    overload: !!o.overload,
    drainS: o.drain,
    logLevel: o.logLevel,
    startupTimeoutS: o.startupTimeout,
    planesTimeoutS: o.planesTimeout ?? o.startupTimeout,
    sitesPerProcess: o.sitesPerProcess,
    processes: o.processes,
    maxInFlight: o.maxInFlight,
    requestTimeoutMs: o.requestTimeout,
    seed: o.seed,
    keep: !!o.keep,
  };
  const main = await runLab(session, cfg, { beforeLab: floors });
  if (!C || !H) throw new Error('the floors were not measured');
  const bgp = gobgp as GoBgpFloor;

  let compare: CompareFigures | undefined;
  if (o.compareVms !== undefined && !aborted) {
    log(`compare run: the same configuration on a fresh lab of ${o.compareVms} VMs`);
    const cmp = await runLab(session, { ...cfg, label: 'compare', vms: o.compareVms, overload: false });
    compare = compareFigures(main, cmp, o.compareVms);
  }

  const command = process.argv.length > 2 ? `npm run bench -- ${process.argv.slice(2).join(' ')}` : o.quick ? 'npm run bench -- --quick' : 'npm run bench';
  const result: BenchResult = {
    date: new Date().toISOString(),
    machine,
    command,
    config: { ...main.config, preset, compareVms: o.compareVms },
    startup: main.startup,
    floors: {
      C: { ms: C.median, how: C.how },
      H: { ms: H.median, how: H.how },
      ...('median' in bgp ? { gobgp: { ms: bgp.median, p99: bgp.p99, how: bgp.how } } : { gobgpSkipped: bgp.skipped }),
    },
    moves: main.moves,
    convergence: main.convergence,
    events: main.events,
    costs: main.costs,
    overload: main.overload,
    compare,
    rss: main.rss,
    notes: [...notes, ...main.notes],
  };
  if (o.json) {
    process.stderr.write(renderReport(result) + '\n');
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } else process.stdout.write(renderReport(result) + '\n');
}

/** The compare run's figures next to the main run's: both convergence p50s (each run's used source) and main / compare. */
function compareFigures(main: LabRun, cmp: LabRun, vms: number): CompareFigures {
  const mainP50 = usedSummary(main)?.p50;
  const compareP50 = usedSummary(cmp)?.p50;
  const c = cmp.config;
  return {
    command: `npm run bench -- --vms ${vms} --itrs ${c.itrs} --rate ${c.rate} --duration ${c.durationS}` + (c.bootMs ? ` --boot-ms ${c.bootMs}` : '') + (c.shutdownMs ? ` --shutdown-ms ${c.shutdownMs}` : ''),
    vms,
    itrs: c.itrs,
    rate: c.rate,
    durationS: c.durationS,
    labReadyS: cmp.startup.labReadyS,
    placeS: cmp.startup.placeS,
    sent: cmp.moves.sent,
    completed: cmp.moves.completed,
    timeouts: cmp.moves.timeouts,
    sustainedPerS: cmp.moves.sustainedPerS,
    used: cmp.convergence.used,
    convergence: usedSummary(cmp),
    totalPeakMiB: cmp.rss.totalPeakMiB,
    mainP50,
    compareP50,
    ratioP50: ratio(mainP50, compareP50),
    notes: cmp.notes,
  };
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

