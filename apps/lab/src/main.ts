import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { Command, Option } from 'commander';
import { Client } from 'pg';
import { join } from 'node:path';
import { dropDatabase } from '@locus/eventstore';
import { connectNats, DEFAULT_NATS_AUTH_DIR, deleteStreamIfExists, hasNatsAuth, LocationFeedHub, NATS_AUTH_CONFIG_FILE, NATS_START_HINT, probeNats, writeNatsAuth } from '@locus/messaging';
import { createLogger, loadConfig, LOG_FORMATS, watchEventLoop, natsCredentials, type LocusConfig, type LogFormat, type Logger } from '@locus/platform';
import { startMobilityManager } from '../../mobility-manager/src/start-mobility-manager';
import { startAgents } from '../../hypervisor-agent/src/start-agents';
import { qemuRunDir } from '../../hypervisor-agent/src';
import { embeddedNatsGomaxprocs } from './embedded-nats';
import { startMappingSystem } from '../../mapping-system/src/start-mapping-system';
import { keyMaterialOrGenerated } from '../../mapping-system/src';
import { startRouteInjectors } from '../../route-injector/src/start-route-injectors';
import { startArpProxies } from '../../arp-proxy/src/start-arp-proxies';
import { startConsole, type RunningConsole } from '../../console/src';
import { startLabObservability, type LabServices } from './lab-observability';
import { LinuxDataplane, namespacesUnavailable, namespacesWith, removeNamespaces } from '@locus/dataplane';
import { DEFAULT_NEIGHBOURS_PER_SITE } from '@locus/domain';
import { defaultTopologyPath, loadTopologyFile } from '@locus/topology';

const SHUTDOWN_LIMIT_MS = 15_000;
/** Where the whole lab serves its metrics unless told otherwise (compose and Kubernetes use the same port, inside their networks). */
const LAB_METRICS_PORT = 9464;
const LAB_SERVICES = ['manager', 'agents', 'mapping', 'routes', 'arp'] as const;
type LabService = (typeof LAB_SERVICES)[number];

/** The services this process runs: every one unless `--services` names some (an unknown name is an error). */
function chosenServices(list: string | undefined): Set<LabService> {
  if (!list) return new Set(LAB_SERVICES);
  const names = list
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(LAB_SERVICES as readonly string[]).includes(n));
  if (unknown.length || !names.length) throw new Error(`--services ${list}: expected some of ${LAB_SERVICES.join(', ')}${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}`);
  return new Set(names as LabService[]);
}

/**
 * `npm run lab`: the whole default lab in one process, no Docker: the mobility manager, one
 * agent per hypervisor, the mapping system with an xTR per site, a host-route injector per
 * site on a GoBGP fabric (one gobgpd per site and a core, on loopback; an in-memory RIB when
 * gobgpd is missing, said at start), and an ARP proxy per site, against NATS and Postgres
 * from the environment. The mapping system's key seed is generated at start (nothing is written
 * or logged) unless LOCUS_MAPPING_KEY_SEED or LOCUS_MAPPING_KEY_FILE gives one.
 */
