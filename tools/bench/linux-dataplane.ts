import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { connect } from 'nats';
import { subjects } from '@locus/contracts';
import { LinuxDataplane, namespacesUnavailable, PingTrain } from '@locus/dataplane';
import { deleteStreamIfExists, requestJson } from '@locus/messaging';
import { dropDatabase } from '@locus/eventstore';
import { loadConfig, type LocusConfig } from '@locus/platform';
import { defaultTopologyPath, loadTopologyFile } from '@locus/topology';
import { startMobilityManager } from '../../apps/mobility-manager/src/start-mobility-manager';
import { startAgents } from '../../apps/hypervisor-agent/src/start-agents';
import { startMappingSystem } from '../../apps/mapping-system/src/start-mapping-system';
import { keyMaterialOrGenerated } from '../../apps/mapping-system/src';
import { startRouteInjectors } from '../../apps/route-injector/src/start-route-injectors';
import { startArpProxies } from '../../apps/arp-proxy/src/start-arp-proxies';
import { until } from './lab';

/** The batch: moves that keep the IP, there and back, cold across data centers and hot inside the stretched domain. */
export const LINUX_BENCH_MOVES: readonly { vm: string; to: string; mode: 'cold' | 'hot' | 'warm' }[] = [
  { vm: 'app-01', to: 'cloud-hv1', mode: 'cold' },
  { vm: 'web-02', to: 'dc2-hv2', mode: 'cold' },
  { vm: 'web-01', to: 'dc2-hv1', mode: 'hot' },
  { vm: 'app-01', to: 'dc1-hv2', mode: 'cold' },
  { vm: 'web-02', to: 'dc1-hv2', mode: 'cold' },
  { vm: 'web-01', to: 'dc1-hv1', mode: 'hot' },
];

export interface LinuxBenchRow {
  vm: string;
  mode: string;
  from: string;
  to: string;
  /** The manager's report: location commit to the last plane agreeing (MoveConverged's convergenceMs), real ms. */
  managerMs?: number;
  /** Location commit to the manager recording MoveConverged (the planes agree and the move has completed: the VM runs at the target), real ms. */
  convergedRecordedMs?: number;
  /** The packets': location commit to the first reply (from the branch) to a probe sent after it, real ms. */
  dataplaneMs?: number;
  /** dataplane - MoveConverged recorded: the packets against the moment the manager says the move converged. */
  differenceMs?: number;
  withinOneProbe?: boolean;
  /** The longest run of unanswered probes around the move, ms. */
  outageMs: number;
  downtimeMs?: number;
}

export interface LinuxBenchResult {
  timeScale: number;
  probeIntervalMs: number;
  rows: LinuxBenchRow[];
}

/**
 * `npm run bench -- --dataplane linux`: the default topology as network namespaces, the whole
 * control plane in this process on a fresh database, subject prefix, stream and namespace prefix,
 * and a batch of moves one after another, each with a 20 ms ping train from the branch to the VM.
 * Per move it prints the convergence the manager reports beside the dataplane's (commit to first
 * reply), and whether they agree within one probe interval. Removes everything it made at the end.
 */
