import { createHmac, randomBytes } from 'node:crypto';
import type { SiteMac } from '@locus/domain';

/**
 * Site keys without config files: every process derives the key a site shares with the map-server
 * from one secret seed (LOCUS_MAPPING_KEY_SEED): key(site) = HMAC-SHA-256(seed, site). The default
 * seed is a lab constant; set your own anywhere the keys matter.
 */
export function deriveSiteKey(seed: string, site: string): Buffer {
  return createHmac('sha256', seed).update(site).digest();
}

/** HMAC-SHA-256 (hex) of a text under a site's key; the keys are derived once per site. */
export function siteMac(seed: string): SiteMac {
  const keys = new Map<string, Buffer>();
  return (site, text) => {
    let key = keys.get(site);
    if (!key) {
      key = deriveSiteKey(seed, site);
      keys.set(site, key);
    }
    return createHmac('sha256', key).update(text).digest('hex');
  };
}

/** 64 random bits as 16 hex digits (the nonce of Map-Register, Map-Notify and Map-Request). */
export function newNonce(): string {
  return randomBytes(8).toString('hex');
}
