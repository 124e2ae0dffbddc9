import type { DataSource } from 'typeorm';
import { hostStreamId, parseHostEvent } from '@locus/contracts';
import { hostDecider, type HostCommand } from '@locus/domain';
import { handleStreamCommand, MoveReadModel, type PgEventStore } from '@locus/eventstore';
import { useTestStore } from './support/store';

/**
 * The host stream through its decider (handleStreamCommand) against the real Postgres: a declared
 * failure is recorded once whoever declares it, concurrent writers included (the loser of the
 * expected-version race decides again and finds it done), and a recovery only after a failure.
 */
describe('host stream: decided, appended at the version read, decided again on a conflict', () => {
  let store: PgEventStore;
  let ds: DataSource;
  useTestStore((s) => ({ store, ds } = s));
  const meta = { correlationId: 'host:test', component: 'test', at: new Date(0).toISOString() };
  const run = (host: string, command: HostCommand) => handleStreamCommand(store, hostStreamId(host), hostDecider, parseHostEvent, command, meta);
  const declare = (host: string): HostCommand => ({ type: 'DeclareHostFailed', hypervisor: host, silentMs: 15000, vms: ['web-01'] });

  it('declared failed twice, then recovered twice: one HostDeclaredFailed and one HostRecovered', async () => {
    expect((await run('hv-a', declare('hv-a'))).events.map((e) => e.type)).toEqual(['HostDeclaredFailed']);
    expect((await run('hv-a', declare('hv-a'))).events).toEqual([]);
    expect((await run('hv-a', { type: 'RecordHostRecovered', hypervisor: 'hv-a' })).events.map((e) => e.type)).toEqual(['HostRecovered']);
    expect((await run('hv-a', { type: 'RecordHostRecovered', hypervisor: 'hv-a' })).events).toEqual([]);
    const { events } = await store.readStream(hostStreamId('hv-a'));
    expect(events.map((e) => [e.type, e.streamVersion])).toEqual([
      ['HostDeclaredFailed', 1],
      ['HostRecovered', 2],
    ]);
  });

  it('five writers declaring the same failure at once: one event, every writer answered', async () => {
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => run('hv-b', declare('hv-b'))));
    expect(results.flatMap((r) => r.events).map((e) => e.type)).toEqual(['HostDeclaredFailed']);
    expect(results.every((r) => r.state.status === 'failed')).toBe(true);
    expect((await store.readStream(hostStreamId('hv-b'))).version).toBe(1);
  });

  it('the read model answers the manager’s named queries on an empty database', async () => {
    const reads = new MoveReadModel(ds);
    expect(await reads.location('nobody')).toBeUndefined();
    expect(await reads.moveRequestContexts([{ vm: 'nobody', requestId: 'no-such-request', to: 'hv-a' }])).toEqual([{}]);
    expect(await reads.vmsOn('hv-a')).toEqual([]);
    expect(await reads.operatorMovesRunningFrom('hv-a')).toBe(0);
    expect(await reads.outboundQueueOf('hv-a', 5)).toEqual({ running: 0, queued: [] });
    expect(await reads.memoryCommittedMb('hv-a')).toBe(0);
    expect(await reads.vmCount()).toBe(0);
  });
});
