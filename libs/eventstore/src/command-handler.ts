import { LocusError, type ErrorCode, type EventMetadata, type RecordedEvent } from '@locus/contracts';
import { VersionConflictError, type PgEventStore } from './event-store';

/** A decider as the domain writes one: pure `decide` and `evolve` over a stream's events. */
export interface StreamDecider<C, E extends { type: string; data: unknown }, S> {
  decide(command: C, state: S): { ok: true; events: E[] } | { ok: false; code: ErrorCode; message: string };
  evolve(state: S, event: E): S;
  initialState(): S;
}

/**
 * Runs a command against one stream: read it, fold its events (`parse` validates each against its
 * schema), decide, append at the version read. When another writer appended meanwhile the append
 * is refused (nothing written) and the command is decided again on the new state, up to
 * `maxAttempts` times, then VERSION_CONFLICT. A refusal throws LocusError; a command already applied
 * decides no events and appends nothing. For low-rate streams (a host's health); VM streams have
 * their own service with a cache and group commit.
 */
export async function handleStreamCommand<C extends { type: string }, E extends { type: string; data: unknown }, S>(
  store: PgEventStore,
  streamId: string,
  decider: StreamDecider<C, E, S>,
  parse: (type: string, data: unknown) => E,
  command: C,
  metadata: EventMetadata,
  maxAttempts = 5,
): Promise<{ events: RecordedEvent<E>[]; state: S }> {
  for (let attempt = 1; ; attempt++) {
    const { version, events } = await store.readStream(streamId);
    const state = events.reduce((s, e) => decider.evolve(s, parse(e.type, e.data)), decider.initialState());
    const decision = decider.decide(command, state);
    if (!decision.ok) throw new LocusError(decision.code, decision.message);
    if (decision.events.length === 0) return { events: [], state };
    try {
      const recorded = await store.append(
        streamId,
        version,
        decision.events.map((e) => ({ type: e.type, data: e.data, metadata })),
      );
      return { events: recorded as RecordedEvent<E>[], state: decision.events.reduce(decider.evolve, state) };
    } catch (err) {
      if (!(err instanceof VersionConflictError)) throw err;
      if (attempt >= maxAttempts) throw new LocusError('VERSION_CONFLICT', `${streamId} kept changing under ${command.type}; retry`);
    }
  }
}
