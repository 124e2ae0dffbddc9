import { locationEventFixtures as ev } from '@locus/contracts';
import { agentAudience } from './location-follower';

describe('agentAudience: the agents a location event goes to', () => {
  it('given a placement, then only the host it names', () => {
    expect(agentAudience(ev.placed('web-01', 'dc1', 'dc1-hv1'))).toEqual(['dc1-hv1']);
  });

  it('given a relocation, then the host it left and the host it reached', () => {
    expect(agentAudience(ev.relocated('web-01', ['dc1', 'dc1-hv1'], ['dc2', 'dc2-hv1']))).toEqual(['dc1-hv1', 'dc2-hv1']);
  });

  it('given a start at the target, then no agent (the step reply already changed the inventory)', () => {
    expect(agentAudience(ev.startedAtTarget('web-01', 'dc2-hv1'))).toEqual([]);
  });

  it('given a drift repair or a failed move, then every agent (a copy anywhere may be evicted, a live migration anywhere ended)', () => {
    expect(agentAudience(ev.reasserted('web-01', 'dc1', 'dc1-hv1'))).toBe('everyone');
    expect(agentAudience(ev.failed('web-01'))).toBe('everyone');
  });
});
