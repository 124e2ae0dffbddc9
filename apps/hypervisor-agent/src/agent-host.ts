import type { JetStreamClient, JetStreamManager, NatsConnection, Service } from 'nats';
import type { Logger } from 'pino';
import { DRIFT_CHECK_MAX_VMS, subjects, type DriftReply, type ErrorBody } from '@locus/contracts';
import { compareInventory, type Clock, type HostInventory } from '@locus/domain';
import { feedDurableName, fetchLocationSnapshot, listAllVms, LocationFeed, requestJson, type LocationFeedHub } from '@locus/messaging';
import type { TopologyIndex } from '@locus/topology';
import { HypervisorAgent } from './host/hypervisor-agent';
import type { VmNetwork } from './host/vm-network';
import type { HypervisorDriver } from './host/hypervisor-driver';
import { serveAgentSteps } from './serve-steps/agent-endpoints';
import { AgentLocationFollower, agentAudience } from './follow-locations/location-follower';

export interface AgentHostDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  topology: TopologyIndex;
  clock: Clock;
  logger: Logger;
  prefix: string;
  stream: string;
  /** The process's shared consumer of the location events, if any (see LocationFeedHub). */
  locationHub?: LocationFeedHub;
  /** Heartbeat period in simulated ms (a host silent for the manager's timeout is declared failed). */
  heartbeatMs: number;
  timeScale: number;
  /** The VMs' links (the Linux dataplane); default: simulated, none. */
  network?: VmNetwork;
  /** The hypervisor that really runs some VMs (the QEMU driver), shared by the agents of this process. */
  driver?: HypervisorDriver;
}

/** The agents one process hosts (one per hypervisor in compose, all of them in the lab). */
export class AgentHost {
  readonly agents: HypervisorAgent[];
  private service?: Service;
  private feed?: LocationFeed;
  private heartbeat?: NodeJS.Timeout;

  private reconciling?: Promise<void>;
  private reconcileAgain = false;
  private stopped = false;

  constructor(
    hypervisors: string[],
    private readonly deps: AgentHostDeps,
    /** What each hypervisor still runs as its agent starts (a real agent reads it from its hypervisor); absent: the DB's word. */
    held?: ReadonlyMap<string, HostInventory>,
  ) {
    this.agents = hypervisors.map((h) => new HypervisorAgent(h, deps.topology, deps.clock, deps.logger, held?.get(h), undefined, deps.network, deps.driver));
  }

  /** The durable consumer this process follows the location events with (one for all its agents). */
  get feedDurable(): string {
    return feedDurableName(
      'agents',
      this.agents.map((a) => a.name),
    );
  }

  /** What the location feed dropped before dispatch (undecodable, wrong source). */
  feedDrops(): ReturnType<LocationFeed['drops']> {
    return this.feed?.drops();
  }

  agent(name: string): HypervisorAgent | undefined {
    return this.agents.find((a) => a.name === name);
  }

  async start(): Promise<void> {
    await this.serve();
    await this.loadInventory();
  }

  /** Serves the step subjects at once, so that callers hear UNAVAILABLE (retry) until `loadInventory` is done, not silence. */
  async serve(): Promise<void> {
    this.service ??= await serveAgentSteps(this.deps.nc, this.agents, this.deps.prefix, this.deps.logger);
    // Serving means the server has our subscriptions: a request sent once this returns finds us.
    await this.deps.nc.flush();
  }

  /** Loads what each agent hosts from the location DB, follows the location events, then acts on steps and heartbeats. */
  async loadInventory(): Promise<void> {
    // One consumer for the process: each event is delivered once and handed to the agents it names.
    const names = this.agents.map((a) => a.name);
    this.feed = new LocationFeed(this.deps, { durable: this.feedDurable, snapshot: names.length === 1 ? { hypervisor: names[0] } : {}, audience: agentAudience });
    for (const a of this.agents) this.feed.follow(new AgentLocationFollower(a));
    // The events after the snapshot are applied once the inventory it loaded is plugged in and marked loaded.
    await this.feed.start(async () => {
      await Promise.all(this.agents.map((a) => a.plugInRunningVms()));
      for (const a of this.agents) {
        a.markInventoryLoaded();
        this.deps.logger.info({ component: `agent:${a.name}`, vms: a.inventory.vms.size }, 'inventory loaded from the location DB');
      }
    });
    const s = subjects(this.deps.prefix);
    const beat = () => {
      for (const a of this.agents) if (!a.silent) this.deps.nc.publish(s.heartbeat(a.name), JSON.stringify({ hypervisor: a.name, vms: a.inventory.vms.size }));
    };
    beat();
    this.heartbeat = setInterval(beat, Math.max(10, this.deps.heartbeatMs / this.deps.timeScale));
    this.deps.logger.info({ component: 'agents', hypervisors: this.agents.map((a) => a.name) }, 'hypervisor agents ready');
    // An agent that started from what its hypervisor runs compares it with the DB now; every agent does after a reconnect.
    if (this.agents.some((a) => a.knowsWhatItRuns))
      void this.reconcile(
        'start',
        this.agents.filter((a) => a.knowsWhatItRuns),
      );
    void this.reconcileOnReconnect();
  }

