import { Catch, type ArgumentsHost, type RpcExceptionFilter } from '@nestjs/common';
import { Server, type CustomTransportStrategy } from '@nestjs/microservices';
import type { NatsConnection, Service } from 'nats';
import { lastValueFrom, of, type Observable } from 'rxjs';
import type { Logger } from 'pino';
import { REQUEST_SCHEMAS, type RequestEndpoint } from '@locus/contracts';
import { addJsonEndpoint, endpointStats, errorToReply, type EndpointStats } from './json-endpoint';
import type { AdmissionLimits } from './admission';

export interface NatsServiceTransportOptions {
  /** Returns the connection once the app has one (shared with the rest of the app). */
  connection: () => NatsConnection;
  serviceName: string;
  version: string;
  description: string;
  subjectPrefix: string;
  logger: Logger;
  /**
   * Admission control per pattern, e.g. `{"vm.move": {maxConcurrent: 64, maxQueued: 512}}`:
   * at most that many handlers run and wait; more are answered UNAVAILABLE at once.
   */
  admission?: Partial<Record<string, AdmissionLimits>>;
  /** Longest a request without a `Locus-Deadline` header waits for its handler (default 30 s). */
  defaultBudgetMs?: number;
  /** Why the service cannot answer yet, or undefined once it can: every endpoint answers UNAVAILABLE with it meanwhile. */
  notReady?: () => string | undefined;
}

/**
 * A Nest transport that serves `@MessagePattern('vm.move')` handlers as NATS service endpoints
 * (`<prefix>.vm.move`), with plain JSON in and out, so that `nats req` works and
 * `nats micro ls` lists them. Nest's own NATS transport wraps messages in an envelope a
 * foreign `nats req` does not speak. Bodies are validated against the contract schema of
 * the endpoint before the handler runs.
 */
export class NatsServiceTransport extends Server implements CustomTransportStrategy {
  private service?: Service;

  constructor(private readonly options: NatsServiceTransportOptions) {
    super();
  }

  async listen(callback: () => void): Promise<void> {
    const nc = this.options.connection();
    this.service = await nc.services.add({
      name: this.options.serviceName,
      version: this.options.version,
      description: this.options.description,
    });
    const log = this.options.logger;
    for (const [pattern, handler] of this.getHandlers()) {
      const endpoint = pattern as RequestEndpoint;
      const schema = REQUEST_SCHEMAS[endpoint];
      if (!schema) throw new Error(`@MessagePattern('${pattern}') has no request schema in @locus/contracts`);
      const subject = `${this.options.subjectPrefix}.${pattern}`;
      addJsonEndpoint(this.service, {
        name: pattern.replace(/\./g, '-'),
        subject,
        schema,
        logger: log,
        admission: this.options.admission?.[pattern],
        defaultBudgetMs: this.options.defaultBudgetMs,
        notReady: this.options.notReady,
        handler: async (body) => {
          const result = await lastValueFrom(this.transformToObservable(await handler(body)) as Observable<object>);
          return result;
        },
      });
      log.debug({ subject, admission: this.options.admission?.[pattern] }, 'serving endpoint');
    }
    callback();
  }

  async close(): Promise<void> {
    await this.service?.stop().catch(() => undefined);
  }

  /** Each endpoint's counters (requests started, dropped past their deadline, refused when full, running, waiting), by pattern. */
  stats(): Map<string, EndpointStats> {
    const byName = this.service ? endpointStats(this.service) : new Map<string, EndpointStats>();
    return new Map([...this.getHandlers().keys()].flatMap((pattern) => {
      const s = byName.get(pattern.replace(/\./g, '-'));
      return s ? [[pattern, s] as const] : [];
    }));
  }

  on(): void {
    throw new Error('NatsServiceTransport has no events');
  }

  unwrap<T>(): T {
    return this.service as T;
  }
}

/** Turns anything a handler throws into the `{ok:false,error}` reply instead of Nest's generic error. */
@Catch()
export class LocusReplyFilter implements RpcExceptionFilter {
  constructor(private readonly logger: Logger) {}
  catch(exception: unknown, host: ArgumentsHost): Observable<object> {
    const pattern = host.getArgByIndex?.(2) ?? 'request';
    return of(errorToReply(exception, this.logger, String(pattern)));
  }
}
