import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Msg, NatsConnection, Subscription } from 'nats';
import { subjects, type ErrorBody, type Location, type Reply, type RequestEndpoint, type VmView } from '@locus/contracts';
import { convergenceTopologyOf, MoveBoard, type ConvergenceTopologySource, type MoveTrack, type PlaneName } from '@locus/domain';
import { connectNats, listAllVms, requestJson } from '@locus/messaging';
import { natsCredentials, repoRoot, type LocusConfig, type Logger } from '@locus/platform';

export interface ConsoleOptions {
  /** 0: any free port. */
  port: number;
  /** Loopback unless told otherwise (a container publishes it on the host's loopback). */
  host?: string;
  /** Moves kept for the page (oldest finished ones are forgotten first). */
  maxMoves?: number;
}

export interface RunningConsole {
  url: string;
  port: number;
  /** Its NATS connection (the operator's): what its readiness checks. */
  nc: NatsConnection;
  stop(): Promise<void>;
}

/** The page's three files, served from apps/console/web (no asset from anywhere else: see the CSP). */
const ASSETS: Record<string, string> = { '/': 'index.html', '/index.html': 'index.html', '/console.js': 'console.js', '/console.css': 'console.css' };
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };
/** Nothing from outside this server: no CDN, no font, no script from elsewhere. */
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'";
/** The requests the page may send, as the CLI sends them (the operator's role allows them). */
const FORWARDED: Record<string, RequestEndpoint> = { '/api/plan': 'move.plan', '/api/move': 'vm.move', '/api/cancel': 'move.cancel', '/api/move-get': 'move.get' };
const MAX_BODY = 64 * 1024;
const FLUSH_MS = 100;

/**
 * The Locus console: a small HTTP server (loopback by default) that serves one page and bridges it
 * to the lab over NATS as the operator: the topology (`topology.get`) and where every VM is
 * (`vm.list`, then the location events), every move folded by the same MoveBoard the CLI and the
 * bench use (one definition of convergence), pushed to the page as server-sent events, and the
 * page's plan / move / cancel sent as `move.plan`, `vm.move`, `move.cancel` with the page's body.
 */
