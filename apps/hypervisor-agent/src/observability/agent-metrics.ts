import { droppedEvents, LOCUS_METRICS, natsCheck, type LocusMetrics, type Observed } from '@locus/platform';
import type { RunningAgents } from '../start-agents';

/** VMs per hypervisor and run state, and the steps each agent carried out; ready while NATS is. */
export function observeAgents(metrics: LocusMetrics, agents: RunningAgents): Observed {
  const stops = [
    metrics.gaugeFrom(LOCUS_METRICS.agentVms, (emit) => {
      for (const agent of agents.host.agents) {
        // every hypervisor has a `running` series, 0 when it hosts nothing
        emit({ hypervisor: agent.name, state: 'running' }, 0);
        for (const vm of agent.inventory.vms.values()) emit({ hypervisor: agent.name, state: vm.state }, 1);
      }
    }),
    metrics.counterFrom(LOCUS_METRICS.agentStepsTotal, (emit) => {
      for (const agent of agents.host.agents) for (const [action, n] of agent.stepsDone) emit({ hypervisor: agent.name, action }, n);
    }),
    metrics.counterFrom(
      LOCUS_METRICS.eventsDroppedTotal,
      droppedEvents(() => [agents.host.feedDrops()]),
    ),
  ];
  return { checks: [natsCheck(agents.nc)], stop: () => stops.forEach((s) => s()) };
}
