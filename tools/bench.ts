import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { connect, type NatsConnection } from 'nats';
import { compareFigures } from './bench/compare';
import { measureFloors, type Floors } from './bench/floors';
import { renderLinuxBench, runLinuxDataplaneBench } from './bench/linux-dataplane';
import { renderQemuFidelity, runQemuFidelity } from './bench/qemu-fidelity';
import { chooseNats } from './bench/nats-choice';
import { parseBenchOptions } from './bench/options';
import { renderReport, type BenchResult, type CompareFigures } from './bench/report';
import { runLab, type RunConfig } from './bench/run';
import { defaultHeapMiB, defaultYoungMiB } from './bench/start-lab';
import { BenchProcess } from './bench/session';

/**
 * `npm run bench` (node dist/tools/bench.js): drives cold moves against a lab at a given rate and
 * prints convergence percentiles, sustained moves/s, events appended/s, the services' peak RSS, the
 * per-move Postgres and stream costs, and, measured in the same run, the floors C (a single-row
 * Postgres commit) and H (a NATS request/reply round trip) with every result as a ratio to them,
 * and GoBGP's propagation of one /32 to the core. With --overload a second phase offers twice the
 * peak; with --compare-vms the same configuration runs again on a smaller lab. By default it starts
 * its own lab (fresh database, subject prefix and stream, generated topology) and removes everything
 * when it ends, also on Ctrl-C. See docs/benchmark.md.
 *
 * By concern: the command line is tools/bench/options.ts, the process's children, cleanups and
 * signals tools/bench/session.ts, the choice of NATS tools/bench/nats-choice.ts, the floors
 * tools/bench/floors.ts, one lab run tools/bench/run.ts (its load tools/bench/load.ts, its costs
 * tools/bench/costs.ts), the compare run tools/bench/compare.ts, the report tools/bench/report.ts and
 * the targets it is judged by tools/bench/targets.ts.
 */

const { o, preset, vms, itrs, rate, durationS } = parseBenchOptions();

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const bench = new BenchProcess(log);

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
  const session = bench.session(process.env.NATS_URL ?? 'nats://127.0.0.1:4222', process.env.BENCH_PG_BASE ?? 'postgres://postgres@127.0.0.1:5432');

  // NATS: shared, or a private server when vm.list would not fit in one message
  const notes = o.attach ? [] : await chooseNats(bench, session, o.natsServer, Math.max(vms, o.compareVms ?? 0));
  const nc: NatsConnection = await connect({ servers: session.natsUrl, name: 'locus-bench' });
  const nc2: NatsConnection = await connect({ servers: session.natsUrl, name: 'locus-bench-echo' });
  bench.onCleanup(async () => {
    await nc.close().catch(() => undefined);
    await nc2.close().catch(() => undefined);
  });

  // floors, in the main lab's database before its services load the machine
  let floors: Floors | undefined;
  const beforeLab = async (databaseUrl: string) => {
    floors = await measureFloors(databaseUrl, nc, nc2, `bench.echo.${Date.now().toString(36)}${randomBytes(2).toString('hex')}`, o.gobgp, log);
  };

  const cfg: RunConfig = {
    label: 'main',
    vms,
    itrs,
    hypervisorsPerSite: o.hypervisorsPerSite,
    rate,
    durationS,
    bootMs: o.bootMs,
    shutdownMs: o.shutdownMs,
    cacheFraction: o.cacheFraction,
    idle: !!o.idle,
    idleSeconds: o.idleSeconds ?? 10,
    attach: !!o.attach,
    pids: o.pids,
    overload: !!o.overload,
    drainS: o.drain,
    logLevel: o.logLevel,
    startupTimeoutS: o.startupTimeout,
    planesTimeoutS: o.planesTimeout ?? o.startupTimeout,
    sitesPerProcess: o.sitesPerProcess,
    processes: o.processes,
    heapMiB: o.heapMib ?? defaultHeapMiB(vms),
    youngMiB: o.youngMib ?? defaultYoungMiB(vms),
    maxInFlight: o.maxInFlight,
    requestTimeoutMs: o.requestTimeout,
    seed: o.seed,
    keep: !!o.keep,
  };
  const main = await runLab(session, cfg, { beforeLab });
  if (!floors) throw new Error('the floors were not measured');
  const { C, H, gobgp: bgp } = floors;

  let compare: CompareFigures | undefined;
  if (o.compareVms !== undefined && !bench.aborted) {
    log(`compare run: the same configuration on a fresh lab of ${o.compareVms} VMs`);
    const cmp = await runLab(session, { ...cfg, label: 'compare', vms: o.compareVms, overload: false });
    compare = compareFigures(main, cmp, o.compareVms);
  }

  const command = process.argv.length > 2 ? `npm run bench -- ${process.argv.slice(2).join(' ')}` : o.quick ? 'npm run bench -- --quick' : 'npm run bench';
  const result: BenchResult = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model?.trim() ?? '?',
      memGiB: Math.round(totalmem() / 1024 ** 3),
      node: process.versions.node,
      nats: nc.info?.version ?? '?',
      postgres: floors.postgresVersion,
      control: floors.control,
    },
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

bench.handleSignals();
bench.run(main);
