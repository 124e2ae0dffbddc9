import { connect, headers, type NatsConnection, type Service } from 'nats';
import { z } from 'zod';
import { addJsonEndpoint } from '@locus/messaging';
import { requestJson } from './support/request';
import { capturingLogger, eventually, NATS_URL, uniqueId } from './support/harness';

/**
 * Admission control and deadlines on a real NATS service: a slow handler held by a gate the test
 * opens, so that "running", "waiting" and "refused" are states the test waits for, not sleeps for.
 */
describe('overload: admission control and deadlines on addJsonEndpoint', () => {
  let server: NatsConnection;
  let client: NatsConnection;
  let service: Service;
  const prefix = `ov${uniqueId()}`;

  beforeAll(async () => {
    server = await connect({ servers: NATS_URL });
    client = await connect({ servers: NATS_URL });
    service = await server.services.add({ name: `overload-${prefix}`, version: '0.0.1' });
  });
  afterAll(async () => {
    await service.stop().catch(() => undefined);
    await client.close();
    await server.close();
  });

  /** A handler that records what ran and waits for the test to open its gate; its subscription is on the server when this resolves. */
  async function slowEndpoint(name: string, admission: { maxConcurrent: number; maxQueued: number }) {
    const { logger, lines } = capturingLogger('debug');
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const ran: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const subject = `${prefix}.${name}`;
    const stats = addJsonEndpoint(service, {
      name,
      subject,
      schema: z.strictObject({ i: z.number() }),
      logger,
      admission,
      handler: async ({ i }) => {
        ran.push(i);
        maxRunning = Math.max(maxRunning, ++running);
        await gate;
        running--;
        return { ok: true, i };
      },
    });
    await server.flush(); // the endpoint's subscription reaches the server before any request (else: no responders)
    return { subject, stats, ran, open, lines, maxRunning: () => maxRunning };
  }

  it('with 1 running and 1 waiting, a burst of 6 gets UNAVAILABLE for the 4 surplus at once, and the 2 admitted complete', async () => {
    const ep = await slowEndpoint('burst', { maxConcurrent: 1, maxQueued: 1 });
    const replies = [1, 2, 3, 4, 5, 6].map((i) => requestJson(client, ep.subject, { i }, 10_000));
    // The surplus is answered while the first handler still holds its slot: nothing has completed yet.
    const surplus = await Promise.all(replies.slice(2));
    for (const r of surplus) {
      expect(r).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
      expect(r.error.message).toMatch(new RegExp(`${ep.subject} is at capacity: 1 running and 1 waiting \\(at most 1 and 1\\); retry later`));
    }
    expect(ep.ran).toEqual([1]);
    expect(ep.stats()).toMatchObject({ started: 1, finished: 0, rejected: 4, expired: 0, running: 1, queued: 1, limits: { maxConcurrent: 1, maxQueued: 1 } });
    ep.open();
    expect(await replies[0]).toEqual({ ok: true, i: 1 });
    expect(await replies[1]).toEqual({ ok: true, i: 2 });
    expect(ep.ran).toEqual([1, 2]);
    expect(ep.maxRunning()).toBe(1);
    expect(ep.stats()).toMatchObject({ started: 2, finished: 2, rejected: 4, running: 0, queued: 0 });
    // one debug line per refusal, and one warning summing them up
    expect(ep.lines().filter((l) => l.msg === 'request refused: endpoint at capacity')).toHaveLength(4);
    const warning = await eventually(async () => ep.lines().find((l) => l.level === 40 && /shedding load/.test(l.msg)), 5000, 'the shedding summary');
    expect(warning).toMatchObject({ rejected: 4, expired: 0, bySubject: { [ep.subject]: { rejected: 4, expired: 0 } } });
  });

  it('a waiting request whose deadline passes is dropped at the head of the queue, unanswered, and the next one runs', async () => {
    const ep = await slowEndpoint('expiring', { maxConcurrent: 1, maxQueued: 2 });
    const first = requestJson(client, ep.subject, { i: 1 }, 10_000);
    await eventually(async () => ep.stats().running === 1, 5000, 'the first request running');
    const short = requestJson(client, ep.subject, { i: 2 }, 300); // Locus-Deadline = now + 300 ms
    const long = requestJson(client, ep.subject, { i: 3 }, 10_000);
    await eventually(async () => ep.stats().queued === 2, 5000, 'two requests waiting');
    await expect(short).rejects.toThrow(/timeout/i); // its caller has gone
    ep.open();
    expect(await first).toEqual({ ok: true, i: 1 });
    expect(await long).toEqual({ ok: true, i: 3 });
    expect(ep.ran).toEqual([1, 3]); // 2 never ran
    expect(ep.stats()).toMatchObject({ started: 2, finished: 2, expired: 1, rejected: 0, running: 0, queued: 0 });
    expect(ep.lines().find((l) => /deadline passed before the handler started/.test(l.msg))).toMatchObject({ level: 20, reason: 'deadline', subject: ep.subject });
  });

  it('without admission limits, a request past its deadline on arrival is dropped and a live one runs', async () => {
    const { logger } = capturingLogger();
    const ran: number[] = [];
    const subject = `${prefix}.plain`;
    const stats = addJsonEndpoint(service, { name: 'plain', subject, schema: z.strictObject({ i: z.number() }), logger, handler: ({ i }) => (ran.push(i), { ok: true, i }) });
    await server.flush();
    const h = headers();
    h.set('Locus-Deadline', String(Date.now() - 1));
    await expect(client.request(subject, new TextEncoder().encode('{"i":1}'), { timeout: 500, headers: h })).rejects.toThrow(/timeout/i);
    expect(await requestJson(client, subject, { i: 2 })).toEqual({ ok: true, i: 2 });
    // no header at all (as `nats req` sends it): within the default budget, it runs
    const plain = await client.request(subject, new TextEncoder().encode('{"i":3}'), { timeout: 5000 });
    expect(JSON.parse(new TextDecoder().decode(plain.data))).toEqual({ ok: true, i: 3 });
    expect(ran).toEqual([2, 3]);
    expect(stats()).toMatchObject({ started: 2, expired: 1, rejected: 0 });
    expect(stats().limits).toBeUndefined();
  });
});
