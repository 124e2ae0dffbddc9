import type { JetStreamClient } from 'nats';
import { planeSubject, type PlaneEvent } from '@locus/contracts';
import { planeEventHeaders } from './trace';

/**
 * Publishes network-plane facts (`PlaneEvent`) straight to the event stream, on
 * `<prefix>.evt.<plane>.<entity>.<type>` with `Nats-Msg-Id` = the event's id, so a repeat
 * inside the stream's duplicate window is dropped, and the move's correlation id and trace.
 */
export class PlaneEventPublisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly prefix: string,
    private readonly timeoutMs = 5000,
  ) {}

  async publish(event: PlaneEvent, entity: string = event.vm ?? 'none'): Promise<{ duplicate: boolean; seq: number }> {
    const subject = planeSubject(this.prefix, event.plane, entity, event.type);
    const ack = await this.js.publish(subject, JSON.stringify(event), { msgID: event.id, headers: planeEventHeaders(event), timeout: this.timeoutMs });
    return { duplicate: ack.duplicate, seq: ack.seq };
  }
}
