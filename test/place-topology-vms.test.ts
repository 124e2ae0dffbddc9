import type { DataSource } from 'typeorm';
import type { PgEventStore } from '@locus/eventstore';
import { parseTopology } from '@locus/topology';
import { generateTopology, renderTopologyYaml } from '@locus/topology';
import { placeTopologyVms } from '../apps/mobility-manager/src';
import { VmCommandService } from '../apps/mobility-manager/src';
import { capturingLogger } from './support/harness';
import { useTestStore } from './support/store';

describe('placing the topology at start (group commit)', () => {
  let ds: DataSource;
  let store: PgEventStore;
  const config = useTestStore((opened) => ({ ds, store } = opened));

  it('places 2,500 VMs in 3 transactions, leaves a VM already in the store where the log says, and places nothing on a second start', async () => {
    const { index } = parseTopology(renderTopologyYaml(generateTopology({ sites: 3, vms: 2500 }).topology), 'generated');
    const { logger, lines } = capturingLogger();
    const commands = new VmCommandService(store, logger);
    const known = index.topology.vms[1234];
    const elsewhere = index.topology.hypervisors.find((h) => h.name !== known.hypervisor && h.l2Domains.includes(known.l2Domain))!;
    await commands.execute(
      known.name,
      { type: 'PlaceVm', vm: known.name, ip: known.ip, mac: known.mac, l2Domain: known.l2Domain, memoryMb: known.memoryMb, location: { hypervisor: elsewhere.name, site: elsewhere.site } },
      { correlationId: 'test', component: 'test' },
    );

    expect(await placeTopologyVms(index, commands, logger, { chunkSize: 1000, progressEveryMs: 0 })).toBe(2499);
    const [counts] = await ds.query(
      `SELECT (SELECT count(*)::int FROM events) AS events, (SELECT count(DISTINCT xmin::text)::int FROM events) AS transactions,
              (SELECT count(*)::int FROM outbox) AS outbox, (SELECT count(*)::int FROM vm_location) AS locations`,
    );
    expect(counts).toEqual({ events: 2500, transactions: 4, outbox: 2500, locations: 2500 }); // 3 chunks + the VM placed before
    const location = async (vm: string) => (await ds.query(`SELECT hypervisor FROM vm_location WHERE name = $1`, [vm]))[0]?.hypervisor;
    expect(await location(known.name)).toBe(elsewhere.name);
    expect(await location(index.topology.vms[0].name)).toBe(index.topology.vms[0].hypervisor);
    const placedEvent = (await store.readStream(`vm:${index.topology.vms[2499].name}`)).events[0];
    expect(placedEvent).toMatchObject({ streamVersion: 1, type: 'VmPlaced', metadata: { correlationId: `seed:${index.topology.vms[2499].name}`, component: 'mobility-manager' } });

    const progress = lines().filter((l) => /^placing topology VMs/.test(l.msg));
    expect(progress.map((l) => l.checked)).toEqual([1000, 2000]);
    expect(lines().find((l) => /^placed 2499 new VMs from the topology \(1 already known\) in [\d.]+ s$/.test(l.msg))).toMatchObject({ placed: 2499, known: 1 });

    expect(await placeTopologyVms(index, commands, logger)).toBe(0);
    expect((await ds.query(`SELECT count(*)::int AS n FROM events`))[0].n).toBe(2500);
    expect(await location(known.name)).toBe(elsewhere.name);
  });

  it('a VM whose stream moves on between the read and the batch is decided again alone', async () => {
    const { index } = parseTopology(renderTopologyYaml(generateTopology({ sites: 2, vms: 3, name: 'race' }).topology), 'generated');
    const { logger } = capturingLogger();
    const commands = new VmCommandService(store, logger);
    const [a, b] = index.topology.vms.map((vm) => ({
      vm: `race-${vm.name}`,
      command: {
        type: 'PlaceVm' as const,
        vm: `race-${vm.name}`,
        ip: vm.ip.replace(/^10\./, '172.'),
        mac: vm.mac.replace(/^52:54/, '52:55'),
        l2Domain: vm.l2Domain,
        memoryMb: vm.memoryMb,
        location: { hypervisor: vm.hypervisor, site: 's01' },
      },
      ctx: { correlationId: 'race', component: 'test' },
    }));
    // b is placed by someone else after executeMany read the streams: its append conflicts, execute finds it placed.
    const readStreams = store.readStreams.bind(store);
    const spy = jest.spyOn(store, 'readStreams').mockImplementationOnce(async (ids) => {
      const read = await readStreams(ids);
      await commands.execute(b.vm, b.command, b.ctx);
      return read;
    });
    try {
      const outcomes = await commands.executeMany([a, b]);
      expect(outcomes.map((o) => [o.vm, o.events.length, o.error])).toEqual([
        [a.vm, 1, undefined],
        [b.vm, 0, undefined],
      ]);
      expect((await store.readStream(`vm:${b.vm}`)).version).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });
});
