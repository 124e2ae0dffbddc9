import { headers } from 'nats';
import { HEADERS } from '@locus/contracts';
import { eventually, readStream, startTestLab, type TestLab } from './support/harness';

/**
 * Consumers are idempotent: a redelivered or duplicated event changes nothing twice, and an
 * event older than what a consumer already applied is ignored and logged.
 */
describe('consumers under redelivery', () => {
  let lab: TestLab;
  let moveId: string;
  beforeAll(async () => {
    lab = await startTestLab();
    const accepted = await lab.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
    moveId = accepted.moveId;
    await lab.waitForMove(moveId);
    await lab.manager.relay.drained();
  });
  afterAll(async () => {
    await lab.stop();
  });

  /** Publishes a stored event again under a fresh message id, so JetStream keeps it and consumers see it twice. */
  async function republish(type: string, vm = 'web-01') {
    const msgs = await readStream(lab.client, lab.config.streamName);
    const original = msgs.find((m) => m.event.type === type && m.event.streamId === `vm:${vm}`)!;
    const h = headers();
    h.set(HEADERS.stream, original.event.streamId);
    await lab.client.jetstream().publish(original.subject, JSON.stringify(original.event), { msgID: `replay-${original.msgId}-${Date.now()}`, headers: h });
    return original.event;
  }

  async function consumersIdle() {
    const jsm = await lab.client.jetstreamManager();
    await eventually(
      async () => {
        // The saga, and the one location feed of the agents' process (every agent's events go through it).
        const names = ['mobility-move-saga', lab.agents.host.feedDurable];
        const infos = await Promise.all(names.map((n) => jsm.consumers.info(lab.config.streamName, n)));
        return infos.every((i) => i.num_pending === 0 && i.num_ack_pending === 0);
      },
      10_000,
      'consumers to catch up',
    );
  }

  it('a duplicated MoveAccepted of a finished move makes the saga do nothing', async () => {
    const before = await lab.eventCount();
    await republish('MoveAccepted');
    await consumersIdle();
    expect(await lab.eventCount()).toBe(before);
    expect((await lab.req('move.get', { moveId })).move.state).toBe('completed');
  });

  it('a duplicated VmStoppedAtSource does not stop anything again nor append', async () => {
    const before = await lab.eventCount();
    await republish('VmStoppedAtSource');
    await consumersIdle();
    expect(await lab.eventCount()).toBe(before);
    expect(lab.agents.host.agent('dc2-hv1')!.inventory.vms.get('web-01')).toEqual({ state: 'running', locationVersion: 2 });
  });

  it('a duplicated VmRelocated changes no agent inventory', async () => {
    const target = lab.agents.host.agent('dc2-hv1')!;
    const source = lab.agents.host.agent('dc1-hv1')!;
    const snapshot = () => JSON.stringify([[...target.inventory.vms], [...source.inventory.vms], [...target.inventory.seen], [...source.inventory.seen]]);
    const before = snapshot();
    await republish('VmRelocated');
    await consumersIdle();
    expect(snapshot()).toBe(before);
  });

  it('an older location event (VmPlaced at version 1 after the move to version 2) is ignored and logged', async () => {
    await republish('VmPlaced');
    await consumersIdle();
    // The source must not take the VM back; the target keeps it at version 2.
    expect(lab.agents.host.agent('dc1-hv1')!.inventory.vms.has('web-01')).toBe(false);
    expect(lab.agents.host.agent('dc2-hv1')!.inventory.vms.get('web-01')).toEqual({ state: 'running', locationVersion: 2 });
    const line = lab.logs().find((l) => /ignored stale location event/.test(l.msg) && l.vm === 'web-01');
    expect(line).toMatchObject({ component: 'agent:dc1-hv1', locationVersion: 1, seen: 2 });
  });

  it('a fenced agent refuses to start the VM for an older location version', async () => {
    const reply = await lab.client
      .request(`${lab.config.subjectPrefix}.agent.dc1-hv1.start`, JSON.stringify({ moveId, vm: 'web-01', locationVersion: 1 }), { timeout: 5000 })
      .then((m) => m.json<any>());
    expect(reply).toMatchObject({ ok: false, error: { code: 'FENCED' } });
    expect(lab.agents.host.agent('dc1-hv1')!.inventory.vms.has('web-01')).toBe(false);
  });
});
