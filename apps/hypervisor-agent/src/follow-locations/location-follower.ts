import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { subjects, type RecordedEvent } from '@locus/contracts';
import type { LocationFact } from '@locus/domain';
import { ACK, DurableConsumer, fetchLocationSnapshot } from '@locus/messaging';
import type { HypervisorAgent } from '../host/hypervisor-agent';

/** Turns a location event into the fact an agent applies (or nothing for other event types). */
export function locationFactOf(event: RecordedEvent): LocationFact | undefined {
  if (event.type === 'VmPlaced') {
    const d = event.data as { vm: string; hypervisor: string; locationVersion: number };
    return { type: 'placed', vm: d.vm, hypervisor: d.hypervisor, locationVersion: d.locationVersion };
  }
  if (event.type === 'VmRelocated') {
    const d = event.data as { vm: string; from: { hypervisor: string }; to: { hypervisor: string }; locationVersion: number };
    return { type: 'relocated', vm: d.vm, from: d.from.hypervisor, to: d.to.hypervisor, locationVersion: d.locationVersion };
  }
  return undefined;
}

/**
 * Keeps an agent's inventory in step with the authoritative location DB: first a snapshot
 * from `vm.list`, then the location events from a durable consumer. Both carry location
 * versions, so order between them does not matter and redelivery changes nothing.
 */
export class LocationFollower {
  private consumer?: DurableConsumer;

  constructor(
    private readonly agent: HypervisorAgent,
    private readonly deps: { nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager; prefix: string; stream: string; logger: Logger },
  ) {}

  async start(): Promise<void> {
    await this.loadSnapshot();
    const s = subjects(this.deps.prefix);
    this.consumer = new DurableConsumer(this.deps.js, this.deps.jsm, {
      stream: this.deps.stream,
      durable: `agent-${this.agent.name}`,
      filterSubject: s.event('vm', '*', '*'), // only VmPlaced and VmRelocated matter; the rest is acked
      logger: this.deps.logger.child({ component: `agent:${this.agent.name}` }),
      handle: async (event) => {
        const fact = locationFactOf(event);
        if (fact) this.agent.learn(fact);
        return ACK;
      },
    });
    await this.consumer.start();
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
  }

  /** Soft state, hard truth: after a restart the agent asks the location DB what it hosts. */
  private async loadSnapshot(): Promise<void> {
    const log = this.deps.logger.child({ component: `agent:${this.agent.name}` });
    const vms = await fetchLocationSnapshot(this.deps.nc, this.deps.prefix, { hypervisor: this.agent.name }, log);
    for (const vm of vms) {
      this.agent.learn({ type: 'placed', vm: vm.name, hypervisor: vm.hypervisor, locationVersion: vm.locationVersion });
      const hosted = this.agent.inventory.vms.get(vm.name);
      if (hosted && vm.state === 'stopped') hosted.state = 'stopped';
    }
    log.info({ vms: vms.length }, 'inventory loaded from the location DB');
  }
}
