import { createHmac, randomBytes, randomFillSync } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { MAPPING_KEY_ID } from '@locus/contracts';
import { signMessage, type SiteMac } from '@locus/domain';

/**
 * Site keys without a key per site to distribute: every process of one mapping system derives
 * the key a site shares with the map-server from one secret seed: key(site) = HMAC-SHA-256(seed, site).
 * There is no default seed: the seed comes from LOCUS_MAPPING_KEY_SEED or LOCUS_MAPPING_KEY_FILE,
 * or is generated for one run (`npm run lab`, the bench, the tests). The seed is never logged.
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

/** Random bytes drawn 4 KiB at a time: one call into the random generator per 512 nonces, not per message. */
const noncePool = { bytes: Buffer.alloc(4096), used: 4096 };

/** 64 random bits as 16 hex digits (the nonce of every authenticated control message and of Map-Request). */
export function newNonce(): string {
  if (noncePool.used + 8 > noncePool.bytes.length) {
    randomFillSync(noncePool.bytes);
    noncePool.used = 0;
  }
  noncePool.used += 8;
  return noncePool.bytes.toString('hex', noncePool.used - 8, noncePool.used);
}

/**
 * A control message to or from `site` as every role sends it: a nonce (fresh unless given, as the
 * ack that echoes a Map-Register's), the sender's wall-clock timestamp, and the HMAC under the
 * site's key.
 */
export function signedFor<T extends object>(site: string, body: T, mac: SiteMac, wallMs: number, nonce: string = newNonce()) {
  return signMessage({ ...body, nonce, timestamp: Math.round(wallMs), keyId: MAPPING_KEY_ID }, site, mac);
}

/** A seed shorter than this is refused: 32 characters, e.g. 128 random bits in hex. A generated seed has 256 bits (64 hex digits). */
export const MIN_KEY_SEED_LENGTH = 32;

export const KEY_SEED_HINT = 'e.g. LOCUS_MAPPING_KEY_SEED=$(openssl rand -hex 32), or a file made by `node dist/tools/mapping-key.js FILE` in LOCUS_MAPPING_KEY_FILE';

/** The seed and where it came from (said in logs; the seed itself never is). */
export interface KeyMaterial {
  seed: string;
  source: string;
}

/** 256 random bits in hex: the seed of one lab run, or of a key file. */
export function generateKeySeed(): string {
  return randomBytes(32).toString('hex');
}

/**
 * The seed named by the environment: LOCUS_MAPPING_KEY_SEED (the value) or LOCUS_MAPPING_KEY_FILE
 * (a file holding it; surrounding whitespace ignored). Undefined when neither is set; throws when
 * both are, when the file cannot be read, or when the seed is too short.
 */
export function keyMaterialFromEnv(env: NodeJS.ProcessEnv): KeyMaterial | undefined {
  const value = env.LOCUS_MAPPING_KEY_SEED;
  const file = env.LOCUS_MAPPING_KEY_FILE;
  if (value !== undefined && file !== undefined) throw new Error('set LOCUS_MAPPING_KEY_SEED or LOCUS_MAPPING_KEY_FILE, not both');
  if (value !== undefined) return checkedKeyMaterial({ seed: value, source: 'LOCUS_MAPPING_KEY_SEED' });
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`LOCUS_MAPPING_KEY_FILE ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ${KEY_SEED_HINT}`);
  }
  return checkedKeyMaterial({ seed: text.trim(), source: `LOCUS_MAPPING_KEY_FILE ${file}` });
}

/** The environment's key material, or an error that says how to give some: a mapping system never runs on a default key. */
export function requireKeyMaterial(env: NodeJS.ProcessEnv): KeyMaterial {
  const key = keyMaterialFromEnv(env);
  if (!key)
    throw new Error(
      `no mapping key material: the site keys that authenticate Map-Register, Map-Notify, Map-Publish and SMR are derived from a secret seed, and there is no default one. Set LOCUS_MAPPING_KEY_SEED or LOCUS_MAPPING_KEY_FILE, the same in every mapping-system process (${KEY_SEED_HINT})`,
    );
  return key;
}

/** `npm run lab`: the environment's key material, or a seed generated for this run (all roles run in the lab's one process). */
export function keyMaterialOrGenerated(env: NodeJS.ProcessEnv): KeyMaterial {
  return keyMaterialFromEnv(env) ?? { seed: generateKeySeed(), source: 'a seed generated at start for this run' };
}

export function checkedKeyMaterial(key: KeyMaterial): KeyMaterial {
  if (key.seed.length < MIN_KEY_SEED_LENGTH) throw new Error(`the mapping key seed (${key.source}) has ${key.seed.length} characters; at least ${MIN_KEY_SEED_LENGTH} are needed (${KEY_SEED_HINT})`);
  return key;
}

/**
 * Writes a new seed to `file` (mode 0400) unless the file exists: `created`, or `kept` with the
 * seed already there (so every start of a compose lab finds the same key). Written beside the
 * file and linked into place, so that no process ever reads a half-written seed.
 */
export function writeKeyFile(file: string): 'created' | 'kept' {
  const partial = `${file}.${randomBytes(6).toString('hex')}.partial`;
  writeFileSync(partial, `${generateKeySeed()}\n`, { mode: 0o400, flag: 'wx' });
  try {
    linkSync(partial, file);
    return 'created';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return 'kept';
    throw err;
  } finally {
    unlinkSync(partial);
  }
}
