import { createHash } from 'node:crypto';
import type { JetStreamClient, JetStreamManager, JsMsg, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { decodeLocationEventFrom, decodePlaneEventFrom, subjects, type ListVmsRequest, type LocationEvent, type PlaneEvent, type VmView } from '@locus/contracts';
import { ACK, DurableConsumer, type Outcome } from './durable-consumer';
import { fetchLocationSnapshot } from './location-snapshot';

export interface FeedDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  prefix: string;
  stream: string;
  logger: Logger;
  /** The process's shared consumer of the location events: a location feed joins it instead of consuming on its own. */
  locationHub?: LocationFeedHub;
}

/** One in-process subscriber of a feed: a site's ETR, route injector or ARP proxy, or one hypervisor's agent. */
export interface FeedHandler<E> {
  /** Names the subscriber in logs (e.g. `route-injector:dc1`). */
  readonly name: string;
  /**
   * The site or hypervisor this subscriber serves. A feed with an `audience` hands it only the
   * events whose audience names it; a subscriber without one gets every event.
   */
  readonly member?: string;
  /** Handles one event; a throw gets the message redelivered (handlers must be idempotent). */
  handle(event: E): void | Promise<void>;
}

/** Who must hear an event: the members (sites, hypervisors) it concerns, or every subscriber. */
export type Audience = readonly string[] | 'everyone';

/**
 * Picks the subscribers of one event: those without a member always, those with one when the
 * audience names it, in the order they subscribed. A process serving 50 sites and 100 hypervisors
 * hands a move's location event to the four or so it concerns instead of calling all 250.
 */
export class FeedAudience<E> {
  private readonly byMember = new Map<string, number[]>();
  private readonly always: number[] = [];

  constructor(
    private readonly handlers: readonly FeedHandler<E>[],
    private readonly audienceOf?: (event: E) => Audience,
  ) {
    handlers.forEach((h, i) => {
      if (h.member === undefined) this.always.push(i);
      else this.byMember.set(h.member, [...(this.byMember.get(h.member) ?? []), i]);
    });
  }

  of(event: E): readonly FeedHandler<E>[] {
    const audience = this.audienceOf?.(event) ?? 'everyone';
    if (audience === 'everyone') return this.handlers;
    const picked = new Set(this.always);
    for (const member of audience) for (const i of this.byMember.get(member) ?? []) picked.add(i);
    return [...picked].sort((a, b) => a - b).map((i) => this.handlers[i]);
  }
}

/**
 * One durable consumer per process, dispatching each message to the subscribers of the process it
 * concerns (its `audience`), in order: NATS delivers, and the process decodes, validates and acks, once per process
 * instead of once per site or hypervisor. Events of one key (a VM's stream, a plane event's
 * subject) are handled one at a time and in order; different keys run concurrently.
 */
export class EventFeed<E> {
  private readonly handlers: FeedHandler<E>[] = [];
  private consumer?: DurableConsumer<E>;
  private audience?: FeedAudience<E>;
  private delivered = 0;

  constructor(
    protected readonly deps: FeedDeps,
    /** `decode` validates a message's JSON against its schema and the subject it came on; what it throws for is dropped and counted. */
    protected readonly options: {
      durable: string;
      filterSubject: string;
      decode: (prefix: string, subject: string, raw: unknown) => E;
      describe: string;
      /** Which members an event concerns (see `FeedHandler.member`); without it every subscriber gets every event. */
      audience?: (event: E) => Audience;
    },
  ) {}

  get durable(): string {
    return this.options.durable;
  }

  /** Messages dispatched, and dropped before dispatch: undecodable (JSON or schema) or from the wrong source (not the subject's VM, plane or type). */
  get stats(): { delivered: number; undecodable: number; wrongSource: number } {
    const dropped = this.consumer?.stats.dropped;
    return { delivered: this.delivered, undecodable: dropped?.undecodable ?? 0, wrongSource: dropped?.['wrong-source'] ?? 0 };
  }

  subscribe(handler: FeedHandler<E>): void {
    if (this.consumer) throw new Error(`${this.options.durable}: subscribe before start`);
    this.handlers.push(handler);
  }

  get subscribers(): readonly FeedHandler<E>[] {
    return this.handlers;
  }

  /** Starts consuming; a durable that does not exist yet starts with the first message of the stream. */
  start(): Promise<void> {
    return this.consume();
  }

