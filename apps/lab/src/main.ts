import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { Command } from 'commander';
import { Client } from 'pg';
import { connect } from 'nats';
import { dropDatabase } from '@locus/eventstore';
import { deleteStreamIfExists, NATS_START_HINT } from '@locus/messaging';
import { createLogger, loadConfig, type Logger } from '@locus/platform';
import { startMobilityManager } from '../../mobility-manager/src/start-mobility-manager';
import { startAgents } from '../../hypervisor-agent/src/start-agents';
import { startMappingSystem } from '../../mapping-system/src/start-mapping-system';
import { keyMaterialOrGenerated } from '../../mapping-system/src/shared/site-keys';
import { startRouteInjectors } from '../../route-injector/src/start-route-injectors';
import { startArpProxies } from '../../arp-proxy/src/start-arp-proxies';
import { startLabObservability } from './lab-observability';

const LAB_SERVICES = ['manager', 'agents', 'mapping', 'routes', 'arp'] as const;
type LabService = (typeof LAB_SERVICES)[number];

/** The services this process runs: every one unless `--services` names some (an unknown name is an error). */
function chosenServices(list: string | undefined): Set<LabService> {
  if (!list) return new Set(LAB_SERVICES);
  const names = list.split(',').map((x) => x.trim()).filter(Boolean);
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
  .option('--topology <file>', 'lab topology YAML (default lab/default.yaml)')
  .option('--services <list>', `only these services, comma-separated (${LAB_SERVICES.join(', ')}): one process of a layout of several (default: all of them)`)
  .parse();

const opts = program.opts<{ fresh?: boolean; timeScale?: string; topology?: string; services?: string }>();

async function main() {
  const config = loadConfig(process.env, {
    ...(opts.timeScale ? { timeScale: Number(opts.timeScale) } : {}),
    ...(opts.topology ? { topologyPath: opts.topology } : {}),
  });
  const logger = createLogger(config.logLevel);
  const log = logger.child({ component: 'lab' });
  const only = chosenServices(opts.services);
  await ensureNats(config.natsUrl, log);
  await ensurePostgres(config.databaseUrl, log);
  if (opts.fresh) {
    await dropDatabase(config.databaseUrl);
    const nc = await connect({ servers: config.natsUrl });
    const deleted = await deleteStreamIfExists(await nc.jetstreamManager(), config.streamName);
    await nc.close();
    log.info({ database: new URL(config.databaseUrl).pathname.slice(1), stream: config.streamName, streamDeleted: deleted }, 'clean slate: database dropped and event stream deleted');
  }
  const mappingKey = keyMaterialOrGenerated(process.env); // before anything starts: a bad key file stops the lab at once
  // The manager first: it places the VMs the others load.
  const manager = only.has('manager') ? await startMobilityManager(config, logger) : undefined;
  const agents = only.has('agents') ? await startAgents(config, logger) : undefined;
  const mapping = only.has('mapping') ? await startMappingSystem(config, logger, { keySeed: mappingKey.seed, keySource: mappingKey.source }) : undefined;
  const routes = only.has('routes') ? await startRouteInjectors(config, logger) : undefined;
  const arp = only.has('arp') ? await startArpProxies(config, logger) : undefined;
  const observability = await startLabObservability(config, logger, { manager, agents, mapping, routes, arp });
  const services = [...only].join(', ');
  log.info(
    { timeScale: config.timeScale, services, hypervisors: agents?.host.agents.length, vms: manager?.topology.topology.vms.length },
    only.size === LAB_SERVICES.length
      ? `lab ready. Try: nats req ${config.subjectPrefix}.vm.move '{"vm":"web-01","to":"dc2-hv1","mode":"cold"}'  (or: npm run -s req -- ${config.subjectPrefix}.vm.move '...')`
      : `lab services ready: ${services}`,
  );
  const shutdown = async (signal: string) => {
    log.info({ signal }, 'stopping the lab');
    await observability.stop();
    await arp?.stop();
    await routes?.stop();
    await mapping?.stop();
    await agents?.stop();
    await manager?.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

async function ensureNats(url: string, log: Logger) {
  if (await natsAnswers(url)) return;
  const binary = ['/usr/sbin/nats-server', '/usr/local/bin/nats-server', '/usr/bin/nats-server'].find((p) => existsSync(p));
  const { hostname, port } = new URL(url.replace(/^nats:/, 'http:'));
  if (!binary || !['127.0.0.1', 'localhost'].includes(hostname))
    throw new Error(`NATS does not answer at ${url}; ${NATS_START_HINT}`);
  const dir = '.lab-data/nats';
  mkdirSync(dir, { recursive: true });
  log.warn({ url, binary }, 'NATS does not answer; starting an embedded nats-server with JetStream for this lab');
  const child = spawn(binary, ['-a', '127.0.0.1', '-p', port || '4222', '-js', '-sd', dir], { stdio: 'ignore', detached: false });
  process.once('exit', () => child.kill());
  for (let i = 0; i < 50; i++) {
    if (await natsAnswers(url)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`started ${binary} but NATS still does not answer at ${url}`);
}

async function natsAnswers(url: string): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, timeout: 1000, maxReconnectAttempts: 0 });
    await nc.close();
    return true;
  } catch {
    return false;
  }
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