const program = new Command()
  .name('npm run lab --')
  .description('Start the Locus lab: mobility manager and every hypervisor agent of the topology.')
  .option('--fresh', 'start from a clean slate: drop the lab database and delete the event stream first')
  .option('--time-scale <n>', 'simulated ms per real ms for the agents (1 = real time)')
  .option('--topology <file>', 'lab topology YAML (default topologies/default.yaml)')
  .option('--console-port <n>', 'port of the web console on 127.0.0.1 (LOCUS_CONSOLE_PORT, default 8480; 0: any free port); a layout of several processes serves it only when given')
  .option('--no-console', 'do not serve the web console')
  .option('--metrics-port <n>', `port of /metrics, /healthz and /readyz on 127.0.0.1 (LOCUS_METRICS_PORT; default ${LAB_METRICS_PORT} in the whole lab, none in one process of a layout; 0: none)`)
  .option('--no-metrics', 'do not serve /metrics, /healthz and /readyz')
  .addOption(
    new Option('--log-format <format>', 'pretty: readable lines, also into a file or pipe; json: one object per line; auto: pretty in a terminal, JSON when piped (LOG_FORMAT, default auto)').choices(
      LOG_FORMATS,
    ),
  )
  .option('--dataplane <kind>', 'lab (simulated, the default) or linux: the topology as network namespaces on this machine (root, iproute2, arping)')
  .option(
    '--hypervisor <kind>',
    'simulated (the default) or qemu: some VMs run as real QEMU guests (accel=tcg) on the Linux dataplane, live-migrated over QMP; needs --dataplane linux and runs in real time',
  )
  .option('--qemu-vms <list>', 'with --hypervisor qemu: the VMs QEMU runs, comma-separated, or a number N for the first N VMs of the topology (LOCUS_QEMU_VMS, default 2); the others stay simulated')
  .option('--remove-dataplane', "only remove the Linux dataplane's namespaces of LOCUS_DATAPLANE_PREFIX (what a crashed lab left) and exit")
  .option('--services <list>', `only these services, comma-separated (${LAB_SERVICES.join(', ')}): one process of a layout of several (default: all of them)`)
  .parse();

const opts = program.opts<{
  fresh?: boolean;
  timeScale?: string;
  topology?: string;
  services?: string;
  console: boolean;
  consolePort?: string;
  metrics: boolean;
  metricsPort?: string;
  logFormat?: LogFormat;
  dataplane?: string;
  removeDataplane?: boolean;
  hypervisor?: string;
  qemuVms?: string;
}>();

