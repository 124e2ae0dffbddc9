import type { JetStreamClient, JetStreamManager, NatsConnection, Service } from 'nats';
import type { Logger } from 'pino';
import { subjects } from '@locus/contracts';
import type { Clock } from '@locus/domain';
import { feedDurableName, listAllVms, LocationFeed } from '@locus/messaging';
import type { TopologyIndex } from '@locus/topology';
import { HypervisorAgent } from './host/hypervisor-agent';
import { serveAgentSteps } from './serve-steps/agent-endpoints';
import { AgentLocationFollower } from './follow-locations/location-follower';

export interface AgentHostDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  topology: TopologyIndex;
  clock: Clock;
  logger: Logger;
  prefix: string;
  stream: string;
  /** Heartbeat period in simulated ms (a host silent for the manager's timeout is declared failed). */
  heartbeatMs: number;
  timeScale: number;
}

/** The agents one process hosts (one per hypervisor in compose, all of them in the lab). */
export class AgentHost {
  readonly agents: HypervisorAgent[];
  private service?: Service;
  private feed?: LocationFeed;
  private heartbeat?: NodeJS.Timeout;

  constructor(
    hypervisors: string[],
    private readonly deps: AgentHostDeps,
  ) {
    this.agents = hypervisors.map((h) => new HypervisorAgent(h, deps.topology, deps.clock, deps.logger));
  }

  /** The durable consumer this process follows the location events with (one for all its agents). */
  get feedDurable(): string {
    return feedDurableName('agents', this.agents.map((a) => a.name));
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
  }

  /** Loads what each agent hosts from the location DB, follows the location events, then acts on steps and heartbeats. */
  async loadInventory(): Promise<void> {
    // One consumer for the process: each event is delivered once and handed to every agent here.
    const names = this.agents.map((a) => a.name);
    this.feed = new LocationFeed(this.deps, { durable: this.feedDurable, snapshot: names.length === 1 ? { hypervisor: names[0] } : {} });
    for (const a of this.agents) this.feed.follow(new AgentLocationFollower(a));
    await this.feed.start();
    for (const a of this.agents) {
      a.markInventoryLoaded();
      this.deps.logger.info({ component: `agent:${a.name}`, vms: a.inventory.vms.size }, 'inventory loaded from the location DB');
    }
    const s = subjects(this.deps.prefix);
    const beat = () => {
      for (const a of this.agents) if (!a.silent) this.deps.nc.publish(s.heartbeat(a.name), JSON.stringify({ hypervisor: a.name, vms: a.inventory.vms.size }));
    };
    beat();
    this.heartbeat = setInterval(beat, Math.max(10, this.deps.heartbeatMs / this.deps.timeScale));
    this.deps.logger.info({ component: 'agents', hypervisors: this.agents.map((a) => a.name) }, 'hypervisor agents ready');
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

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.feed?.stop();
    await this.service?.stop().catch(() => undefined);
  }
}
