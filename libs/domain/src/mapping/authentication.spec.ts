import { canonicalJson, constantTimeEqual, signedText, signMessage, verifyMessage, type SiteMac } from './authentication';

/** A stand-in for HMAC in the specs: deterministic, depends on key and text (the adapter uses HMAC-SHA-256). */
const fakeMac: SiteMac = (site, text) => `${site}:${text.length}:${[...text].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7).toString(16)}`;

describe('canonical text of a signed message', () => {
  it('given the same fields in another order, when canonicalised, then the text is the same', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,{"x":1,"y":2}]},"b":1}');
    expect(signedText({ site: 'dc1', nonce: 'n', authData: 'zz' })).toBe(signedText({ nonce: 'n', site: 'dc1' }));
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
