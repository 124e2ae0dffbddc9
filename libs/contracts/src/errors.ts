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

/**
 * The status each code carries in a refused reply's `Nats-Service-Error-Code` header (HTTP's
 * numbers, as NATS services use them): 4xx the request, 409 a refusal by the state or the rules,
 * 5xx this side. The body stays `{"ok":false,"error":{code,message}}`; the header lets
 * `$SRV.STATS` and any NATS service client see the reply as an error.
 */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  TOO_LARGE: 413,
  UNKNOWN_VM: 404,
  UNKNOWN_TARGET: 404,
  UNKNOWN_MOVE: 404,
  UNKNOWN_SITE: 404,
  UNKNOWN_HYPERVISOR: 404,
  SAME_LOCATION: 409,
  MOVE_IN_PROGRESS: 409,
  VERSION_CONFLICT: 409,
  FENCED: 409,
  HOT_MOVE_NEEDS_L2_ADJACENCY: 409,
  IP_NOT_REACHABLE_AT_TARGET: 409,
  FIRST_HOP_GATEWAY_MISSING: 409,
  TARGET_FULL: 409,
  HOST_DOWN: 409,
  NOT_CONVERGING: 409,
  TOO_LATE: 409,
  POSTCOPY_SOURCE_LOST: 409,
  AGENT_FAILED: 502,
  UNAVAILABLE: 503,
  INTERNAL: 500,
  AUTH_FAILED: 401,
  REPLAYED: 409,
  EID_NOT_ALLOWED: 403,
};

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
