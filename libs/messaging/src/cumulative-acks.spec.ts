import type { JsMsg } from 'nats';
import { CumulativeAcks } from './durable-consumer';

/** A delivery of stream sequence `seq` as delivery number `delivery`, recording the acks sent on it. */
function delivery(seq: number, delivery: number, acked: number[]): JsMsg {
  return { seq, info: { deliverySequence: delivery }, ack: () => void acked.push(seq) } as unknown as JsMsg;
}

/** Acks with a recorder of missed deliveries; flushed by hand (the timer is left to the last case). */
function acksRecording(options: { deliveredBefore?: number; pendingBefore?: number } = {}) {
  const missed: string[] = [];
  const acks = new CumulativeAcks((detail) => void missed.push(detail), { everyMs: 60_000, ...options });
  return { acks, missed };
}

describe('cumulative acks (AckPolicy.All): one ack covers every handled message, never one open or unseen', () => {
  it('given messages handled in order, when the acks flush, then one ack is sent, on the last of them', () => {
    const acked: number[] = [];
    const { acks, missed } = acksRecording();
    const msgs = [1, 2, 3, 4].map((seq) => delivery(seq, seq, acked));
    for (const m of msgs) acks.delivered(m);
    for (const m of msgs) acks.handled(m);
    acks.flush();
    expect(acked).toEqual([4]);
    expect(acks.waiting).toBe(0);
    expect(missed).toEqual([]);
    acks.stop();
  });

  it('given the oldest message still open, when the later ones are handled and the acks flush, then nothing is acked until it is handled', () => {
    const acked: number[] = [];
    const { acks } = acksRecording();
    const [m1, m2, m3] = [1, 2, 3].map((seq) => delivery(seq, seq, acked));
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
    const { acks } = acksRecording();
    const msgs = [10, 11, 12, 13].map((seq, i) => delivery(seq, i + 1, acked));
    for (const m of msgs) acks.delivered(m);
    // 12 fails: no handled() for it; the server delivers it again later, as delivery 5.
    for (const m of [msgs[0], msgs[1], msgs[3]]) acks.handled(m);
    acks.flush();
    expect(acked).toEqual([11]);
    const again = delivery(12, 5, acked);
    acks.delivered(again);
    acks.handled(again);
    acks.flush();
    expect(acked).toEqual([11, 13]);
    acks.stop();
  });

  it('given a message handled and covered, when a copy of it comes again and fails, then it holds nothing back', () => {
    const acked: number[] = [];
    const { acks } = acksRecording();
    const m5 = delivery(5, 1, acked);
    acks.delivered(m5);
    acks.handled(m5);
    acks.flush();
    acks.delivered(delivery(5, 2, acked)); // a copy, delivered again; its handler fails: no handled()
    const m6 = delivery(6, 3, acked);
    acks.delivered(m6);
    acks.handled(m6);
    acks.flush();
    expect(acked).toEqual([5, 6]);
    acks.stop();
  });

  it('given a message handled but not yet covered, when a copy of it comes again and fails, then the ack still covers it', () => {
    const acked: number[] = [];
    const { acks } = acksRecording();
    const msgs = [1, 2, 3].map((seq) => delivery(seq, seq, acked));
    for (const m of msgs) acks.delivered(m);
    for (const m of msgs) acks.handled(m);
    acks.delivered(delivery(2, 4, acked)); // a copy of 2 (its ack wait ran out); it fails: no handled()
    acks.flush();
    expect(acked).toEqual([3]);
    acks.stop();
  });

  it('given a delivery that never arrived (a reconnect lost it), when later ones are handled, then no ack is sent any more and the owner is told once', () => {
    const acked: number[] = [];
    const { acks, missed } = acksRecording();
    acks.delivered(delivery(1, 1, acked));
    acks.handled(delivery(1, 1, acked));
    acks.flush();
    // delivery 2 (stream sequence 2) is lost; 3 and 4 arrive as deliveries 3 and 4
    for (const seq of [3, 4]) {
      acks.delivered(delivery(seq, seq, acked));
      acks.handled(delivery(seq, seq, acked));
    }
    acks.flush();
    acks.stop();
    expect(acked).toEqual([1]);
    expect(missed).toEqual(['delivery 2 never arrived (the next was 3)']);
    expect(acks.missed).toBeDefined();
  });

  it('given messages pending from an earlier consumer of the durable, when it starts, then it never acks (it cannot know which they are)', () => {
    const acked: number[] = [];
    const { acks, missed } = acksRecording({ deliveredBefore: 7, pendingBefore: 2 });
    acks.delivered(delivery(8, 8, acked));
    acks.handled(delivery(8, 8, acked));
    acks.flush();
    expect(acked).toEqual([]);
    expect(missed).toEqual(['2 messages were pending (delivered, not acked) when the consumer started']);
  });

  it('given a durable that delivered before, when the next delivery follows on, then nothing is missed', () => {
    const acked: number[] = [];
    const { acks, missed } = acksRecording({ deliveredBefore: 7 });
    acks.delivered(delivery(20, 8, acked));
    acks.handled(delivery(20, 8, acked));
    acks.flush();
    expect(acked).toEqual([20]);
    expect(missed).toEqual([]);
  });

  it('given the covering message delivered before the last ack (an older delivery), when the acks flush, then it waits for a later delivery (the server would ignore it)', () => {
    const acked: number[] = [];
    const { acks } = acksRecording();
    const [m1, m2, m3] = [1, 2, 3].map((seq) => delivery(seq, seq, acked));
    for (const m of [m1, m2, m3]) acks.delivered(m);
    acks.handled(m3); // 1 fails, 2 is still being handled
    const m1again = delivery(1, 4, acked);
    acks.delivered(m1again);
    acks.handled(m1again);
    acks.flush(); // covers 1 with delivery 4
    expect(acked).toEqual([1]);
    acks.handled(m2);
    acks.flush(); // 3 is covered by delivery 3, older than 4: not sent
    expect(acked).toEqual([1]);
    const m4 = delivery(4, 5, acked);
    acks.delivered(m4);
    acks.handled(m4);
    acks.flush();
    expect(acked).toEqual([1, 4]);
    expect(acks.waiting).toBe(0);
    acks.stop();
  });

  it('given handled messages, when time passes, then the flush comes on its own within the interval', async () => {
    const acked: number[] = [];
    const acks = new CumulativeAcks(() => undefined, { everyMs: 5 });
    const m = delivery(7, 1, acked);
    acks.delivered(m);
    acks.handled(m);
    expect(acked).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(acked).toEqual([7]);
    expect(acks.sent).toBe(1);
    acks.stop();
  });
});