async function main() {
  const config = loadConfig(process.env, {
    ...(opts.timeScale ? { timeScale: Number(opts.timeScale) } : {}),
    ...(opts.topology ? { topologyPath: opts.topology } : {}),
    ...(opts.logFormat ? { logFormat: opts.logFormat } : {}),
    ...(opts.dataplane ? { dataplane: dataplaneKind(opts.dataplane) } : {}),
    ...(opts.hypervisor ? { hypervisor: hypervisorKind(opts.hypervisor) } : {}),
    ...(opts.qemuVms ? { qemuVms: opts.qemuVms } : {}),
  });
  if (config.hypervisor === 'qemu' && config.dataplane !== 'linux') throw new Error("--hypervisor qemu needs --dataplane linux: each guest's tap sits on its hypervisor namespace's bridge");
  if (config.hypervisor === 'qemu' && !opts.timeScale) config.timeScale = 1;
  const logger = createLogger(config.logLevel, config.logFormat);
  const log = logger.child({ component: 'lab' });
  // Until the lab is up, a signal ends the start at once, through the exit hooks that kill what it
  // spawned (gobgpd, guests): killed by the signal's default action, the process left them running.
  const whileStarting = (signal: NodeJS.Signals) => {
    log.warn({ signal }, `${signal} while the lab was starting: exiting, and the gobgpd speakers and guests it started with it`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', whileStarting);
  process.on('SIGTERM', whileStarting);
  if (opts.removeDataplane) {
    const prefix = `${config.dataplanePrefix}-`;
    const found = await namespacesWith(prefix);
    await removeNamespaces(found);
    rmSync(qemuRunDir(config.dataplanePrefix), { recursive: true, force: true });
    log.info({ prefix: config.dataplanePrefix, removed: found.length }, `removed ${found.length} namespaces (${prefix}*) and the processes in them (QEMU guests included)`);
    return;
  }
  const only = chosenServices(opts.services);
  Object.assign(config, await ensureNats(config, log));
  await ensurePostgres(config.databaseUrl, log);
  if (opts.fresh) {
    await dropDatabase(config.databaseUrl);
    const nc = await connectNats(config.natsUrl, 'locus-lab-fresh', logger, natsCredentials(config, 'admin'));
    const deleted = await deleteStreamIfExists(await nc.jetstreamManager(), config.streamName);
    await nc.close();
    log.info({ database: new URL(config.databaseUrl).pathname.slice(1), stream: config.streamName, streamDeleted: deleted }, 'clean slate: database dropped and event stream deleted');
  }
  const mappingKey = keyMaterialOrGenerated(process.env); // before anything starts: a bad key file stops the lab at once
  // The process that runs the agents builds the namespaces (the others only use them) and removes them at stop.
  const dataplane = config.dataplane === 'linux' && only.has('agents') ? await buildLinuxDataplane(config, log) : undefined;
  // The manager first: it places the VMs the others load.
  const manager = only.has('manager') ? await startMobilityManager(config, logger) : undefined;
  // Then the others together: their location feeds share one snapshot of the location DB (see
  // LocationFeed) and one consumer of the location events, started once they have all loaded it
  // (LocationFeedHub: started with the last snapshot, each feed's events waiting for its service,
  // so the agents hear a move's commit while the route injectors' gobgpd still peers), and a big
  // lab is ready sooner. One that fails stops those that started.
  const locationHub = new LocationFeedHub({ feeds: (['agents', 'mapping', 'routes', 'arp'] as const).filter((s) => only.has(s)).length });
  const started = await Promise.allSettled([
    only.has('agents') ? startAgents(config, logger, { locationHub }) : undefined,
    only.has('mapping') ? startMappingSystem(config, logger, { keySeed: mappingKey.seed, keySource: mappingKey.source }, { locationHub }) : undefined,
    only.has('routes') ? startRouteInjectors(config, logger, { locationHub }) : undefined,
    only.has('arp') ? startArpProxies(config, logger, { locationHub }) : undefined,
  ] as const);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await locationHub.stop();
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value?.stop().catch(() => undefined) : undefined)));
    await manager?.stop().catch(() => undefined);
    throw failed.reason;
  }
  await locationHub.start();
  const value = <T>(r: PromiseSettledResult<T>): T => (r as PromiseFulfilledResult<T>).value;
  const [agents, mapping, routes, arp] = [value(started[0]), value(started[1]), value(started[2]), value(started[3])];
  const observability = await startLabMetrics(config, logger, { manager, agents, mapping, routes, arp }, only.size === LAB_SERVICES.length);
  const webConsole = await startLabConsole(config, logger, only.size === LAB_SERVICES.length);
  const services = [...only].join(', ');
  const operator = natsCredentials(config, 'operator');
  log.info(
    { timeScale: config.timeScale, services, hypervisors: agents?.host.agents.length, vms: manager?.topology.topology.vms.length },
    only.size === LAB_SERVICES.length
      ? `lab ready. Try: nats ${operator ? `--nkey ${operator.seedFile} ` : ''}req ${config.subjectPrefix}.vm.move '{"vm":"web-01","to":"dc2-hv1","mode":"cold"}'  (or: npm run -s req -- ${config.subjectPrefix}.vm.move '...')`
      : `lab services ready: ${services}`,
  );
  if (webConsole) log.info({ url: webConsole.url }, `console: open ${webConsole.url} in a browser`);
  if (observability.server)
    log.info({ url: `${observability.server.url}/metrics` }, `metrics at ${observability.server.url}/metrics (Prometheus; a Grafana dashboard: deploy/grafana/locus-dashboard.json)`);
  // Watched once started: a start's own long steps (a snapshot, placing the VMs) are timed by its start lines.
  watchEventLoop(logger);
  let stopping = false;
  const shutdown = async (signal: string) => {
    // A second Ctrl-C (or SIGTERM) must not end the process mid-stop: gobgpd, namespaces and guests would outlive it.
    if (stopping) {
      log.warn({ signal }, `already stopping the lab (it exits within ${SHUTDOWN_LIMIT_MS / 1000} s)`);
      return;
    }
    stopping = true;
    log.info({ signal }, 'stopping the lab');
    // A stop that hangs (a peer gone, a drain that never ends) must not leave the lab running.
    setTimeout(() => {
      log.error({ signal, afterMs: SHUTDOWN_LIMIT_MS }, 'the lab did not stop in time; exiting anyway');
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS).unref();
    await webConsole?.stop();
    await observability.stop();
    // The manager first: stopped after the agents, its HA monitor would take their silence for
    // failed hosts and restart their VMs on the way out.
    await manager?.stop();
    // The shared location consumer before the services: it uses the connection of one of them.
    await locationHub.stop();
    await arp?.stop();
    await routes?.stop();
    await mapping?.stop();
    await agents?.stop();
    if (dataplane) log.info({ prefix: config.dataplanePrefix, removed: await dataplane.remove() }, 'Linux dataplane removed: every namespace of the lab deleted');
    process.exit(0);
  };
  process.off('SIGINT', whileStarting);
  process.off('SIGTERM', whileStarting);
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

function hypervisorKind(kind: string): 'simulated' | 'qemu' {
  if (kind !== 'simulated' && kind !== 'qemu') throw new Error(`--hypervisor ${kind}: expected simulated or qemu`);
  return kind;
}

function dataplaneKind(kind: string): 'lab' | 'linux' {
  if (kind !== 'lab' && kind !== 'linux') throw new Error(`--dataplane ${kind}: expected lab or linux`);
  return kind;
}

/**
 * The topology as network namespaces, after removing whatever a crashed run of the same prefix
 * left; refused (with the reason) where namespaces cannot be made.
 */
async function buildLinuxDataplane(config: LocusConfig, log: Logger): Promise<LinuxDataplane> {
  const unavailable = namespacesUnavailable();
  if (unavailable) throw new Error(`--dataplane linux: ${unavailable}`);
  const { index } = loadTopologyFile(config.topologyPath ?? defaultTopologyPath());
  const dataplane = new LinuxDataplane(index, { prefix: config.dataplanePrefix, neighboursPerSite: Number(process.env.LOCUS_ARP_NEIGHBOURS ?? DEFAULT_NEIGHBOURS_PER_SITE) });
  const built = await dataplane.build();
  if (built.leftovers) log.warn({ prefix: config.dataplanePrefix, leftovers: built.leftovers }, `removed ${built.leftovers} namespaces an earlier lab left (${config.dataplanePrefix}-*)`);
  const client = index.sites.find((s) => s.kind === 'branch');
  const vm = index.vms[0];
  log.info(
    { prefix: config.dataplanePrefix, namespaces: built.namespaces, ms: built.ms, core: dataplane.names.core() },
    `Linux dataplane built: ${built.namespaces} namespaces${client && vm ? ` (try: ip netns exec ${dataplane.names.router(client.name)} ping ${vm.ip})` : ''}`,
  );
  return dataplane;
}

/**
 * /metrics, /healthz and /readyz of every service of this process, on loopback: by default on
 * port 9464 in the whole lab (LOCUS_METRICS_PORT or --metrics-port another, 0 or --no-metrics none),
 * in one process of a layout only when a port is named. A port in use is said in a warning and the
 * lab goes on without it.
 */
async function startLabMetrics(config: LocusConfig, logger: Logger, services: LabServices, wholeLab: boolean): Promise<Awaited<ReturnType<typeof startLabObservability>>> {
  const named = opts.metricsPort ?? process.env.LOCUS_METRICS_PORT;
  const port = !opts.metrics ? 0 : named !== undefined ? Number(named) : wholeLab ? LAB_METRICS_PORT : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--metrics-port ${named}: expected a port number (0: none)`);
  try {
    return await startLabObservability({ ...config, metricsPort: port }, logger, services, '127.0.0.1');
  } catch (err) {
    logger.child({ component: 'lab' }).warn({ port, err: (err as Error).message }, `metrics not served: ${(err as Error).message} (choose another port with --metrics-port N, or --no-metrics)`);
    return { stop: async () => undefined };
  }
}

/**
 * The web console (apps/console) on loopback: by default in the whole lab, in one process of a
 * layout only when --console-port names a port (several processes must not race for one port).
 * A port in use is said in a warning and the lab goes on without it.
 */
async function startLabConsole(config: LocusConfig, logger: Logger, wholeLab: boolean): Promise<RunningConsole | undefined> {
  if (!opts.console || (!wholeLab && opts.consolePort === undefined)) return undefined;
  const port = opts.consolePort !== undefined ? Number(opts.consolePort) : config.consolePort;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--console-port ${opts.consolePort}: expected a port number (0: any free port)`);
  try {
    return await startConsole(config, logger, { port, host: config.consoleHost });
  } catch (err) {
    logger
      .child({ component: 'lab' })
      .warn({ port, err: (err as Error).message }, `console not started: ${(err as Error).message} (choose another port with --console-port N, 0 for any free port, or --no-console)`);
    return undefined;
  }
}

