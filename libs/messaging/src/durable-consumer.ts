import { AckPolicy, ConsumerDebugEvents, ConsumerEvents, DeliverPolicy, nanos, type ConsumerInfo, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from 'nats';
import type { Logger } from 'pino';
import { EventRejected, HEADERS, type EventRejectReason } from '@locus/contracts';

export type Outcome = { ack: true } | { retryInMs: number; reason: string } | { drop: string };
export const ACK: Outcome = { ack: true };

export interface DurableConsumerOptions<E> {
  stream: string;
  durable: string;
  /** One subject filter (NATS 2.9 servers, as Debian ships, have no multi-filter consumers). */
  filterSubject: string;
  /** Handles one event; events of one key (the event's stream id) are handled one at a time, in order. */
  handle: (event: E, msg: JsMsg) => Promise<Outcome>;
  /**
   * Decodes and validates a message once (the contracts' `decode…From`): no handler sees unchecked
   * JSON. A message it throws for is dropped (terminated) and counted: by the reason of an
   * `EventRejected` (the schema, or a subject that is not the event's own), else as undecodable.
   */
  decode: (msg: JsMsg) => E;
  /**
   * Messages this consumer would act on nothing for, told by their headers alone (an event type it
   * does not follow, a version it is already past): acked before any decode. An event nobody acts
   * on needs no validation; one that says it is something the consumer does act on is decoded and
   * checked as ever.
   */
  skip?: (msg: JsMsg) => boolean;
  logger: Logger;
  ackWaitMs?: number;
  maxAckPending?: number;
  /** Where a consumer that does not exist yet starts: every message (default), or those stored from this time on. */
  startTime?: Date;
  /** Or from this stream sequence on (a follower that took a snapshot after the stream was at `startSeq - 1`). */
  startSeq?: number;
  /**
   * `each` (default): every message acked on its own (AckPolicy.Explicit). `cumulative`: one ack
   * covers every message up to it (AckPolicy.All), sent once every message before it is handled
   * (`CumulativeAcks`): a busy consumer sends a few acks a second instead of one per message. Only
   * for a consumer whose handlers fail for all messages alike (a database down), never for one
   * member's fault: a failed message holds back the acks of every message after it until its
   * redelivery succeeds (those come again after `ackWaitMs`; handlers must be idempotent), and at
   * `maxAckPending` delivery stops. A dropped message is not terminated (a term would ack
   * everything before it). A delivery the consumer did not see (a reconnect, messages left
   * pending by an earlier instance) stops its acks for good and calls `onMissedDelivery`.
   */
  acks?: 'each' | 'cumulative';
  /**
   * With cumulative acks: a delivery went missing, so an ack could cover a message nobody handled;
   * the consumer sends no ack any more. The owner starts a consumer afresh from a point it knows
   * (the convergence tracker: its resume point) and logs it. Without it, the miss is logged as an
   * error (and the consumer stalls once `maxAckPending` messages wait for an ack).
   */
  onMissedDelivery?: (detail: string) => void;
}

const PULL_EXPIRES_MS = 5000;
/** How long a cumulative consumer lets handled messages wait for their one covering ack. */
export const CUMULATIVE_ACK_EVERY_MS = 50;

/**
 * The acks of a consumer with AckPolicy.All. The server takes an ack of a message as the ack of
 * every message before it, even one waiting to be redelivered after a nak: so the one ack sent
 * covers the handled message with the highest stream sequence below every message still open
 * (delivered and not handled, or failed and waiting for its redelivery). That holds only if this
 * consumer saw every delivery: delivery sequences are consecutive for a consumer with one client,
 * so a gap (a delivery lost to a reconnect) or messages pending from before it started stop the
 * acks for good (`missed`) and its owner starts over from a point it knows.
 */
export class CumulativeAcks {
  /** Stream sequences delivered and not handled yet (a failed one stays until its redelivery is handled). */
  private readonly open = new Set<number>();
  /** Handled messages no ack has covered yet: the newest delivery of each stream sequence. */
  private readonly handledMsgs = new Map<number, JsMsg>();
  /** The stream sequence the last ack covered (everything up to it is acked on the server). */
  private ackedSeq = 0;
  /** The delivery sequence of that ack: the server ignores an AckAll at or below the last one it took. */
  private ackedDelivery = 0;
  private lastDelivery: number;
  private readonly everyMs: number;
  private timer?: NodeJS.Timeout;
  /** Why acks stopped (a missed delivery), if they did. */
  missed?: string;
  /** Acks sent (each covering every message up to it). */
  sent = 0;

  constructor(
    private readonly onMissed: (detail: string) => void,
    options: { everyMs?: number; deliveredBefore?: number; pendingBefore?: number } = {},
  ) {
    this.everyMs = options.everyMs ?? CUMULATIVE_ACK_EVERY_MS;
    this.lastDelivery = options.deliveredBefore ?? 0;
    if (options.pendingBefore) this.stopAcking(`${options.pendingBefore} messages were pending (delivered, not acked) when the consumer started`);
  }

  delivered(msg: JsMsg): void {
    const delivery = msg.info.deliverySequence;
    if (delivery !== this.lastDelivery + 1) this.stopAcking(`delivery ${this.lastDelivery + 1} never arrived (the next was ${delivery})`);
    this.lastDelivery = Math.max(this.lastDelivery, delivery);
    // A copy of a message acked already or handled here: nothing to wait for (a failed copy of it changes nothing).
    if (msg.seq <= this.ackedSeq || this.handledMsgs.has(msg.seq)) return;
    this.open.add(msg.seq);
  }

  handled(msg: JsMsg): void {
    this.open.delete(msg.seq);
    if (msg.seq <= this.ackedSeq) return;
    this.handledMsgs.set(msg.seq, msg);
    this.timer ??= setTimeout(() => this.flush(), this.everyMs);
  }

  /** Handled messages waiting for their covering ack. */
  get waiting(): number {
    return this.handledMsgs.size;
  }

  /** Sends the one ack the open messages allow now (none if the oldest message is still open, or after a missed delivery). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.missed) return;
    let floor = Infinity;
    for (const seq of this.open) if (seq < floor) floor = seq;
    let covering: JsMsg | undefined;
    for (const [seq, m] of this.handledMsgs) if (seq < floor && (!covering || seq > covering.seq)) covering = m;
    // Handled messages above an open one wait for it: its own handling schedules the next flush.
    // One whose delivery is older than the last ack's would be ignored: a later delivery covers it.
    if (!covering || covering.info.deliverySequence <= this.ackedDelivery) return;
    for (const seq of [...this.handledMsgs.keys()]) if (seq <= covering.seq) this.handledMsgs.delete(seq);
    covering.ack();
    this.ackedSeq = covering.seq;
    this.ackedDelivery = covering.info.deliverySequence;
    this.sent++;
  }

  stop(): void {
    this.flush();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private stopAcking(detail: string): void {
    if (this.missed) return;
    this.missed = detail;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.onMissed(detail);
  }
}

/**
 * A durable JetStream consumer, acking each message (or, with `acks: 'cumulative'`, many with one:
 * `CumulativeAcks`). Messages are dispatched concurrently across keys and serially within a key; a
 * handler that runs long keeps its message alive with `working()`, and a handler that throws gets
 * the message redelivered later.
 */
export class DurableConsumer<E> {
  readonly durable: string;
  private messages?: ConsumerMessages;
  private readonly chains = new Map<string, Promise<void>>();
  private loop?: Promise<void>;
  private readonly log: Logger;
  /** Set while the consumer acks cumulatively (AckPolicy.All on the server). */
  private cumulative?: CumulativeAcks;
  inFlight = 0;
  /** Messages handled, and dropped before any handler saw them, by reason. */
  readonly stats: { handled: number; skipped: number; dropped: Record<EventRejectReason, number> } = { handled: 0, skipped: 0, dropped: { undecodable: 0, 'wrong-source': 0 } };

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: DurableConsumerOptions<E>,
  ) {
    this.log = options.logger;
    this.durable = options.durable;
  }

  async start(): Promise<void> {
    const ackWaitMs = this.options.ackWaitMs ?? 30_000;
    const ackPolicy = this.options.acks === 'cumulative' ? AckPolicy.All : AckPolicy.Explicit;
    const config = {
      durable_name: this.options.durable,
      ack_policy: ackPolicy,
      ...startOf(this.options),
      filter_subject: this.options.filterSubject,
      ack_wait: nanos(ackWaitMs),
      max_ack_pending: this.options.maxAckPending ?? 1000,
      max_deliver: -1,
    };
    let existing: ConsumerInfo | undefined;
    try {
      existing = await this.jsm.consumers.info(this.options.stream, this.options.durable);
    } catch (err) {
      if (!/consumer not found/i.test((err as Error).message)) throw err;
    }
    if (!existing) await this.jsm.consumers.add(this.options.stream, config);
    else if (existing.config.ack_policy !== ackPolicy)
      // A server cannot change a consumer's ack policy, and neither way round is safe to ack with the other.
      throw new Error(
        `consumer ${this.options.durable} on ${this.options.stream} acks ${existing.config.ack_policy}, this code acks ${ackPolicy}: remove it (nats consumer rm ${this.options.stream} ${this.options.durable}, or start the lab with --fresh) and it is made again`,
      );
    else
      await this.jsm.consumers.update(this.options.stream, this.options.durable, {
        filter_subject: config.filter_subject,
        ack_wait: config.ack_wait,
        max_ack_pending: config.max_ack_pending,
      });
    if (ackPolicy === AckPolicy.All) {
      // The owner that starts over says so in its own words; without one, the consumer says it (it will stall at maxAckPending).
      const owner = this.options.onMissedDelivery;
      const onMissed =
        owner ??
        ((detail: string) => this.log.error({ durable: this.options.durable, detail }, 'a delivery was missed: this consumer sends no more acks (an ack could cover a message nobody handled)'));
      this.cumulative = new CumulativeAcks(onMissed, { deliveredBefore: existing?.delivered.consumer_seq ?? 0, pendingBefore: existing?.num_ack_pending ?? 0 });
    }
    const consumer = await this.js.consumers.get(this.options.stream, this.options.durable);
    // Pulls that expire in 5 s (nats.js: 30 s) and heartbeats every 2.5 s: when the consumer's leader
    // in a JetStream cluster dies, the pull it held is lost, and the client notices two missed
    // heartbeats and pulls again from the new leader; with the default that took ~30 s, moves idle.
    this.messages = await consumer.consume({ max_messages: 256, expires: PULL_EXPIRES_MS });
    void this.watchStatus(this.messages);
    const heartbeatMs = Math.max(100, Math.floor(ackWaitMs / 3));
    this.loop = (async () => {
      for await (const msg of this.messages!) {
        this.cumulative?.delivered(msg);
        const key = msg.headers?.get(HEADERS.stream) || msg.subject;
        const previous = this.chains.get(key) ?? Promise.resolve();
        const next = previous.then(() => this.dispatch(msg, heartbeatMs));
        this.chains.set(key, next);
        void next.finally(() => {
          if (this.chains.get(key) === next) this.chains.delete(key);
        });
      }
    })();
  }

  /**
   * What the client says about its pulls, in the log: a pull lost (heartbeats missed, so it pulls
   * again) is a pause of the whole consumer of up to two heartbeats, and without a line it looked
   * like a slow service. The server's other statuses (a pull ended with messages left, a reset) at debug.
   */
  private async watchStatus(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const s of await messages.status()) {
        const detail = { durable: this.options.durable, status: s.type, data: s.data };
        if (s.type === ConsumerEvents.HeartbeatsMissed) this.log.warn(detail, `consumer ${this.options.durable}: ${String(s.data)} heartbeats missed; pulling again`);
        else if (Object.values(ConsumerEvents).includes(s.type as ConsumerEvents)) this.log.warn(detail, `consumer ${this.options.durable}: ${s.type}`);
        else if (s.type !== ConsumerDebugEvents.Next) this.log.debug(detail, `consumer ${this.options.durable}: ${s.type}`);
      }
    } catch {
      // the messages closed
    }
  }

  /** What this consumer dropped before any handler saw it, by reason (for `locus_events_dropped_total`). */
  drops(): { durable: string; dropped: Readonly<Record<EventRejectReason, number>> } {
    return { durable: this.durable, dropped: this.stats.dropped };
  }

  async stop(): Promise<void> {
    await this.messages?.close();
    await this.loop?.catch(() => undefined);
    await Promise.allSettled([...this.chains.values()]);
    this.cumulative?.stop();
  }

  /** Acks sent, with cumulative acks (each covers every message before it); undefined with an ack per message. */
  get cumulativeAcks(): number | undefined {
    return this.cumulative?.sent;
  }

  private async dispatch(msg: JsMsg, heartbeatMs: number): Promise<void> {
    // Told by its headers alone, acked at once: no keep-alive timer for it.
    if (this.options.skip?.(msg)) {
      this.stats.skipped++;
      this.ack(msg);
      return;
    }
    this.inFlight++;
    const keepAlive = setInterval(() => msg.working(), heartbeatMs);
    try {
      let event: E;
      try {
        event = this.options.decode(msg);
      } catch (err) {
        const reason: EventRejectReason = err instanceof EventRejected ? err.reason : 'undecodable';
        this.stats.dropped[reason]++;
        this.log.error(
          { subject: msg.subject, seq: msg.seq, reason, err: (err as Error).message },
          reason === 'undecodable' ? 'undecodable message dropped' : 'message dropped: not from where it claims to be',
        );
        this.drop(msg);
        return;
      }
      this.stats.handled++;
      const outcome = await this.options.handle(event, msg);
      if ('ack' in outcome) this.ack(msg);
      else if ('drop' in outcome) {
        this.log.warn({ subject: msg.subject, reason: outcome.drop }, 'message dropped');
        this.drop(msg);
      } else {
        this.log.info({ subject: msg.subject, retryInMs: outcome.retryInMs, reason: outcome.reason, deliveries: msg.info.redeliveryCount }, 'will retry');
        this.retry(msg, outcome.retryInMs);
      }
    } catch (err) {
      const retryInMs = Math.min(10_000, 250 * 2 ** Math.min(msg.info.redeliveryCount, 6));
      this.log.warn({ subject: msg.subject, err: (err as Error).message, retryInMs }, 'handler failed; message will be redelivered');
      this.retry(msg, retryInMs);
    } finally {
      clearInterval(keepAlive);
      this.inFlight--;
    }
  }

  private ack(msg: JsMsg): void {
    if (this.cumulative) this.cumulative.handled(msg);
    else msg.ack();
  }

  /** Never redelivered: terminated, or with cumulative acks covered by the next ack (a term would ack everything before it). */
  private drop(msg: JsMsg): void {
    if (this.cumulative) this.cumulative.handled(msg);
    else msg.term();
  }

  /** Redelivered after `delayMs`; with cumulative acks it stays open meanwhile, so no ack passes it. */
  private retry(msg: JsMsg, delayMs: number): void {
    msg.nak(delayMs);
  }
}

function startOf(options: { startTime?: Date; startSeq?: number }): { deliver_policy: DeliverPolicy; opt_start_time?: string; opt_start_seq?: number } {
  if (options.startSeq !== undefined) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, options.startSeq) };
  if (options.startTime) return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: options.startTime.toISOString() };
  return { deliver_policy: DeliverPolicy.All };
}
