import type { HostEvent } from '@locus/contracts';
import { decideHost, evolveHost, initialHostState, type HostCommand } from './host.decider';

/** Given/when/then over a host's stream. */
function given(...history: HostEvent[]) {
  const state = history.reduce(evolveHost, initialHostState());
  return {
    when: (command: HostCommand) => {
      const decision = decideHost(command, state);
      return {
        then: (...expected: HostEvent[]) => expect(decision).toEqual({ ok: true, events: expected }),
        thenNothing: () => expect(decision).toEqual({ ok: true, events: [] }),
      };
    },
  };
}

const failed: HostEvent = { type: 'HostDeclaredFailed', data: { hypervisor: 'dc1-hv1', silentMs: 15000, vms: ['web-01', 'web-02'] } };
const recovered: HostEvent = { type: 'HostRecovered', data: { hypervisor: 'dc1-hv1' } };
const declare: HostCommand = { type: 'DeclareHostFailed', hypervisor: 'dc1-hv1', silentMs: 15000.4, vms: ['web-01', 'web-02'] };
const recover: HostCommand = { type: 'RecordHostRecovered', hypervisor: 'dc1-hv1' };

describe('host decider (the host:<hypervisor> stream)', () => {
  it('given a host never judged, when declared failed, then HostDeclaredFailed with its silence (whole ms) and the VMs placed on it', () => {
    given().when(declare).then(failed);
  });

  it('given a host declared failed, when declared failed again (another manager, or one restarted, judging the same silence), then nothing', () => {
    given(failed).when(declare).thenNothing();
  });

  it('given a failed host, when its heartbeats come back, then HostRecovered; recovered again, nothing', () => {
    given(failed).when(recover).then(recovered);
    given(failed, recovered).when(recover).thenNothing();
  });

  it('given a host never declared failed, when it heartbeats, then nothing to record', () => {
    given().when(recover).thenNothing();
  });

  it('given a host that recovered, when it fails again, then a new HostDeclaredFailed', () => {
    given(failed, recovered).when(declare).then(failed);
  });
});
