import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { mappingSubjects, subjects } from '@locus/contracts';
import { requestJson, until, type Child, type ChildSet } from './lab';

/**
 * Starting a lab's services, each a process of its own (the plane services optionally split by
 * sites), each checked ready through its own subjects, with the time each one became ready.
 */

export interface StartSetup {
  children: ChildSet;
  /** The lab's service processes; every process started is pushed here as soon as it is spawned. */
  services: Child[];
  env: NodeJS.ProcessEnv;
  dir: string;
  nc: NatsConnection;
  prefix: string;
  vmNames: string[];
  vmSite: Map<string, string>;
  itrSites: string[];
  hvsBySite: Map<string, string[]>;
  startupTimeoutS: number;
  planesTimeoutS: number;
  /** Sites per mapping-system / route-injector / arp-proxy process: 0 or undefined all (one process per service, the snapshots page). */
  sitesPerProcess?: number;
  /** How the services are grouped into processes (default: one process per service). */
  processes?: ProcessLayout;
  /** Heap budget of each service process in MiB (`--max-old-space-size`), unless BENCH_NODE_ARGS names one; 0: none. */
  heapMiB?: number;
  /** Young generation of each service process in MiB (`--max-semi-space-size`), unless BENCH_NODE_ARGS names one; 0: Node's own. */
  youngMiB?: number;
  log: (msg: string) => void;
  notes: string[];
}

export interface StartStep {
  service: string;
  processes: number;
  /** Seconds since the lab started: when its first process was spawned, when the last was ready. */
  startedS: number;
  readyS?: number;
}

/** Filled in as the lab starts, so that a start that fails half-way still says how far it got. */
export interface StartupFigures {
  /** Seconds until the mobility manager had placed every VM (`vm.get` of the last one answers). */
  placeS?: number;
  /** Each service's start and ready time, in the order they became ready. */
  steps: StartStep[];
  sitesPerProcess?: number;
  /** The plane services were started at once (one process each) rather than one group of sites after another. */
  concurrent?: boolean;
}

/**
 * `per-service`: five processes (the manager, the agents, the mapping system, the route injectors,
 * the ARP proxies); `planes`: two (the manager, and the four plane services in one `apps/lab`
 * process); `one`: the whole lab in one process, as `npm run lab` runs it.
 */
/** The heap budget the bench gives each service process by default: 384 MiB, plus 4 MiB per 1,000 VMs above 32,000. */
export function defaultHeapMiB(vms: number): number {
  return 384 + Math.max(0, Math.ceil((vms - 32_000) / 1000) * 4);
}

/**
 * The young generation the bench gives each service process by default: 64 MiB up to 32,000 VMs
 * (a move allocates short-lived objects by the hundred: at 16 MiB they outlive two scavenges and
 * are promoted, and the old generation's collector then marks them; 64 MiB cut the services' CPU
 * at 100 moves/s by about a tenth), Node's own above (memory is then the constraint: 64 MiB took
 * the 100,000-VM lab from ~980 MiB to 1,160 MiB).
 */
export function defaultYoungMiB(vms: number): number {
  return vms <= 32_000 ? 64 : 0;
}

export const PROCESS_LAYOUTS = ['per-service', 'planes', 'one'] as const;
export type ProcessLayout = (typeof PROCESS_LAYOUTS)[number];

const appMain = (app: string) => join(__dirname, '..', '..', 'apps', app, 'src', 'main.js');

/**
 * Starts the manager, waits until it has placed every VM, then the agents and the plane services.
 * Throws when something does not become ready in time (the processes started so far are in `services`).
 */
