import type { NatsConnection, Service } from 'nats';
import type { Logger } from 'pino';
import { AgentInventoryRequest, AgentStepRequest, subjects } from '@locus/contracts';
import { addJsonEndpoint } from '@locus/messaging';
import type { HypervisorAgent } from '../host/hypervisor-agent';

/** One NATS service per agent process; each hosted hypervisor gets its step endpoints. */
export async function serveAgentSteps(nc: NatsConnection, agents: HypervisorAgent[], prefix: string, logger: Logger): Promise<Service> {
  const service = await nc.services.add({
    name: 'locus-hypervisor-agent',
    version: '0.1.0',
    description: `Locus hypervisor agents: ${agents.map((a) => a.name).join(', ')}`,
  });
  const s = subjects(prefix);
  for (const agent of agents) {
    const log = logger.child({ component: `agent:${agent.name}` });
    addJsonEndpoint(service, { name: `${agent.name}-stop`, subject: s.agent(agent.name, 'stop'), schema: AgentStepRequest, logger: log, handler: (req) => agent.stop(req).then(ok) });
    addJsonEndpoint(service, { name: `${agent.name}-transfer`, subject: s.agent(agent.name, 'transfer'), schema: AgentStepRequest, logger: log, handler: (req) => agent.transfer(req).then(ok) });
    addJsonEndpoint(service, { name: `${agent.name}-start`, subject: s.agent(agent.name, 'start'), schema: AgentStepRequest, logger: log, handler: (req) => agent.start(req).then(ok) });
    addJsonEndpoint(service, { name: `${agent.name}-inventory`, subject: s.agent(agent.name, 'inventory'), schema: AgentInventoryRequest, logger: log, handler: () => ok(agent.inventoryReply()) });
  }
  return service;
}

const ok = <T extends object>(body: T) => ({ ok: true as const, ...body });
