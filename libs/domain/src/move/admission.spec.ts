import { admitRequest, freeOutboundSlots, mayStartNow } from './admission';

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
