import type { Service } from 'nats';
import type { Logger } from 'pino';
import { REQUEST_SCHEMAS, type RequestEndpoint } from '@locus/contracts';
import { addJsonEndpoint, endpointStats, type EndpointStats } from './json-endpoint';
import type { AdmissionLimits } from './admission';

/** One handler per request subject: takes the validated body, returns the reply's fields (the transport adds `ok: true`) or throws LocusError. */
export type RequestHandler<T> = (body: T) => Promise<object> | object;
// `never`: any handler of a narrower body fits; the schema of its endpoint checks the body before it runs.
export type RequestHandlers = Partial<Record<RequestEndpoint, RequestHandler<never>>>;

export interface RequestEndpointOptions {
  /** The subject prefix (`locus`): the service group every endpoint is in, `<prefix>.<endpoint>`. */
  subjectPrefix: string;
  logger: Logger;
  /** Admission control per endpoint, e.g. `{"vm.move": {maxConcurrent: 64, maxQueued: 128}}`. */
  admission?: Partial<Record<RequestEndpoint, AdmissionLimits>>;
  /** Longest a request without a `Locus-Deadline` header waits for its handler (default 30 s). */
  defaultBudgetMs?: number;
  /** Why the service cannot answer yet, or undefined once it can: every endpoint answers UNAVAILABLE with it meanwhile. */
  notReady?: () => string | undefined;
}

/**
 * Serves the request subjects of `@locus/contracts` (`REQUEST_ENDPOINTS`) from a table of handlers,
 * as JSON endpoints of one NATS service in the group `<prefix>` (`<prefix>.vm.move`, ...): each
 * body is validated against its contract schema before its handler runs, a result is answered
 * `{"ok":true, ...result}`, a LocusError `{"ok":false,"error":{code,message}}` with `respondError`.
 * No controller per subject: the table is the routing. Returns each endpoint's counters, by subject.
 */
export function serveRequestEndpoints(service: Service, handlers: RequestHandlers, options: RequestEndpointOptions): () => Map<RequestEndpoint, EndpointStats> {
  const served = Object.entries(handlers) as [RequestEndpoint, RequestHandler<never>][];
  for (const [endpoint, handle] of served) {
    addJsonEndpoint<unknown>(service, {
      name: endpoint.replace(/\./g, '-'),
      group: options.subjectPrefix,
      subject: endpoint,
      schema: REQUEST_SCHEMAS[endpoint],
      logger: options.logger,
      admission: options.admission?.[endpoint],
      defaultBudgetMs: options.defaultBudgetMs,
      notReady: options.notReady,
      handler: async (body) => ({ ok: true, ...(await handle(body as never)) }),
    });
    options.logger.debug({ subject: `${options.subjectPrefix}.${endpoint}`, admission: options.admission?.[endpoint] }, 'serving endpoint');
  }
  return () => {
    const byName = endpointStats(service);
    return new Map(
      served.flatMap(([endpoint]) => {
        const s = byName.get(endpoint.replace(/\./g, '-'));
        return s ? [[endpoint, s] as const] : [];
      }),
    );
  };
}
