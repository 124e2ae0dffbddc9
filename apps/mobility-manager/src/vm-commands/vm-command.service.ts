import type { Logger } from 'pino';
import { LocusError, parseVmEvent, vmStreamId, type EventMetadata, type RecordedEvent, type VmEvent } from '@locus/contracts';
import { decide, fold, type Decision, type VmCommand, type VmState } from '@locus/domain';
import { GroupCommitter, PgEventStore, VersionConflictError, type AppendRequest, type NewEvent } from '@locus/eventstore';

export interface CommandContext {
  correlationId: string;
  causationId?: string;
  component: string;
}

/** One VM's command in an executeMany batch. */
export interface BatchedCommand {
  vm: string;
  command: VmCommand;
  ctx: CommandContext;
}

/** What executeMany did for one VM: the appended events (empty when already applied), or the refusal. */
export interface BatchedOutcome {
  vm: string;
  events: RecordedEvent[];
  error?: LocusError;
}

/**
 * Events the caller decides itself on the state a command's events lead to (the saga's steps that
 * ask no one: `decisionsAfter` in @locus/domain), appended with the command's events in one
 * transaction. Undefined or empty: nothing more to record now.
 */
export type FollowUp = (state: VmState) => { events: VmEvent[]; ctx: CommandContext } | undefined;

/** A VM's decided state at a stream version, as this process last read or wrote it. */
export interface VmSnapshot {
  state: VmState;
  version: number;
}

/**
 * Runs a command against a VM's stream: load, decide, append at the loaded version. A
 * concurrent append makes the append fail with a version conflict; the command is then
 * decided again on the state read back from the store, a few times, before VERSION_CONFLICT.
 *
 * The state of recently used VMs is kept in memory (bounded, least recently used out) and moved
 * forward with the events this process appends, so a move's steps do not read and fold the VM's
 * whole stream each time. It can only be behind the store, never ahead (it advances on committed
 * appends alone), and the expected-version append catches it being behind: a conflict drops it.
 * Appends of different VMs that arrive together share one transaction (group commit).
 */
export class VmCommandService {
  private readonly cache = new Map<string, VmSnapshot>();
  readonly stats = { hits: 0, reads: 0, conflicts: 0 };
  readonly committer: GroupCommitter;

  constructor(
    private readonly store: PgEventStore,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
    private readonly maxAttempts = 5,
    private readonly maxCached = 20_000,
  ) {
    this.committer = new GroupCommitter(store);
  }

  /** The version of the VM's state this service holds in memory, if any (nothing is read). */
  cachedVersion(vm: string): number | undefined {
    return this.cache.get(vm)?.version;
  }

  /** The VM's state as this service holds it in memory, if it does (nothing is read; it may be behind the store). */
  cached(vm: string): VmSnapshot | undefined {
    return this.cache.get(vm);
  }

  /** The VM's state; `atLeast` says a version the caller knows exists (an event it received): an older cached state is read again. */

  async load(vm: string, atLeast = 0): Promise<VmSnapshot> {
    return (await this.loadTelling(vm, atLeast)).snapshot;
  }

  /** `load`, saying whether the state came from memory (and so may be behind the store). */
  private async loadTelling(vm: string, atLeast = 0): Promise<{ snapshot: VmSnapshot; cached: boolean }> {
    const cached = this.cache.get(vm);
    if (cached && cached.version >= atLeast) {
      this.stats.hits++;
      this.remember(vm, cached);
      return { snapshot: cached, cached: true };
    }
    return { snapshot: await this.read(vm), cached: false };
  }

  private async read(vm: string): Promise<VmSnapshot> {
    this.stats.reads++;
    const { version, events } = await this.store.readStream(vmStreamId(vm));
    const read = { state: fold(events.map((e) => parseVmEvent(e.type, e.data))), version };
    if (version > 0) this.remember(vm, read);
    return read;
  }

  /** Forget what is cached (e.g. another writer may have appended). */
  forget(vm: string): void {
    this.cache.delete(vm);
  }

