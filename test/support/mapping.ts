import { mappingSubjects, type MapRegister, type RegisterRecord } from '@locus/contracts';
import type { LocationFeedHub } from '@locus/messaging';
import { requestJson } from './request';
import { capturingLogger, eventually, type TestLab } from './harness';
import { recordedPlaneFacts } from './planes';
import { generateKeySeed, siteMac, signedFor } from '../../apps/mapping-system/src';
import { startMappingSystem, type RunningMappingSystem } from '../../apps/mapping-system/src/start-mapping-system';
import type { MappingOptions } from '../../apps/mapping-system/src';

export const RLOC = { dc1: '192.0.2.11', dc2: '192.0.2.12', cloud: '192.0.2.21', branch: '192.0.2.31' } as const;

/**
 * The key seed of this test file's mapping systems: generated per run, like the lab's (there is no
 * default). Every mapping process a test starts shares it; the helpers below sign with it.
 */
export const TEST_KEY_SEED = generateKeySeed();

/** The options a test's mapping system starts with: the run's seed, then the test's overrides. */
export const mappingOptions = (overrides: Partial<MappingOptions> = {}): Partial<MappingOptions> => ({ keySeed: TEST_KEY_SEED, keySource: 'the test run', ...overrides });

/** The mapping system of a test lab, with its own log lines, and helpers for its subjects (`feeds`: a shared location consumer to join). */
export async function startMapping(lab: TestLab, overrides: Partial<MappingOptions> = {}, feeds: { locationHub?: LocationFeedHub } = {}) {
  const { logger, lines } = capturingLogger();
  const system = await startMappingSystem(lab.config, logger, mappingOptions(overrides), feeds);
  return { system, logs: lines };
}

export function mappingClient(lab: TestLab) {
  const s = mappingSubjects(lab.config.subjectPrefix);
  const req = <T = any>(subject: string, body: unknown) => requestJson<T>(lab.client, subject, body, 10_000);
  return {
    subjects: s,
    resolve: (eid: string, itr?: string, forward?: boolean) => req(s.resolve, { eid, ...(itr ? { itr } : {}), ...(forward ? { forward } : {}) }),
    list: (body: object = {}) => req(s.list, body),
    req,
    /** Registrations as (prefix, site, version, rloc): what a refused Map-Register must not change. */
    registry: async () => {
      const r = await req(s.list, {});
      return r.entries.map((e: any) => `${e.prefix} ${e.site} v${e.version} ${e.rloc}`).sort();
    },
  };
}

/** Waits until the map-resolver has the EID at `version` (and `site`). */
export function registered(lab: TestLab, eid: string, version: number, site?: string, timeoutMs = 15_000) {
  const c = mappingClient(lab);
  return eventually(
    async () => {
      const r = await c.resolve(eid).catch(() => undefined);
      return r?.ok && !r.negative && r.version === version && (!site || r.site === site) ? r : undefined;
    },
    timeoutMs,
    `${eid} registered at version ${version}${site ? ` at ${site}` : ''}`,
  );
}

/** Waits until the ITR holds the EID at `version`. */
export function itrHolds(lab: TestLab, itr: string, eid: string, version: number, timeoutMs = 15_000) {
  const c = mappingClient(lab);
  return eventually(
    async () => {
      const r = await c.resolve(eid, itr).catch(() => undefined);
      return r?.ok && r.cached && r.version === version ? r : undefined;
    },
    timeoutMs,
    `ITR ${itr} to hold ${eid} at version ${version}`,
  );
}

export interface SigningOptions {
  /** Another seed than the run's (a forger's guess, the committed seed of earlier versions). */
  seed?: string;
  timestamp?: number;
  nonce?: string;
}

/**
 * A control message to or from `site`, signed as the mapping system signs it: a nonce, the
 * timestamp and the HMAC under the site's key (derived from the run's seed unless `opts.seed`).
 */
export function signedAs<T extends object>(site: string, body: T, opts: SigningOptions = {}) {
  return signedFor(site, body, siteMac(opts.seed ?? TEST_KEY_SEED), opts.timestamp ?? Date.now(), opts.nonce);
}

/** A Map-Register signed with the key the site shares with the map-server. */
export function signedRegister(site: string, records: RegisterRecord[], opts: SigningOptions = {}): MapRegister {
  return signedAs(site, { type: 'Map-Register' as const, site, wantMapNotify: true, records }, opts);
}

export const record = (eid: string, version: number, rloc: string, vm?: string): RegisterRecord => ({ eid, ...(vm ? { vm } : {}), locators: [{ rloc, priority: 1, weight: 100 }], ttl: 1440, version });

/** Map plane facts the test's client saw (stored outcomes and live steps), in arrival order. */
export async function mapPlaneEvents(lab: TestLab) {
  return recordedPlaneFacts(lab.client, 'map');
}

export type { RunningMappingSystem };
