import type { ErrorCode, HostEvent } from '@locus/contracts';

/**
 * A hypervisor's health as its stream (`host:<hypervisor>`) records it: declared failed by the HA
 * monitor after a silence, and recovered when its heartbeats come back. The decider keeps the
 * stream's facts alternating: a host already declared failed is not declared again (a second
 * manager, or the same one after a restart, judging the same silence), and only a failed host
 * recovers. The HA monitor restarts the VMs still placed on a failed host either way.
 */
export type HostState = { status: 'unknown' } | { status: 'up' } | { status: 'failed'; silentMs: number; vms: readonly string[] };

export type HostCommand = { type: 'DeclareHostFailed'; hypervisor: string; silentMs: number; vms: readonly string[] } | { type: 'RecordHostRecovered'; hypervisor: string };

export type HostDecision = { ok: true; events: HostEvent[] } | { ok: false; code: ErrorCode; message: string };

export const initialHostState = (): HostState => ({ status: 'unknown' });

export function decideHost(command: HostCommand, state: HostState): HostDecision {
  switch (command.type) {
    case 'DeclareHostFailed': {
      if (state.status === 'failed') return { ok: true, events: [] };
      const { hypervisor, silentMs, vms } = command;
      return { ok: true, events: [{ type: 'HostDeclaredFailed', data: { hypervisor, silentMs: Math.round(silentMs), vms: [...vms] } }] };
    }
    case 'RecordHostRecovered':
      if (state.status !== 'failed') return { ok: true, events: [] };
      return { ok: true, events: [{ type: 'HostRecovered', data: { hypervisor: command.hypervisor } }] };
    default: {
      const never: never = command;
      throw new Error(`unhandled host command ${JSON.stringify(never)}`);
    }
  }
}

export function evolveHost(state: HostState, event: HostEvent): HostState {
  switch (event.type) {
    case 'HostDeclaredFailed':
      return { status: 'failed', silentMs: event.data.silentMs, vms: event.data.vms };
    case 'HostRecovered':
      return { status: 'up' };
    default: {
      const never: never = event;
      throw new Error(`unhandled host event ${JSON.stringify(never)}`);
    }
  }
}

export const hostDecider = { decide: decideHost, evolve: evolveHost, initialState: initialHostState };