  /** A durable that does not exist yet starts at `startSeq` (default: the whole stream). */
  protected async consume(startSeq?: number): Promise<void> {
    this.prepareDispatch();
    this.consumer = new DurableConsumer<E>(this.deps.js, this.deps.jsm, {
      stream: this.deps.stream,
      durable: this.options.durable,
      filterSubject: this.options.filterSubject,
      logger: this.deps.logger.child({ component: `feed:${this.options.durable}` }),
      decode: (msg: JsMsg) => this.options.decode(this.deps.prefix, msg.subject, msg.json<unknown>()),
      handle: (event) => this.dispatch(event),
      ...(startSeq !== undefined ? { startSeq } : {}),
    });
    await this.consumer.start();
    this.deps.logger.info(
      {
        component: 'event-feed',
        durable: this.options.durable,
        filter: this.options.filterSubject,
        subscribers: this.handlers.length,
        routed: this.options.audience ? 'to the members each event concerns' : 'to every subscriber',
        ...(startSeq !== undefined ? { startSeq } : {}),
      },
      `following ${this.options.describe} for ${this.handlers.length} subscriber${this.handlers.length === 1 ? '' : 's'} with one consumer`,
    );
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
  }

  /** What the feed dropped before dispatch, by reason (undefined before it started). */
  drops(): ReturnType<DurableConsumer<E>['drops']> | undefined {
    return this.consumer?.drops();
  }

  /** Fixes the subscribers: from here on events are dispatched to them. */
  protected prepareDispatch(): void {
    this.audience = new FeedAudience(this.handlers, this.options.audience);
  }

  /** The subscribers `event` goes to (all of them before the feed starts). */
  audienceOf(event: E): readonly FeedHandler<E>[] {
    return (this.audience ?? new FeedAudience(this.handlers, this.options.audience)).of(event);
  }

  protected async dispatch(event: E): Promise<Outcome> {
    this.delivered++;
    for (const h of this.audience!.of(event)) await h.handle(event);
    return ACK;
  }
}

/** Starting snapshots being fetched now, by stream, prefix and filter (see `LocationFeed.startingSnapshot`). */
const startingSnapshots = new Map<string, Promise<{ startSeq: number; vms: VmView[] }>>();

/** Subscriber of the location feed: a snapshot of the location DB first, then every location event. */
export interface LocationFollower extends FeedHandler<LocationEvent> {
  /** Applies the location DB's rows (the feed's snapshot filter) before any event; versions make the order safe. */
  loadSnapshot(vms: readonly VmView[]): void | Promise<void>;
}

/**
 * Soft state, hard truth, once per process: the agents and every network plane follow the VMs'
 * locations through this feed. At start it notes where the stream is, loads one paged `vm.list`
 * snapshot for every subscriber, then consumes the location events (`<prefix>.evt.vm.*.loc.*`,
 * decoded and validated once) from just after that point (a new durable) or from where it left
 * off (a restart). Every fact carries a location version, so a replayed or older event changes nothing.
 */
export class LocationFeed extends EventFeed<LocationEvent> {
  private readonly followers: LocationFollower[] = [];

  constructor(
    deps: FeedDeps,
    /**
     * `durable` names this process's consumer: derive it with `feedDurableName`. `snapshot` filters
     * the vm.list. `audience`: which members (sites, hypervisors) an event concerns.
     */
    private readonly feed: { durable: string; snapshot?: ListVmsRequest; audience?: (event: LocationEvent) => Audience },
  ) {
    super(deps, {
      durable: feed.durable,
      filterSubject: subjects(deps.prefix).locationEvents,
      decode: decodeLocationEventFrom,
      describe: 'the location events',
      ...(feed.audience ? { audience: feed.audience } : {}),
    });
  }

  follow(follower: LocationFollower): void {
    this.subscribe(follower);
    this.followers.push(follower);
  }

  /**
   * Snapshot, then `afterSnapshot` (e.g. a reconcile against it), then the events from the
   * snapshot's point on: from the process's hub once it starts, if there is one not started yet,
   * else from a consumer of its own. `afterSnapshot` is told the last stream sequence the snapshot
   * is known to hold (every location event up to it was committed before the snapshot was read).
   */
  override async start(afterSnapshot?: (through: number) => Promise<void>): Promise<void> {
    const { startSeq, vms } = await this.startingSnapshot();
    for (const f of this.followers) await f.loadSnapshot(vms);
    const ready = afterSnapshot ? afterSnapshot(startSeq - 1) : Promise.resolve();
    // A hub's feed joins as soon as its snapshot is loaded, and the events it is handed wait for
    // `afterSnapshot`: a slow start (a gobgpd fabric peers in 5–9 s) holds up no other feed's events.
    if (this.deps.locationHub?.join(this, this.deps, startSeq)) {
      this.ready = ready;
      this.prepareDispatch();
      this.joined = this.deps.locationHub;
      await ready;
      return;
    }
    await ready;
    await this.consume(startSeq);
  }

