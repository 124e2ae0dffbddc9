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

  it("a plane event about a move carries the move's correlation id and trace", () => {
    const h = planeEventHeaders({ id: 'RouteConfirmed:dc2:x', plane: 'route', type: 'RouteConfirmed', component: 'route-injector:dc2', moveId, locationVersion: 2, at: '', data: {} });
    expect(h.get(HEADERS.correlationId)).toBe(moveId);
    expect(traceIdOfHeader(h.get(HEADERS.traceparent))).toBe(traceIdOf(moveId));
    expect(h.get(HEADERS.type)).toBe('RouteConfirmed');
  });
});
