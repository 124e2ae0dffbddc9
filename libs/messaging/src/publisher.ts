import { headers, type JetStreamClient } from 'nats';
import { HEADERS, type RecordedEvent } from '@locus/contracts';
import type { OutboxPublisher } from '@locus/eventstore';
import { traceparent } from './trace';

/** Publishes an outbox event to JetStream with `Nats-Msg-Id` = event id and tracing headers. */
export class JetStreamOutboxPublisher implements OutboxPublisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly timeoutMs = 5000,
  ) {}

  async publish(subject: string, event: RecordedEvent): Promise<{ duplicate: boolean }> {
    const h = headers();
    h.set(HEADERS.stream, event.streamId);
    h.set(HEADERS.streamVersion, String(event.streamVersion));
    h.set(HEADERS.position, event.position);
    h.set(HEADERS.type, event.type);
    h.set(HEADERS.correlationId, event.metadata.correlationId);
    if (event.metadata.causationId) h.set(HEADERS.causationId, event.metadata.causationId);
    h.set(HEADERS.traceparent, traceparent(event.metadata.correlationId, event.id));
    const ack = await this.js.publish(subject, JSON.stringify(event), { msgID: event.id, headers: h, timeout: this.timeoutMs });
    return { duplicate: ack.duplicate };
  }
}
