import { ReplayWindow } from './replay-window';

/**
 * Authentication of control messages, RFC 9301 style: the sender puts an HMAC-SHA-256 of the
 * message (with the auth field left out) under the key it shares with the receiver into
 * `authData`. The domain decides; the HMAC itself is computed by an adapter (node:crypto) and
 * injected as `SiteMac`, so this module stays free of I/O and platform APIs.
 *
 * Each site shares one key with the map-server, and every message between them carries an HMAC
 * under it, whichever way it goes: the site's Map-Registers, and the map-server's Map-Notify,
 * Map-Publish, Solicit-Map-Request and Map-Reply to that site. A site's key therefore signs only
 * what concerns that site: knowing it lets no one speak to another site or for it.
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

// Built by appending to one string (every control message is signed or checked: a profile put the
// version with map/filter/join at 2 % of the planes process).
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + (value[i] === undefined ? 'null' : canonicalJson(value[i]));
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  let out = '{';
  for (const k of Object.keys(obj).sort()) {
    const v = obj[k];
    if (v === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}${PLAIN_KEY.test(k) ? `"${k}"` : JSON.stringify(k)}:${canonicalJson(v)}`;
  }
  return `${out}}`;
}

/** A key JSON writes as it is, between quotes. */
const PLAIN_KEY = /^[A-Za-z0-9_$-]*$/;

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

/** The fields that make a message fresh: a 64-bit nonce and the sender's wall-clock timestamp (epoch ms). */
export interface FreshMessage {
  nonce: string;
  timestamp: number;
  authData?: string;
}

export type AdmitVerdict = { ok: true } | { ok: false; code: 'AUTH_FAILED' | 'REPLAYED'; reason: string };

/**
 * The one check every receiver of an authenticated control message makes (the map-server for
 * Map-Registers, an xTR for what the map-server sends it): the HMAC under the key of `site` (the
 * other end), then the timestamp within ±window of the receiver's clock and a nonce not used before.
 * A refused message is not remembered, so a forged copy cannot burn a genuine message's nonce.
 */
export class MessageAuthenticator {
  private readonly replay: ReplayWindow;

  constructor(
    private readonly mac: SiteMac,
    replayWindowMs: number,
  ) {
    this.replay = new ReplayWindow(replayWindowMs);
  }

  /** Nonces remembered (for twice the window). */
  get remembered(): number {
    return this.replay.size;
  }

  admit(message: FreshMessage, site: string, now: number): AdmitVerdict {
    const auth = verifyMessage(message, site, this.mac);
    if (!auth.ok) return { ok: false, code: 'AUTH_FAILED', reason: auth.reason };
    const fresh = this.replay.check(site, message.nonce, message.timestamp, now);
    if (!fresh.ok) return { ok: false, code: 'REPLAYED', reason: fresh.reason };
    this.replay.remember(site, message.nonce, now);
    return { ok: true };
  }
}
