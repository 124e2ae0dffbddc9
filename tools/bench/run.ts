import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { Client } from 'pg';
import { skipSettledRequestErrors } from '@locus/messaging';
import { seededRandom, summarize, type Summary } from '@locus/platform';
import type { MoveTrack } from '@locus/domain';
import { costFigures, enableStatements, pgCounters, resetStatements, statementCounters, streamCounters, type CostFigures, type CostSnapshot } from './costs';
import { allProcessCpu, machineCpu, ProcessSampler, sampleProc, tail, topCpu, type Child, type ChildSet } from './lab';
import { attachedLayout, generatedLayout, warmItrCaches, type LabLayout } from './layout';
import { LoadDriver, type PhaseFigures } from './load';
import type { AnswerFigures } from './open-loop';
import type { BenchResult, PhaseSummary } from './report';
import { startLab, type ProcessLayout, type StartupFigures } from './start-lab';
import { labEnvOf } from './options';
import { generateKeySeed } from '../../apps/mapping-system/src';

/**
 * One lab run: fresh names and database, generated topology, the services started (or a running lab
 * attached), ITR caches warmed, load in one or two phases, drain, and every figure measured. The
 * bench runs it once, or twice with --compare-vms (the second time on a smaller lab).
 */

export interface RunConfig {
  /** 'main' or 'compare': names the log lines. */
  label: string;
  vms: number;
  itrs: number;
  hypervisorsPerSite: number;
  rate: number;
  durationS: number;
  bootMs: number;
  shutdownMs: number;
  cacheFraction: number;
  idle: boolean;
  /** With `idle`: seconds the lab settles before memory is measured. */
  idleSeconds: number;
  /** Heap budget of each service process (MiB, `--max-old-space-size`); 0: Node's own (sized from the machine's memory). */
  heapMiB: number;
  /** Young generation (semi-space) of each service process (MiB, `--max-semi-space-size`); 0: Node's own. */
  youngMiB: number;
  attach: boolean;
  pids?: string;
  /** Phase 2 at twice the completed rate of phase 1. */
  overload: boolean;
  drainS: number;
  logLevel: string;
  startupTimeoutS: number;
  planesTimeoutS: number;
  sitesPerProcess?: number;
  processes?: ProcessLayout;
  maxInFlight?: number;
  requestTimeoutMs: number;
  seed: number;
  keep: boolean;
}

/** What the run shares with the rest of the bench: the NATS it uses and how to clean up. */
export interface Session {
  natsUrl: string;
  natsServer: 'shared' | 'private';
  pgBase: string;
  /** Children of the whole bench (Ctrl-C kills them all); each lab stops its own. */
  children: ChildSet;
  log: (msg: string) => void;
  aborted: () => boolean;
  /** Registers the lab's cleanup so that Ctrl-C runs it; the returned function unregisters it. */
  onCleanup: (fn: () => Promise<void>) => () => void;
}

export type LabRun = Omit<BenchResult, 'date' | 'machine' | 'command' | 'floors' | 'compare'>;

const perSecond = (n: number, s: number) => (s ? n / s : 0);

function phaseSummary(p: PhaseFigures): PhaseSummary {
  return {
    rate: p.rate,
    windowS: p.windowS,
    sent: p.sent,
    sentPerS: p.sentPerS,
    notSent: p.notSent,
    maxInFlight: p.maxInFlight,
    accepted: p.accepted,
    acceptedPerS: p.acceptedPerS,
    completedInWindow: p.completedInWindow,
    sustainedPerS: p.sustainedPerS,
    backlogStart: p.backlogStart,
    backlogEnd: p.backlogEnd,
    backlogMax: p.backlogMax,
    backlogSlopePerS: p.backlogSlopePerS,
  };
}

/**
 * Convergence of moves, one definition (libs/domain MoveConvergenceBook): the tracker's record when
 * it publishes, else the bench's own board's figure over the same events (printed beside it).
 */
