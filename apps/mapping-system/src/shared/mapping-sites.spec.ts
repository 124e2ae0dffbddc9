import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultTopologyPath, loadTopologyFile } from '@locus/topology';
import { signMessage, SitePolicy, verifyMessage } from '@locus/domain';
import { mappingSitesOf } from './mapping-sites';
import { deriveSiteKey, generateKeySeed, keyMaterialOrGenerated, siteMac, writeKeyFile } from './site-keys';
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

describe('mapping key material: no default seed', () => {
  const seed = generateKeySeed();
  const keyFile = (text: string) => {
    const file = join(mkdtempSync(join(tmpdir(), 'locus-key-')), 'seed');
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  };

  it('given no seed and no key file, when the options are loaded, then it refuses to start and says how to give one', () => {
    expect(() => loadMappingOptions({})).toThrow(/no mapping key material.*LOCUS_MAPPING_KEY_SEED or LOCUS_MAPPING_KEY_FILE.*openssl rand -hex 32/);
  });
  it('given LOCUS_MAPPING_KEY_SEED, then it is the seed, and the source (not the seed) is what can be logged', () => {
    expect(loadMappingOptions({ LOCUS_MAPPING_KEY_SEED: seed })).toMatchObject({ keySeed: seed, keySource: 'LOCUS_MAPPING_KEY_SEED' });
  });
  it('given LOCUS_MAPPING_KEY_FILE, then the file holds the seed (surrounding whitespace ignored)', () => {
    const file = keyFile(`${seed}\n`);
    expect(loadMappingOptions({ LOCUS_MAPPING_KEY_FILE: file })).toMatchObject({ keySeed: seed, keySource: `LOCUS_MAPPING_KEY_FILE ${file}` });
  });
  it('given a key file that is missing, both variables, or a short seed (like the lab constant of earlier versions), then it refuses to start', () => {
    expect(() => loadMappingOptions({ LOCUS_MAPPING_KEY_FILE: '/nonexistent/locus-seed' })).toThrow(/LOCUS_MAPPING_KEY_FILE \/nonexistent\/locus-seed cannot be read \(ENOENT\)/);
    expect(() => loadMappingOptions({ LOCUS_MAPPING_KEY_SEED: seed, LOCUS_MAPPING_KEY_FILE: keyFile(seed) })).toThrow(/not both/);
    expect(() => loadMappingOptions({ LOCUS_MAPPING_KEY_SEED: 'locus-lab-mapping-key-seed' })).toThrow(/has 26 characters; at least 32/);
    expect(() => loadMappingOptions({ LOCUS_MAPPING_KEY_FILE: keyFile('  \n') })).toThrow(/has 0 characters/);
    expect(() => loadMappingOptions({}, { keySeed: 'short' })).toThrow(/at least 32/);
  });
  it('given a seed from the starter (the lab, a test), then the environment needs none', () => {
    expect(loadMappingOptions({}, { keySeed: seed, keySource: 'generated' })).toMatchObject({ keySeed: seed, keySource: 'generated' });
  });
  it('given no key file, when one is written, then it holds a new seed readable by its owner only; written again, it is kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'locus-key-'));
    const file = join(dir, 'seed');
    expect(writeKeyFile(file)).toBe('created');
    const first = readFileSync(file, 'utf8');
    expect(first).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(file).mode & 0o777).toBe(0o400);
    expect(writeKeyFile(file)).toBe('kept');
    expect(readFileSync(file, 'utf8')).toBe(first);
    expect(readdirSync(dir)).toEqual(['seed']);
    expect(loadMappingOptions({ LOCUS_MAPPING_KEY_FILE: file }).keySeed).toBe(first.trim());
  });
  it('given no key material, then the lab generates 256 random bits per run; given some, it uses that', () => {
    const a = keyMaterialOrGenerated({});
    const b = keyMaterialOrGenerated({});
    expect(a.seed).toMatch(/^[0-9a-f]{64}$/);
    expect(a.seed).not.toBe(b.seed);
    expect(a.source).toMatch(/generated/);
    expect(keyMaterialOrGenerated({ LOCUS_MAPPING_KEY_SEED: seed })).toEqual({ seed, source: 'LOCUS_MAPPING_KEY_SEED' });
  });
});

describe('mapping options and timers', () => {
  const env = { LOCUS_MAPPING_KEY_SEED: generateKeySeed() };
  it('given no other environment, then the defaults: everything in one process, 60 s refresh, 180 s expiry, 1440/15 min TTLs', () => {
    expect(loadMappingOptions(env)).toMatchObject({ mapServer: true, xtrSites: 'all', smrOnlyItrs: [], registerIntervalS: 60, registrationTtlS: 180, mapCacheTtlMin: 1440, negativeTtlMin: 15 });
    expect(loadMappingOptions({ ...env, LOCUS_MAP_SERVER: 'false', LOCUS_XTR_SITES: 'dc1, branch', LOCUS_ITR_SMR_ONLY: 'dc1' })).toMatchObject({
      mapServer: false,
      xtrSites: ['dc1', 'branch'],
      smrOnlyItrs: ['dc1'],
    });
    expect(loadMappingOptions({ ...env, LOCUS_XTR_SITES: 'none' }).xtrSites).toEqual([]);
    expect(() => loadMappingOptions({ ...env, LOCUS_MAP_REGISTER_INTERVAL_S: '-1' })).toThrow(/invalid mapping-system configuration/);
  });
  it('given real time, then refresh every 60 s and expire after 180 s; at time scale 1000 the refresh is floored and the expiry stretched to three refreshes', () => {
    const o = loadMappingOptions(env);
    expect(mappingTimers(o, 1)).toMatchObject({ refreshRealMs: 60_000, registrationTtlMs: 180_000 });
    expect(mappingTimers(o, 10)).toMatchObject({ refreshRealMs: 6_000, registrationTtlMs: 180_000 });
    expect(mappingTimers(o, 1000)).toMatchObject({ refreshRealMs: 250, registrationTtlMs: 750_000 });
  });
});
