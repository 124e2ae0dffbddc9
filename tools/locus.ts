#!/usr/bin/env node
import { Command, Option } from 'commander';
import { connect, type Msg, type NatsConnection } from 'nats';
import { mappingSubjects, NATS_ROLES, natsPermissions, routingSubjects, subjects, type RequestEndpoint } from '@locus/contracts';
import { DEFAULT_NATS_AUTH_DIR, natsServers, writeNatsAuth } from '@locus/messaging';
import { operatorConnectOptions } from './cli/credentials';
import { explainConnectFailure, explainRequestFailure } from './cli/request-failure';
import { clockTime } from './cli/format';
import { convergenceTopologyOf, MoveBoard, type ConvergenceTopology } from '@locus/domain';
import * as views from './cli/views';
import { watch } from './cli/watch';

/**
 * `locus`: the operator's CLI. Every command is one request on the same subject, with the same
 * JSON body, as `nats req` (add -v to see the equivalent `nats req` line): human-readable
 * tables by default, the reply exactly as it came with --json. `watch` follows the event stream.
 *
 *   locus move web-01 dc2-hv1 --mode cold --wait
 *   locus watch
 *   locus status <moveId> | locus status web-01
 */
interface Globals {
  nats: string;
  nkey?: string;
  prefix: string;
  stream: string;
  json?: boolean;
  timeout: string;
  verbose?: boolean;
}

let connection: NatsConnection | undefined;
async function nc(g: Globals): Promise<NatsConnection> {
  connection ??= await connect({ servers: natsServers(g.nats), name: 'locus-cli', maxReconnectAttempts: 2, ...operatorConnectOptions(g.nkey) }).catch((err: Error) => {
    throw new Error(explainConnectFailure(g.nats, err));
  });
  return connection;
}

/** One request, as `nats req` sends it: the raw reply, and the reply parsed (undefined when it is not JSON). */
async function ask(g: Globals, subject: string, body: object): Promise<{ raw: string; reply: any }> {
  const text = JSON.stringify(body);
  if (g.verbose) process.stderr.write(`nats req ${subject} '${text}'\n`);
  const conn = await nc(g);
  let raw: string;
  try {
    const msg = await conn.request(subject, new TextEncoder().encode(text), { timeout: Number(g.timeout) });
    raw = new TextDecoder().decode(msg.data);
  } catch (err) {
    throw new Error(explainRequestFailure(subject, err, Number(g.timeout)));
  }
  try {
    return { raw, reply: JSON.parse(raw) };
  } catch {
    return { raw, reply: undefined };
  }
}

/** One request: prints the reply (raw with --json, else rendered), exit code 1 on `"ok":false`. */
async function call(g: Globals, subject: string, body: object, render: (reply: any) => string): Promise<any> {
  const { raw, reply } = await ask(g, subject, body);
  if (reply === undefined) {
    console.log(raw);
    return undefined;
  }
  if (reply.ok === false) process.exitCode = 1;
  if (g.json) console.log(raw);
  else console.log(reply.ok === false ? views.errorView(reply) : render(reply));
  return reply;
}

/** A move id or its first 8 characters or more (the short id the logs and watch show); anything else is a VM name. */
const MOVE_ID = /^[0-9a-f]{8}(?:[0-9a-f-]{0,28})$/i;
const globals = (cmd: Command) => cmd.optsWithGlobals<Globals>();
const req = (g: Globals, e: RequestEndpoint) => subjects(g.prefix).request(e);

function parseOptions(pairs: string[] | undefined): Record<string, unknown> | undefined {
  if (!pairs?.length) return undefined;
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i < 1) throw new Error(`--option wants key=value, not ${p}`);
    const v = p.slice(i + 1);
    out[p.slice(0, i)] = v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  return out;
}