/**
 * NATS for the lab, and the credentials its services connect with. A server that answers and wants
 * users: every service connects as its own role from LOCUS_NATS_AUTH_DIR (default
 * .lab-data/nats-auth). A server that accepts anyone: said in one warning, services connect
 * without credentials (unless given some). Nothing answers on loopback: the lab generates the users
 * (keeping seeds it has) and starts nats-server with JetStream and that auth.conf.
 */
async function ensureNats(config: LocusConfig, log: Logger): Promise<Pick<LocusConfig, 'natsAuthDir'>> {
  const url = config.natsUrl;
  const authDir = config.natsAuthDir ?? DEFAULT_NATS_AUTH_DIR;
  const state = await probeNats(url);
  if (state === 'open') {
    log.warn(
      { url },
      `NATS at ${url} accepts clients without credentials: anyone who reaches it can publish events and call agent steps (generate users with npm run locus -- nats-auth and start nats-server -c ${join(authDir, NATS_AUTH_CONFIG_FILE)}, or stop it and the lab starts its own)`,
    );
    return { natsAuthDir: config.natsAuthDir };
  }
  if (state === 'auth-required') {
    if (!config.natsSeedFile && !hasNatsAuth(authDir))
      throw new Error(
        `NATS at ${url} requires authentication, but ${authDir} holds no seed per role: generate them with npm run locus -- nats-auth --out ${authDir} (and give its auth.conf to the server), or set LOCUS_NATS_AUTH_DIR`,
      );
    log.info({ url, authDir }, 'NATS requires users: every service connects as its own role');
    return { natsAuthDir: authDir };
  }
  const binary = ['/usr/sbin/nats-server', '/usr/local/bin/nats-server', '/usr/bin/nats-server'].find((p) => existsSync(p));
  const { hostname, port } = new URL(url.replace(/^nats:/, 'http:'));
  if (!binary || !['127.0.0.1', 'localhost'].includes(hostname)) throw new Error(`NATS does not answer at ${url}; ${NATS_START_HINT}`);
  const auth = writeNatsAuth(authDir, { prefix: config.subjectPrefix, stream: config.streamName });
  const dir = '.lab-data/nats';
  mkdirSync(dir, { recursive: true });
  const gomaxprocs = embeddedNatsGomaxprocs(process.env, cpus().length);
  log.warn(
    { url, binary, authDir, newSeeds: auth.created, gomaxprocs: gomaxprocs ?? 'Go default' },
    `NATS does not answer; starting an embedded nats-server with JetStream and NATS users per role (${auth.configFile}) for this lab`,
  );
  const child = spawn(binary, ['-a', '127.0.0.1', '-p', port || '4222', '-js', '-sd', dir, '-c', auth.configFile], {
    stdio: 'ignore',
    detached: false,
    env: { ...process.env, ...(gomaxprocs ? { GOMAXPROCS: gomaxprocs } : {}) },
  });
  process.once('exit', () => child.kill());
  for (let i = 0; i < 50; i++) {
    if ((await probeNats(url)) === 'auth-required') return { natsAuthDir: authDir };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`started ${binary} but NATS still does not answer at ${url}`);
}

async function ensurePostgres(databaseUrl: string, log: Logger) {
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL does not answer at ${admin.host} (${(err as Error).message}); start it (Debian: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set DATABASE_URL`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
  log.debug({ host: admin.host }, 'PostgreSQL answers');
}

main().catch((err) => {
  console.error(`lab failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