  private joined?: LocationFeedHub;
  /** Settles once the feed's `afterSnapshot` has: what the hub hands it waits for that. */
  private ready?: Promise<void>;

  override async stop(): Promise<void> {
    const hub = this.joined;
    this.joined = undefined;
    if (hub) return hub.leave(this);
    await super.stop();
  }

  /** What its consumer dropped; a feed joined to a hub reports the hub's only if it is the hub's first feed (one count per consumer in the metrics). */
  override drops(): ReturnType<EventFeed<LocationEvent>['drops']> {
    if (this.joined) return this.joined.reporter === this ? this.joined.drops() : undefined;
    return super.drops();
  }

  /** One event from the hub (its consumer decoded and validated it once for every feed of the process), once the feed is ready. */
  async deliver(event: LocationEvent): Promise<Outcome> {
    if (this.ready) await this.ready;
    return this.dispatch(event);
  }

  /** Loads the snapshot again into every follower (when a follower asks for a reconcile). */
  async reload(): Promise<VmView[]> {
    const vms = await fetchLocationSnapshot(this.deps.nc, this.deps.prefix, this.feed.snapshot ?? {}, this.deps.logger.child({ component: `feed:${this.feed.durable}` }));
    for (const f of this.followers) await f.loadSnapshot(vms);
    return vms;
  }

  /**
   * The stream position, then the snapshot taken after it. Feeds of one process starting together
   * (the agents, mapping system, route injectors and ARP proxies of a lab process) share one: a
   * 100,000-VM snapshot was fetched, parsed and held four times at once. Each then consumes from the
   * position noted before that shared snapshot, so nothing between the two is missed (at most a few
   * events already in it are applied again, which their versions make harmless). Followers copy
   * what they keep from the rows and never change them.
   */
  private startingSnapshot(): Promise<{ startSeq: number; vms: VmView[] }> {
    const key = `${this.deps.stream}\0${this.deps.prefix}\0${JSON.stringify(this.feed.snapshot ?? {})}`;
    const shared = startingSnapshots.get(key);
    if (shared) return shared;
    const fetched = (async () => {
      const startSeq = (await this.deps.jsm.streams.info(this.deps.stream)).state.last_seq + 1;
      const vms = await fetchLocationSnapshot(this.deps.nc, this.deps.prefix, this.feed.snapshot ?? {}, this.deps.logger.child({ component: `feed:${this.feed.durable}` }));
      return { startSeq, vms };
    })();
    startingSnapshots.set(key, fetched);
    const forget = () => void (startingSnapshots.get(key) === fetched && startingSnapshots.delete(key));
    fetched.then(forget, forget);
    return fetched;
  }
}

/**
 * One consumer of the location events for all the location feeds of a process (the `planes`
 * layout runs the agents, mapping system, route injectors and ARP proxies together): each event is
 * delivered, decoded, validated and acked once and handed to every feed at once, each from its own
 * starting point on (what is older is in its snapshot). The composition root
 * makes it, hands it to the services it starts (`FeedDeps.locationHub`) and starts it once they
 * have all joined (or, told how many feeds will join, it starts itself with the last of them); a
 * feed that comes after that consumes on its own. A hub with one feed is that feed's consumer
 * under another durable name.
 *
 * A feed that has joined but whose service is still starting (its `afterSnapshot`) gets its events
 * once it is ready. Since a VM's events are handed over one at a time, the first event of each VM
 * reaches the ready feeds at once, and that VM's next events wait for the slowest feed, as every
 * event did when the hub started only after the last service.
 */
export class LocationFeedHub {
  private readonly members: { feed: LocationFeed; startSeq: number }[] = [];
  private deps?: FeedDeps;
  /** The feed whose connection the consumer uses. */
  private first?: LocationFeed;
  private consumer?: DurableConsumer<LocationEvent>;
  private started = false;
  private starting?: Promise<void>;

