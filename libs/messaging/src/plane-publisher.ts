import type { JetStreamClient, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { isPlaneOutcomeType, planeSubject, type PlaneEvent } from '@locus/contracts';
import { planeEventHeaders } from './trace';

/** The subject token of a plane event: the VM when known (so `evt.*.web-01.>` and `live.*.web-01.>` follow a VM across planes), else the EID. */
export function planeEntity(vm: string | undefined, eid: string | undefined): string {
  return vm ?? (eid ?? 'unknown').replace(/\./g, '-').replace('/', '_');
}

/** A stream ack this slow is logged (a healthy one takes about a millisecond). */
export const SLOW_ACK_MS = 1000;

/**
 * Publishes network-plane facts (`PlaneEvent`). Outcomes (`PLANE_OUTCOME_TYPES`) go straight to
 * the event stream, on `<prefix>.evt.<plane>.<entity>.<type>` with `Nats-Msg-Id` = the event's id,
 * so a repeat inside the stream's duplicate window is dropped, and the move's correlation id and
 * trace. Steps go live on core NATS (`<prefix>.live.…`, same body and headers), not stored.
 * `publish` waits for the stream's ack of an outcome (the route injector orders its facts by it;
 * a step has none: it is written to the connection in call order, `seq` 0); `emit` does not hold
 * up the caller (a plane event is a derived fact) and logs a failed publish; `flush` waits for
 * what was emitted.
 */
export class PlaneEventPublisher {
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly js: JetStreamClient;

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly log?: Logger,
    private readonly timeoutMs = 5000,
    /** An ack slower than this is logged (ms). */
    private readonly slowAckMs = SLOW_ACK_MS,
  ) {
    this.js = nc.jetstream();
  }

  async publish(event: PlaneEvent, entity: string = planeEntity(event.vm, event.eid)): Promise<{ duplicate: boolean; seq: number }> {
    const subject = planeSubject(this.prefix, event.plane, entity, event.type);
    if (!isPlaneOutcomeType(event.type)) {
      this.nc.publish(subject, JSON.stringify(event), { headers: planeEventHeaders(event) });
      return { duplicate: false, seq: 0 };
    }
    const sentAt = performance.now();
    const ack = await this.js.publish(subject, JSON.stringify(event), { msgID: event.id, headers: planeEventHeaders(event), timeout: this.timeoutMs });
    const ackMs = performance.now() - sentAt;
    // The steps of a plane wait for these acks: a slow one is the wait of every event behind it.
    if (ackMs >= this.slowAckMs)
      this.log?.warn(
        { plane: event.plane, type: event.type, id: event.id, vm: event.vm, ackMs: Math.round(ackMs) },
        `the stream acknowledged ${event.type}${event.vm ? ` of ${event.vm}` : ''} after ${Math.round(ackMs)} ms`,
      );
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
    // the live steps left with nc.publish: flushed, they have reached the server
    await this.nc.flush().catch(() => undefined);
  }
}
