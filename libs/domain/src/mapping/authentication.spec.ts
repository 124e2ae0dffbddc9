import { canonicalJson, constantTimeEqual, MessageAuthenticator, signedText, signMessage, verifyMessage, type SiteMac } from './authentication';

/** A stand-in for HMAC in the specs: deterministic, depends on key and text (the adapter uses HMAC-SHA-256). */
const fakeMac: SiteMac = (site, text) => `${site}:${text.length}:${[...text].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7).toString(16)}`;

describe('canonical text of a signed message', () => {
  it('given the same fields in another order, when canonicalised, then the text is the same', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,{"x":1,"y":2}]},"b":1}');
    expect(signedText({ site: 'dc1', nonce: 'n', authData: 'zz' })).toBe(signedText({ nonce: 'n', site: 'dc1' }));
  });
  it('given keys that need escaping, nested arrays with holes and every JSON leaf, when canonicalised, then it is JSON with sorted keys', () => {
    const message = { 'z"q': 1, 'ü-key': [undefined, null, true, 'a"b', 1.5, -0, NaN, [{ b: undefined, a: [] }]], $id: 'x', '': {}, 'a b': 'c\n' };
    const text = canonicalJson(message);
    expect(text).toBe('{"":{},"$id":"x","a b":"c\\n","z\\"q":1,"ü-key":[null,null,true,"a\\"b",1.5,0,null,[{"a":[]}]]}');
    // What it says is what the message says: parsed back, the same as JSON's own text of it.
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(message)));
  });

  it('given undefined fields, when canonicalised, then they are left out', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });
});

describe('HMAC verification decisions', () => {
  const message = { type: 'Map-Register', site: 'dc2', nonce: '0123456789abcdef', records: [{ eid: '10.1.0.10/32', version: 2 }] };

  it('given a message signed with the site key, when verified, then it is accepted', () => {
    expect(verifyMessage(signMessage(message, 'dc2', fakeMac), 'dc2', fakeMac)).toEqual({ ok: true });
  });
  it('given no authData, when verified, then it is refused as missing', () => {
    expect(verifyMessage(message, 'dc2', fakeMac)).toEqual({ ok: false, reason: expect.stringMatching(/missing/) });
  });
  it('given a message signed with another site key, when verified, then it is refused', () => {
    expect(verifyMessage(signMessage(message, 'dc1', fakeMac), 'dc2', fakeMac)).toMatchObject({ ok: false });
  });
  it('given a signed message altered afterwards, when verified, then it is refused', () => {
    const signed = signMessage(message, 'dc2', fakeMac);
    expect(verifyMessage({ ...signed, records: [{ eid: '10.1.0.10/32', version: 3 }] }, 'dc2', fakeMac)).toMatchObject({ ok: false });
  });
  it('compares in constant time and exactly', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'ab')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });
});

describe('admitting an authenticated control message (HMAC, then timestamp window and nonce)', () => {
  const now = 1_700_000_000_000;
  const publish = (nonce: string, timestamp = now, version = 2) =>
    signMessage({ type: 'Map-Publish', itr: 'branch', nonce, timestamp, keyId: 'hmac-sha-256', record: { eid: '10.1.0.10/32', version } }, 'branch', fakeMac);

  it('given a message signed with the key of the other end, fresh, when admitted, then it is let in once', () => {
    const gate = new MessageAuthenticator(fakeMac, 60_000);
    expect(gate.admit(publish('00000000000000a1'), 'branch', now + 5)).toEqual({ ok: true });
    expect(gate.admit(publish('00000000000000a1'), 'branch', now + 10)).toEqual({ ok: false, code: 'REPLAYED', reason: expect.stringMatching(/already used/) });
  });
  it('given no HMAC, a wrong one, another site key or an altered message, when admitted, then AUTH_FAILED and the nonce stays unused', () => {
    const gate = new MessageAuthenticator(fakeMac, 60_000);
    const genuine = publish('00000000000000b1');
    const { authData: _none, ...unsigned } = genuine;
    for (const forged of [unsigned, { ...genuine, authData: 'ab'.repeat(32) }, signMessage({ ...unsigned }, 'dc1', fakeMac), { ...genuine, record: { eid: '10.1.0.10/32', version: 9 } }])
      expect(gate.admit(forged, 'branch', now)).toMatchObject({ ok: false, code: 'AUTH_FAILED' });
    expect(gate.remembered).toBe(0);
    // the genuine message is still taken: a forged copy sent first did not use up its nonce
    expect(gate.admit(genuine, 'branch', now)).toEqual({ ok: true });
  });
  it('given a genuine message whose timestamp is outside the window, when admitted, then REPLAYED', () => {
    const gate = new MessageAuthenticator(fakeMac, 60_000);
    expect(gate.admit(publish('00000000000000c1', now - 60_001), 'branch', now)).toMatchObject({ ok: false, code: 'REPLAYED', reason: expect.stringMatching(/old/) });
    expect(gate.admit(publish('00000000000000c2', now + 60_001), 'branch', now)).toMatchObject({ ok: false, code: 'REPLAYED', reason: expect.stringMatching(/future/) });
  });
  it('checks the HMAC before freshness: a forged message with a used nonce is AUTH_FAILED, not REPLAYED', () => {
    const gate = new MessageAuthenticator(fakeMac, 60_000);
    gate.admit(publish('00000000000000d1'), 'branch', now);
    expect(gate.admit({ ...publish('00000000000000d1'), authData: 'ab'.repeat(32) }, 'branch', now)).toMatchObject({ code: 'AUTH_FAILED' });
  });
});