export function convergenceOf(moves: MoveTrack[], trackerSeen: boolean): { used: 'tracker' | 'computed' | 'none'; tracker?: Summary; computed?: Summary; byPlane?: Record<string, Summary> } {
  const trackerMs = moves.map((m) => m.tracker?.ms).filter((x): x is number => x !== undefined);
  const computedMs = moves.map((m) => m.computed?.ms).filter((x): x is number => x !== undefined);
  const used = trackerSeen && trackerMs.length ? 'tracker' : computedMs.length ? 'computed' : 'none';
  // The tracker's time of each plane (from the location commit): which plane is the last one, and by how much.
  const perPlane = new Map<string, number[]>();
  for (const m of moves) for (const [plane, timing] of Object.entries(m.tracker?.planes ?? {})) if (typeof timing.ms === 'number') perPlane.set(plane, [...(perPlane.get(plane) ?? []), timing.ms]);
  const byPlane = perPlane.size ? Object.fromEntries([...perPlane].map(([plane, ms]) => [plane, summarize(ms)])) : undefined;
  return { used, tracker: trackerMs.length ? summarize(trackerMs) : undefined, computed: computedMs.length ? summarize(computedMs) : undefined, ...(byPlane ? { byPlane } : {}) };
}

/** Seconds at the start of a window whose moves the warm-up figure sets apart. */
export const WARM_UP_S = 5;

/** The tracker's convergence of the moves committed in the window's first `firstS` seconds, and of the rest. */
export function warmUpOf(moves: MoveTrack[], firstS = WARM_UP_S): { warmUp?: { firstS: number; first: Summary; after: Summary } } {
  const timed = moves.filter((m) => m.tracker?.ms !== undefined && m.relocatedAt !== undefined);
  if (!timed.length) return {};
  const start = timed.reduce((min, m) => Math.min(min, m.relocatedAt!), Infinity);
  const early = (m: MoveTrack) => m.relocatedAt! - start < firstS * 1000;
  const first = timed.filter(early).map((m) => m.tracker!.ms);
  const after = timed.filter((m) => !early(m)).map((m) => m.tracker!.ms);
  if (!first.length || !after.length) return {};
  return { warmUp: { firstS, first: summarize(first), after: summarize(after) } };
}

/** Decision → insert and decision → on the stream of each move's VmRelocated, as the bench received it. */
export function commitStagesOf(stages: ({ toInsertMs: number; toStreamMs: number } | undefined)[]): { commitStages?: { toInsert: Summary; toStream: Summary } } {
  const seen = stages.filter((x): x is { toInsertMs: number; toStreamMs: number } => x !== undefined);
  if (!seen.length) return {};
  return { commitStages: { toInsert: summarize(seen.map((x) => x.toInsertMs)), toStream: summarize(seen.map((x) => x.toStreamMs)) } };
}

