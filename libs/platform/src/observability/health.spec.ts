import { EventLoopWatch, natsCheck, postgresCheck, runChecks } from './health';

describe('readiness checks', () => {
  it('is ok only when every check is', async () => {
    const ok = await runChecks([
      { name: 'a', check: () => undefined },
      { name: 'b', check: async () => 1 },
    ]);
    expect(ok.status).toBe('ok');
    const fail = await runChecks([
      { name: 'a', check: () => undefined },
      { name: 'b', check: () => Promise.reject(new Error('down')) },
    ]);
    expect(fail.status).toBe('fail');
    expect(fail.checks[1]).toMatchObject({ name: 'b', ok: false, error: 'down' });
  });

  it('counts a check that does not answer in time as failed', async () => {
    const r = await runChecks([{ name: 'slow', timeoutMs: 20, check: () => new Promise(() => undefined) }]);
    expect(r.checks[0]).toMatchObject({ ok: false, error: 'no answer within 20 ms' });
  });

  it('NATS: closed, draining or not answering a round trip is not ready', async () => {
    const nc = { closed: false, draining: false, isClosed: () => nc.closed, isDraining: () => nc.draining, flush: jest.fn(async () => undefined) };
    expect((await runChecks([natsCheck(nc)])).status).toBe('ok');
    nc.draining = true;
    expect((await runChecks([natsCheck(nc)])).checks[0].error).toBe('connection draining');
    nc.closed = true;
    expect((await runChecks([natsCheck(nc)])).checks[0].error).toBe('connection closed');
    const stuck = { isClosed: () => false, isDraining: () => false, flush: () => new Promise<void>(() => undefined) };
    expect((await runChecks([natsCheck(stuck, 'nats', 20)])).checks[0].ok).toBe(false);
  });

  it('Postgres: a query must answer', async () => {
    const query = jest.fn(async () => [{ '?column?': 1 }]);
    expect((await runChecks([postgresCheck({ query })])).status).toBe('ok');
    expect(query).toHaveBeenCalledWith('SELECT 1');
    expect((await runChecks([postgresCheck({ query: () => Promise.reject(new Error('ECONNREFUSED')) })])).checks[0].error).toBe('ECONNREFUSED');
  });
});

describe('EventLoopWatch (liveness)', () => {
  it('is unhealthy after a tick that came later than the limit', () => {
    let t = 0;
    const w = new EventLoopWatch(500, 1000, () => t).start(); // next tick expected at 500
    try {
      t = 500;
      w.tick();
      t = 1000;
      w.tick();
      expect(w.healthy()).toBe(true);
      t = 3000; // expected at 1500: 1500 ms late
      w.tick();
      expect(w.lastLagMs).toBe(1500);
      expect(w.healthy()).toBe(false);
      t = 3500;
      w.tick();
      expect(w.healthy()).toBe(true);
      t = 5100; // no tick since 3500 (next was due at 4000): the loop is stuck right now
      expect(w.healthy()).toBe(false);
    } finally {
      w.stop();
    }
  });
});
