import { randomUUID } from 'node:crypto';
import { headers, type NatsConnection } from 'nats';
import { HEADERS, subjects } from '@locus/contracts';

const recorded = new WeakMap<NatsConnection, { subject: string; event: any }[]>();

/**
 * Records every plane fact on this connection from now on, in arrival order: the stored outcomes
 * (`<prefix>.evt.<plane>.>`) and the live steps (`<prefix>.live.>`, core NATS only: not in the
 * stream, so a test must be subscribed before they happen). `startTestLab` starts one on its client.
 */
export function recordPlaneFacts(nc: NatsConnection, prefix: string): void {
  const list: { subject: string; event: any }[] = [];
  recorded.set(nc, list);
  const decoder = new TextDecoder();
  for (const subject of [`${prefix}.evt.map.>`, `${prefix}.evt.route.>`, `${prefix}.evt.arp.>`, `${prefix}.live.>`])
    nc.subscribe(subject, { callback: (err, m) => !err && list.push({ subject: m.subject, event: JSON.parse(decoder.decode(m.data)) }) });
}

/** Plane facts recorded on this connection (outcomes and live steps), in arrival order, optionally of one plane. */
export async function recordedPlaneFacts(nc: NatsConnection, plane?: 'map' | 'route' | 'arp'): Promise<{ subject: string; event: any }[]> {
  const list = recorded.get(nc);
  if (!list) throw new Error('no plane facts recorded on this connection (recordPlaneFacts)');
  await nc.flush();
  return list.filter((m) => !plane || m.event?.plane === plane);
}

/** Plane events of one plane the test's client saw (stored outcomes and live steps), in arrival order. */
export async function planeEvents(nc: NatsConnection, _stream: string, plane: 'route' | 'arp', vm?: string): Promise<any[]> {
  return (await recordedPlaneFacts(nc, plane)).map((m) => m.event).filter((e) => !vm || e.vm === vm);
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