export async function runLab(session: Session, cfg: RunConfig, hooks: { beforeLab?: (databaseUrl: string) => Promise<void> } = {}): Promise<LabRun> {
  const { log } = session;
  const id = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `locus-bench-${id}-`));
  const random = seededRandom(cfg.seed);
  const notes: string[] = [];
  const prefix = cfg.attach ? (process.env.LOCUS_SUBJECT_PREFIX ?? 'locus') : `bench${id}`;
  const stream = cfg.attach ? (process.env.LOCUS_STREAM ?? 'LOCUS_EVENTS') : `BENCH_${id}`;
  const dbName = `locus_bench_${id}`;
  const databaseUrl = cfg.attach ? (process.env.DATABASE_URL ?? `${session.pgBase}/locus`) : `${session.pgBase}/${dbName}`;
  const services: Child[] = [];
  let pg: Client | undefined;
  let driver: LoadDriver | undefined;
  // The load's client captures no stack per request (it shares the lab's cores); the floors keep plain nats.js.
  const nc = await connect({ servers: session.natsUrl, name: `locus-bench-${cfg.label}`, noAsyncTraces: true });

  let cleaning: Promise<void> | undefined;
  const cleanup = () => (cleaning ??= stopLab());
  const stopLab = async () => {
    log(`${cfg.label} lab: stopping its processes, dropping its database and stream`);
    driver?.unsubscribe();
    await pg?.end().catch(() => undefined);
    await session.children.stop(services, 3000);
    if (!cfg.attach) {
      await (await nc.jetstreamManager()).streams.delete(stream).catch(() => undefined);
      const admin = new Client({ connectionString: `${session.pgBase}/postgres` });
      await admin.connect().catch(() => undefined);
      await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).catch((err) => log(`could not drop the database: ${(err as Error).message}`));
      await admin.end().catch(() => undefined);
    }
    await nc.close().catch(() => undefined);
    if (cfg.keep) log(`run folder kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  const unregister = session.onCleanup(cleanup);
  try {
    const topologyFile = join(dir, 'topology.yaml');
    let layout: LabLayout = { vmNames: [], vmIp: new Map(), vmSite: new Map(), hvsBySite: new Map(), hostRouteSites: new Set(), itrSites: [] };
    if (!cfg.attach) {
      layout = generatedLayout({ sites: cfg.itrs, vms: cfg.vms, hypervisorsPerSite: cfg.hypervisorsPerSite, bootMs: cfg.bootMs, shutdownMs: cfg.shutdownMs }, topologyFile, `locus bench ${id}`);
      const admin = new Client({ connectionString: `${session.pgBase}/postgres` });
      await admin.connect();
      await admin.query(`CREATE DATABASE "${dbName}"`);
      await admin.end();
    }
    await hooks.beforeLab?.(databaseUrl);
    // The floors are measured: from here on a request answered builds no error to cancel (as in the services).
    skipSettledRequestErrors();

    // ---- the lab ----
    const started = performance.now();
    const startup: StartupFigures = { steps: [] };
    let startupProblem: string | undefined;
    if (!cfg.attach) {
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NATS_URL: session.natsUrl,
        DATABASE_URL: databaseUrl,
        LOCUS_TOPOLOGY: topologyFile,
        LOCUS_SUBJECT_PREFIX: prefix,
        LOCUS_STREAM: stream,
        // every mapping-system process of the run shares this seed; a new one per run, never written to the logs
        LOCUS_MAPPING_KEY_SEED: generateKeySeed(),
        LOCUS_TIME_SCALE: '1',
        LOCUS_HA: 'false',
        LOCUS_BGP: 'memory',
        LOG_LEVEL: cfg.logLevel,
        NODE_ENV: 'production',
        // BENCH_LAB_ENV='LOCUS_DRIFT_INTERVAL_MS=0 LOG_FORMAT=json' sets the services' environment for an experiment
        ...labEnvOf(process.env.BENCH_LAB_ENV ?? ''),
      };
      log(`${cfg.label} lab: ${cfg.vms} VMs, ${cfg.itrs} sites, ${cfg.itrs * cfg.hypervisorsPerSite} hypervisors (logs in ${dir})`);
      try {
        await startLab(
          {
            children: session.children,
            services,
            env,
            dir,
            nc,
            prefix,
            ...layout,
            startupTimeoutS: cfg.startupTimeoutS,
            planesTimeoutS: cfg.planesTimeoutS,
            sitesPerProcess: cfg.sitesPerProcess,
            processes: cfg.processes,
            heapMiB: cfg.heapMiB,
            youngMiB: cfg.youngMiB,
            log,
            notes,
          },
          startup,
        );
      } catch (err) {
        // --idle measures memory: say what did not start and measure what runs
        if (!cfg.idle || session.aborted() || startup.placeS === undefined) throw err;
        startupProblem = (err as Error).message.split('\n')[0];
        notes.push(`the lab did not start completely: ${startupProblem}; memory is measured for the processes that run`);
        log(`startup incomplete: ${startupProblem}`);
      }
    } else {
      layout = await attachedLayout(nc, prefix);
      for (const kv of (cfg.pids ?? '').split(',').filter(Boolean)) {
        const [name, pid] = kv.split('=');
        if (!name || !/^\d+$/.test(pid ?? '')) throw new Error(`--pids wants name=pid,... not ${kv}`);
        services.push({ name, process: { pid: Number(pid), exitCode: null, signalCode: null } as any, logFile: '' });
      }
    }
    const labReadyS = cfg.attach || startupProblem ? undefined : (performance.now() - started) / 1000;
    if (labReadyS !== undefined) log(`${cfg.label} lab ready after ${labReadyS.toFixed(1)} s (${startup.steps.map((x) => `${x.service} ${x.readyS?.toFixed(1) ?? '-'} s`).join(', ')})`);

    // ---- ITR caches: each ITR resolves a share of the EIDs (so a move has ITRs to update) ----
    const { cachedEntries, warmS } = cfg.idle ? { cachedEntries: 0, warmS: 0 } : await warmItrCaches(nc, prefix, layout, cfg.cacheFraction, random);
    if (!cfg.idle && cfg.cacheFraction > 0)
      log(`ITR caches warmed: ${cachedEntries} entries (${Math.round(cfg.cacheFraction * 100)}% of ${layout.vmNames.length} EIDs at each of ${layout.itrSites.length} ITRs) in ${warmS.toFixed(1)} s`);

    // ---- memory and CPU sampling ----
    const sampler = new ProcessSampler();
    const sampleAll = () => sampler.sample(services);
    sampleAll();

    // ---- the load ----
    driver = new LoadDriver({
      nc,
      prefix,
      runId: id,
      random,
      ...layout,
      requestTimeoutMs: cfg.requestTimeoutMs,
      maxInFlight: cfg.maxInFlight,
      log,
      aborted: session.aborted,
      tick: sampleAll,
    });
    await driver.subscribe();
    pg = new Client({ connectionString: databaseUrl });
    await pg.connect();
    const jsm = await nc.jetstreamManager();
    const eventsPosition = async () => Number((await pg!.query('SELECT COALESCE(max(position), 0)::bigint AS p FROM events')).rows[0].p);
    const statements = await enableStatements(pg).catch((err: Error) => ({ available: false as const, reason: `pg_stat_statements: ${err.message}` }));
    const snapshot = async (): Promise<CostSnapshot> => ({
      pg: await pgCounters(pg!).catch(() => undefined),
      statements: statements.available ? await statementCounters(pg!).catch(() => undefined) : undefined,
      stream: await streamCounters(jsm, stream).catch(() => undefined),
    });
    const labCpuS = () => session.children.children.reduce((a, c) => a + (c.process.pid ? (sampleProc(c.process.pid)?.cpuS ?? 0) : 0), 0) + (process.cpuUsage().user + process.cpuUsage().system) / 1e6;
    const cpu0 = { machine: machineCpu(), lab: labCpuS(), procs: allProcessCpu() };
    let cpu1 = cpu0;
    let phase1: PhaseFigures | undefined;
    let phase2: PhaseFigures | undefined;
    let events0 = 0;
    let events1 = 0;
    let costs: CostFigures | undefined;
    let costs2: CostFigures | undefined;
    let drainS = 0;
    let peak = 0;
    if (!cfg.idle) {
      // a fresh lab's own database: forget its statements so far (other databases keep theirs); attached: the window's difference
      if (statements.available && !cfg.attach) await resetStatements(pg).catch((err: Error) => notes.push(`pg_stat_statements_reset failed: ${err.message}`));
      events0 = await eventsPosition();
      const snap0 = await snapshot();
      log(`${cfg.label}: cold moves at ${cfg.rate}/s for ${cfg.durationS} s${cfg.overload ? ', then twice the completed rate for as long (--overload)' : ''}`);
      phase1 = await driver.phase('load', cfg.rate, cfg.durationS);
      cpu1 = { machine: machineCpu(), lab: labCpuS(), procs: allProcessCpu() };
      events1 = await eventsPosition();
      const snap1 = await snapshot();
      costs = costFigures(snap0, snap1, phase1.completedInWindow, phase1.windowS, statements.available ? undefined : statements.reason);
      if (cfg.overload && !session.aborted()) {
        peak = phase1.sustainedPerS;
        if (peak > 0) {
          log(`peak ${peak.toFixed(1)} moves/s completed; overload: offering ${(2 * peak).toFixed(1)}/s for ${cfg.durationS} s`);
          phase2 = await driver.phase('overload', 2 * peak, cfg.durationS);
          const snap2 = await snapshot();
          costs2 = costFigures(snap1, snap2, phase2.completedInWindow, phase2.windowS, statements.available ? undefined : statements.reason);
        } else notes.push('--overload: no move completed in phase 1, so there is no peak to double; phase 2 did not run');
      }
      sampleAll();
      drainS = await driver.drain(cfg.drainS);
      phase1 = driver.settle(phase1);
      if (phase2) phase2 = driver.settle(phase2);
      const notSent = (p: PhaseFigures) => {
        if (p.notSent.noIdleVm)
          notes.push(`${p.name}: ${p.notSent.noIdleVm} moves could not be sent when due: every VM was already moving or waiting for its previous move to converge (V too small for the rate)`);
        if (p.notSent.inFlightCap)
          notes.push(
            `${p.name}: ${p.notSent.inFlightCap} moves were not sent when due because ${p.maxInFlight} requests were awaiting a reply (--max-in-flight): for those the load was not open-loop`,
          );
      };
      notSent(phase1);
      if (phase2) notSent(phase2);
    } else {
      log(`idle: letting the lab settle for ${cfg.idleSeconds} s before measuring memory`);
      for (let i = 0; i < cfg.idleSeconds && !session.aborted(); i++) {
        sampleAll();
        await new Promise((r) => setTimeout(r, 1000));
      }
      cpu1 = { machine: machineCpu(), lab: labCpuS(), procs: allProcessCpu() };
    }
    sampleAll();
    const cpuTotalS = cpu1.machine.totalS - cpu0.machine.totalS;

    // ---- results ----
    const mine = driver.moves('load');
    const all = driver.moves();
    const conv = { ...convergenceOf(mine, driver.board.trackerSeen), ...commitStagesOf(mine.map((m) => driver!.commitStages.get(m.moveId))), ...warmUpOf(mine) };
    const answers: AnswerFigures = driver.answerFigures('load');
    const servicesRss = sampler.byService(services);
    const usage = process.cpuUsage();
    const windowS = phase1?.windowS ?? 0;
    const completed = mine.filter((m) => driver!.completedAt.has(m.moveId)).length;
    const failedMoves = mine.filter((m) => m.state === 'failed');
    const refused: Record<string, number> = { ...answers.refused.byCode, ...(answers.unavailable.count ? { UNAVAILABLE: answers.unavailable.count } : {}), ...answers.failed.byCode };
    const streamMessages = costs?.stream?.messages ?? 0;
    const run: LabRun = {
      config: {
        preset: '',
        vms: cfg.attach ? layout.vmNames.length : cfg.vms,
        itrs: cfg.attach ? layout.itrSites.length : cfg.itrs,
        hypervisors: [...layout.hvsBySite.values()].reduce((a, x) => a + x.length, 0),
        rate: cfg.rate,
        durationS: cfg.durationS,
        bootMs: cfg.bootMs,
        shutdownMs: cfg.shutdownMs,
        cacheFraction: cfg.cacheFraction,
        mode: 'cold',
        idle: cfg.idle,
        natsServer: session.natsServer,
        rib: cfg.attach ? 'as the lab runs it' : 'memory (LOCUS_BGP=memory; GoBGP measured apart, above)',
        logLevel: cfg.logLevel,
        attach: cfg.attach,
        overload: cfg.overload,
        requestTimeoutMs: cfg.requestTimeoutMs,
        sitesPerProcess: startup.sitesPerProcess,
        processes: cfg.processes,
      },
      startup: { labReadyS, placeS: startup.placeS, cachedEntries, warmS, steps: startup.steps, concurrent: startup.concurrent },
      moves: {
        sent: phase1?.sent ?? 0,
        accepted: answers.accepted.count,
        refused,
        timeouts: answers.timeouts,
        completed,
        failed: failedMoves.length,
        cancelled: mine.filter((m) => m.state === 'cancelled').length,
        windowS,
        sustainedPerS: phase1?.sustainedPerS ?? 0,
        acceptedPerS: phase1?.acceptedPerS ?? 0,
        backlogEnd: phase1?.backlogEnd ?? 0,
        backlogMax: phase1?.backlogMax ?? 0,
        backlogSlopePerS: phase1?.backlogSlopePerS,
        unfinished: driver.backlog(),
        unconverged: all.filter((m) => m.state === 'completed' && !driver!.board.convergence(m)).length,
        drainS,
        requestMs: summarize(driver.requestMsOf('load')),
        phases: {
          queued: summarize(mine.filter((m) => m.startedAt !== undefined && m.acceptedAt !== undefined).map((m) => m.startedAt! - m.acceptedAt!)),
          toCommit: summarize(mine.filter((m) => m.startedAt !== undefined && m.relocatedAt !== undefined).map((m) => m.relocatedAt! - m.startedAt!)),
          commitToCompleted: summarize(mine.filter((m) => m.finishedAt !== undefined && m.relocatedAt !== undefined && driver!.completedAt.has(m.moveId)).map((m) => m.finishedAt! - m.relocatedAt!)),
        },
        answers,
        sentPerS: phase1?.sentPerS,
        notSent: phase1?.notSent,
        maxInFlight: phase1?.maxInFlight,
      },
      convergence: {
        used: conv.used,
        tracker: conv.tracker,
        computed: conv.computed,
        byPlane: conv.byPlane,
        commitStages: conv.commitStages,
        warmUp: conv.warmUp,
        late: mine.filter((m) => m.late).length,
        how:
          conv.used === 'tracker'
            ? "the manager's convergence tracker: convergenceMs of each MoveConverged event (real ms from the location commit to the last plane agreeing); computed = the same definition (MoveConvergenceBook) applied by the bench to the events it saw, for comparison"
            : "computed: the convergence tracker's definition (MoveConvergenceBook: the location commit to the last plane agreeing) applied by the bench to the events it reads (the VM events the book takes and the planes' outcomes); no MoveConverged events were seen",
      },
      events: {
        appended: events1 - events0,
        perS: perSecond(events1 - events0, windowS),
        streamMessages,
        streamPerS: perSecond(streamMessages, windowS),
      },
      costs,
      overload:
        cfg.overload && phase1
          ? {
              peakPerS: peak,
              phase1: phaseSummary(phase1),
              phase2: phase2
                ? {
                    ...phaseSummary(phase2),
                    ratioToPeak: peak ? phase2.sustainedPerS / peak : undefined,
                    answers: driver.answerFigures('overload'),
                    convergence: (() => {
                      const c2 = convergenceOf(driver.moves('overload'), driver.board.trackerSeen);
                      return c2.used === 'tracker' ? c2.tracker : c2.computed;
                    })(),
                    costs: costs2,
                  }
                : undefined,
            }
          : undefined,
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
                const ours = session.children.children.find((c) => c.process.pid === pid) ?? services.find((c) => c.process.pid === pid);
                if (ours) return ours.name.replace(/#\d+$/, '');
                return comm === 'postgres' ? 'postgres' : comm === 'nats-server' ? 'nats-server (shared)' : `${comm} (not this lab)`;
              }),
            }
          : {}),
      },
      notes,
    };
    if (failedMoves.length)
      notes.push(
        `failed moves, e.g. ${failedMoves
          .slice(0, 3)
          .map((m) => `${m.vm}: ${m.error}`)
          .join('; ')}`,
      );
    for (const c of services) if (c.logFile && !session.children.alive(c)) log(`${c.name} is not running any more; last log lines:\n${tail(c.logFile, 10)}`);
    return run;
  } finally {
    if (!session.aborted()) {
      unregister();
      await cleanup();
    }
  }
}
