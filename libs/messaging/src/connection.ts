import { connect, type NatsConnection, type Status } from 'nats';
import type { Logger } from 'pino';
import { coalesceNatsWrites } from './coalesced-writes';
import { skipSettledRequestErrors } from './settled-requests';
import type { NatsCredentials } from '@locus/contracts';
import { natsAuthOptions } from './nats-auth';

/**
 * Connects with endless reconnects; every change of connection state is one log line. With
 * `credentials` the connection authenticates as that role (its nkey) and takes its replies on the
 * role's own inbox; a refused publish or subscribe is logged with its subject.
 */
export async function connectNats(url: string, name: string, logger: Logger, credentials?: NatsCredentials): Promise<NatsConnection> {
  const log = logger.child({ component: 'nats' });
  const auth = credentials ? natsAuthOptions(credentials) : undefined;
  coalesceNatsWrites(); // the services' connections (a bench's floor keeps plain nats.js writes)
  skipSettledRequestErrors();
  // noAsyncTraces: no stack captured per request and per JetStream publish (a profile put it at 3-8 %
  // of a busy service's CPU); a timeout still says which subject timed out.
  const nc = await connect({
    servers: natsServers(url),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: false,
    noAsyncTraces: true,
    ...(auth ? { authenticator: auth.authenticator, inboxPrefix: auth.inboxPrefix } : {}),
  });
  log.info(
    { server: nc.getServer(), client: name, ...(credentials ? { role: credentials.role, nkey: auth!.publicKey } : {}) },
    credentials ? `connected to NATS as ${credentials.role}` : 'connected to NATS',
  );
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') log.warn({ server: s.data }, 'NATS connection lost; reconnecting');
      else if (s.type === 'reconnect') log.info({ server: s.data }, 'NATS reconnected');
      else if (s.type === 'error') log.warn({ err: String(s.data), ...permissionOf(s) }, 'NATS error');
    }
  })();
  return nc;
}

/**
 * NATS_URL may name several servers of a cluster, comma-separated: the client connects to any and
 * fails over to the others (it also learns the rest of the cluster from the one it reaches).
 */
export function natsServers(url: string): string[] {
  return url
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
}

/** The operation and subject of a permissions violation, when the status carries them. */
function permissionOf(status: unknown): { operation?: string; subject?: string } {
  const ctx = (status as { permissionContext?: { operation: string; subject: string } }).permissionContext;
  return ctx ? { operation: ctx.operation, subject: ctx.subject } : {};
}

/**
 * What a NATS server says to a client without credentials: `open` (it accepts anyone), `auth-required`
 * (it wants a user) or `down` (nothing answers).
 */
export async function probeNats(url: string, timeoutMs = 1000): Promise<'open' | 'auth-required' | 'down'> {
  try {
    const nc = await connect({ servers: natsServers(url), timeout: timeoutMs, maxReconnectAttempts: 0 });
    await nc.close();
    return 'open';
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code === 'AUTHORIZATION_VIOLATION' || /authorization violation/i.test((err as Error).message) ? 'auth-required' : 'down';
  }
}

/**
 * Whether a NATS connection stayed up over an interval: take a `mark()` before, ask
 * `unbrokenSince(mark)` after. A request that timed out over a broken link says nothing about
 * whoever was meant to answer it.
 */
export class LinkWatch {
  private up = true;
  private drops = 0;

  constructor(status: AsyncIterable<Status>) {
    void (async () => {
      for await (const s of status) {
        if (s.type === 'disconnect') {
          this.up = false;
          this.drops++;
        } else if (s.type === 'reconnect') this.up = true;
      }
    })();
  }

  /** A token for now: -1 while the link is down. */
  mark(): number {
    return this.up ? this.drops : -1;
  }

  unbrokenSince(mark: number): boolean {
    return mark >= 0 && this.up && this.drops === mark;
  }
}

/** Human hint used by the lab when NATS cannot be reached. */
export const NATS_START_HINT = 'start it with: nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server (or set NATS_URL)';
