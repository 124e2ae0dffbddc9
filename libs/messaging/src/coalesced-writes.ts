import { NodeTransport } from 'nats/lib/src/node_transport';

/**
 * nats.js writes what one microtask queued as one socket write, so a service that publishes, acks
 * and requests between awaits makes one write(2) per message: a CPU profile of the one-process lab
 * put ~30 % of its time in socket writes. This holds the frames of one event-loop turn and writes
 * them as one (`setImmediate`), in order; a closing transport writes what it holds first. Applied
 * once per process, to every connection (nats 2.29's Node transport; the version is pinned).
 */
export function coalesceNatsWrites(): void {
  const proto = NodeTransport.prototype as unknown as CoalescingTransport;
  if (proto.__coalescing) return;
  proto.__coalescing = true;
  const write = proto._send;
  const closed = proto._closed;
  proto.send = function (this: CoalescingTransport, frame: Uint8Array) {
    if (!this.__held) {
      this.__held = [];
      setImmediate(() => this.__writeHeld());
    }
    this.__held.push(frame);
  };
  proto.__writeHeld = function (this: CoalescingTransport) {
    const held = this.__held;
    this.__held = undefined;
    if (!held?.length) return;
    // Write errors are ignored as nats.js does: a broken socket shows on read or by the heartbeat.
    write.call(this, held.length === 1 ? held[0] : Buffer.concat(held)).catch(() => undefined);
  };
  proto._closed = function (this: CoalescingTransport, ...args: unknown[]) {
    this.__writeHeld();
    return closed.apply(this, args);
  };
}

interface CoalescingTransport {
  __coalescing?: boolean;
  __held?: Uint8Array[];
  __writeHeld(): void;
  send(frame: Uint8Array): void;
  _send(frame: Uint8Array): Promise<void>;
  _closed(...args: unknown[]): Promise<void>;
}