  /**
   * Returns the appended events (empty when the command had already been applied). Throws LocusError on refusal.
   * With `followUp`, the events it decides on the state after the command's are appended with
   * them, atomically (decided again with them after a version conflict).
   */
  async execute(vm: string, command: VmCommand, ctx: CommandContext, followUp?: FollowUp): Promise<{ events: RecordedEvent[]; state: VmState }> {
    for (let attempt = 1; ; attempt++) {
      const loaded = await this.loadTelling(vm);
      let { state, version } = loaded.snapshot;
      let decision = decide(command, state);
      // A state from memory may be behind the store (an append of this process that has not been
      // folded in yet). An append would meet that as a version conflict; a refusal or a no-op would
      // not, and would be wrong (a convergence never recorded, a move refused as still moving).
      if (loaded.cached && (!decision.ok || decision.events.length === 0)) {
        ({ state, version } = await this.read(vm));
        decision = decide(command, state);
      }
      if (!decision.ok) throw refusal(vm, decision);
      if (decision.events.length === 0) return { events: [], state };
      const at = this.now().toISOString();
      const toAppend: NewEvent[] = decision.events.map((e: VmEvent) => ({ type: e.type, data: e.data, metadata: { ...ctx, at } }));
      for (const e of this.followUpEvents(vm, command, followUp, fold(decision.events, state), at)) toAppend.push(e);
      try {
        const events = await this.committer.append(vmStreamId(vm), version, toAppend);
        this.remember(vm, {
          state: fold(
            events.map((e) => parseVmEvent(e.type, e.data)),
            state,
          ),
          version: version + events.length,
        });
        return { events, state };
      } catch (err) {
        this.forget(vm);
        if (!(err instanceof VersionConflictError)) throw err;
        this.stats.conflicts++;
        if (attempt >= this.maxAttempts) throw new LocusError('VERSION_CONFLICT', `${vm} kept changing under ${command.type}; retry`);
        this.logger.debug({ component: 'vm-commands', vm, command: command.type, attempt }, 'version conflict; deciding again');
      }
    }
  }

  /** The follow-up's events on `state`; a follow-up that throws records nothing of its own and never costs the command its append. */
  private followUpEvents(vm: string, command: VmCommand, followUp: FollowUp | undefined, state: VmState, at: string): NewEvent[] {
    if (!followUp) return [];
    try {
      const more = followUp(state);
      return more ? more.events.map((e) => ({ type: e.type, data: e.data, metadata: { ...more.ctx, at } })) : [];
    } catch (err) {
      this.logger.warn({ component: 'vm-commands', vm, command: command.type, err: (err as Error).message }, 'the decision after this command failed: the command is recorded alone');
      return [];
    }
  }

  /**
   * Runs one command for each of many VMs as a group commit: one query reads all their streams,
   * each command is decided as `execute` decides it, and one appendMany transaction appends every
   * decision at the version read. A VM whose stream moved on meanwhile is run again alone with
   * `execute`. A refusal is reported in that VM's outcome; the others go on. Outcomes in batch order.
   */
  async executeMany(batch: readonly BatchedCommand[]): Promise<BatchedOutcome[]> {
    if (new Set(batch.map((b) => b.vm)).size !== batch.length) throw new Error('executeMany: one command per VM');
    const streams = await this.store.readStreams(batch.map((b) => vmStreamId(b.vm)));
    const at = this.now().toISOString();
    const outcomes: BatchedOutcome[] = batch.map(({ vm }) => ({ vm, events: [] }));
    const requests: AppendRequest[] = [];
    const position = new Map<string, number>();
    const decided = new Map<string, VmSnapshot>();
    batch.forEach(({ vm, command, ctx }, i) => {
      const { version, events } = streams.get(vmStreamId(vm))!;
      const state = fold(events.map((e) => parseVmEvent(e.type, e.data)));
      const decision = decide(command, state);
      if (!decision.ok) outcomes[i].error = refusal(vm, decision);
      else if (decision.events.length > 0) {
        decided.set(vm, { state: fold(decision.events, state), version: version + decision.events.length });
        const metadata: EventMetadata = { ...ctx, at };
        requests.push({ streamId: vmStreamId(vm), expectedVersion: version, events: decision.events.map((e: VmEvent) => ({ type: e.type, data: e.data, metadata })) });
        position.set(vmStreamId(vm), i);
      }
    });
    const conflicted: number[] = [];
    for (const result of await this.store.appendMany(requests)) {
      const i = position.get(result.streamId)!;
      if (result.events) {
        outcomes[i].events = result.events;
        // As `execute` does: the next command of this VM (a move after placement) starts from memory.
        this.remember(batch[i].vm, decided.get(batch[i].vm)!);
      } else conflicted.push(i);
    }
    for (const i of conflicted) {
      const { vm, command, ctx } = batch[i];
      this.logger.debug({ component: 'vm-commands', vm, command: command.type }, 'version conflict in a batch; deciding again alone');
      try {
        outcomes[i].events = (await this.execute(vm, command, ctx)).events;
      } catch (err) {
        if (!(err instanceof LocusError)) throw err;
        outcomes[i].error = err;
      }
    }
    return outcomes;
  }

  private remember(vm: string, snapshot: VmSnapshot): void {
    this.cache.delete(vm);
    this.cache.set(vm, snapshot);
    if (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value as string);
  }
}

function refusal(vm: string, decision: Extract<Decision, { ok: false }>): LocusError {
  return new LocusError(decision.code, decision.code === 'UNKNOWN_VM' ? `no VM named ${vm}` : decision.message);
}
