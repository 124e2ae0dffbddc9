import { locationEventFixtures as ev } from '@locus/contracts';
import { etrAudience, etrFactOf } from './location-follower';

describe('etrAudience: the ETRs a location event goes to', () => {
  it('given a placement, then the ETR of the site that claims the EID', () => {
    expect(etrAudience(ev.placed('web-01', 'dc1', 'dc1-hv1'))).toEqual(['dc1']);
  });

  it('given a relocation, then the site left (it releases the EID) and the site reached (it claims it)', () => {
    expect(etrAudience(ev.relocated('web-01', ['dc1', 'dc1-hv1'], ['dc2', 'dc2-hv1']))).toEqual(['dc1', 'dc2']);
  });

  it('given a drift repair, which names only where the VM is, then every ETR', () => {
    expect(etrAudience(ev.reasserted('web-01', 'dc1', 'dc1-hv1'))).toBe('everyone');
  });

  it('given an event that moves no EID, then no ETR, and indeed no ETR has a fact to apply', () => {
    for (const e of [ev.startedAtTarget('web-01', 'dc2-hv1'), ev.failed('web-01')]) {
      expect(etrAudience(e)).toEqual([]);
      expect(etrFactOf(e)).toBeUndefined();
    }
  });
});
