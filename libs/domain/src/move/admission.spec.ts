import { admitRequest, freeOutboundSlots, FullQueueMemory, mayStartNow } from './admission';

const limits = { maxOutboundPerHost: 2, maxQueuedPerHost: 3 };

describe('admission of moves by their source host', () => {
  it('given an unknown VM (no host), when a move is requested, then admission has nothing to say: the request check answers', () => {
    expect(admitRequest(undefined, limits)).toEqual({ ok: true });
  });

  it('given a host with a free slot, when a move is requested, then it is accepted to start at once (no queue position)', () => {
    expect(admitRequest({ hypervisor: 'dc1-hv1', active: 1, waiting: 0 }, limits)).toEqual({ ok: true });
  });

  it('given a host whose slots are taken, when a move is requested, then it is accepted to wait, behind the moves already waiting', () => {
    expect(admitRequest({ hypervisor: 'dc1-hv1', active: 2, waiting: 2 }, limits)).toEqual({ ok: true, queuePosition: 3 });
  });

  it('given a host whose queue is full, when a move is requested, then UNAVAILABLE at once, saying what runs and waits', () => {
    expect(admitRequest({ hypervisor: 'dc1-hv1', active: 2, waiting: 3 }, limits)).toEqual({
      ok: false,
      code: 'UNAVAILABLE',
      message: 'dc1-hv1 already has 2 outbound moves running and 3 waiting (at most 3); retry later',
    });
  });

  it('given operator moves running, when the saga admits a queued move, then it starts only into a free slot; an HA restart always starts', () => {
    expect(freeOutboundSlots(0, 2)).toBe(2);
    expect(freeOutboundSlots(3, 2)).toBe(-1);
    expect(mayStartNow('operator', 1, 2)).toBe(true);
    expect(mayStartNow('operator', 2, 2)).toBe(false);
    expect(mayStartNow(undefined, 2, 2)).toBe(false);
    expect(mayStartNow('ha-restart', 5, 2)).toBe(true);
  });
});

describe('a host whose queue a read found full (FullQueueMemory)', () => {
  const full = { hypervisor: 'dc1-hv1', active: 2, waiting: 3 };

  it('given a read that found the queue full, when a move from that host is requested soon after, then it is refused from memory, saying how old the count is', () => {
    const memory = new FullQueueMemory(500);
    memory.observed(full, limits, 1_000);
    expect(memory.refusal('dc1-hv1', 1_040)).toEqual({ ok: false, code: 'UNAVAILABLE', message: 'dc1-hv1 had 2 outbound moves running and 3 waiting (at most 3) 40 ms ago; retry later' });
    expect(memory.refusal('dc1-hv2', 1_040)).toBeUndefined();
  });

  it('given a read that found room in the queue, when a move is requested, then nothing is remembered: the database decides', () => {
    const memory = new FullQueueMemory(500);
    memory.observed({ ...full, waiting: 2 }, limits, 1_000);
    expect(memory.refusal('dc1-hv1', 1_001)).toBeUndefined();
  });

  it('given a full queue remembered, when its age reaches the limit, then the database is asked again', () => {
    const memory = new FullQueueMemory(500);
    memory.observed(full, limits, 1_000);
    expect(memory.refusal('dc1-hv1', 1_499)).toBeDefined();
    expect(memory.refusal('dc1-hv1', 1_500)).toBeUndefined();
  });

  it('given a full queue remembered, when this process frees one of its slots, then the next request is asked of the database', () => {
    const memory = new FullQueueMemory(500);
    memory.observed(full, limits, 1_000);
    memory.freed('dc1-hv1', 1_010);
    expect(memory.refusal('dc1-hv1', 1_020)).toBeUndefined();
  });

  it('given a slot freed while a read was on its way, when that read reports the queue full, then it is not believed: it may count a move that has left', () => {
    const memory = new FullQueueMemory(500);
    memory.freed('dc1-hv1', 1_010);
    memory.observed(full, limits, 1_005);
    expect(memory.refusal('dc1-hv1', 1_020)).toBeUndefined();
    memory.observed(full, limits, 1_015);
    expect(memory.refusal('dc1-hv1', 1_020)).toBeDefined();
  });
});
