import type { JetStreamClient } from 'nats';
import type { Logger } from 'pino';
import { planeSubject, type PlaneEvent } from '@locus/contracts';
import { planeEventHeaders } from './trace';

/** The subject token of a plane event: the VM when known (so `evt.*.web-01.>` follows a VM across planes), else the EID. */
export function planeEntity(vm: string | undefined, eid: string | undefined): string {
  return vm ?? (eid ?? 'unknown').replace(/\./g, '-').replace('/', '_');
}

/**
 * Publishes network-plane facts (`PlaneEvent`) straight to the event stream, on
 * `<prefix>.evt.<plane>.<entity>.<type>` with `Nats-Msg-Id` = the event's id, so a repeat
 * inside the stream's duplicate window is dropped, and the move's correlation id and trace.
 * `publish` waits for the stream's ack (the route injector orders its facts by it); `emit` does
 * not hold up the caller (a plane event is a derived fact) and logs a failed publish; `flush`
 * waits for what was emitted.
 */
export class PlaneEventPublisher {
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly prefix: string,
    private readonly log?: Logger,
    private readonly timeoutMs = 5000,
  ) {}

  async publish(event: PlaneEvent, entity: string = planeEntity(event.vm, event.eid)): Promise<{ duplicate: boolean; seq: number }> {
    const subject = planeSubject(this.prefix, event.plane, entity, event.type);
    const ack = await this.js.publish(subject, JSON.stringify(event), { msgID: event.id, headers: planeEventHeaders(event), timeout: this.timeoutMs });
    return { duplicate: ack.duplicate, seq: ack.seq };
  }

  emit(event: PlaneEvent, entity?: string): void {
    const p: Promise<unknown> = this.publish(event, entity)
      .catch((err: Error) => this.log?.warn({ plane: event.plane, type: event.type, id: event.id, err: err.message }, 'could not publish plane event'))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}
