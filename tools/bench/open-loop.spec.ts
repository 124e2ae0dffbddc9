import { answerFigures, classifyError, classifyReply, defaultMaxInFlight, OpenLoopPacer, type Answer } from './open-loop';

describe('open-loop pacing', () => {
  it('sends one at once, then rate x elapsed, whatever was sent before', () => {
    const p = new OpenLoopPacer(100, 1000);
    expect(p.take(1000)).toBe(1);
    expect(p.take(1005)).toBe(0);
    expect(p.take(1010)).toBe(1);
    expect(p.take(2000)).toBe(99);
    expect(p.total).toBe(101);
  });

  it('a caller that lagged gets the missed requests at once (a token bucket would drop them)', () => {
    const p = new OpenLoopPacer(400, 0);
    p.take(0);
    expect(p.take(500)).toBe(200);
    expect(p.total).toBe(201);
  });

  it('keeps a fractional rate', () => {
    const p = new OpenLoopPacer(0.5, 0);
    expect([p.take(0), p.take(1999), p.take(2000), p.take(3999), p.take(4000)]).toEqual([1, 0, 1, 0, 1]);
  });

  it('the default in-flight cap is reached only by replies slower than the client timeout', () => {
    expect(defaultMaxInFlight(10, 10_000)).toBe(2000);
    expect(defaultMaxInFlight(500, 10_000)).toBe(5100);
  });
});

describe('answers by kind', () => {
  it('classifies replies: accepted, UNAVAILABLE, other refusals', () => {
    expect(classifyReply({ ok: true })).toEqual({ kind: 'accepted' });
    expect(classifyReply({ ok: false, error: { code: 'UNAVAILABLE' } })).toEqual({ kind: 'unavailable', code: 'UNAVAILABLE' });
    expect(classifyReply({ ok: false, error: { code: 'TARGET_FULL' } })).toEqual({ kind: 'refused', code: 'TARGET_FULL' });
    expect(classifyReply({ ok: false })).toEqual({ kind: 'refused', code: 'UNKNOWN' });
  });

  it('classifies client errors: the timeout apart from no responders and the rest', () => {
    expect(classifyError(Object.assign(new Error('TIMEOUT'), { code: 'TIMEOUT' }))).toEqual({ kind: 'timeout', code: 'TIMEOUT' });
    expect(classifyError(Object.assign(new Error('503'), { code: '503' }))).toEqual({ kind: 'failed', code: 'NO_RESPONDERS' });
    expect(classifyError(new Error('CONNECTION_CLOSED'))).toEqual({ kind: 'failed', code: 'CONNECTION_CLOSED' });
  });

  it('splits the latency percentiles per kind and counts the share answered within 100 ms of all sent', () => {
    const answers: Answer[] = [
      ...[5, 10, 20, 40, 80, 90, 95, 99, 150, 300].map((ms) => ({ kind: 'accepted' as const, ms })),
      { kind: 'unavailable', code: 'UNAVAILABLE', ms: 1 },
      { kind: 'unavailable', code: 'UNAVAILABLE', ms: 3 },
      { kind: 'refused', code: 'MOVE_IN_PROGRESS', ms: 7 },
      { kind: 'refused', code: 'TARGET_FULL', ms: 120 },
      { kind: 'refused', code: 'TARGET_FULL', ms: 9 },
      { kind: 'timeout', code: 'TIMEOUT', ms: 10_000 },
      { kind: 'failed', code: 'NO_RESPONDERS', ms: 2 },
    ];
    const f = answerFigures(answers, 20, 10_000);
    expect(f.accepted).toMatchObject({ count: 10, p50: 80, p99: 300, max: 300 });
    expect(f.unavailable).toMatchObject({ count: 2, p50: 1, p99: 3, max: 3 });
    expect(f.refused).toMatchObject({ count: 3, p50: 9, max: 120, byCode: { MOVE_IN_PROGRESS: 1, TARGET_FULL: 2 } });
    expect(f.timeouts).toBe(1);
    expect(f.failed).toEqual({ count: 1, byCode: { NO_RESPONDERS: 1 } });
    expect(f.answered).toBe(15);
    expect(f.pending).toBe(3);
    // within 100 ms: 8 accepted + 2 UNAVAILABLE + 2 refusals = 12 of 20 sent (the fast client error does not count)
    expect(f.answeredWithin).toBe(12);
    expect(f.withinShare).toBeCloseTo(0.6);
  });

  it('nothing sent: no share', () => {
    expect(answerFigures([], 0, 10_000)).toMatchObject({ sent: 0, answered: 0, withinShare: undefined, accepted: { count: 0 } });
  });
});
