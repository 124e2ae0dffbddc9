import { fstatSync } from 'node:fs';
import { Client } from 'pg';
import pino from 'pino';
import type { NatsConnection } from 'nats';
import { median, summarize } from '@locus/platform';
import { gobgpdBinary, startGoBgpFabric } from '../../apps/route-injector/src';
import type { MachineControl } from './result';

export interface FloorResult {
  /** Median ms. */
  median: number;
  p99?: number;
  samples: number;
  how: string;
}

/**
 * C: one single-row INSERT in its own table, committed (autocommit: one round trip, one WAL
 * flush), the cheapest durable fact Postgres can record. Median of `n` after 20 warm-up rows.
 */
export async function postgresCommitFloor(databaseUrl: string, n = 300): Promise<FloorResult> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), v int NOT NULL)');
    const times: number[] = [];
    for (let i = 0; i < n + 20; i++) {
      const t0 = performance.now();
      await client.query('INSERT INTO bench_floor (v) VALUES ($1)', [i]);
      if (i >= 20) times.push(performance.now() - t0);
    }
    await client.query('DROP TABLE bench_floor');
    const s = summarize(times);
    return { median: median(times)!, p99: s.p99, samples: times.length, how: `INSERT of one row into its own table, autocommit (one round trip + one commit), median of ${times.length}` };
  } finally {
    await client.end();
  }
}

/** H: a NATS request/reply round trip to a trivial responder on another connection (through the server). */
export async function natsRoundTripFloor(requester: NatsConnection, responder: NatsConnection, subject: string, n = 1000): Promise<FloorResult> {
  const sub = responder.subscribe(subject, { callback: (_err, msg) => msg.respond(msg.data) });
  await responder.flush();
  const body = new TextEncoder().encode('{"ping":true}');
  const times: number[] = [];
  try {
    for (let i = 0; i < n + 50; i++) {
      const t0 = performance.now();
      await requester.request(subject, body, { timeout: 2000 });
      if (i >= 50) times.push(performance.now() - t0);
    }
  } finally {
    sub.unsubscribe();
  }
  const s = summarize(times);
  return { median: median(times)!, p99: s.p99, samples: times.length, how: `request/reply of 13 bytes to an echo responder on a second connection, median of ${times.length}` };
}

/**
 * GoBGP: how long one /32 takes from AddPath on a site's gobgpd to appearing in the core's RIB
 * (iBGP, core as route reflector, on loopback): the propagation a host-route move pays on a real
 * BGP fabric. Spawns its own two-speaker fabric; undefined when gobgpd is not installed.
 */
export async function gobgpPropagation(n = 20): Promise<(FloorResult & { setupMs: number }) | { skipped: string }> {
  if (!gobgpdBinary()) return { skipped: 'gobgpd is not installed (Debian: apt-get install gobgpd)' };
  const logger = pino({ level: 'silent' });
  const t0 = performance.now();
  const fabric = await startGoBgpFabric([{ name: 'site', routerIp: '198.51.100.1' }], logger);
  const setupMs = performance.now() - t0;
  try {
    const driver = fabric.driverFor('site');
    const core = fabric.core();
    const times: number[] = [];
    for (let i = 0; i < n + 2; i++) {
      const prefix = `10.254.${Math.floor(i / 250)}.${(i % 250) + 1}/32`;
      const seen = new Promise<void>((resolve) => {
        let done = false;
        const check = async () => {
          if (done) return;
          const paths = await core.list(prefix).catch(() => []);
          if (paths.some((p) => p.prefix === prefix)) {
            done = true;
            unwatch();
            clearInterval(poll);
            resolve();
          }
        };
        const unwatch = core.watch(() => void check());
        const poll = setInterval(() => void check(), 2);
      });
      const start = performance.now();
      await driver.advertise({ prefix, vm: `bench-${i}`, site: 'site', nextHop: '198.51.100.1', localPref: 101, locationVersion: 1 });
      await seen;
      if (i >= 2) times.push(performance.now() - start);
    }
    const s = summarize(times);
    return { median: median(times)!, p99: s.p99, samples: times.length, setupMs, how: `AddPath of a /32 on a site gobgpd until the core gobgpd (route reflector) lists it, median of ${times.length}` };
  } finally {
    await fabric.stop();
  }
}

export type GoBgpFloor = Awaited<ReturnType<typeof gobgpPropagation>>;

/**
 * The machine's own speed, beside the floors: the same guest type ran one code 2 x slower from one
 * hour to the next (another tenant, nested virtualisation), and the floors move with system calls
 * but not with plain computation. A fixed loop of arithmetic (median of 3, ms) and `fstat` on
 * stdin (median µs of 20,000 calls), measured before the lab loads the machine.
 */
export function machineControl(): MachineControl {
  const loops: number[] = [];
  let x = 0;
  for (let run = 0; run < 3; run++) {
    const t0 = performance.now();
    for (let i = 0; i < 30_000_000; i++) x = (x * 31 + i) % 1_000_003;
    loops.push(performance.now() - t0);
  }
  if (x < 0) throw new Error('unreachable: keeps the loop from being optimised away');
  const calls = 20_000;
  const t1 = performance.now();
  for (let i = 0; i < calls; i++) fstatSync(0);
  return { jsLoopMs: median(loops)!, syscallUs: ((performance.now() - t1) / calls) * 1000 };
}

/** The three floors of one run and the Postgres version they were measured on. */
export interface Floors {
  C: FloorResult;
  H: FloorResult;
  gobgp: GoBgpFloor;
  postgresVersion: string;
  control: MachineControl;
}

/**
 * Measures C, H and (unless `withGobgp` is false) GoBGP's propagation, in the lab's own database
 * before its services load the machine; `echoSubject` is a subject of this run only.
 */
export async function measureFloors(databaseUrl: string, requester: NatsConnection, responder: NatsConnection, echoSubject: string, withGobgp: boolean, log: (msg: string) => void): Promise<Floors> {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  const postgresVersion = (await pg.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version;
  await pg.end();
  log('measuring the floors: C (Postgres commit), H (NATS round trip), GoBGP /32 propagation');
  const C = await postgresCommitFloor(databaseUrl);
  const H = await natsRoundTripFloor(requester, responder, echoSubject);
  const gobgp: GoBgpFloor = withGobgp ? await gobgpPropagation().catch((err: Error) => ({ skipped: `failed: ${err.message}` })) : { skipped: '--no-gobgp' };
  const control = machineControl();
  log(
    `C ${C.median.toFixed(3)} ms, H ${H.median.toFixed(3)} ms${'median' in gobgp ? `, GoBGP ${gobgp.median.toFixed(1)} ms` : `, GoBGP ${gobgp.skipped}`}; machine control: a fixed loop ${control.jsLoopMs.toFixed(0)} ms, a system call ${control.syscallUs.toFixed(2)} µs`,
  );
  return { C, H, gobgp, postgresVersion, control };
}
