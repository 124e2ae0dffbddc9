import type { JetStreamClient } from 'nats';
import type { Logger } from 'pino';
import { planeSubject, type PlaneEvent } from '@locus/contracts';
import { planeEventHeaders } from '@locus/messaging';

/** The subject token of a map plane event: the VM when known (so `evt.*.web-01.>` follows a VM across planes), else the EID. */
export function mapEntity(vm: string | undefined, eid: string | undefined): string {
  return vm ?? (eid ?? 'unknown').replace(/\./g, '-').replace('/', '_');
}

/**
 * Publishes map plane events to the event stream (`<prefix>.evt.map.<vm>.<type>`, msg id = event id,
 * so a repeat inside the duplicate window is dropped). Fire and forget: a plane event is a derived
 * fact and never holds up the mapping; a failed publish is logged.
 */
export class PlanePublisher {
  private inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  publish(event: PlaneEvent): void {
    const subject = planeSubject(this.prefix, event.plane, mapEntity(event.vm, event.eid), event.type);
    const p = this.js
      .publish(subject, JSON.stringify(event), { msgID: event.id, headers: planeEventHeaders(event), timeout: 5000 })
      .catch((err: Error) => this.log.warn({ subject, id: event.id, err: err.message }, 'could not publish plane event'))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}
