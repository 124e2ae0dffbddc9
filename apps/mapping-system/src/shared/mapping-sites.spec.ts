import { createHmac } from 'node:crypto';
import { defaultTopologyPath, loadTopologyFile } from '@locus/topology';
import { signMessage, SitePolicy, verifyMessage } from '@locus/domain';
import { mappingSitesOf } from './mapping-sites';
import { deriveSiteKey, siteMac } from './site-keys';
import { loadMappingOptions, mappingTimers } from '../mapping-options';

describe('mapping sites of the default lab', () => {
  const sites = mappingSitesOf(loadTopologyFile(defaultTopologyPath()).index);
  const byName = Object.fromEntries(sites.map((s) => [s.name, s]));

  it('given the topology, then only mappingSystem sites take part (colo does not)', () => {
    expect(Object.keys(byName).sort()).toEqual(['branch', 'cloud', 'dc1', 'dc2']);
  });
  it('given the cloud carries the dc1-local gateway, then it may claim dc1-local EIDs; dc2 may not; the branch claims nothing', () => {
    const policy = new SitePolicy(sites);
    expect(byName.cloud.claimable).toEqual(expect.arrayContaining(['10.21.0.0/24', '10.11.0.0/24']));
    expect(policy.mayClaim('cloud', '10.11.0.10/32')).toBe(true);
    expect(policy.mayClaim('dc2', '10.11.0.10/32')).toBe(false);
    expect(policy.mayClaim('dc2', '10.1.0.10/32')).toBe(true);
    expect(policy.hasEtr('branch')).toBe(false);
    expect(byName.dc1.rloc).toBe('192.0.2.11');
  });
});

describe('site keys', () => {
  it('given a seed, then key(site) = HMAC-SHA-256(seed, site), the same in every process', () => {
    expect(deriveSiteKey('seed', 'dc1').toString('hex')).toBe(createHmac('sha256', 'seed').update('dc1').digest('hex'));
    expect(deriveSiteKey('seed', 'dc1').equals(deriveSiteKey('seed', 'dc2'))).toBe(false);
  });
  it('given a message signed by one process, then another with the same seed verifies it and one with another seed does not', () => {
    const signed = signMessage({ site: 'dc1', nonce: '0123456789abcdef' }, 'dc1', siteMac('seed'));
    expect(signed.authData).toMatch(/^[0-9a-f]{64}$/);
    expect(verifyMessage(signed, 'dc1', siteMac('seed'))).toEqual({ ok: true });
    expect(verifyMessage(signed, 'dc1', siteMac('other'))).toMatchObject({ ok: false });
  });
});

describe('mapping options and timers', () => {
  it('given no environment, then the defaults: everything in one process, 60 s refresh, 180 s expiry, 1440/15 min TTLs', () => {
    expect(loadMappingOptions({})).toMatchObject({ mapServer: true, xtrSites: 'all', smrOnlyItrs: [], registerIntervalS: 60, registrationTtlS: 180, mapCacheTtlMin: 1440, negativeTtlMin: 15 });
    expect(loadMappingOptions({ LOCUS_MAP_SERVER: 'false', LOCUS_XTR_SITES: 'dc1, branch', LOCUS_ITR_SMR_ONLY: 'dc1' })).toMatchObject({ mapServer: false, xtrSites: ['dc1', 'branch'], smrOnlyItrs: ['dc1'] });
    expect(loadMappingOptions({ LOCUS_XTR_SITES: 'none' }).xtrSites).toEqual([]);
    expect(() => loadMappingOptions({ LOCUS_MAP_REGISTER_INTERVAL_S: '-1' })).toThrow(/invalid mapping-system configuration/);
  });
  it('given real time, then refresh every 60 s and expire after 180 s; at time scale 1000 the refresh is floored and the expiry stretched to three refreshes', () => {
    const o = loadMappingOptions({});
    expect(mappingTimers(o, 1)).toMatchObject({ refreshRealMs: 60_000, registrationTtlMs: 180_000 });
    expect(mappingTimers(o, 10)).toMatchObject({ refreshRealMs: 6_000, registrationTtlMs: 180_000 });
    expect(mappingTimers(o, 1000)).toMatchObject({ refreshRealMs: 250, registrationTtlMs: 750_000 });
  });
});
