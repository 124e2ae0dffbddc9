import { z } from 'zod';
import { MAPPING_DEFAULTS } from '@locus/contracts';
import { checkedKeyMaterial, requireKeyMaterial } from './shared/site-keys';

/**
 * Settings of the mapping system, read from the environment (on top of the common LocusConfig):
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | LOCUS_MAPPING_KEY_SEED | (none: required, or the file) | seed of the site keys: key(site) = HMAC-SHA-256(seed, site); at least 32 characters |
 * | LOCUS_MAPPING_KEY_FILE | (none) | a file holding the seed instead (`node dist/tools/mapping-key.js FILE` makes one) |
 * | LOCUS_MAP_SERVER | true | run the map-server / map-resolver (and map.resolve, map.list) in this process |
 * | LOCUS_XTR_SITES | all | xTRs (ETR + ITR) this process runs: `all`, `none` or a comma list of sites |
 * | LOCUS_ITR_SMR_ONLY | (none) | ITRs that do not subscribe and are kept current by Solicit-Map-Requests |
 * | LOCUS_MAP_REGISTER_INTERVAL_S | 60 | ETR registration refresh, lab seconds |
 * | LOCUS_MAP_REGISTER_TTL_S | 180 | registration expiry without refresh, lab seconds |
 * | LOCUS_MAP_CACHE_TTL_MIN | 1440 | Map-Reply TTL, lab minutes |
 * | LOCUS_MAP_NEGATIVE_TTL_MIN | 15 | negative Map-Reply TTL, lab minutes |
 */
export interface MappingOptions {
  mapServer: boolean;
  xtrSites: string[] | 'all';
  smrOnlyItrs: string[];
  /** The secret seed of the site keys; never logged. */
  keySeed: string;
  /** Where the seed came from (LOCUS_MAPPING_KEY_SEED, the key file, generated): what the logs say instead of the seed. */
  keySource: string;
  registerIntervalS: number;
  registrationTtlS: number;
  mapCacheTtlMin: number;
  negativeTtlMin: number;
  /** Timestamp window of authenticated control messages (Map-Register, Map-Notify, Map-Publish, SMR), wall-clock ms. */
  replayWindowMs: number;
  /** A move whose ITRs have not all converged after this many wall-clock ms is logged as not converged. */
  convergenceTimeoutMs: number;
  /** Lab time scale for TTLs and refresh; defaults to the config's LOCUS_TIME_SCALE. */
  timeScale?: number;
}

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const Env = z.object({
  LOCUS_MAP_SERVER: z.enum(['true', 'false', '1', '0']).default('true'),
  LOCUS_XTR_SITES: z.string().default('all'),
  LOCUS_ITR_SMR_ONLY: z.string().default(''),
  LOCUS_MAP_REGISTER_INTERVAL_S: z.coerce.number().positive().default(MAPPING_DEFAULTS.registerIntervalS),
  LOCUS_MAP_REGISTER_TTL_S: z.coerce.number().positive().default(MAPPING_DEFAULTS.registrationTtlS),
  LOCUS_MAP_CACHE_TTL_MIN: z.coerce.number().int().positive().default(MAPPING_DEFAULTS.mapCacheTtlMin),
  LOCUS_MAP_NEGATIVE_TTL_MIN: z.coerce.number().int().positive().default(MAPPING_DEFAULTS.negativeTtlMin),
});

/**
 * The options from the environment, with `overrides` on top. Key material is required: from
 * `overrides.keySeed` (the lab's generated seed, a test's), else from the environment; without
 * any this throws, so that a mapping system never runs on a default key.
 */
export function loadMappingOptions(env: NodeJS.ProcessEnv = process.env, overrides: Partial<MappingOptions> = {}): MappingOptions {
  const parsed = Env.safeParse(env);
  if (!parsed.success) throw new Error(`invalid mapping-system configuration:\n${z.prettifyError(parsed.error)}`);
  const e = parsed.data;
  const sites = e.LOCUS_XTR_SITES.trim();
  const { keySeed, keySource, ...rest } = overrides;
  const key = keySeed !== undefined ? checkedKeyMaterial({ seed: keySeed, source: keySource ?? 'a seed given by the starter' }) : requireKeyMaterial(env);
  return {
    mapServer: e.LOCUS_MAP_SERVER === 'true' || e.LOCUS_MAP_SERVER === '1',
    xtrSites: sites === 'all' ? 'all' : sites === 'none' ? [] : list(sites),
    smrOnlyItrs: list(e.LOCUS_ITR_SMR_ONLY),
    keySeed: key.seed,
    keySource: key.source,
    registerIntervalS: e.LOCUS_MAP_REGISTER_INTERVAL_S,
    registrationTtlS: e.LOCUS_MAP_REGISTER_TTL_S,
    mapCacheTtlMin: e.LOCUS_MAP_CACHE_TTL_MIN,
    negativeTtlMin: e.LOCUS_MAP_NEGATIVE_TTL_MIN,
    replayWindowMs: MAPPING_DEFAULTS.replayWindowMs,
    convergenceTimeoutMs: 30_000,
    ...rest,
  };
}

/** The refresh never runs more often than this in real time, however fast the lab clock is. */
export const MIN_REFRESH_REAL_MS = 250;

export interface MappingTimers {
  timeScale: number;
  /** Real ms between two registration refreshes of an ETR. */
  refreshRealMs: number;
  /** Lab ms a registration lives without refresh (at least 3 refresh periods). */
  registrationTtlMs: number;
  /** Real ms between two expiry sweeps (map-server registrations, ITR caches). */
  sweepRealMs: number;
}

/**
 * Refresh and expiry are in lab time. At a high time scale the refresh period is floored at
 * MIN_REFRESH_REAL_MS of real time, and the registration TTL is stretched to at least three
 * refresh periods, so that a lab at --time-scale 1000 does not expire registrations between refreshes.
 */
export function mappingTimers(options: MappingOptions, timeScale: number): MappingTimers {
  const refreshRealMs = Math.max(MIN_REFRESH_REAL_MS, (options.registerIntervalS * 1000) / timeScale);
  const registrationTtlMs = Math.max(options.registrationTtlS * 1000, 3 * refreshRealMs * timeScale);
  const sweepRealMs = Math.max(100, Math.min(refreshRealMs, 10_000 / timeScale));
  return { timeScale, refreshRealMs, registrationTtlMs, sweepRealMs };
}
