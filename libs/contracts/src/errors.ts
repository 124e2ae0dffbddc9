/** Error codes every reply may carry. One list, shared by services, CLI and docs. */
export const ERROR_CODES = [
  'BAD_REQUEST',
  'TOO_LARGE',
  'UNKNOWN_VM',
  'UNKNOWN_TARGET',
  'UNKNOWN_MOVE',
  'UNKNOWN_SITE',
  'UNKNOWN_HYPERVISOR',
  'SAME_LOCATION',
  'MOVE_IN_PROGRESS',
  'VERSION_CONFLICT',
  'FENCED',
  'HOT_MOVE_NEEDS_L2_ADJACENCY',
  'IP_NOT_REACHABLE_AT_TARGET',
  'FIRST_HOP_GATEWAY_MISSING',
  'TARGET_FULL',
  'HOST_DOWN',
  'NOT_CONVERGING',
  'TOO_LATE',
  'POSTCOPY_SOURCE_LOST',
  'AGENT_FAILED',
  'UNAVAILABLE',
  'INTERNAL',
  // mapping system: refused Map-Registers (and UNKNOWN_SITE above)
  'AUTH_FAILED',
  'REPLAYED',
  'EID_NOT_ALLOWED',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/** A refusal or failure that travels to the caller as `{"ok":false,"error":{code,message}}`. */
export class LocusError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LocusError';
  }
  toBody(): ErrorBody {
    return { code: this.code, message: this.message };
  }
}

export type Reply<T> = ({ ok: true } & T) | { ok: false; error: ErrorBody };

export function errorReply(code: ErrorCode, message: string): { ok: false; error: ErrorBody } {
  return { ok: false, error: { code, message } };
}

/** The kinds of name a request may give; each has its own code when it names nothing. */
export type NamedThing = 'site' | 'hypervisor' | 'vm';
const UNKNOWN_CODES: Record<NamedThing, ErrorCode> = { site: 'UNKNOWN_SITE', hypervisor: 'UNKNOWN_HYPERVISOR', vm: 'UNKNOWN_VM' };
const LISTED = 12;

/**
 * The one way every subject refuses a name that names nothing: `UNKNOWN_SITE`, `UNKNOWN_HYPERVISOR`
 * or `UNKNOWN_VM`, "no site named nowhere; the sites are cloud, colo, dc1, dc2" (the first few known
 * names when given). A refusal writes nothing. Several names (`["a","b"]`) are said together.
 */
export function unknownName(kind: NamedThing, names: string | readonly string[], known?: readonly string[]): LocusError {
  const said = typeof names === 'string' ? names : names.join(', ');
  const label = kind === 'vm' ? 'VM' : kind;
  let message = `no ${label} named ${said}`;
  if (known?.length) {
    const sorted = [...known].sort();
    const shown = sorted.slice(0, LISTED).join(', ');
    message += `; the ${label}s are ${shown}${sorted.length > LISTED ? `, … (${sorted.length} in all)` : ''}`;
  }
  return new LocusError(UNKNOWN_CODES[kind], message);
}
