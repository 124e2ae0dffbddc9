import type { NatsConnection, Service } from 'nats';
import type { Logger } from 'pino';
import { AgentInventoryRequest, AgentStepRequest, LocusError, subjects, type AgentAction, type AgentStepReply, type Reply } from '@locus/contracts';
import { addJsonEndpoint, addJsonService, requestJson } from '@locus/messaging';
import type { HypervisorAgent } from '../host/hypervisor-agent';

/**
 * One NATS service per agent process; each hosted hypervisor gets its step endpoints. An agent
 * whose inventory is not loaded yet answers UNAVAILABLE (the saga asks again), never "not on
 * this host" for a VM it simply has not learnt about yet.
 */
export async function serveAgentSteps(nc: NatsConnection, agents: HypervisorAgent[], prefix: string, logger: Logger): Promise<Service> {
  const service = await addJsonService(nc, {
    name: 'locus-hypervisor-agent',
    version: '0.2.0',
    description: `Locus hypervisor agents: ${agents.map((a) => a.name).join(', ')}`,
  });
  const s = subjects(prefix);
  for (const agent of agents) {
    const log = logger.child({ component: `agent:${agent.name}` });
    const steps: Record<Exclude<AgentAction, 'inventory'>, (req: AgentStepRequest) => Promise<AgentStepReply>> = {
      stop: (req) => agent.stop(req),
      transfer: (req) => agent.transfer(req),
      start: (req) => agent.start(req),
      suspend: (req) => agent.suspend(req),
      'receive-state': (req) => agent.receiveState(req),
      resume: (req) => agent.resume(req),
      'precopy-round': (req) => agent.precopyRound(req),
      'pause-and-copy': (req) => agent.pauseAndCopy(req),
      announce: (req) => agent.announce(req),
      'postcopy-pull': async (req) => {
        // The pages still live at the source: no source, no pull.
        const alive = await requestJson<Reply<object>>(nc, s.agent(req.peer ?? '', 'inventory'), {}, 1000).catch(() => undefined);
        if (!alive?.ok) throw new LocusError('POSTCOPY_SOURCE_LOST', `source ${req.peer} does not answer during postcopy: the pages it still held are lost`);
        return agent.postcopyPull(req);
      },
    };
    for (const [action, run] of Object.entries(steps))
      addJsonEndpoint(service, {
        name: `${agent.name}-${action}`,
        subject: s.agent(agent.name, action as AgentAction),
        schema: AgentStepRequest,
        logger: log,
        notReady: () => agent.notReady(),
        handler: (req) => {
          // A silent host is down as far as anyone can tell: it does nothing it is asked.
          if (agent.silent) throw new LocusError('UNAVAILABLE', `${agent.name} is down`);
          return run(req).then(ok);
        },
      });
    addJsonEndpoint(service, {
      name: `${agent.name}-inventory`,
      subject: s.agent(agent.name, 'inventory'),
      schema: AgentInventoryRequest,
      logger: log,
      notReady: () => agent.notReady(),
      handler: (req) => {
        if (agent.silent) throw new LocusError('UNAVAILABLE', `${agent.name} is down`);
        return ok(agent.inventoryReply(req));
      },
    });
  }
  return service;
}

const ok = <T extends object>(body: T) => ({ ok: true as const, ...body });
