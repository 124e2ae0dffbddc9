import { connect, type Socket } from 'node:net';

/** One QMP event: `timestamp` is QEMU's own wall clock at the event (epoch ms, µs precision). */
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestampMs: number;
}

/** An error QEMU answered (`{"error": {"class", "desc"}}`), or the client's own: TIMEOUT, CLOSED. */
export class QmpError extends Error {
  constructor(
    readonly qmpClass: string,
    message: string,
  ) {
    super(message);
    this.name = 'QmpError';
  }
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; command: string };
type Waiter = { match: (e: QmpEvent) => boolean; resolve: (e: QmpEvent) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export interface QmpConnectOptions {
  /** How long to keep trying to reach the socket (QEMU creates it a moment after it starts). */
  connectTimeoutMs?: number;
  /** The default timeout of every command. */
  commandTimeoutMs?: number;
}

/**
 * A QMP client over a unix socket, with node:net only: JSON objects one per line, capabilities
 * negotiated at connect, each command with an id and a timeout, events kept for waiters. A QEMU that
 * exits (the socket closes) fails every pending call and waiter with CLOSED: never a hang.
 */
export class QmpClient {
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly waiters = new Set<Waiter>();
  private readonly listeners = new Set<(e: QmpEvent) => void>();
  private closedReason?: string;
  /** Every event seen, in order (a waiter may ask for one that came before it waited). */
  readonly events: QmpEvent[] = [];
  /** QEMU's version from the greeting. */
  version = '';
  readonly closed: Promise<string>;
  private markClosed!: (why: string) => void;

  private constructor(
    private readonly socket: Socket,
    private readonly commandTimeoutMs: number,
  ) {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.shut(`QMP socket error: ${err.message}`));
    socket.on('close', () => this.shut('QEMU closed its QMP socket (the process exited)'));
  }

  /** Connects (retrying while the socket is not there yet), reads the greeting and negotiates capabilities. */
  static async connect(path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const deadline = Date.now() + (options.connectTimeoutMs ?? 10_000);
    for (;;) {
      try {
        const socket = await openSocket(path, Math.max(100, deadline - Date.now()));
        const client = new QmpClient(socket, options.commandTimeoutMs ?? 10_000);
        await client.handshake(Math.max(500, deadline - Date.now()));
        return client;
      } catch (err) {
        if (Date.now() >= deadline) throw new QmpError('TIMEOUT', `no QMP at ${path} within ${options.connectTimeoutMs ?? 10_000} ms: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  get isClosed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Runs one command; rejects with QEMU's error, TIMEOUT after `timeoutMs`, or CLOSED if QEMU goes away. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = this.commandTimeoutMs): Promise<T> {
    if (this.closedReason) return Promise.reject(new QmpError('CLOSED', `${command}: ${this.closedReason}`));
    const id = `locus-${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpError('TIMEOUT', `${command}: no answer from QEMU within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, command });
      this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  /** Calls `listener` for every event from now on; returns the function that stops it. */
  onEvent(listener: (e: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The first event named `name` (matching `match`) at or after index `since` of `events`, waiting up to `timeoutMs`. */
  waitForEvent(name: string, timeoutMs: number, match: (e: QmpEvent) => boolean = () => true, since = 0): Promise<QmpEvent> {
    const test = (e: QmpEvent) => e.event === name && match(e);
    const seen = this.events.slice(since).find(test);
    if (seen) return Promise.resolve(seen);
    if (this.closedReason) return Promise.reject(new QmpError('CLOSED', `waiting for ${name}: ${this.closedReason}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match: test,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new QmpError('TIMEOUT', `no ${name} event from QEMU within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  close(): void {
    this.socket.destroy();
    this.shut('closed by the agent');
  }

  private async handshake(timeoutMs: number): Promise<void> {
    const greeting = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new QmpError('TIMEOUT', `no QMP greeting within ${timeoutMs} ms`)), timeoutMs);
      this.greet = (g) => {
        clearTimeout(timer);
        resolve(g);
      };
      void this.closed.then((why) => {
        clearTimeout(timer);
        reject(new QmpError('CLOSED', why));
      });
    });
    const v = (greeting.QMP as { version?: { qemu?: { major: number; minor: number; micro: number } } } | undefined)?.version?.qemu;
    this.version = v ? `${v.major}.${v.minor}.${v.micro}` : 'unknown';
    try {
      await this.execute('qmp_capabilities', undefined, timeoutMs);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private greet?: (greeting: Record<string, unknown>) => void;

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not QMP: ignore the line
    }
    if ('QMP' in msg) {
      this.greet?.(msg);
      this.greet = undefined;
      return;
    }
    if (typeof msg.event === 'string') {
      const ts = msg.timestamp as { seconds: number; microseconds: number } | undefined;
      const event: QmpEvent = { event: msg.event, ...(msg.data ? { data: msg.data as Record<string, unknown> } : {}), timestampMs: ts ? ts.seconds * 1000 + ts.microseconds / 1000 : Date.now() };
      this.events.push(event);
      for (const l of this.listeners) l(event);
      for (const w of [...this.waiters])
        if (w.match(event)) {
          clearTimeout(w.timer);
          this.waiters.delete(w);
          w.resolve(event);
        }
      return;
    }
    const id = typeof msg.id === 'string' ? msg.id : undefined;
    const call = id ? this.pending.get(id) : undefined;
    if (!call || !id) return;
    this.pending.delete(id);
    clearTimeout(call.timer);
    if ('error' in msg) {
      const e = msg.error as { class?: string; desc?: string };
      call.reject(new QmpError(e.class ?? 'GenericError', `${call.command}: ${e.desc ?? 'QEMU refused'}`));
    } else call.resolve(msg.return);
  }

  private shut(why: string): void {
    if (this.closedReason) return;
    this.closedReason = why;
    this.markClosed(why);
    for (const [, call] of this.pending) {
      clearTimeout(call.timer);
      call.reject(new QmpError('CLOSED', `${call.command}: ${why}`));
    }
    this.pending.clear();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new QmpError('CLOSED', why));
    }
    this.waiters.clear();
  }
}

function openSocket(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${path} timed out`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
