/**
 * Map versions are the VM's location version: they only ever grow. Every component compares
 * them with serial-number arithmetic (RFC 1982, SERIAL_BITS = 32), so the order stays right
 * across a wrap-around of the 32-bit space: `a` is newer than `b` when `(a - b) mod 2^32`
 * lies in (0, 2^31). Exactly 2^31 apart is undefined and counts as neither newer nor older.
 */
const MOD = 2 ** 32;
const HALF = 2 ** 31;

export type SerialOrder = -1 | 0 | 1;

/** 1 when `a` is newer than `b`, -1 when older, 0 when equal, undefined when exactly half the space apart. */
export function compareSerial(a: number, b: number): SerialOrder | undefined {
  const d = (((a - b) % MOD) + MOD) % MOD;
  if (d === 0) return 0;
  if (d < HALF) return 1;
  if (d > HALF) return -1;
  return undefined;
}

/** True when `candidate` is newer than `held` (anything is newer than nothing). */
export function isNewerVersion(candidate: number, held: number | undefined): boolean {
  return held === undefined || compareSerial(candidate, held) === 1;
}

/** True when `candidate` is the same version as `held`. */
export function isSameVersion(candidate: number, held: number | undefined): boolean {
  return held !== undefined && compareSerial(candidate, held) === 0;
}