function duration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new Error(`not a duration: ${v} (e.g. 500ms, 30s, 5m)`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

const program = new Command()
  .name('locus')
  .description('Locus control plane CLI: the same JSON on the same NATS subjects as `nats req`.')
  .addOption(new Option('--nats <url>', 'NATS server').env('NATS_URL').default('nats://127.0.0.1:4222'))
  .addOption(new Option('--nkey <file>', 'connect as this NATS user: its nkey seed (default: LOCUS_NATS_AUTH_DIR or .lab-data/nats-auth operator.nk when present)').env('NATS_NKEY_SEED_FILE'))
  .addOption(new Option('--prefix <prefix>', 'subject prefix of the lab').env('LOCUS_SUBJECT_PREFIX').default('locus'))
  .addOption(new Option('--stream <name>', 'event stream (watch --since)').env('LOCUS_STREAM').default('LOCUS_EVENTS'))
  .option('--json', 'print each reply exactly as it came (what `nats req` prints)')
  .option('--timeout <ms>', 'request timeout', '10000')
  .option('-v, --verbose', 'print the equivalent `nats req` command on stderr')
  .showHelpAfterError();

program
  .command('move')
  .description('move a VM: vm.move')
  .argument('<vm>')
  .argument('<to>', 'target hypervisor')
  .addOption(new Option('-m, --mode <mode>', 'hot, warm or cold').choices(['hot', 'warm', 'cold']).default('cold'))
  .option('--request-id <id>', 'idempotency key: the same key returns the same move')
  .option('-o, --option <key=value...>', 'move options, e.g. -o dirtyRateMBps=200 -o policy=postcopy')
  .option('-w, --wait', 'follow the move until it completes (and its planes converge)')
  .option('--converge-timeout <duration>', "with --wait: how long to wait after completion for the convergence tracker's verdict", '5s')
  .action(async (vm: string, to: string, o: { mode: string; requestId?: string; option?: string[]; wait?: boolean; convergeTimeout: string }, cmd: Command) => {
    const g = globals(cmd);
    const options = parseOptions(o.option);
    const body = { vm, to, mode: o.mode, ...(o.requestId ? { requestId: o.requestId } : {}), ...(options ? { options } : {}) };
    if (!o.wait) return void (await call(g, req(g, 'vm.move'), body, views.moveAcceptedView));
    await follow(g, body, duration(o.convergeTimeout));
  });

program
  .command('plan')
  .description('what a move would do, without doing it: move.plan')
  .argument('<vm>')
  .argument('<to>', 'target hypervisor')
  .addOption(new Option('-m, --mode <mode>', 'hot, warm or cold').choices(['hot', 'warm', 'cold']).default('cold'))
  .option('-o, --option <key=value...>', 'move options')
  .action(async (vm: string, to: string, o: { mode: string; option?: string[] }, cmd: Command) => {
    const g = globals(cmd);
    const options = parseOptions(o.option);
    const reply = await call(g, req(g, 'move.plan'), { vm, to, mode: o.mode, ...(options ? { options } : {}) }, views.planView);
    if (reply?.allowed === false) process.exitCode = 1;
  });

program
  .command('cancel')
  .description('cancel a move: move.cancel')
  .argument('<moveId>')
  .action(async (moveId: string, _o: unknown, cmd: Command) => {
    const g = globals(cmd);
    await call(g, req(g, 'move.cancel'), { moveId }, views.cancelView);
  });

program
  .command('status')
  .description('a move (move.get) by its id, or a VM (vm.get) by its name')
  .argument('<moveId-or-vm>')
  .action(async (id: string, _o: unknown, cmd: Command) => {
    const g = globals(cmd);
    if (MOVE_ID.test(id)) await call(g, req(g, 'move.get'), { moveId: id }, (r) => views.moveView(r.move));
    else await call(g, req(g, 'vm.get'), { vm: id }, (r) => views.vmView(r.vm));
  });

program
  .command('watch')
  .description(`live table of moves and their planes (map, routes, ARP) as they converge, from <prefix>.evt.> and <prefix>.live.>`)
  .option('--since <duration>', 'replay the event stream from this long ago first (e.g. 5m; stored events and plane outcomes only: the live steps are not stored)')
  .option('--for <duration>', 'stop after this long')
  .option('--lines', 'one line per step even on a terminal')
  .option('--max-moves <n>', 'moves kept in memory', '500')
  .action(async (o: { since?: string; for?: string; lines?: boolean; maxMoves: string }, cmd: Command) => {
    const g = globals(cmd);
    await watch(await nc(g), {
      topology: await convergenceTopology(g),
      prefix: g.prefix,
      stream: g.stream,
      ...(o.since ? { sinceMs: duration(o.since) } : {}),
      ...(o.for ? { durationMs: duration(o.for) } : {}),
      lines: o.lines,
      maxMoves: Number(o.maxMoves),
    });
  });

program
  .command('vms')
  .description('VMs and where they are now: vm.list, every page (one page with --limit or --after)')
  .option('--site <site>')
  .option('--hypervisor <hypervisor>')
  .option('--limit <n>', 'one page of at most n VMs (1..5000)')
  .option('--after <name>', "one page: the VMs whose name sorts after this one (the previous page's next)")
  .action(async (o: { site?: string; hypervisor?: string; limit?: string; after?: string }, cmd: Command) => {
    const g = globals(cmd);
    const filter = { ...(o.site ? { site: o.site } : {}), ...(o.hypervisor ? { hypervisor: o.hypervisor } : {}) };
    if (o.limit !== undefined || o.after !== undefined) {
      const page = { ...filter, ...(o.after ? { after: o.after } : {}), ...(o.limit !== undefined ? { limit: Number(o.limit) } : {}) };
      await call(g, req(g, 'vm.list'), page, (r) => views.vmsTable(r.vms) + (r.next ? `\nmore: --after ${r.next}` : ''));
      return;
    }
    // Every page: after = the previous page's next, until a page comes without one.
    const vms: Parameters<typeof views.vmsTable>[0] = [];
    for (let after: string | undefined; ;) {
      const { raw, reply } = await ask(g, req(g, 'vm.list'), { ...filter, ...(after ? { after } : {}) });
      if (reply?.ok !== true) {
        process.exitCode = 1;
        console.log(reply === undefined || g.json ? raw : views.errorView(reply));
        return;
      }
      vms.push(...reply.vms);
      if (!reply.next) break;
      after = reply.next;
    }
    console.log(g.json ? JSON.stringify({ ok: true, vms }) : views.vmsTable(vms));
  });

program
  .command('topology')
  .description('sites, L2 domains and hypervisors of the lab: topology.get')
  .action(async (_o: unknown, cmd: Command) => {
    const g = globals(cmd);
    await call(g, req(g, 'topology.get'), {}, (r) => views.topologyView(r.topology));
  });

const map = program.command('map').description('the mapping system: map.resolve, map.list');
map
  .command('resolve')
  .description('what the map-resolver (or an ITR with --itr) says about an EID')
  .argument('<eid>', 'IPv4 address')
  .option('--itr <site>', "ask this site's ITR cache instead")
  .option('--forward', 'a packet reaches the ITR: on a miss it sends a Map-Request and caches the reply')
  .action(async (eid: string, o: { itr?: string; forward?: boolean }, cmd: Command) => {
    const g = globals(cmd);
    await call(g, mappingSubjects(g.prefix).resolve, { eid, ...(o.itr ? { itr: o.itr } : {}), ...(o.forward ? { forward: true } : {}) }, views.mapResolveView);
  });
map
  .command('list')
  .description("the map-server's registrations, or one ITR's cache")
  .option('--itr <site>')
  .option('--limit <n>')
  .action(async (o: { itr?: string; limit?: string }, cmd: Command) => {
    const g = globals(cmd);
    await call(g, mappingSubjects(g.prefix).list, { ...(o.itr ? { itr: o.itr } : {}), ...(o.limit ? { limit: Number(o.limit) } : {}) }, views.mapListView);
  });

const routes = program.command('routes').description('host routes: routes.list, routes.reconcile');
routes
  .command('list', { isDefault: true })
  .description('the /32s each site originates')
  .option('--site <site>')
  .action(async (o: { site?: string }, cmd: Command) => {
    const g = globals(cmd);
    await call(g, routingSubjects(g.prefix).routesList, o.site ? { site: o.site } : {}, views.routesView);
  });
routes
  .command('reconcile')
  .description('compare each RIB with the location DB and fix drift')
  .option('--site <site>')
  .action(async (o: { site?: string }, cmd: Command) => {
    const g = globals(cmd);
    await call(g, routingSubjects(g.prefix).routesReconcile, o.site ? { site: o.site } : {}, views.reconcileView);
  });

const arp = program.command('arp').description('ARP proxies: arp.stale, arp.list');
arp
  .command('stale', { isDefault: true })
  .description('neighbours that hold a wrong MAC for a VM')
  .option('--vm <vm>')
  .action(async (o: { vm?: string }, cmd: Command) => {
    const g = globals(cmd);
    await call(g, routingSubjects(g.prefix).arpStale, o.vm ? { vm: o.vm } : {}, views.arpStaleView);
  });
arp
  .command('list')
  .description('proxy entries, anycast gateways and lab neighbours per site')
  .option('--site <site>')
  .action(async (o: { site?: string }, cmd: Command) => {
    const g = globals(cmd);
    await call(g, routingSubjects(g.prefix).arpList, o.site ? { site: o.site } : {}, views.arpListView);
  });

program
  .command('nats-auth')
  .description('NATS users per role: one nkey seed per role (mode 0600) and the nats-server authorization config (auth.conf), in a directory that must never be committed')
  .addOption(new Option('--out <dir>', 'where to write them').env('LOCUS_NATS_AUTH_DIR').default(DEFAULT_NATS_AUTH_DIR))
  .option('--force', 'new keys for every role (rotation: restart or reload nats-server and every service after)')
  .option('--print', "also print each role's allow lists")
  .action((o: { out: string; force?: boolean; print?: boolean }, cmd: Command) => {
    const g = globals(cmd);
    const auth = writeNatsAuth(o.out, { prefix: g.prefix, stream: g.stream, force: o.force });
    const permissions = natsPermissions(g.prefix, g.stream);
    console.log(`NATS users for prefix "${g.prefix}" and stream "${g.stream}" in ${auth.dir} (never commit it):`);
    for (const role of NATS_ROLES) {
      console.log(`  ${role.padEnd(15)} ${auth.manifest.users[role]}  ${auth.credentials(role).seedFile}${auth.created.includes(role) ? '  (new)' : ''}`);
      if (o.print) console.log(`    publish:   ${permissions[role].publish.join(' ')}\n    subscribe: ${permissions[role].subscribe.join(' ')}`);
    }
    console.log(`server:   nats-server -js -c ${auth.configFile}    (or include it from the server's config)`);
    console.log(`services: LOCUS_NATS_AUTH_DIR=${auth.dir} (the one-process lab) or NATS_NKEY_SEED_FILE=${auth.credentials('manager').seedFile} (one service)`);
    console.log(`operator: nats --nkey ${auth.credentials('operator').seedFile} req ${subjects(g.prefix).request('vm.get')} '{"vm":"web-01"}'`);
  });

/**
 * What the board needs to time a move as the convergence tracker does (topology.get); undefined when
 * the manager does not answer it: then only the tracker's recorded figures are shown.
 */
async function convergenceTopology(g: Globals): Promise<ConvergenceTopology | undefined> {
  const { reply } = await ask(g, req(g, 'topology.get'), {}).catch(() => ({ reply: undefined }));
  return reply?.ok ? convergenceTopologyOf(reply.topology) : undefined;
}

/** `move --wait`: subscribe to the events first, send the move, print each step until the move ends and its planes converge. */
async function follow(g: Globals, body: object, convergeTimeoutMs: number): Promise<void> {
  const conn = await nc(g);
  const board = new MoveBoard({ topology: await convergenceTopology(g) });
  const decoder = new TextDecoder();
  let moveId: string | undefined;
  const early: { subject: string; data: Uint8Array }[] = [];
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let completedAt: number | undefined;
  const print = (lines: string[]) => {
    if (!g.json) for (const l of lines) console.log(`${clockTime(Date.now())}  ${l}`);
  };
  const handle = (subject: string, data: Uint8Array) => {
    let payload: any;
    try {
      payload = JSON.parse(decoder.decode(data));
    } catch {
      return;
    }
    const id = payload?.data?.moveId ?? payload?.moveId;
    const relevant = id === moveId || (payload?.vm && board.moves.get(moveId!)?.vm === payload.vm);
    if (!relevant) return;
    if (g.json) console.log(JSON.stringify({ subject, event: payload }));
    print(board.apply(subject, payload));
    const m = board.moves.get(moveId!);
    if (!m) return;
    // done: the tracker's MoveConverged, a failure or cancel; after completion, at most convergeTimeoutMs
    // more for the tracker (the board's own figure, the same definition, is printed when it does not come)
    if (['failed', 'cancelled', 'converged'].includes(m.state) || m.late) resolveDone();
    if (m.state === 'completed' && completedAt === undefined) {
      completedAt = Date.now();
      setTimeout(resolveDone, convergeTimeoutMs).unref();
    }
  };
  // the stored events and the planes' live steps (not stored: seen only by a subscriber)
  const follow = (err: Error | null, msg: Msg) => {
    if (err) return;
    if (!moveId) early.push({ subject: msg.subject, data: msg.data });
    else handle(msg.subject, msg.data);
  };
  const subs = [conn.subscribe(`${g.prefix}.evt.>`, { callback: follow }), conn.subscribe(`${g.prefix}.live.>`, { callback: follow })];
  const sub = { unsubscribe: () => subs.forEach((x) => x.unsubscribe()) };
  const reply = await call(g, req(g, 'vm.move'), body, views.moveAcceptedView);
  if (!reply?.ok) {
    sub.unsubscribe();
    return;
  }
  moveId = reply.moveId;
  for (const e of early.splice(0)) handle(e.subject, e.data);
  await done;
  sub.unsubscribe();
  const m = board.moves.get(moveId!);
  if (!g.json && m) {
    const c = board.convergence(m);
    console.log(
      c
        ? `converged in ${c.ms.toFixed(1)} ms after the location commit${c.source === 'tracker' ? '' : ' (not recorded by the convergence tracker yet)'}`
        : m.state === 'completed'
          ? `completed; planes not all converged within ${convergeTimeoutMs} ms (see: locus status ${moveId})`
          : `move ended ${m.state}`,
    );
  }
  if (m && m.state !== 'completed' && m.state !== 'converged') process.exitCode = 1;
}

program
  .parseAsync()
  .catch((err: Error) => {
    console.error(`locus: ${err.message}`);
    process.exitCode = 2;
  })
  .finally(() => connection?.close());