export async function startConsole(config: LocusConfig, logger: Logger, options: ConsoleOptions): Promise<RunningConsole> {
  const log = logger.child({ component: 'console' });
  const nc = await connectNats(config.natsUrl, 'locus-console', logger, natsCredentials(config, 'operator'));
  const s = subjects(config.subjectPrefix);
  // The page's body and the manager's reply pass through as they are: the page reads them.
  const request = (endpoint: RequestEndpoint, body: unknown, timeoutMs = 10_000) => requestJson<PassedReply>(nc, s.request(endpoint), body, timeoutMs);

  const topologyReply = await waitForTopology(nc, s.request('topology.get'), log);
  const topology = topologyReply.topology;
  const board = new MoveBoard({ topology: convergenceTopologyOf(topology), maxMoves: options.maxMoves ?? 200 });
  const vms = new Map<string, VmView & { moving?: string }>();
  const clients = new Set<ServerResponse>();
  const dirtyMoves = new Set<string>();
  const dirtyVms = new Set<string>();
  const decoder = new TextDecoder();

  // Subscribe before listing the VMs: a move committed meanwhile is applied twice, never missed.
  // The stored events and the planes' live steps (registrations, routes advertised, ARP repairs) alike.
  const onEvent = (err: Error | null, msg: Msg) => {
    if (err) return;
    let payload: SeenEvent;
    try {
      payload = JSON.parse(decoder.decode(msg.data));
    } catch {
      return;
    }
    board.apply(msg.subject, payload);
    const moveId = payload?.data?.moveId ?? payload?.moveId;
    if (moveId && board.moves.has(moveId)) dirtyMoves.add(moveId);
    else if (payload?.vm || payload?.eid) for (const m of board.moves.values()) if (m.vm === payload.vm && !board.convergence(m)) dirtyMoves.add(m.moveId);
    followVm(payload);
  };
  const subs: Subscription[] = [nc.subscribe(s.eventsWildcard, { callback: onEvent }), nc.subscribe(s.liveWildcard, { callback: onEvent })];
  for (const vm of await listAllVms(nc, config.subjectPrefix, {}, { timeoutMs: 10_000 })) vms.set(vm.name, { ...vms.get(vm.name), ...vm });

  /** Where each VM is and whether it is moving, from its own events. */
  function followVm(e: SeenEvent): void {
    const name = typeof e?.streamId === 'string' && e.streamId.startsWith('vm:') ? e.streamId.slice(3) : undefined;
    const vm = name ? vms.get(name) : undefined;
    if (!vm) return;
    const d = e.data ?? {};
    if (e.type === 'MoveAccepted') vm.moving = d.moveId;
    else if (e.type === 'VmRelocated' && d.to && d.locationVersion !== undefined && d.locationVersion >= vm.locationVersion)
      Object.assign(vm, { site: d.to.site, hypervisor: d.to.hypervisor, locationVersion: d.locationVersion });
    else if (['MoveCompleted', 'MoveFailed', 'MoveCancelled'].includes(e.type ?? '') && vm.moving === d.moveId) delete vm.moving;
    else return;
    dirtyVms.add(vm.name);
  }

  const view = (m: MoveTrack) => moveView(board, m);
  const send = (res: ServerResponse, event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const flush = setInterval(() => {
    if (!dirtyMoves.size && !dirtyVms.size) return;
    const moves = [...dirtyMoves]
      .map((id) => board.moves.get(id))
      .filter((m): m is MoveTrack => !!m)
      .map(view);
    const changed = [...dirtyVms].map((n) => vms.get(n)).filter(Boolean);
    dirtyMoves.clear();
    dirtyVms.clear();
    for (const res of clients) {
      if (changed.length) send(res, 'vms', changed);
      for (const m of moves) send(res, 'move', m);
    }
  }, FLUSH_MS);
  const keepAlive = setInterval(() => {
    for (const res of clients) res.write(': keep-alive\n\n');
  }, 15_000);

  const webDir = join(repoRoot(__dirname), 'apps', 'console', 'web');
  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err: Error) => {
      log.warn({ err: err.message, url: req.url }, 'console request failed');
      if (!res.headersSent) json(res, 500, { ok: false, error: { code: 'CONSOLE_ERROR', message: err.message } });
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://console').pathname;
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (req.method === 'GET' && ASSETS[path]) {
      const file = ASSETS[path];
      res.writeHead(200, { 'Content-Type': TYPES[file.split('.').pop()!], 'Cache-Control': 'no-cache' });
      res.end(readFileSync(join(webDir, file)));
      return;
    }
    if (req.method === 'GET' && path === '/api/state') {
      json(res, 200, { ok: true, prefix: config.subjectPrefix, topology, vms: [...vms.values()], moves: board.recent(50).map(view) });
      return;
    }
    if (req.method === 'GET' && path === '/api/events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
      send(res, 'state', { prefix: config.subjectPrefix, topology, vms: [...vms.values()], moves: board.recent(50).map(view) });
      clients.add(res);
      req.on('close', () => clients.delete(res));
      return;
    }
    const endpoint = FORWARDED[path];
    if (req.method === 'POST' && endpoint) {
      const body = await readBody(req);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body || '{}');
      } catch {
        json(res, 400, { ok: false, error: { code: 'BAD_REQUEST', message: 'body is not JSON' } });
        return;
      }
      const reply = await request(endpoint, parsed).catch((err: Error): PassedReply => ({ ok: false, error: { code: 'UNAVAILABLE', message: `${s.request(endpoint)}: ${err.message}` } }));
      log.info(
        { endpoint, body: parsed, ok: reply.ok, ...(reply.ok ? {} : { error: reply.error?.code }) },
        `console: ${endpoint}${reply.ok ? '' : ` refused: ${reply.error?.code ?? reply.refusal?.code ?? ''}`}`,
      );
      json(res, 200, reply);
      return;
    }
    json(res, 404, { ok: false, error: { code: 'NOT_FOUND', message: `${req.method} ${path}` } });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  }).catch(async (err) => {
    clearInterval(flush);
    clearInterval(keepAlive);
    for (const sub of subs) sub.unsubscribe();
    await nc.close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/`;
  log.info({ url, port, host }, `console at ${url}`);
  return {
    url,
    port,
    nc,
    stop: async () => {
      clearInterval(flush);
      clearInterval(keepAlive);
      for (const res of clients) res.end();
      clients.clear();
      await new Promise<void>((r) => server.close(() => r()));
      for (const sub of subs) sub.unsubscribe();
      await nc.drain().catch(() => undefined);
    },
  };
}

/** What the console reads of an event on the stream: unchecked, it only shows them (a VM event or a plane event). */
interface SeenEvent {
  streamId?: string;
  type?: string;
  vm?: string;
  eid?: string;
  moveId?: string;
  data?: { moveId?: string; locationVersion?: number; to?: Location };
}

/** A manager's reply as the console passes it to the page (`move.plan` may carry a `refusal`). */
type PassedReply = ({ ok: true } & Record<string, unknown>) | { ok: false; error?: Partial<ErrorBody>; refusal?: { code?: string } };

/** topology.get, asked again until the manager answers (a console started before it waits for it). */
async function waitForTopology(nc: NatsConnection, subject: string, log: Logger): Promise<{ topology: ConvergenceTopologySource }> {
  for (let attempt = 1; ; attempt++) {
    const reply = await requestJson<Reply<{ topology: ConvergenceTopologySource }>>(nc, subject, {}, 5000).catch((err: Error): Reply<never> => ({
      ok: false,
      error: { code: 'UNAVAILABLE', message: err.message },
    }));
    if (reply.ok) return reply;
    if (attempt === 1 || attempt % 30 === 0) log.warn({ subject, error: reply.error.message }, 'console: waiting for the mobility manager to answer topology.get');
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** What the page shows of one move: the board's row, its planes and its timeline. */
export function moveView(board: MoveBoard, m: MoveTrack) {
  const planes = Object.fromEntries((['map', 'routes', 'arp'] as PlaneName[]).map((p) => [p, board.plane(m, p)]));
  return {
    moveId: m.moveId,
    vm: m.vm,
    mode: m.mode,
    from: m.from,
    to: m.to,
    state: m.state,
    step: m.step,
    planes: m.planes,
    planeViews: planes,
    acceptedAt: m.acceptedAt ?? m.firstSeenAt,
    relocatedAt: m.relocatedAt,
    finishedAt: m.finishedAt,
    locationVersion: m.locationVersion,
    downtimeMs: m.downtimeMs,
    error: m.error,
    precopy: m.precopy,
    convergence: board.convergence(m),
    planeTimes: (m.tracker ?? m.computed)?.planes ?? m.progress?.done,
    stale: m.progress?.stale ?? [],
    late: m.late,
    timeline: m.timeline,
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`request body over ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
