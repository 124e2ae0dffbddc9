/**
 * Authentication of control messages, RFC 9301 style: the sender puts an HMAC-SHA-256 of the
 * message (with the auth field left out) under the key it shares with the receiver into
 * `authData`. The domain decides; the HMAC itself is computed by an adapter (node:crypto) and
 * injected as `SiteMac`, so this module stays free of I/O and platform APIs.
 */
export type SiteMac = (site: string, text: string) => string;

/**
 * The text the HMAC covers: the message as JSON with `authData` removed, object keys sorted at
 * every level, no whitespace, `undefined` fields dropped. Two processes always agree on it.
 */
export function signedText(message: object): string {
  const { authData: _ignored, ...rest } = message as { authData?: unknown };
  return canonicalJson(rest);
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** Returns the message with `authData` set for `site`'s key. */
export function signMessage<T extends object>(message: T, site: string, mac: SiteMac): T & { authData: string } {
  return { ...message, authData: mac(site, signedText(message)) };
}

export type AuthVerdict = { ok: true } | { ok: false; reason: string };

/** Checks `authData` against the HMAC of the message under `site`'s key; missing or wrong is a refusal. */
export function verifyMessage(message: object, site: string, mac: SiteMac): AuthVerdict {
  const authData = (message as { authData?: unknown }).authData;
  if (typeof authData !== 'string' || authData.length === 0) return { ok: false, reason: 'missing authentication data (HMAC-SHA-256)' };
  const expected = mac(site, signedText(message));
  if (!constantTimeEqual(expected, authData.toLowerCase())) return { ok: false, reason: `HMAC-SHA-256 does not match the key of site ${site}` };
  return { ok: true };
}

/** Compares two strings in time that depends on their length only, not on where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ (i < b.length ? b.charCodeAt(i) : 0);
  return diff === 0;
}
