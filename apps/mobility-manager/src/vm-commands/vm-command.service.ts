import type { Logger } from 'pino';
import { LocusError, parseVmEvent, vmStreamId, type EventMetadata, type RecordedEvent, type VmEvent } from '@locus/contracts';
import { decide, fold, type VmCommand, type VmState } from '@locus/domain';
import { PgEventStore, VersionConflictError } from '@locus/eventstore';

export interface CommandContext {
  correlationId: string;
  causationId?: string;
  component: string;
}

/**
 * Runs a command against a VM's stream: read, fold, decide, append at the read version.
 * A concurrent append makes the append fail with a version conflict; the command is then
 * decided again on the new state, a few times, before VERSION_CONFLICT is answered.
 */
export class VmCommandService {
  constructor(
    private readonly store: PgEventStore,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
    private readonly maxAttempts = 5,
  ) {}

  async load(vm: string): Promise<{ state: VmState; version: number; events: RecordedEvent[] }> {
    const { version, events } = await this.store.readStream(vmStreamId(vm));
    return { state: fold(events.map((e) => parseVmEvent(e.type, e.data))), version, events };
  }

  /** Returns the appended events (empty when the command had already been applied). Throws LocusError on refusal. */
  async execute(vm: string, command: VmCommand, ctx: CommandContext): Promise<{ events: RecordedEvent[]; state: VmState }> {
    for (let attempt = 1; ; attempt++) {
      const { state, version } = await this.load(vm);
      const decision = decide(command, state);
      if (!decision.ok) throw new LocusError(decision.code, decision.code === 'UNKNOWN_VM' ? `no VM named ${vm}` : decision.message);
      if (decision.events.length === 0) return { events: [], state };
      const metadata: EventMetadata = { ...ctx, at: this.now().toISOString() };
      try {
        const events = await this.store.append(
          vmStreamId(vm),
          version,
          decision.events.map((e: VmEvent) => ({ type: e.type, data: e.data, metadata })),
        );
        return { events, state };
      } catch (err) {
        if (!(err instanceof VersionConflictError)) throw err;
        if (attempt >= this.maxAttempts) throw new LocusError('VERSION_CONFLICT', `${vm} kept changing under ${command.type}; retry`);
        this.logger.debug({ component: 'vm-commands', vm, command: command.type, attempt }, 'version conflict; deciding again');
      }
    }
  }
}
