import { Writable } from 'node:stream';
import pino from 'pino';
import type { VmView } from '@locus/contracts';
import { fetchLocationSnapshot, listAllVms } from './location-snapshot';

const vm = (i: number): VmView => ({
  name: `vm-${String(i).padStart(3, '0')}`,
  ip: `10.0.0.${i}`,
  mac: '52:54:00:00:00:00',
  site: i % 2 ? 'dc1' : 'dc2',
  hypervisor: 'hv1',
  l2Domain: 'd',
  state: 'running',
  locationVersion: 1,
});

/** A fake manager answering vm.list pages over `count` VMs, failing the calls listed in `failCalls` (1-based) with a timeout, and answering UNAVAILABLE (still starting) to those in `startingCalls`. */
function fakeManager(count: number, failCalls: number[] = [], startingCalls: number[] = []) {
  const vms = Array.from({ length: count }, (_, i) => vm(i + 1));
  const calls: { body: any; timeout: number; deadline?: string }[] = [];
  const nc = {
    async request(_subject: string, data: Uint8Array, opts: { timeout: number; headers?: { get(k: string): string } }) {
      const body = JSON.parse(new TextDecoder().decode(data));
      calls.push({ body, timeout: opts.timeout, deadline: opts.headers?.get('Locus-Deadline') });
      if (failCalls.includes(calls.length)) throw Object.assign(new Error('TIMEOUT'), { code: 'TIMEOUT' });
      if (startingCalls.includes(calls.length))
        return { data: new TextEncoder().encode(JSON.stringify({ ok: false, error: { code: 'UNAVAILABLE', message: 'the mobility manager is starting; retry shortly' } })) };
      const from = body.after ? vms.findIndex((v) => v.name > body.after) : 0;
      const rest = from < 0 ? [] : vms.slice(from);
      const page = rest.slice(0, body.limit ?? 1000);
      const reply = rest.length > page.length ? { ok: true, vms: page, next: page[page.length - 1]!.name } : { ok: true, vms: page };
      return { data: new TextEncoder().encode(JSON.stringify(reply)) };
    },
  };
  return { nc, calls, vms };
}

function capture() {
  const lines: any[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

describe('location snapshot, page by page', () => {
  it('given 25 VMs and pages of 10, when the snapshot is fetched, then it walks 3 pages and returns every VM once, in order', async () => {
    const m = fakeManager(25);
    const { log, lines } = capture();
    const got = await fetchLocationSnapshot(m.nc, 'locus', {}, log, { pageSize: 10 });
    expect(got).toEqual(m.vms);
    expect(m.calls.map((c) => c.body)).toEqual([{ limit: 10 }, { limit: 10, after: 'vm-010' }, { limit: 10, after: 'vm-020' }]);
    expect(lines.filter((l) => l.msg === 'location snapshot loaded')).toEqual([expect.objectContaining({ level: 30, pages: 3, vms: 25, ms: expect.any(Number) })]);
  });

  it('given the filter, when walking, then every page carries it', async () => {
    const m = fakeManager(3);
    await fetchLocationSnapshot(m.nc, 'locus', { hypervisor: 'hv1' }, capture().log);
    expect(m.calls.map((c) => c.body)).toEqual([{ hypervisor: 'hv1' }]);
  });

  it('given a page that times out twice, when it is asked again, then the timeout doubles each time, stays for the next pages and one warning is logged', async () => {
    const m = fakeManager(15, [2, 3]);
    const { log, lines } = capture();
    const started = Date.now();
    const got = await fetchLocationSnapshot(m.nc, 'locus', {}, log, { pageSize: 10 });
    expect(got).toHaveLength(15);
    expect(m.calls.map((c) => [c.body.after, c.timeout])).toEqual([
      [undefined, 3000],
      ['vm-010', 3000],
      ['vm-010', 6000],
      ['vm-010', 12000],
    ]);
    // each request carries its deadline: now + its timeout
    for (const c of m.calls) expect(Number(c.deadline) - started).toBeGreaterThanOrEqual(c.timeout - 5);
    expect(lines.filter((l) => l.level === 40)).toEqual([expect.objectContaining({ attempt: 1, after: 'vm-010', timeoutMs: 3000 })]);
  });

  it('given a manager still starting (UNAVAILABLE twice), when the page is asked again, then the timeout stays and every VM comes once it is ready', async () => {
    const m = fakeManager(5, [], [1, 2]);
    const { log, lines } = capture();
    const got = await fetchLocationSnapshot(m.nc, 'locus', {}, log);
    expect(got).toEqual(m.vms);
    expect(m.calls.map((c) => c.timeout)).toEqual([3000, 3000, 3000]);
    expect(lines.filter((l) => l.level === 40)).toEqual([expect.objectContaining({ attempt: 1, err: expect.stringMatching(/UNAVAILABLE/) })]);
  });

  it('given a timeout that keeps failing, when it grows, then it stops at 30 s', async () => {
    const m = fakeManager(1, [1, 2, 3, 4, 5]);
    await fetchLocationSnapshot(m.nc, 'locus', {}, capture().log);
    expect(m.calls.map((c) => c.timeout)).toEqual([3000, 6000, 12000, 24000, 30000, 30000]);
  });

  it('given maxAttempts, when a page keeps failing, then the error comes out', async () => {
    const m = fakeManager(5, [1, 2]);
    await expect(fetchLocationSnapshot(m.nc, 'locus', {}, capture().log, { maxAttempts: 2 })).rejects.toThrow(/TIMEOUT/);
  });

  it('given an ok:false page, then listAllVms fails with the reply, without retrying', async () => {
    const nc = { request: async () => ({ data: new TextEncoder().encode('{"ok":false,"error":{"code":"BAD_REQUEST","message":"limit: too big"}}') }) };
    await expect(listAllVms(nc, 'locus', {}, { pageSize: 6000 })).rejects.toThrow(/vm.list: .*BAD_REQUEST/);
  });

  it('given no VMs, then one empty page ends the walk', async () => {
    const m = fakeManager(0);
    expect(await listAllVms(m.nc, 'locus')).toEqual([]);
    expect(m.calls).toHaveLength(1);
  });
});
