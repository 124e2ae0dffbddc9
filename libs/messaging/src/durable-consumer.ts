import { AckPolicy, DeliverPolicy, nanos, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from 'nats';
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
}

const PULL_EXPIRES_MS = 5000;

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
    const config = {
      durable_name: this.options.durable,
      ack_policy: AckPolicy.Explicit,
      ...startOf(this.options),
      filter_subject: this.options.filterSubject,
      ack_wait: nanos(ackWaitMs),
      max_ack_pending: this.options.maxAckPending ?? 1000,
      max_deliver: -1,
    };
    try {
      await this.jsm.consumers.info(this.options.stream, this.options.durable);
      await this.jsm.consumers.update(this.options.stream, this.options.durable, {
        filter_subject: config.filter_subject,
        ack_wait: config.ack_wait,
        max_ack_pending: config.max_ack_pending,
      });
    } catch (err) {
      if (!/consumer not found/i.test((err as Error).message)) throw err;
      await this.jsm.consumers.add(this.options.stream, config);
    }
    const consumer = await this.js.consumers.get(this.options.stream, this.options.durable);
    // Pulls that expire in 5 s (nats.js: 30 s) and heartbeats every 2.5 s: when the consumer's leader
    // in a JetStream cluster dies, the pull it held is lost, and the client notices two missed
    // heartbeats and pulls again from the new leader; with the default that took ~30 s, moves idle.
    this.messages = await consumer.consume({ max_messages: 256, expires: PULL_EXPIRES_MS });
    const heartbeatMs = Math.max(100, Math.floor(ackWaitMs / 3));
    this.loop = (async () => {
      for await (const msg of this.messages!) {
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
  }

  private async dispatch(msg: JsMsg, heartbeatMs: number): Promise<void> {
    // Told by its headers alone, acked at once: no keep-alive timer for it.
    if (this.options.skip?.(msg)) {
      this.stats.skipped++;
      msg.ack();
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
        msg.term();
        return;
      }
      this.stats.handled++;
      const outcome = await this.options.handle(event, msg);
      if ('ack' in outcome) msg.ack();
      else if ('drop' in outcome) {
        this.log.warn({ subject: msg.subject, reason: outcome.drop }, 'message dropped');
        msg.term();
      } else {
        this.log.info({ subject: msg.subject, retryInMs: outcome.retryInMs, reason: outcome.reason, deliveries: msg.info.redeliveryCount }, 'will retry');
        msg.nak(outcome.retryInMs);
      }
    } catch (err) {
      const retryInMs = Math.min(10_000, 250 * 2 ** Math.min(msg.info.redeliveryCount, 6));
      this.log.warn({ subject: msg.subject, err: (err as Error).message, retryInMs }, 'handler failed; message will be redelivered');
      msg.nak(retryInMs);
    } finally {
      clearInterval(keepAlive);
      this.inFlight--;
    }
  }
}

function startOf(options: { startTime?: Date; startSeq?: number }): { deliver_policy: DeliverPolicy; opt_start_time?: string; opt_start_seq?: number } {
  if (options.startSeq !== undefined) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, options.startSeq) };
  if (options.startTime) return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: options.startTime.toISOString() };
  return { deliver_policy: DeliverPolicy.All };
}
