import type { Service } from 'nats';
import type { Logger } from 'pino';
import { z } from 'zod';
import { errorReply } from '@locus/contracts';
import { MessageAuthenticator, verifyMessage, type FreshMessage, type MappingClock, type SiteMac } from '@locus/domain';
import { addJsonEndpoint, describeZodError } from '@locus/messaging';

/** What the map-server sends an xTR, each authenticated with the site's key. */
export type ControlMessageType = 'Map-Notify' | 'Map-Publish' | 'SMR' | 'Map-Reply';

export type RefusalCode = 'AUTH_FAILED' | 'REPLAYED' | 'BAD_REQUEST';

/** Any JSON object: an xTR endpoint authenticates a message before it holds the sender to the schema. */
const AnyObject = z.record(z.string(), z.unknown());

export interface ControlEndpoint<T extends FreshMessage> {
  type: Exclude<ControlMessageType, 'Map-Reply'>;
  name: string;
  subject: string;
  schema: z.ZodType<T>;
  /** The site the message says it is for (the HMAC covers it). */
  addressee(msg: T): string;
  /** Fields that say what a refused message wanted (logged with the refusal). */
  detail(msg: Record<string, unknown>): Record<string, unknown>;
  handler(msg: T): object;
}

/**
 * Everything the map-server sends the xTR of one site (Map-Notify to its ETR; Map-Publish, SMR and
 * Map-Reply to its ITR) is checked here with the key the site shares with the map-server, by the
 * same MessageAuthenticator the map-server checks Map-Registers with: the HMAC, then the timestamp
 * window and an unused nonce, and the message must be addressed to this site. A refused message
 * changes nothing, is logged as a warning and counted by message type and code (`map.list
 * {"itr"}` → `stats.refused`, metric `locus_map_control_refusals_total`). One per site, shared by
 * its ETR and ITR.
 */
export class SiteInbox {
  /** Refusals by message type, then by code. */
  readonly refused: Partial<Record<ControlMessageType, Partial<Record<RefusalCode, number>>>> = {};
  private readonly authenticator: MessageAuthenticator;
  private readonly log: Logger;

  constructor(
    readonly site: string,
    private readonly deps: { mac: SiteMac; clock: MappingClock; logger: Logger; replayWindowMs: number },
  ) {
    this.authenticator = new MessageAuthenticator(deps.mac, deps.replayWindowMs);
    this.log = deps.logger.child({ component: `xtr:${site}` });
  }

  /** Serves one control message subject: the handler sees only messages this inbox admitted; the others are answered `{ok:false,error}`. */
  serve<T extends FreshMessage>(service: Service, endpoint: ControlEndpoint<T>): void {
    addJsonEndpoint(service, {
      name: endpoint.name,
      subject: endpoint.subject,
      schema: AnyObject,
      logger: this.log,
      handler: (raw) => {
        const admitted = this.admit(endpoint, raw);
        return admitted.ok ? endpoint.handler(admitted.msg) : errorReply(admitted.code, admitted.reason);
      },
    });
  }

  /** A Map-Reply to this site's Map-Request: signed with the site's key (its nonce, fresh per request, the caller has matched). */
  checkReply(reply: object, detail: Record<string, unknown>): { code: RefusalCode; reason: string } | undefined {
    const verdict = verifyMessage(reply, this.site, this.deps.mac);
    return verdict.ok ? undefined : this.refuse('Map-Reply', 'AUTH_FAILED', verdict.reason, detail);
  }

  private admit<T extends FreshMessage>(endpoint: ControlEndpoint<T>, raw: Record<string, unknown>): { ok: true; msg: T } | { ok: false; code: RefusalCode; reason: string } {
    const parsed = endpoint.schema.safeParse(raw);
    if (!parsed.success) {
      // Malformed and not signed with our key (an old-format or forged message) is a forgery; malformed but signed is a bug.
      const auth = verifyMessage(raw, this.site, this.deps.mac);
      const code = auth.ok ? 'BAD_REQUEST' : 'AUTH_FAILED';
      return { ok: false, ...this.refuse(endpoint.type, code, auth.ok ? describeZodError(parsed.error, raw) : auth.reason, endpoint.detail(raw)) };
    }
    const msg = parsed.data;
    const verdict = this.authenticator.admit(msg, this.site, this.deps.clock.wall());
    if (!verdict.ok) return { ok: false, ...this.refuse(endpoint.type, verdict.code, verdict.reason, endpoint.detail(raw)) };
    const to = endpoint.addressee(msg);
    if (to !== this.site) return { ok: false, ...this.refuse(endpoint.type, 'AUTH_FAILED', `addressed to ${to}, not ${this.site}`, endpoint.detail(raw)) };
    return { ok: true, msg };
  }

  private refuse(type: ControlMessageType, code: RefusalCode, reason: string, detail: Record<string, unknown>): { code: RefusalCode; reason: string } {
    const byCode = (this.refused[type] ??= {});
    byCode[code] = (byCode[code] ?? 0) + 1;
    this.log.warn({ site: this.site, message: type, code, reason, refusedSoFar: byCode[code], ...detail }, `${type} to ${this.site} refused (${code}): ${reason}`);
    return { code, reason };
  }
}
