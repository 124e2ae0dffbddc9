import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { EventLoopWatch, runChecks, type HealthCheck } from './health';

export interface ObservabilityServerOptions {
  /** TCP port; 0 picks a free one (tests). Services take it from LOCUS_METRICS_PORT, where 0 means no server. */
  port: number;
  /** Default 0.0.0.0: Prometheus and the kubelet reach the pod from outside. */
  host?: string;
  registry: Registry;
  /** Readiness checks; more can be added once the service has started (`addChecks`). */
  checks?: HealthCheck[];
  /** Readiness is refused until `markStarted()` (default: ready as soon as the checks pass). */
  waitForStart?: boolean;
  logger?: Logger;
  /** Event-loop lateness above which /healthz fails (default 5000 ms). */
  maxEventLoopLagMs?: number;
}

export interface ObservabilityServer {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  addChecks(...checks: HealthCheck[]): void;
  markStarted(): void;
  stop(): Promise<void>;
}

/**
 * A small HTTP server beside the service (no framework):
 * - `GET /metrics`: the registry in Prometheus text format;
 * - `GET /healthz`: liveness, 200 while the process runs and its event loop keeps turning;
 * - `GET /readyz`: readiness, 200 when every check passes (NATS connected, Postgres reachable,
 *   consumers started), else 503; both answer a small JSON report.
 */
export async function startObservabilityServer(options: ObservabilityServerOptions): Promise<ObservabilityServer> {
  const checks: HealthCheck[] = [...(options.checks ?? [])];
  let started = !options.waitForStart;
  const loop = new EventLoopWatch(500, options.maxEventLoopLagMs ?? 5000).start();
  const log = options.logger?.child({ component: 'observability' });

  const server = createServer((req, res) => {
    void handle(req, res).catch((err) => {
      log?.warn({ err: (err as Error).message, url: req.url }, 'observability request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `${(err as Error).message}\n`);
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'GET only\n');
    switch (path) {
      case '/metrics':
        return send(res, 200, options.registry.contentType, await options.registry.metrics());
      case '/healthz': {
        const ok = loop.healthy();
        return json(res, ok ? 200 : 503, { status: ok ? 'ok' : 'fail', eventLoopLagMs: Math.round(loop.lastLagMs), uptimeS: Math.round(process.uptime()) });
      }
      case '/readyz': {
        if (!started) return json(res, 503, { status: 'fail', checks: [{ name: 'started', ok: false, ms: 0, error: 'still starting' }] });
        const report = await runChecks(checks);
        return json(res, report.status === 'ok' ? 200 : 503, report);
      }
      default:
        return send(res, 404, 'text/plain; charset=utf-8', 'try /metrics, /healthz or /readyz\n');
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log?.info({ port, paths: ['/metrics', '/healthz', '/readyz'] }, `metrics and health on :${port}`);

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    addChecks: (...more) => void checks.push(...more),
    markStarted: () => {
      started = true;
    },
    stop: async () => {
      loop.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: object): void {
  send(res, status, 'application/json', `${JSON.stringify(body)}\n`);
}
