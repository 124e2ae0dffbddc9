import pino from 'pino';
import { Writable } from 'node:stream';
import { watchEventLoop } from './event-loop-watch';

function capturingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

/** A monotonic clock the test moves; `reads` counts the watch's looks at it (one at start, one per tick). */
function testClock() {
  const clock = { ms: 0, reads: 0, now: () => (clock.reads++, clock.ms) };
  return clock;
}

async function until(what: string, ok: () => boolean): Promise<void> {
  const giveUpAt = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > giveUpAt) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('watchEventLoop', () => {
  it('given a tick that comes 1.5 s after it was due, then one warning says the loop was blocked that long', async () => {
    const { logger, lines } = capturingLogger();
    const clock = testClock();
    const stop = watchEventLoop(logger, { everyMs: 5, thresholdMs: 1000, now: clock.now });
    try {
      await until('the first tick', () => clock.reads >= 2); // due at 5, fired at 0: on time
      clock.ms = 1505; // the next tick is due at 5: it comes 1,500 ms late
      await until('a warning', () => lines.length > 0);
      await until('two more ticks', () => clock.reads >= 5);
    } finally {
      stop();
    }
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, component: 'event-loop', blockedMs: 1500, msg: 'event loop blocked for 1500 ms: every request, event and timer of this process waited that long' }),
    ]);
  });

  it('given ticks later than due but below the threshold, then nothing is logged', async () => {
    const { logger, lines } = capturingLogger();
    const clock = testClock();
    const stop = watchEventLoop(logger, { everyMs: 5, thresholdMs: 1000, now: clock.now });
    try {
      await until('the first tick', () => clock.reads >= 2);
      clock.ms = 900; // 895 ms late: under the threshold
      await until('three more ticks', () => clock.reads >= 5);
    } finally {
      stop();
    }
    expect(lines).toEqual([]);
  });
});