  /**
   * `feeds`: how many feeds will join. The hub then starts as soon as the last of them has loaded
   * its snapshot, while their services may still be starting (their events wait for them), rather
   * than when the composition root calls `start` once every service is up: in a lab the agents
   * would otherwise hear no location event until the route injectors' BGP fabric has peered.
   */
  constructor(private readonly options: { feeds?: number } = {}) {}

  /** Adds a feed that has loaded its snapshot (taken after the stream was at `startSeq - 1`); false once the hub has started. */
  join(feed: LocationFeed, deps: FeedDeps, startSeq: number): boolean {
    if (this.started) return false;
    this.deps ??= deps;
    this.first ??= feed;
    this.members.push({ feed, startSeq });
    if (this.members.length === this.options.feeds)
      void this.start().catch((err: Error) => deps.logger.error({ component: 'event-feed', err: err.message }, 'the shared location consumer could not start'));
    return true;
  }

  /** Starts consuming for the feeds that joined (nothing to do without any); a second call waits for the first. */
  start(): Promise<void> {
    this.starting ??= this.startConsuming();
    return this.starting;
  }

  private async startConsuming(): Promise<void> {
    this.started = true;
    const deps = this.deps;
    if (!deps || this.members.length === 0) return;
    const durable = feedDurableName(
      'locations',
      this.members.map((m) => m.feed.durable),
    );
    this.consumer = new DurableConsumer<LocationEvent>(deps.js, deps.jsm, {
      stream: deps.stream,
      durable,
      filterSubject: subjects(deps.prefix).locationEvents,
      logger: deps.logger.child({ component: `feed:${durable}` }),
      decode: (msg: JsMsg) => decodeLocationEventFrom(deps.prefix, msg.subject, msg.json<unknown>()),
      // Every feed at once, each in its own order per VM (the consumer's chain per VM waits for all):
      // one plane that fails or is slow holds up no other. A failure gets the event again for
      // every feed (each applies it once: location versions).
      handle: async (event, msg) => {
        const results = await Promise.allSettled(this.members.filter((m) => msg.seq >= m.startSeq).map((m) => m.feed.deliver(event)));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
        return ACK;
      },
      startSeq: Math.min(...this.members.map((m) => m.startSeq)),
    });
    await this.consumer.start();
    deps.logger.info(
      { component: 'event-feed', durable, feeds: this.members.map((m) => m.feed.durable), subscribers: this.members.reduce((n, m) => n + m.feed.subscribers.length, 0) },
      `following the location events for ${this.members.length} feeds with one consumer`,
    );
  }

  /** The feed that reports the hub's drops (the first to join). */
  get reporter(): LocationFeed | undefined {
    return this.first;
  }

  /**
   * A feed stops: it gets nothing more. The consumer stops with the last feed, or with the feed
   * whose connection it uses (that service is draining it): the composition root stops the hub
   * before its services for that reason.
   */
  async leave(feed: LocationFeed): Promise<void> {
    const at = this.members.findIndex((m) => m.feed === feed);
    if (at >= 0) this.members.splice(at, 1);
    if (this.members.length === 0 || feed === this.first) await this.stop();
  }

  async stop(): Promise<void> {
    this.started = true;
    await this.starting?.catch(() => undefined);
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.stop();
  }

  drops(): ReturnType<DurableConsumer<LocationEvent>['drops']> | undefined {
    return this.consumer?.drops();
  }
}

/** Plane events of one type (e.g. every site's `RouteConfirmed`), validated once per process. */
export class PlaneEventFeed extends EventFeed<PlaneEvent> {
  constructor(deps: FeedDeps, feed: { durable: string; filterSubject: string; audience?: (event: PlaneEvent) => Audience }) {
    super(deps, { durable: feed.durable, filterSubject: feed.filterSubject, decode: decodePlaneEventFrom, describe: feed.filterSubject, ...(feed.audience ? { audience: feed.audience } : {}) });
  }
}

/**
 * A durable name per process role and the members it serves: stable across restarts, different for
 * two processes serving different sites (they must not share, and so split, one consumer).
 */
export function feedDurableName(role: string, members: readonly string[]): string {
  const sorted = [...members].sort();
  const joined = sorted.join('_');
  const name = `${role}-${joined}`;
  if (name.length <= 64 && /^[A-Za-z0-9_-]+$/.test(name)) return name;
  return `${role}-${sorted.length}-${createHash('sha256').update(sorted.join('\n')).digest('hex').slice(0, 12)}`;
}
