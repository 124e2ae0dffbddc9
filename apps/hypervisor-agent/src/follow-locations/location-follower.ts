import type { LocationEvent, VmView } from '@locus/contracts';
import type { LocationFact } from '@locus/domain';
import type { Audience, LocationFollower } from '@locus/messaging';
import type { HypervisorAgent } from '../host/hypervisor-agent';

/** Turns a location event into the fact an agent applies (or nothing for the other location events). */
export function locationFactOf(event: LocationEvent): LocationFact | undefined {
  switch (event.type) {
    case 'VmPlaced':
      return { type: 'placed', vm: event.data.vm, hypervisor: event.data.hypervisor, locationVersion: event.data.locationVersion };
    case 'VmRelocated':
      return { type: 'relocated', vm: event.data.vm, from: event.data.from.hypervisor, to: event.data.to.hypervisor, locationVersion: event.data.locationVersion };
    case 'VmLocationReasserted':
      return { type: 'reasserted', vm: event.data.vm, hypervisor: event.data.hypervisor, locationVersion: event.data.locationVersion };
    // where the VM runs does not change: a start, a resume, a failed or cancelled move
    case 'VmStartedAtTarget':
    case 'VmResumedAtTarget':
    case 'VmRestartedAtSource':
    case 'MoveFailed':
    case 'MoveCancelled':
      return undefined;
  }
}

/**
 * The agents a location event concerns: the hosts it names. A drift repair may evict a copy from
 * any host, and a failed or cancelled move ends a live migration wherever it runs: those (rare)
 * go to every agent. A start, resume or restart changes no inventory (the step's reply did).
 */
export function agentAudience(event: LocationEvent): Audience {
  switch (event.type) {
    case 'VmPlaced':
      return [event.data.hypervisor];
    case 'VmRelocated':
      return [event.data.from.hypervisor, event.data.to.hypervisor];
    case 'VmLocationReasserted':
    case 'MoveFailed':
    case 'MoveCancelled':
      return 'everyone';
    case 'VmStartedAtTarget':
    case 'VmResumedAtTarget':
    case 'VmRestartedAtSource':
      return [];
  }
}

/**
 * Keeps one agent's inventory in step with the authoritative location DB through its process's
 * location feed: the snapshot's rows of this hypervisor, then the location events. Both carry
 * location versions, so order between them does not matter and redelivery changes nothing.
 */
export class AgentLocationFollower implements LocationFollower {
  readonly name: string;
  readonly member: string;

  constructor(private readonly agent: HypervisorAgent) {
    this.name = `agent:${agent.name}`;
    this.member = agent.name;
  }

  /**
   * Soft state, hard truth: after a restart the agent asks the location DB what it hosts. A VM
   * mid-move is held as its events say (stopped after the shutdown, incoming before the boot at
   * the target), never assumed running: the saga's next step then does what is left, the boot included.
   */
  loadSnapshot(vms: readonly VmView[]): void {
    for (const vm of vms) {
      if (vm.hypervisor !== this.agent.name) continue;
      // A hypervisor that says what it runs is not told by the record: what it lacks is reconciled (reported), not assumed.
      if (this.agent.knowsWhatItRuns && !this.agent.inventory.vms.has(vm.name)) continue;
      // What the agent already holds it knows better than the record (a step may have just finished).
      const known = this.agent.inventory.vms.has(vm.name);
      this.agent.learn({ type: 'placed', vm: vm.name, hypervisor: vm.hypervisor, locationVersion: vm.locationVersion });
      const hosted = this.agent.inventory.vms.get(vm.name);
      if (!hosted) continue;
      if (!known && vm.hostState) hosted.state = vm.hostState;
      else if (vm.state === 'stopped') hosted.state = 'stopped';
    }
  }

  handle(event: LocationEvent): void {
    const fact = locationFactOf(event);
    if (fact) this.agent.learn(fact);
    // A real hypervisor's live migration does not stop by itself when the saga gives the move up (NOT_CONVERGING, a cancel).
    if (event.type === 'MoveFailed' || event.type === 'MoveCancelled') this.agent.moveEnded(event.streamId.replace(/^vm:/, ''), event.data.moveId);
  }
}
