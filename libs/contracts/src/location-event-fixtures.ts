import type { LocationEvent } from './events';

/**
 * Example recorded location events, for the specs of the planes that follow them: each builder
 * returns the event as a feed hands it over (envelope, type, validated data).
 */
let built = 0;
/** Every event built gets its own id (consumers apply an event id once). */
const envelope = (vm: string, n: number) => ({
  id: `00000000-0000-4000-8000-${String(++built).padStart(12, '0')}`,
  streamId: `vm:${vm}`,
  streamVersion: n,
  position: String(n),
  metadata: { correlationId: 'c', component: 'spec', at: '2026-01-01T00:00:00.000Z' },
  recordedAt: '2026-01-01T00:00:00.000Z',
});
const moveId = '11111111-1111-4111-8111-111111111111';
const location = (site: string, hypervisor: string) => ({ site, hypervisor });

export const locationEventFixtures = {
  placed: (vm: string, site: string, hypervisor: string, ip = '10.1.0.10'): LocationEvent => ({
    ...envelope(vm, 1),
    type: 'VmPlaced',
    data: { vm, ip, mac: '02:00:0a:01:00:0a', l2Domain: 'dc1-vlan10', site, hypervisor, memoryMb: 1024, locationVersion: 1 },
  }),
  relocated: (vm: string, from: [site: string, hypervisor: string], to: [site: string, hypervisor: string], ip = '10.1.0.10', locationVersion = 2): LocationEvent => ({
    ...envelope(vm, 4),
    type: 'VmRelocated',
    data: { moveId, vm, ip, mac: '02:00:0a:01:00:0a', from: location(...from), to: location(...to), locationVersion, mode: 'cold' },
  }),
  startedAtTarget: (vm: string, hypervisor: string, locationVersion = 2): LocationEvent => ({
    ...envelope(vm, 5),
    type: 'VmStartedAtTarget',
    data: { moveId, hypervisor, locationVersion, durationMs: 0 },
  }),
  failed: (vm: string, restartAtSource = true): LocationEvent => ({
    ...envelope(vm, 5),
    type: 'MoveFailed',
    data: { moveId, code: 'AGENT_FAILED', message: 'boot failed', phase: 'boot', restartAtSource },
  }),
  reasserted: (vm: string, site: string, hypervisor: string, ip = '10.1.0.10'): LocationEvent => ({
    ...envelope(vm, 6),
    type: 'VmLocationReasserted',
    data: {
      repairId: moveId,
      vm,
      ip,
      mac: '02:00:0a:01:00:0a',
      site,
      hypervisor,
      locationVersion: 5,
      previousVersion: 2,
      findings: [{ kind: 'missing', hosts: [hypervisor], detail: 'spec' }],
      evict: [],
      start: true,
    },
  }),
};