  /**
   * Each agent's inventory against the location DB's rows for its host (`vm.list {hypervisor}`,
   * paged): a VM held here that the DB places elsewhere, or one the DB says runs here that is not
   * held, is logged and named to the manager's `drift.check {vms}`, which compares it with every
   * agent and repairs it through the recorded paths. Nothing is changed here on the agent's own
   * word. One reconcile at a time; one asked for meanwhile runs after it.
   */
  reconcile(reason: 'start' | 'reconnect', agents: readonly HypervisorAgent[] = this.agents): Promise<void> {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return this.reconciling;
    }
    this.reconciling = (async () => {
      try {
        for (const a of agents) if (!a.silent && !this.stopped) await this.reconcileAgent(a, reason);
      } finally {
        this.reconciling = undefined;
      }
      if (this.reconcileAgain && !this.stopped) {
        this.reconcileAgain = false;
        await this.reconcile(reason);
      }
    })();
    return this.reconciling;
  }

  private async reconcileAgent(agent: HypervisorAgent, reason: 'start' | 'reconnect'): Promise<void> {
    const log = this.deps.logger.child({ component: `agent:${agent.name}` });
    try {
      const placed = await fetchLocationSnapshot(this.deps.nc, this.deps.prefix, { hypervisor: agent.name }, log, { maxAttempts: 5 });
      const diff = compareInventory(
        agent.inventory,
        placed.map((v) => ({ vm: v.name, state: v.state, locationVersion: v.locationVersion })),
      );
      const named = [...diff.extra.map((x) => x.vm), ...diff.missing.map((x) => x.vm)];
      if (named.length === 0) {
        log.info({ reason, vms: agent.inventory.vms.size }, `inventory agrees with the location DB (${reason})`);
        return;
      }
      log.warn(
        { reason, extra: diff.extra, missing: diff.missing },
        `inventory differs from the location DB (${reason}): ${[
          diff.extra.length ? `holds ${diff.extra.map((x) => `${x.vm} (${x.state} v${x.locationVersion})`).join(', ')}, which the DB does not place here` : '',
          diff.missing.length
            ? `lacks ${diff.missing.map((x) => `${x.vm} (v${x.locationVersion}${x.seen && x.seen > x.locationVersion ? `, seen v${x.seen}` : ''})`).join(', ')}, which the DB says run here`
            : '',
        ]
          .filter(Boolean)
          .join('; ')}; asking the manager's drift check`,
      );
      for (let i = 0; i < named.length; i += DRIFT_CHECK_MAX_VMS) {
        const reply = await requestJson<({ ok: true } & DriftReply) | { ok: false; error: ErrorBody }>(
          this.deps.nc,
          subjects(this.deps.prefix).request('drift.check'),
          { vms: named.slice(i, i + DRIFT_CHECK_MAX_VMS) },
          60_000,
        );
        if (!reply.ok) {
          log.warn({ reason, code: reply.error.code, err: reply.error.message }, `drift check of this inventory refused: ${reply.error.code} ${reply.error.message}`);
          continue;
        }
        const repairs = reply.repairs ?? [];
        log.info(
          { reason, disagreements: reply.disagreements.filter((d) => d.plane === 'hypervisors').length, repairs: repairs.map((r) => `${r.vm}: ${r.outcome}`), unknown: reply.unknown },
          `drift check of this inventory: ${repairs.length ? repairs.map((r) => `${r.vm} ${r.outcome}`).join(', ') : 'nothing to repair'}`,
        );
      }
    } catch (err) {
      log.warn({ reason, err: (err as Error).message }, `inventory not reconciled (${reason}): ${(err as Error).message}; the manager's periodic drift check still compares it`);
    }
  }

  /** After NATS comes back the agent may have missed what happened meanwhile: reconcile. */
  private async reconcileOnReconnect(): Promise<void> {
    for await (const st of this.deps.nc.status()) {
      if (this.stopped) return;
      if (st.type === 'reconnect') void this.reconcile('reconnect');
    }
  }

  /** The lab's failure switch: a silent host stops heartbeating and answering (a crash or a partition). */
  silence(name: string): void {
    const agent = this.agent(name);
    if (!agent) throw new Error(`no agent ${name} here`);
    agent.silent = true;
    this.deps.logger.warn({ component: `agent:${name}` }, `${name} went silent (no heartbeats)`);
  }

  /** Back from silence: fence first (VMs placed elsewhere meanwhile must not run here), then heartbeat again. */
  async recover(name: string): Promise<string[]> {
    const agent = this.agent(name);
    if (!agent) throw new Error(`no agent ${name} here`);
    const placedHere = await listAllVms(this.deps.nc, this.deps.prefix, { hypervisor: name }, { timeoutMs: 5000 });
    const fenced = agent.fenceAgainst(new Set(placedHere.map((v) => v.name)));
    agent.silent = false;
    this.deps.logger.info({ component: `agent:${name}`, fenced }, `${name} is back`);
    return fenced;
  }

  /** The real guests of this process gone (their QEMU processes and taps): the lab's stop. */
  async stopDriver(): Promise<void> {
    await this.deps.driver?.stopAll();
  }

  /** The QEMU driver, when this process runs real guests. */
  get driver(): HypervisorDriver | undefined {
    return this.deps.driver;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    await this.reconciling;
    await this.feed?.stop();
    await this.service?.stop().catch(() => undefined);
  }
}
