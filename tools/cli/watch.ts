import { DeliverPolicy, type NatsConnection } from 'nats';
import { clockTime } from './format';
import { MoveBoard, type ConvergenceTopology } from '@locus/domain';
import { renderBoard } from './watch-view';

export interface WatchOptions {
  prefix: string;
  stream: string;
  /** Replay the stream from this long ago (ms) before going live; undefined: live only (core subscription). */
  sinceMs?: number;
  /** Stop after this many ms (undefined: until Ctrl-C). */
  durationMs?: number;
  /** Force line output even on a terminal. */
  lines?: boolean;
  maxMoves: number;
  /** For the board's own convergence figures (topology.get); without it only the tracker's. */
  topology?: ConvergenceTopology;
  out?: NodeJS.WriteStream;
}

/**
 * `locus watch`: every event under `<prefix>.evt.>` and `<prefix>.live.>` folded into a table of recent moves that is
 * redrawn in place on a terminal (ANSI), or one line per transition when the output is not a
 * terminal (or with --lines).
 */
export async function watch(nc: NatsConnection, o: WatchOptions): Promise<void> {
  const out = o.out ?? process.stdout;
  const tty = !!out.isTTY && !o.lines;
  const board = new MoveBoard({ maxMoves: o.maxMoves, topology: o.topology });
  const title = `locus watch ${o.prefix}.evt.> ${o.prefix}.live.>`;
  let dirty = true;
  let stopped = false;
  const decoder = new TextDecoder();

  const onMessage = (subject: string, data: Uint8Array) => {
    let payload: unknown;
    try {
      payload = JSON.parse(decoder.decode(data));
    } catch {
      return;
    }
    const lines = board.apply(subject, payload);
    dirty = true;
    if (!tty && lines.length) {
      // the event's own time (replays with --since print when it happened, not when it was read)
      const p = payload as { recordedAt?: string; at?: string };
      const stamped = Date.parse(p.recordedAt ?? p.at ?? '');
      const when = Number.isFinite(stamped) && stamped <= Date.now() + 1000 ? stamped : Date.now();
      for (const l of lines) out.write(`${clockTime(when)}  ${l}\n`);
    }
  };

  const draw = () => {
    if (!tty || !dirty) return;
    dirty = false;
    const screen = renderBoard(board, { width: out.columns || 120, height: out.rows || 30, now: Date.now(), title });
    out.write(
      `\x1b[H${screen
        .split('\n')
        .map((l) => `${l}\x1b[K`)
        .join('\n')}\n\x1b[J`,
    );
  };

  let stop!: () => void;
  const done = new Promise<void>((resolve) => (stop = resolve));
  const finish = () => {
    if (stopped) return;
    stopped = true;
    stop();
  };
  process.once('SIGINT', finish);
  process.once('SIGTERM', finish);
  if (o.durationMs !== undefined) setTimeout(finish, o.durationMs).unref();

  if (tty) out.write('\x1b[?25l\x1b[2J');
  else out.write(`${clockTime(Date.now())}  watching ${o.prefix}.evt.> and ${o.prefix}.live.> (one line per step; Ctrl-C to stop)\n`);
  const timer = setInterval(() => {
    dirty = true; // ages change
    draw();
  }, 1000);
  const fast = setInterval(draw, 200);

  let close: () => Promise<void>;
  if (o.sinceMs !== undefined) {
    const js = nc.jetstream();
    const consumer = await js.consumers.get(o.stream, {
      filterSubjects: `${o.prefix}.evt.>`,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(Date.now() - o.sinceMs).toISOString(),
    });
    const messages = await consumer.consume();
    void (async () => {
      for await (const m of messages) onMessage(m.subject, m.data);
    })();
    // the stream replays the stored events; the planes' live steps are not stored: seen from now on
    const live = nc.subscribe(`${o.prefix}.live.>`, { callback: (err, m) => !err && onMessage(m.subject, m.data) });
    close = async () => {
      live.unsubscribe();
      await messages.close();
    };
  } else {
    // the stored events and the planes' live steps (registrations, routes advertised, ARP repairs), as they pass
    const subs = [`${o.prefix}.evt.>`, `${o.prefix}.live.>`].map((subject) => nc.subscribe(subject, { callback: (err, m) => !err && onMessage(m.subject, m.data) }));
    close = async () => subs.forEach((sub) => sub.unsubscribe());
  }
  draw();
  await done;
  clearInterval(timer);
  clearInterval(fast);
  await close();
  if (tty) {
    dirty = true;
    draw();
    out.write('\x1b[?25h');
  }
}
