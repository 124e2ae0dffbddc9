import { SitePolicy } from './site-policy';

const policy = new SitePolicy([
  { name: 'dc1', rloc: '192.0.2.11', claimable: ['10.1.0.0/24', '10.11.0.0/24'] },
  { name: 'cloud', rloc: '192.0.2.21', claimable: ['10.21.0.0/24', '10.11.0.0/24'] },
  { name: 'branch', rloc: '192.0.2.31', claimable: [] },
]);
const loc = (rloc: string) => [{ rloc, priority: 1, weight: 100 }];

describe('site policy: which site may claim which EIDs', () => {
  it('given the cloud carrying the dc1-local gateway, when it claims a dc1-local VM, then that is allowed', () => {
    expect(policy.checkRecord('cloud', { eid: '10.11.0.10/32', locators: loc('192.0.2.21') })).toEqual({ ok: true });
  });
  it('given dc1, when it claims a cloud-local VM or a prefix wider than its subnets, then it is refused', () => {
    expect(policy.checkRecord('dc1', { eid: '10.21.0.10/32', locators: loc('192.0.2.11') })).toMatchObject({ ok: false, code: 'EID_NOT_ALLOWED' });
    expect(policy.checkRecord('dc1', { eid: '10.1.0.0/16', locators: loc('192.0.2.11') })).toMatchObject({ ok: false, code: 'EID_NOT_ALLOWED' });
  });
  it('given a branch, when it claims anything, then it is refused (ITR only)', () => {
    expect(policy.hasEtr('branch')).toBe(false);
    expect(policy.checkRecord('branch', { eid: '10.1.0.10/32', locators: loc('192.0.2.31') })).toMatchObject({ ok: false, reason: expect.stringMatching(/ITR only/) });
  });
  it('given a locator that is not the site RLOC, when registered, then it is refused', () => {
    expect(policy.checkRecord('dc1', { eid: '10.1.0.10/32', locators: loc('192.0.2.12') })).toMatchObject({ ok: false, code: 'EID_NOT_ALLOWED' });
  });
  it('given a prefix with host bits, then it is a bad request', () => {
    expect(policy.checkRecord('dc1', { eid: '10.1.0.10/24', locators: loc('192.0.2.11') })).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
  });
});