export async function startLab(x: StartSetup, f: StartupFigures): Promise<void> {
  const started = performance.now();
  const since = () => (performance.now() - started) / 1000;
  const s = subjects(x.prefix);
  const V = x.vmNames.length;
  const I = x.itrSites.length;
  // BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the services
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // A heap budget, as a deployment gives each service (a container's memory limit does the same):
  // without one, Node sizes the heap from the machine's 24 GiB and lets garbage grow to several
  // times the live data before collecting (10,000 VMs: 74 MiB live in the manager, 580 MiB resident).
  if (x.heapMiB && !nodeArgs.some((a) => a.startsWith('--max-old-space-size'))) {
    nodeArgs.push(`--max-old-space-size=${x.heapMiB}`);
    x.notes.push(`each service process ran with a heap budget of ${x.heapMiB} MiB (--max-old-space-size; --heap-mib 0 for none)`);
  }
  if (x.youngMiB && !nodeArgs.some((a) => a.startsWith('--max-semi-space-size'))) {
    nodeArgs.push(`--max-semi-space-size=${x.youngMiB}`);
    x.notes.push(`each service process ran with a young generation of ${x.youngMiB} MiB semi-spaces (--max-semi-space-size; --young-mib 0 for Node's own)`);
  }
  const spawn = (name: string, app: string, env: NodeJS.ProcessEnv = {}) => {
    const c = x.children.spawn(name, process.execPath, [...nodeArgs, appMain(app)], { ...x.env, ...env }, x.dir);
    x.services.push(c);
    return c;
  };
  const layout = x.processes ?? 'per-service';
  const labMain = appMain('lab');
  const spawnLab = (name: string, services?: string) => {
    // no web console and no metrics server: the bench measures the services alone (and runs may overlap on one machine)
    const c = x.children.spawn(name, process.execPath, [...nodeArgs, labMain, '--no-console', '--no-metrics', ...(services ? ['--services', services] : [])], x.env, x.dir);
    x.services.push(c);
    return c;
  };
  if (layout !== 'per-service' && x.sitesPerProcess) throw new Error(`--sites-per-process goes with one process per service, not --processes ${layout}`);
  const steps = f.steps;
  const step = (service: string) => {
    const st: StartStep = { service, processes: 0, startedS: since() };
    steps.push(st);
    return st;
  };

  const manager = layout === 'one' ? spawnLab('lab') : spawn('mobility-manager', 'mobility-manager');
  const mgr = step('mobility-manager');
  mgr.processes = 1;
  const last = x.vmNames[x.vmNames.length - 1];
  await until(`the mobility manager to place ${V} VMs`, async () => ((await requestJson(x.nc, s.request('vm.get'), { vm: last }, 2000)).ok ? true : undefined), x.startupTimeoutS * 1000, [manager]);
  const placeS = since();
  mgr.readyS = placeS;
  f.placeS = placeS;
  x.log(`manager ready, ${V} VMs placed after ${placeS.toFixed(1)} s; starting agents, mapping system, route injectors, ARP proxies`);

  const asked = x.sitesPerProcess;
  const spp = !asked ? I : Math.max(1, asked);
  const groups: string[][] = [];
  for (let i = 0; i < x.itrSites.length; i += spp) groups.push(x.itrSites.slice(i, i + spp));
  const concurrent = groups.length === 1;
  Object.assign(f, { sitesPerProcess: spp, concurrent });
  if (layout === 'one') x.notes.push(`the whole lab ran in one process (apps/lab), as \`npm run lab\` runs it`);
  else if (layout === 'planes')
    x.notes.push(`two processes: the mobility manager, and the agents, mapping system, route injectors and ARP proxies together (apps/lab --services agents,mapping,routes,arp)`);
  else if (!asked) x.notes.push(`the plane services ran as one process each (all ${I} sites), started at once`);
  else if (groups.length > 1) x.notes.push(`the plane services ran as ${groups.length} processes each (--sites-per-process ${spp}, started one after another)`);

  const planesMs = x.planesTimeoutS * 1000;
  // In the combined layouts every plane service lives in a process already started: probe it, spawn nothing.
  const planes = layout === 'planes' ? spawnLab('planes', 'agents,mapping,routes,arp') : layout === 'one' ? manager : undefined;
  const spawnPlane = (name: string, app: string, env: NodeJS.ProcessEnv = {}) => planes ?? spawn(name, app, env);
  const ms = mappingSubjects(x.prefix);
  const perSite = new Map<string, number>();
  for (const v of x.vmNames) perSite.set(x.vmSite.get(v)!, (perSite.get(x.vmSite.get(v)!) ?? 0) + 1);
  const perSiteCount = (site: string) => perSite.get(site) ?? 0;
  const tag = (g: number) => (groups.length > 1 ? `#${g + 1}` : '');

  const agentsStep = step('hypervisor-agent');
  agentsStep.processes = 1;
  const agents = spawnPlane('hypervisor-agent', 'hypervisor-agent');
  const agentsReady = until(
    'the agents',
    async () => {
      const hv = x.hvsBySite.get(x.itrSites[x.itrSites.length - 1])![0];
      const r = await requestJson(x.nc, s.agent(hv, 'inventory'), {}, 3000);
      return r.ok !== false ? true : undefined;
    },
    planesMs,
    [agents],
  ).then(() => {
    agentsStep.readyS = since();
  });
  agentsReady.catch(() => undefined); // awaited below

  const mapping = async (g: number, group: string[], registered: number, st: StartStep) => {
    const c = spawnPlane(`mapping-system${tag(g)}`, 'mapping-system', { LOCUS_MAP_SERVER: g === 0 ? 'true' : 'false', LOCUS_XTR_SITES: group.join(',') });
    st.processes++;
    await until(
      `the mapping system to hold the registrations of ${group.length} more sites`,
      async () => {
        const r = await requestJson(x.nc, ms.list, { limit: 1 }, 3000);
        return r.ok && r.total >= registered ? true : undefined;
      },
      planesMs,
      [c],
    );
  };
  const routes = async (g: number, group: string[], st: StartStep) => {
    const c = spawnPlane(`route-injector${tag(g)}`, 'route-injector', { LOCUS_SITES: group.join(',') });
    st.processes++;
    const lastSite = group[group.length - 1];
    await until(
      `the route injectors of ${group.join(',')} to originate their /32s`,
      async () => {
        // One route is enough to read the site's total (a whole site's list outgrows a NATS message on big labs).
        const r = await requestJson(x.nc, `${x.prefix}.routes.list`, { site: lastSite, limit: 1 }, 5000);
        return r.ok && !r.sites?.[0]?.unavailable && r.sites?.[0]?.total >= perSiteCount(lastSite) ? true : undefined;
      },
      planesMs,
      [c],
    );
  };
  const arp = async (g: number, group: string[], st: StartStep) => {
    const c = spawnPlane(`arp-proxy${tag(g)}`, 'arp-proxy', { LOCUS_SITES: group.join(',') });
    st.processes++;
    const lastSite = group[group.length - 1];
    await until(
      `the ARP proxies of ${group.join(',')}`,
      async () => {
        const r = await requestJson(x.nc, `${x.prefix}.arp.list`, { site: lastSite }, 5000);
        return r.ok && !r.sites?.[0]?.unavailable ? true : undefined;
      },
      planesMs,
      [c],
    );
  };

  const ready = (st: StartStep) => () => {
    st.readyS = since();
  };
  if (concurrent) {
    // one process per service: all of them load at once (as a deployment starts them)
    const group = groups[0];
    const total = group.reduce((a, site) => a + perSiteCount(site), 0);
    const m = step('mapping-system');
    const r = step('route-injector');
    const a = step('arp-proxy');
    // wait for every one (so the breakdown is complete and no probe outlives the start), then report the first failure
    const results = await Promise.allSettled([mapping(0, group, total, m).then(ready(m)), routes(0, group, r).then(ready(r)), arp(0, group, a).then(ready(a)), agentsReady]);
    const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) throw failed.reason;
  } else {
    // unpaginated snapshots: one group of sites after another, each ready before the next starts
    let registered = 0;
    const m = step('mapping-system');
    for (const [g, group] of groups.entries()) {
      registered += group.reduce((acc, site) => acc + perSiteCount(site), 0);
      await mapping(g, group, registered, m);
    }
    ready(m)();
    const r = step('route-injector');
    for (const [g, group] of groups.entries()) await routes(g, group, r);
    ready(r)();
    const a = step('arp-proxy');
    for (const [g, group] of groups.entries()) await arp(g, group, a);
    ready(a)();
    await agentsReady;
  }
  steps.sort((p, q) => (p.readyS ?? Infinity) - (q.readyS ?? Infinity));
}
