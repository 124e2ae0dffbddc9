import type { JetStreamClient, JetStreamManager, NatsConnection, Service } from 'nats';
import type { Logger } from 'pino';
import type { Clock } from '@locus/domain';
import type { TopologyIndex } from '@locus/topology';
import { HypervisorAgent } from './host/hypervisor-agent';
import { serveAgentSteps } from './serve-steps/agent-endpoints';
import { LocationFollower } from './follow-locations/location-follower';

export interface AgentHostDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  topology: TopologyIndex;
  clock: Clock;
  logger: Logger;
  prefix: string;
  stream: string;
}

/** The agents one process hosts (one per hypervisor in compose, all of them in the lab). */
export class AgentHost {
  readonly agents: HypervisorAgent[];
  private service?: Service;
  private followers: LocationFollower[] = [];

  constructor(
    hypervisors: string[],
    private readonly deps: AgentHostDeps,
  ) {
    this.agents = hypervisors.map((h) => new HypervisorAgent(h, deps.topology, deps.clock, deps.logger));
  }

  agent(name: string): HypervisorAgent | undefined {
    return this.agents.find((a) => a.name === name);
  }

  async start(): Promise<void> {
    this.service = await serveAgentSteps(this.deps.nc, this.agents, this.deps.prefix, this.deps.logger);
    this.followers = this.agents.map((a) => new LocationFollower(a, this.deps));
    await Promise.all(this.followers.map((f) => f.start()));
    this.deps.logger.info({ component: 'agents', hypervisors: this.agents.map((a) => a.name) }, 'hypervisor agents ready');
  }

  async stop(): Promise<void> {
    await Promise.all(this.followers.map((f) => f.stop()));
    await this.service?.stop().catch(() => undefined);
  }
}
