import { isVmEventType, parseHostEvent, parseRecordedVmEvent, type LocationEvent, type RecordedEventBase, type RecordedHostEvent, type RecordedVmEvent } from './events';
import { isPlaneOutcomeType, parsePlaneEvent, parsePlaneEventData, planeSubject, PLANES, type KnownPlaneEvent } from './planes';
import { isLocationEventType, subjects } from './subjects';

/**
 * Checks on every event a consumer takes off the stream, before any handler sees it. NATS
 * permissions say who may publish on a subject; these say that what came on a subject is what
 * that subject carries: the schema of its type, and the VM (or host, or plane) and type the
 * subject names. What fails is dropped and counted by its reason.
 */
export type EventRejectReason = 'undecodable' | 'wrong-source';

export class EventRejected extends Error {
  constructor(
    readonly reason: EventRejectReason,
    message: string,
  ) {
    super(message);
    this.name = 'EventRejected';
  }
}

function decoded<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new EventRejected('undecodable', (err as Error).message);
  }
}

function wrongSource(message: string): never {
  throw new EventRejected('wrong-source', message);
}

/** The stream's subject for this recorded event must be the one it came on: same VM or host, same type. */
function checkSubject(prefix: string, subject: string, e: { streamId: string; type: string }): void {
  const expected = subjects(prefix).streamEvent(e.streamId, e.type);
  if (subject !== expected) wrongSource(`${e.type} of ${e.streamId} came on ${subject}; it belongs on ${expected}`);
}

/** A VM event (`<prefix>.evt.vm.<vm>[.loc].<type>`): its schema, its VM stream and type match the subject, and so does a `vm` its data names. */
export function decodeVmEventFrom(prefix: string, subject: string, raw: unknown): RecordedVmEvent {
  const e = decoded(() => parseRecordedVmEvent(raw));
  if (!e.streamId.startsWith('vm:')) wrongSource(`${e.type} of ${e.streamId} is not a VM event`);
  checkSubject(prefix, subject, e);
  const named = 'vm' in e.data ? e.data.vm : undefined;
  if (named !== undefined && `vm:${named}` !== e.streamId) wrongSource(`${e.type} in ${e.streamId} names VM ${named}`);
  return e;
}

/** A location event (what agents and planes follow): a VM event of one of the location types. */
export function decodeLocationEventFrom(prefix: string, subject: string, raw: unknown): LocationEvent {
  const e = decodeVmEventFrom(prefix, subject, raw);
  if (!isLocationEventType(e.type)) wrongSource(`${e.type} is not a location event`);
  return e as LocationEvent;
}

/** A host event (`<prefix>.evt.host.<hypervisor>.<type>`): its schema, and the hypervisor of its stream and data match the subject. */
export function decodeHostEventFrom(prefix: string, subject: string, raw: unknown): RecordedHostEvent {
  const e = decoded((): RecordedHostEvent => {
    const r = raw as Partial<RecordedEventBase & { type: unknown; data: unknown }>;
    if (!r || typeof r !== 'object' || typeof r.type !== 'string' || typeof r.streamId !== 'string' || typeof r.streamVersion !== 'number' || typeof r.id !== 'string')
      throw new Error('not a recorded event (id, streamId, streamVersion and type are required)');
    return { ...(r as RecordedEventBase), ...parseHostEvent(r.type, r.data) } as RecordedHostEvent;
  });
  if (e.streamId !== `host:${e.data.hypervisor}`) wrongSource(`${e.type} in ${e.streamId} names host ${e.data.hypervisor}`);
  checkSubject(prefix, subject, e);
  return e;
}

/**
 * A plane event (`<prefix>.evt.<plane>.<entity>.<type>`): its envelope, the plane and type it
 * declares are the subject's, and a VM it names is the subject's entity (planes publish under the
 * VM when they know it).
 */
export function decodePlaneEventFrom(prefix: string, subject: string, raw: unknown): KnownPlaneEvent {
  const e = decoded(() => parsePlaneEvent(raw));
  const head = isPlaneOutcomeType(e.type) ? `${prefix}.evt.` : `${prefix}.live.`;
  const tokens = subject.startsWith(head) ? subject.slice(head.length).split('.') : [];
  if (tokens.length !== 3) wrongSource(`a ${e.plane} ${e.type} came on ${subject}, which is not its subject (${planeSubject(prefix, e.plane, '<entity>', e.type)})`);
  const [plane, entity, type] = tokens;
  if (plane !== e.plane) wrongSource(`a ${e.plane} event (${e.type}) came on ${subject}, the ${plane} plane's subject`);
  if (type !== e.type) wrongSource(`a ${e.type} came on ${subject}`);
  if (e.vm !== undefined && entity !== e.vm) wrongSource(`a ${e.type} about ${e.vm} came on ${subject}`);
  // Where it came from first (a fact on another plane's subject is misplaced, whatever it holds), then what it says.
  const known = decoded(() => parsePlaneEventData(e));
  // A whole site's reconcile names no VM: it comes on the site's own subject.
  if ((known.type === 'RoutesReconciled' || known.type === 'ArpReconciled' || known.type === 'MappingReconciled') && known.vm === undefined && entity !== known.data.site)
    wrongSource(`a ${known.type} of site ${known.data.site} came on ${subject}`);
  // An ETR's reconcile is of its whole site only (a route injector's may be of one VM).
  if (known.type === 'MappingReconciled' && known.vm !== undefined) wrongSource(`a MappingReconciled names a VM (${known.vm}): it is of a whole site`);
  return known;
}

/**
 * Whether a message's subject is the one its `Locus-Stream` and `Locus-Event-Type` headers say it
 * is for: the cheap check a consumer makes before acking, undecoded, an event it would act on
 * nothing for. A copy on another VM's subject fails it and is decoded, and dropped as wrong-source.
 */
export function isOwnEventSubject(prefix: string, subject: string, streamId: string, type: string): boolean {
  return subjects(prefix).streamEvent(streamId, type) === subject;
}

/** Any event of the stream, decoded: a VM event, a host event or a plane event (`plane` in it tells). */
export type StreamEvent = RecordedVmEvent | RecordedHostEvent | KnownPlaneEvent;

/** A VM event of the stream (not a host event, not a plane event): its `data` then narrows with its `type`. */
export function isRecordedVmEvent(e: StreamEvent): e is RecordedVmEvent {
  return !('plane' in e) && isVmEventType(e.type);
}

/** Any event of the stream, by the subject's category: VM, host or one of the planes. */
export function decodeStreamEventFrom(prefix: string, subject: string, raw: unknown): StreamEvent {
  // a plane's step fact, published live (core NATS) beside the stream: watchers take both wildcards
  if (subject.startsWith(`${prefix}.live.`)) return decodePlaneEventFrom(prefix, subject, raw);
  const head = `${prefix}.evt.`;
  const category = subject.startsWith(head) ? subject.slice(head.length).split('.')[0] : '';
  if (category === 'vm') return decodeVmEventFrom(prefix, subject, raw);
  if (category === 'host') return decodeHostEventFrom(prefix, subject, raw);
  if ((PLANES as readonly string[]).includes(category)) return decodePlaneEventFrom(prefix, subject, raw);
  return wrongSource(`${subject} is no event subject of ${prefix}`);
}
