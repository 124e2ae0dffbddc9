import { randomUUID } from 'node:crypto';
import { headers, type NatsConnection } from 'nats';
import { HEADERS, subjects } from '@locus/contracts';
import { readStream } from './harness';

/** Plane events of one plane in the test's stream, in stream order. */
export async function planeEvents(nc: NatsConnection, stream: string, plane: 'route' | 'arp', vm?: string): Promise<any[]> {
  const all = await readStream(nc, stream);
  return all.map((m) => m.event).filter((e) => e?.plane === plane && (!vm || e.vm === vm));
}

/**
 * Publishes a synthetic VM event to the stream, as the outbox would (same headers), with
 * streamVersion 0 so the move saga (which only acts on the head of a VM's stream) ignores it.
 */
export async function publishSyntheticVmEvent(nc: NatsConnection, prefix: string, vm: string, type: string, data: Record<string, unknown>): Promise<string> {
  const id = randomUUID();
  const event = {
    id,
    streamId: `vm:${vm}`,
    streamVersion: 0,
    position: '0',
    type,
    data,
    metadata: { correlationId: id, component: 'test', at: new Date().toISOString() },
    recordedAt: new Date().toISOString(),
  };
  const h = headers();
  h.set(HEADERS.stream, event.streamId);
  h.set(HEADERS.type, type);
  await nc.jetstream().publish(subjects(prefix).vmEvent(vm, type), JSON.stringify(event), { msgID: id, headers: h });
  return id;
}
