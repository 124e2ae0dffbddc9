import { HEADERS } from '@locus/contracts';
import { planeEventHeaders, spanIdOf, traceIdOf, traceIdOfHeader, traceparent } from './trace';

describe('trace context', () => {
  const moveId = '0c4a83df-f936-4580-b8d1-464644c93c97';

  it('a move id is its own trace id; any other correlation id hashes to a stable one', () => {
    expect(traceIdOf(moveId)).toBe('0c4a83dff9364580b8d1464644c93c97');
    expect(traceIdOf('seed:web-01')).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIdOf('seed:web-01')).toBe(traceIdOf('seed:web-01'));
    expect(traceIdOf('seed:web-01')).not.toBe(traceIdOf('seed:web-02'));
  });

  it('traceparent is W3C version 00, sampled, span id from the event id', () => {
    const tp = traceparent(moveId, 'event-1');
    expect(tp).toMatch(/^00-0c4a83dff9364580b8d1464644c93c97-[0-9a-f]{16}-01$/);
    expect(tp.split('-')[2]).toBe(spanIdOf('event-1'));
    expect(traceIdOfHeader(tp)).toBe('0c4a83dff9364580b8d1464644c93c97');
    expect(traceIdOfHeader('garbage')).toBeUndefined();
  });

  it("an event's UUID gives its span id without hashing (its second half); another id hashes to a stable one", () => {
    expect(spanIdOf('8d0e53c2-5b1f-4c6e-9a77-0f3e2d1c4b5a')).toBe('9a770f3e2d1c4b5a');
    expect(spanIdOf('8D0E53C2-5B1F-4C6E-9A77-0F3E2D1C4B5A')).toBe('9a770f3e2d1c4b5a');
    expect(spanIdOf('RouteConfirmed:dc2:x')).toMatch(/^[0-9a-f]{16}$/);
    // FNV-1a 64 of the id: the published test vectors of the hash
    expect(spanIdOf('a')).toBe('af63dc4c8601ec8c');
    expect(spanIdOf('foobar')).toBe('85944171f73967e8');
    expect(spanIdOf('RouteConfirmed:dc2:x')).toBe(spanIdOf('RouteConfirmed:dc2:x'));
    expect(spanIdOf('00000000-0000-4000-8000-000000000000')).toBe('8000000000000000');
    expect(spanIdOf('00000000-0000-0000-0000-000000000000')).toBe('0000000000000001');
  });

  it("a plane event about a move carries the move's correlation id and trace", () => {
    const h = planeEventHeaders({ id: 'RouteConfirmed:dc2:x', plane: 'route', type: 'RouteConfirmed', component: 'route-injector:dc2', moveId, locationVersion: 2, at: '', data: {} });
    expect(h.get(HEADERS.correlationId)).toBe(moveId);
    expect(traceIdOfHeader(h.get(HEADERS.traceparent))).toBe(traceIdOf(moveId));
    expect(h.get(HEADERS.type)).toBe('RouteConfirmed');
  });

  it('a plane event of no move (a reconcile, a refresh) carries its type, no correlation id and no trace', () => {
    const h = planeEventHeaders({ id: 'ReconcileFixed:dc2:x', plane: 'route', type: 'ReconcileFixed', component: 'route-injector:dc2', locationVersion: 2, at: '', data: {} });
    expect(h.get(HEADERS.type)).toBe('ReconcileFixed');
    expect(h.has(HEADERS.correlationId)).toBe(false);
    expect(h.has(HEADERS.traceparent)).toBe(false);
  });
});