export async function runLinuxDataplaneBench(o: { moves: number; timeScale: number; log: (msg: string) => void }): Promise<LinuxBenchResult> {
  const unavailable = namespacesUnavailable();
  if (unavailable) throw new Error(`--dataplane linux: ${unavailable}`);
  const id = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const pgBase = process.env.BENCH_PG_BASE ?? 'postgres://postgres@127.0.0.1:5432';
  const config: LocusConfig = loadConfig(process.env, {
    databaseUrl: `${pgBase}/locus_bench_linux_${id}`,
    subjectPrefix: `bl${id}`,
    streamName: `BL_${id}`,
    timeScale: o.timeScale,
    topologyPath: defaultTopologyPath(),
    dataplane: 'linux',
    dataplanePrefix: `bl${id}`.slice(0, 16),
    haEnabled: false,
    driftIntervalMs: 0,
    convergenceTracking: true,
  });
  const dir = mkdtempSync(join(tmpdir(), 'locus-bench-linux-'));
  const logger = pino({ level: 'warn' }, pino.destination(join(dir, 'services.log')));
  const { index: topology } = loadTopologyFile(defaultTopologyPath());
  const dataplane = new LinuxDataplane(topology, { prefix: config.dataplanePrefix });
  const stops: (() => Promise<unknown>)[] = [];
  const probeIntervalMs = 20;
  try {
    const built = await dataplane.build();
    o.log(`Linux dataplane: ${built.namespaces} namespaces in ${built.ms} ms (prefix ${config.dataplanePrefix}); logs in ${dir}`);
    const manager = await startMobilityManager(config, logger);
    stops.push(() => manager.stop());
    const agents = await startAgents(config, logger);
    stops.push(() => agents.stop());
    const key = keyMaterialOrGenerated({});
    const mapping = await startMappingSystem(config, logger, { keySeed: key.seed, keySource: key.source });
    stops.push(() => mapping.stop());
    const routes = await startRouteInjectors(config, logger);
    stops.push(() => routes.stop());
    const arp = await startArpProxies(config, logger);
    stops.push(() => arp.stop());
    const nc = await connect({ servers: config.natsUrl });
    stops.push(() => nc.close());
    const req = (endpoint: string, body: unknown) => requestJson<any>(nc, subjects(config.subjectPrefix).request(endpoint as any), body, 10_000);
    const branch = topology.sites.find((s) => s.kind === 'branch');
    if (!branch) throw new Error('the topology has no branch site to probe from');
    const rows: LinuxBenchRow[] = [];
    for (let i = 0; i < o.moves; i++) {
      const m = LINUX_BENCH_MOVES[i % LINUX_BENCH_MOVES.length];
      const ip = topology.vm(m.vm)!.ip;
      const train = new PingTrain(dataplane.names.router(branch.name), ip, probeIntervalMs);
      try {
        await until(`the branch reaching ${m.vm}`, async () => (train.repliesAfter(0) >= 3 ? true : undefined), 10_000);
        const reply = await req('vm.move', m);
        if (!reply.ok) throw new Error(`vm.move ${JSON.stringify(m)}: ${JSON.stringify(reply.error ?? reply)}`);
        const move = await until(
          `move ${reply.moveId} converging`,
          async () => {
            const got = await req('move.get', { moveId: reply.moveId });
            return got.ok && ['converged', 'failed', 'cancelled'].includes(got.move.state) ? got.move : undefined;
          },
          60_000,
        );
        const at = (event: string) => {
          const entry = move.timeline.find((e: { event: string }) => e.event === event);
          return entry ? Date.parse(entry.at) : undefined;
        };
        const commitAt = at('VmRelocated');
        const convergedAt = at('MoveConverged');
        if (commitAt !== undefined) await until(`a reply from ${m.vm} after the commit`, async () => train.firstReplyToProbeAfter(commitAt), 15_000).catch(() => undefined);
        await sleep(1200); // the last probes' replies, before the train is judged
        await train.stop();
        const first = commitAt !== undefined ? train.firstReplyToProbeAfter(commitAt) : undefined;
        const dataplaneMs = first !== undefined && commitAt !== undefined ? first - commitAt : undefined;
        const managerMs = move.convergenceMs;
        const convergedRecordedMs = convergedAt !== undefined && commitAt !== undefined ? convergedAt - commitAt : undefined;
        const differenceMs = dataplaneMs !== undefined && convergedRecordedMs !== undefined ? Math.round(dataplaneMs - convergedRecordedMs) : undefined;
        const row: LinuxBenchRow = {
          vm: m.vm,
          mode: m.mode,
          from: move.from.hypervisor,
          to: move.to.hypervisor,
          managerMs,
          convergedRecordedMs,
          dataplaneMs,
          differenceMs,
          withinOneProbe: differenceMs !== undefined ? Math.abs(differenceMs) <= probeIntervalMs : undefined,
          outageMs: train.longestOutage().ms,
          downtimeMs: move.downtimeMs !== undefined ? Math.round(move.downtimeMs / o.timeScale) : undefined,
        };
        rows.push(row);
        o.log(
          `${row.mode} ${row.vm} ${row.from} -> ${row.to}: manager ${fmt(row.managerMs)} (recorded ${fmt(row.convergedRecordedMs)}), first reply ${fmt(row.dataplaneMs)} after the commit (${move.state})`,
        );
      } finally {
        await train.stop();
      }
    }
    return { timeScale: o.timeScale, probeIntervalMs, rows };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await dataplane.remove();
    await dropDatabase(config.databaseUrl).catch(() => undefined);
    const nc = await connect({ servers: config.natsUrl }).catch(() => undefined);
    if (nc) {
      await deleteStreamIfExists(await nc.jetstreamManager(), config.streamName).catch(() => undefined);
      await nc.close();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The result as a table: the manager's convergence beside the packets'. */
export function renderLinuxBench(r: LinuxBenchResult): string {
  const head = ['move', 'manager: convergenceMs', 'MoveConverged recorded', 'dataplane: first reply', 'difference', `within ${r.probeIntervalMs} ms`, 'outage', 'downtime (real)'];
  const body = r.rows.map((x) => [
    `${x.mode} ${x.vm} ${x.from} -> ${x.to}`,
    fmt(x.managerMs),
    fmt(x.convergedRecordedMs),
    fmt(x.dataplaneMs),
    x.differenceMs !== undefined ? `${x.differenceMs > 0 ? '+' : ''}${x.differenceMs} ms` : '-',
    x.withinOneProbe === undefined ? '-' : x.withinOneProbe ? 'yes' : 'no',
    `${x.outageMs} ms`,
    fmt(x.downtimeMs),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [
    `Linux dataplane, time scale ${r.timeScale}, probes every ${r.probeIntervalMs} ms from the branch; every figure in real ms after the location commit (difference: first reply - MoveConverged recorded)`,
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}

const fmt = (ms?: number) => (ms === undefined ? '-' : `${Math.round(ms)} ms`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
