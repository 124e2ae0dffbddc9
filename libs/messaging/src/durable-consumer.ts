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
  /**
   * `explicit` (default): each message is acked once handled, redelivered after a failure or a crash.
   * `none`: for a follower that is recreated at its own resume point at every start (its server-side
   * position is never what it resumes from), so acks would buy nothing: no ack is sent, a handler
   * that fails or asks to retry is run again here (in order, its key waiting), and at most
   * `maxAckPending` messages wait in memory.
   */
  acks?: 'explicit' | 'none';
}

const PULL_EXPIRES_MS = 5000;

/** A handler that failed is run again after 250 ms, doubling up to 10 s (the backoff of a redelivery). */
const retryDelayMs = (attempt: number) => Math.min(10_000, 250 * 2 ** Math.min(attempt, 6));

/**
 * A durable JetStream consumer, with explicit acks unless told `acks: 'none'`. Messages are
 * dispatched concurrently across keys and serially within a key; a handler that runs long keeps
 * its message alive with `working()`, and a handler that throws gets the message redelivered later
 * (without acks: is run again here).
 */
export class DurableConsumer<E> {
  readonly durable: string;
  private messages?: ConsumerMessages;
  private readonly chains = new Map<string, Promise<void>>();
  private loop?: Promise<void>;
  private readonly log: Logger;
  inFlight = 0;
  /** Messages taken from the server and not handled yet (running or waiting behind their key). */
  private queued = 0;
  private roomMade?: () => void;
  private stopping = false;
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

  private get acked(): boolean {
    return this.options.acks !== 'none';
  }

  async start(): Promise<void> {
    const ackWaitMs = this.options.ackWaitMs ?? 30_000;
    const maxPending = this.options.maxAckPending ?? 1000;
    const config = {
      durable_name: this.options.durable,
      ...startOf(this.options),
      filter_subject: this.options.filterSubject,
      ...(this.acked ? { ack_policy: AckPolicy.Explicit, ack_wait: nanos(ackWaitMs), max_ack_pending: maxPending, max_deliver: -1 } : { ack_policy: AckPolicy.None }),
    };
    try {
      const info = await this.jsm.consumers.info(this.options.stream, this.options.durable);
      if (info.config.ack_policy !== config.ack_policy) {
        // An ack policy cannot be updated: a consumer made with the other one is replaced.
        await this.jsm.consumers.delete(this.options.stream, this.options.durable);
        throw new Error('consumer not found');
      }
      await this.jsm.consumers.update(this.options.stream, this.options.durable, {
        filter_subject: config.filter_subject,
        ...(this.acked ? { ack_wait: nanos(ackWaitMs), max_ack_pending: maxPending } : {}),
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
        // Without acks the server does not bound what is outstanding: the loop waits here instead.
        if (!this.acked) while (this.queued >= maxPending && !this.stopping) await new Promise<void>((resolve) => (this.roomMade = resolve));
        const key = msg.headers?.get(HEADERS.stream) || msg.subject;
        const previous = this.chains.get(key) ?? Promise.resolve();
        this.queued++;
        const next = previous
          .then(() => (this.acked ? this.dispatch(msg, heartbeatMs) : this.dispatchUnacked(msg)))
          .finally(() => {
            this.queued--;
            this.roomMade?.();
            this.roomMade = undefined;
          });
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
    this.stopping = true;
    this.roomMade?.();
    await this.messages?.close();
    await this.loop?.catch(() => undefined);
    await Promise.allSettled([...this.chains.values()]);
  }

  /** `acks: 'none'`: nothing is sent back; a failure or a retry asked for runs the handler again here, after a pause. */
  private async dispatchUnacked(msg: JsMsg): Promise<void> {
    if (this.options.skip?.(msg)) {
      this.stats.skipped++;
      return;
    }
    const event = this.decodeOrDrop(msg);
    if (event === undefined) return;
    this.stats.handled++;
    this.inFlight++;
    try {
      for (let attempt = 0; !this.stopping; attempt++) {
        let waitMs: number;
        try {
          const outcome = await this.options.handle(event.value, msg);
          if ('ack' in outcome) return;
          if ('drop' in outcome) return void this.log.warn({ subject: msg.subject, reason: outcome.drop }, 'message dropped');
          waitMs = outcome.retryInMs;
          this.log.info({ subject: msg.subject, retryInMs: waitMs, reason: outcome.reason, attempts: attempt + 1 }, 'will retry');
        } catch (err) {
          waitMs = retryDelayMs(attempt);
          this.log.warn({ subject: msg.subject, err: (err as Error).message, retryInMs: waitMs }, 'handler failed; it will run again');
        }
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    } finally {
      this.inFlight--;
    }
  }

  /** The message decoded, or undefined when it was dropped (counted and logged; terminated when acks are on). */
  private decodeOrDrop(msg: JsMsg): { value: E } | undefined {
    try {
      return { value: this.options.decode(msg) };
    } catch (err) {
      const reason: EventRejectReason = err instanceof EventRejected ? err.reason : 'undecodable';
      this.stats.dropped[reason]++;
      this.log.error(
        { subject: msg.subject, seq: msg.seq, reason, err: (err as Error).message },
        reason === 'undecodable' ? 'undecodable message dropped' : 'message dropped: not from where it claims to be',
      );
      if (this.acked) msg.term();
      return undefined;
    }
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
      const event = this.decodeOrDrop(msg);
      if (event === undefined) return;
      this.stats.handled++;
      const outcome = await this.options.handle(event.value, msg);
      if ('ack' in outcome) msg.ack();
      else if ('drop' in outcome) {
        this.log.warn({ subject: msg.subject, reason: outcome.drop }, 'message dropped');
        msg.term();
      } else {
        this.log.info({ subject: msg.subject, retryInMs: outcome.retryInMs, reason: outcome.reason, deliveries: msg.info.redeliveryCount }, 'will retry');
        msg.nak(outcome.retryInMs);
      }
    } catch (err) {
      const retryInMs = retryDelayMs(msg.info.redeliveryCount);
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
