import { Command, Option } from 'commander';
import { PROCESS_LAYOUTS, type ProcessLayout } from './start-lab';

/** The bench's command line: every option of `npm run bench --`, and the presets it resolves. */

export interface Opts {
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
  idleSeconds?: number;
  heapMib?: number;
  youngMib?: number;
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

/** The options with the preset (--quick or the default) applied to what was not given. */
export interface BenchOptions {
  o: Opts;
  preset: 'quick' | 'default';
  vms: number;
  itrs: number;
  rate: number;
  durationS: number;
}

const num = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`not a non-negative number: ${v}`);
  return n;
};

const program = () =>
  new Command()
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
    .option('--idle-seconds <s>', 'with --idle: seconds the lab settles before memory is measured (default 10; longer leaves time for heap snapshots)', num)
    .option('--attach', 'measure a running lab (NATS_URL, DATABASE_URL, LOCUS_SUBJECT_PREFIX, LOCUS_STREAM) instead of starting one')
    .option('--pids <list>', 'with --attach: name=pid,... of the lab processes whose RSS to report')
    .option('--json', 'print the result as JSON (the human report goes to stderr)')
    .addOption(
      new Option('--nats-server <which>', 'auto: the shared NATS unless vm.list would outgrow its max_payload, then a private nats-server').choices(['auto', 'shared', 'private']).default('auto'),
    )
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
    .addOption(
      new Option(
        '--processes <layout>',
        'how the services are grouped into processes: per-service (five), planes (the manager, and the four plane services in one), one (the whole lab, as `npm run lab`)',
      )
        .choices([...PROCESS_LAYOUTS])
        .default('planes'),
    )
    .option('--heap-mib <n>', 'heap budget of each service process (node --max-old-space-size); default: 384 MiB, plus 4 MiB per 1,000 VMs above 32,000; 0: none (Node sizes it from the machine)', num)
    .option('--young-mib <n>', "young generation of each service process (node --max-semi-space-size); default: 64 MiB up to 32,000 VMs, Node's own (16 MiB) above; 0: Node's own", num)
    .addOption(
      new Option(
        '--dataplane <kind>',
        "linux: the default topology as network namespaces, a batch of moves with a ping train each, the manager's convergence beside the first packet (root); lab: the load run above",
      )
        .choices(['lab', 'linux'])
        .default('lab'),
    )
    .addOption(
      new Option(
        '--hypervisor <kind>',
        "qemu: fidelity of the pre-copy model: for a few real QEMU guests (accel=tcg), locus.move.plan's prediction (dirty rate sampled with calc-dirty-rate) beside QEMU's actual rounds, data sent and downtime",
      )
        .choices(['simulated', 'qemu'])
        .default('simulated'),
    )
    .option('--moves <n>', 'with --dataplane linux: moves in the batch', num, 6)
    .option('--time-scale <n>', 'with --dataplane linux: simulated ms per real ms', num, 20)
    .option(
      '--sites-per-process <n>',
      'sites per mapping-system / route-injector / arp-proxy process, started one group after another (default, or 0: all, one process per service, started at once)',
      num,
    );

/**
 * `BENCH_LAB_ENV`: extra environment for the services of an experiment, space-separated `NAME=value`
 * pairs (e.g. `LOCUS_DRIFT_INTERVAL_MS=0`). Throws, naming it, on a pair that is not one.
 */
export function labEnvOf(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of text.split(' ').filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(pair.slice(0, at))) throw new Error(`BENCH_LAB_ENV: "${pair}" is not NAME=value (space-separated pairs, e.g. LOCUS_DRIFT_INTERVAL_MS=0)`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

/** Parses the command line (exits with commander's message on a bad option, or on a bad `BENCH_LAB_ENV`) and applies the preset. */
export function parseBenchOptions(argv: string[] = process.argv): BenchOptions {
  const cmd = program();
  const o = cmd.parse(argv).opts<Opts>();
  try {
    labEnvOf(process.env.BENCH_LAB_ENV ?? '');
  } catch (err) {
    cmd.error((err as Error).message);
  }
  // `npm run bench --quick` (without `--`) hands --quick to npm, which passes it on as npm_config_quick
  if (process.env.npm_config_quick === 'true') o.quick = true;
  return {
    o,
    preset: o.quick ? 'quick' : 'default',
    vms: o.vms ?? (o.quick ? 1000 : 10_000),
    itrs: o.itrs ?? (o.quick ? 10 : 50),
    rate: o.rate ?? (o.quick ? 50 : 100),
    durationS: o.duration ?? (o.quick ? 20 : 60),
  };
}
