import { ArpStaleRequest, ListVmsRequest, MoveVmRequest, GetVmRequest } from '@locus/contracts';
import { parseRequest } from './json-endpoint';

/** What a caller reads when a body is wrong: each field named once, with what was wrong with it. */
describe('parseRequest: error messages that say what is wrong', () => {
  const message = (schema: Parameters<typeof parseRequest>[1], body: string) => {
    const parsed = parseRequest(new TextEncoder().encode(body), schema);
    expect(parsed.ok).toBe(false);
    return (parsed as { reply: { error: { code: string; message: string } } }).reply.error;
  };

  it('given a missing mode, then `mode: required`', () => {
    expect(message(MoveVmRequest, '{"vm":"web-02","to":"dc2-hv1"}')).toEqual({ code: 'BAD_REQUEST', message: 'mode: required' });
  });

  it('given several fields missing, then each is named once', () => {
    expect(message(MoveVmRequest, '{}').message).toBe('vm: required; to: required; mode: required');
  });

  it('given a field of the wrong type, then the type expected and the value given', () => {
    expect(message(MoveVmRequest, '{"vm":1,"to":"dc2-hv1","mode":"cold"}').message).toBe('vm: expected a string, got the number 1');
    expect(message(ListVmsRequest, '{"limit":"10"}').message).toBe('limit: expected a number, got the string "10"');
    expect(message(MoveVmRequest, '{"vm":"web-02","to":"dc2-hv1","mode":"cold","options":[]}').message).toBe('options: expected an object, got an array');
    expect(message(ArpStaleRequest, '{"vms":"db-01"}').message).toBe('vms: expected an array, got the string "db-01"');
  });

  it('given a value outside an enum, then the values allowed and the one given', () => {
    expect(message(MoveVmRequest, '{"vm":"web-02","to":"dc2-hv1","mode":"teleport"}').message).toBe('mode: expected one of "hot", "warm", "cold", got the string "teleport"');
  });

  it('given an empty or badly formed name, then one complaint about it', () => {
    expect(message(GetVmRequest, '{"vm":""}').message).toBe('vm: must not be empty');
    expect(message(GetVmRequest, '{"vm":"Web_01"}').message).toBe('vm: must be lowercase letters, digits and dashes, got the string "Web_01"');
  });

  it('given an array, a string or null as the body, then the body must be an object', () => {
    expect(message(GetVmRequest, '[1,2]').message).toBe('the body must be a JSON object ({"name": value, …}), not an array');
    expect(message(GetVmRequest, '"web-01"').message).toBe('the body must be a JSON object ({"name": value, …}), not the string "web-01"');
    expect(message(GetVmRequest, 'null').message).toBe('the body must be a JSON object ({"name": value, …}), not null');
  });

  it('given an unknown field or bad JSON, then said as before', () => {
    expect(message(GetVmRequest, '{"vm":"web-01","force":true}').message).toBe('(body): unknown field(s) force');
    expect(message(GetVmRequest, '{"vm": web-01').message).toMatch(/^body is not JSON: /);
  });

  it('given a limit out of range, then the bound and the value', () => {
    expect(message(ListVmsRequest, '{"limit":0}').message).toMatch(/^limit: too small: expected number to be >=1, got the number 0$/);
  });
});
