import { AckPolicy, DeliverPolicy, nanos, type ConsumerInfo, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from 'nats';
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
   * (`CumulativeAcks`): a busy consumer sends a few acks a second instead of one per message. For
   * handlers that succeed or throw: a failed message holds back the acks of those after it until
   * its redelivery succeeds (they are redelivered after `ackWaitMs` meanwhile, so handlers must be
   * idempotent), and a dropped one is not terminated (a term would ack everything before it).
   */
  acks?: 'each' | 'cumulative';
}

const PULL_EXPIRES_MS = 5000;
/** How long a cumulative consumer lets handled messages wait for their one covering ack. */
export const CUMULATIVE_ACK_EVERY_MS = 50;

/**
 * The ack floor of a consumer with AckPolicy.All, kept from the messages it holds: a message is
 * open from its delivery until it is handled (a failed one stays open until its redelivery is
 * handled), and the one ack sent covers the handled message with the highest stream sequence
 * below every open one. The server would ack everything below an ack, including a message waiting
 * to be redelivered: so the ack never passes an open message.
 */
export class CumulativeAcks {
  /** Stream sequences delivered and not handled yet. */
  private readonly open = new Set<number>();
  /** Handled messages no ack has covered yet. */
  private handledMsgs: JsMsg[] = [];
  private timer?: NodeJS.Timeout;
  /** Acks sent (each covering every message up to it). */
  sent = 0;

  constructor(private readonly everyMs = CUMULATIVE_ACK_EVERY_MS) {}

  delivered(msg: JsMsg): void {
    this.open.add(msg.seq);
  }

  handled(msg: JsMsg): void {
    this.open.delete(msg.seq);
    this.handledMsgs.push(msg);
    this.timer ??= setTimeout(() => this.flush(), this.everyMs);
  }

  /** Handled messages waiting for their covering ack. */
  get waiting(): number {
    return this.handledMsgs.length;
  }

  /** Sends the one ack the open messages allow now (none if the oldest message is still open). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    let floor = Infinity;
    for (const seq of this.open) if (seq < floor) floor = seq;
    let covering: JsMsg | undefined;
    const kept: JsMsg[] = [];
    for (const m of this.handledMsgs) {
      if (m.seq >= floor) kept.push(m);
      else if (!covering || m.seq > covering.seq) covering = m;
    }
    this.handledMsgs = kept;
    // Handled messages above an open one wait for it: its own handling schedules the next flush.
    if (covering) {
      covering.ack();
      this.sent++;
    }
  }

  stop(): void {
    this.flush();
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * A durable JetStream consumer with explicit acks. Messages are dispatched concurrently across
 * keys and serially within a key; a handler that runs long keeps its message alive with
 * `working()`, and a handler that throws gets the message redelivered later.
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
    else if (existing.config.ack_policy !== ackPolicy) {
      // A server cannot change a consumer's ack policy: the durable is made again where it was,
      // just after its ack floor (what was delivered and not acked comes again; handlers are idempotent).
      const from = existing.ack_floor.stream_seq + 1;
      await this.jsm.consumers.delete(this.options.stream, this.options.durable);
      await this.jsm.consumers.add(this.options.stream, { ...config, ...startOf({ startSeq: from }) });
      this.log.info({ durable: this.options.durable, from: existing.config.ack_policy, to: ackPolicy, startSeq: from }, 'consumer made again with its new ack policy, from just after its ack floor');
    } else {
      await this.jsm.consumers.update(this.options.stream, this.options.durable, {
        filter_subject: config.filter_subject,
        ack_wait: config.ack_wait,
        max_ack_pending: config.max_ack_pending,
      });
    }
    if (ackPolicy === AckPolicy.All) this.cumulative = new CumulativeAcks();
    const consumer = await this.js.consumers.get(this.options.stream, this.options.durable);
    // Pulls that expire in 5 s (nats.js: 30 s) and heartbeats every 2.5 s: when the consumer's leader
    // in a JetStream cluster dies, the pull it held is lost, and the client notices two missed
    // heartbeats and pulls again from the new leader; with the default that took ~30 s, moves idle.
    this.messages = await consumer.consume({ max_messages: 256, expires: PULL_EXPIRES_MS });
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
