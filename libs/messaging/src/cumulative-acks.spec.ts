import type { JsMsg } from 'nats';
import { CumulativeAcks } from './durable-consumer';

/** A delivered message that records the acks sent on it. */
function message(seq: number, acked: number[]): JsMsg {
  return { seq, ack: () => void acked.push(seq) } as unknown as JsMsg;
}

describe('cumulative acks (AckPolicy.All): one ack covers every handled message, never an open one', () => {
  it('given messages handled in order, when the acks flush, then one ack is sent, on the last of them', () => {
    const acked: number[] = [];
    const acks = new CumulativeAcks();
    const msgs = [1, 2, 3, 4].map((seq) => message(seq, acked));
    for (const m of msgs) acks.delivered(m);
    for (const m of msgs) acks.handled(m);
    acks.flush();
    expect(acked).toEqual([4]);
    expect(acks.waiting).toBe(0);
    acks.stop();
  });

  it('given the oldest message still open, when the later ones are handled and the acks flush, then nothing is acked until it is handled', () => {
    const acked: number[] = [];
    const acks = new CumulativeAcks();
    const [m1, m2, m3] = [1, 2, 3].map((seq) => message(seq, acked));
    for (const m of [m1, m2, m3]) acks.delivered(m);
    acks.handled(m2);
    acks.handled(m3);
    acks.flush();
    expect(acked).toEqual([]);
    expect(acks.waiting).toBe(2);
    acks.handled(m1);
    acks.flush();
    expect(acked).toEqual([3]);
    acks.stop();
  });

  it('given a failed message (it stays open), when the others are handled, then the ack stops below it until its redelivery is handled', () => {
    const acked: number[] = [];
    const acks = new CumulativeAcks();
    const msgs = [10, 11, 12, 13].map((seq) => message(seq, acked));
    for (const m of msgs) acks.delivered(m);
    // 12 fails: no handled() for it; the server redelivers it later.
    for (const m of [msgs[0], msgs[1], msgs[3]]) acks.handled(m);
    acks.flush();
    expect(acked).toEqual([11]);
    const again = message(12, acked);
    acks.delivered(again);
    acks.handled(again);
    acks.flush();
    expect(acked).toEqual([11, 13]);
    acks.stop();
  });

  it('given a redelivered copy of a message already covered, when it is handled again, then acking it is harmless and nothing waits', () => {
    const acked: number[] = [];
    const acks = new CumulativeAcks();
    const m5 = message(5, acked);
    acks.delivered(m5);
    acks.handled(m5);
    acks.flush();
    const copy = message(5, acked);
    acks.delivered(copy);
    acks.handled(copy);
    acks.flush();
    expect(acked).toEqual([5, 5]);
    expect(acks.waiting).toBe(0);
    acks.stop();
  });

  it('given handled messages, when time passes, then the flush comes on its own within the interval', async () => {
    const acked: number[] = [];
    const acks = new CumulativeAcks(5);
    const m = message(7, acked);
    acks.delivered(m);
    acks.handled(m);
    expect(acked).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(acked).toEqual([7]);
    expect(acks.sent).toBe(1);
    acks.stop();
  });
});
