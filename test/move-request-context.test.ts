import { MoveReadModel } from '@locus/eventstore';
import { startTestLab, type TestLab } from './support/harness';

/**
 * What `vm.move` reads before it decides, for many requests in one statement (the group read of the
 * handler), against the lab's real location database: each request's own facts in the order asked,
 * the memory committed on its target only when it names one and its host's queue has room, and an
 * earlier request's move by its requestId.
 */
describe('vm.move request context: many requests, one query', () => {
  let lab: TestLab;
  let reads: MoveReadModel;
  beforeAll(async () => {
    lab = await startTestLab();
    reads = new MoveReadModel(lab.manager.dataSource);
  });
  afterAll(async () => {
    await lab.stop();
  });

  it('answers each request in the order asked, with the target memory planning needs only where the queue has room', async () => {
    const [web01, web02] = await Promise.all(['web-01', 'web-02'].map((vm) => reads.location(vm)));
    const contexts = await reads.moveRequestContexts(
      [
        { vm: 'web-02', to: 'dc2-hv1' },
        { vm: 'nobody', to: 'dc2-hv1' },
        { vm: 'web-01', requestId: 'ctx-no-such-request' },
        { vm: 'web-01', to: 'cloud-hv1' },
      ],
      64,
    );
    expect(contexts).toHaveLength(4);
    expect(contexts[0].host).toMatchObject({ name: 'web-02', hypervisor: web02!.hypervisor, site: web02!.site, active: 0, waiting: 0 });
    expect(contexts[0].targetUsedMb).toBe(await reads.memoryCommittedMb('dc2-hv1', 'web-02'));
    expect(contexts[1]).toEqual({}); // an unknown VM: nothing, not even the target's memory
    expect(contexts[2]).toEqual({ host: expect.objectContaining({ name: 'web-01', hypervisor: web01!.hypervisor }) }); // no target named: no sum
    expect(contexts[3].targetUsedMb).toBe(await reads.memoryCommittedMb('cloud-hv1', 'web-01'));
    expect(contexts[3].targetUsedMb).toBeGreaterThan(0);

    // A host whose queue is full (no room: at most 0 waiting) is refused before planning: no sum for it.
    const [full] = await reads.moveRequestContexts([{ vm: 'web-02', to: 'dc2-hv1' }], 0);
    expect(full.host?.name).toBe('web-02');
    expect(full).not.toHaveProperty('targetUsedMb');
  });

  it('finds the move an earlier request made by its requestId', async () => {
    const accepted = await lab.req('vm.move', { vm: 'cache-01', to: 'dc2-hv2', mode: 'cold', requestId: 'ctx-request-1' });
    expect(accepted).toMatchObject({ ok: true });
    const [again, other] = await reads.moveRequestContexts([
      { vm: 'cache-01', requestId: 'ctx-request-1', to: 'dc2-hv2' },
      { vm: 'cache-01', requestId: 'ctx-request-2' },
    ]);
    expect(again.requested).toMatchObject({ moveId: accepted.moveId, vm: 'cache-01' });
    expect(other.requested).toBeUndefined();
    await lab.waitForMove(accepted.moveId, ['completed']);
  });
});
