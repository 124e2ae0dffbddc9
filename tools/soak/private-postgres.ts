import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort, until, type Child, type ChildSet } from '../bench/lab';

/**
 * A PostgreSQL cluster of the soak's own (initdb into a temporary directory, loopback, a free
 * port), so that the soak may stop Postgres itself, as `pg_ctl stop -m immediate` does, without
 * touching the machine's server. The postmaster is a direct child: SIGQUIT is the immediate stop
 * (every backend quits at once, the next start runs crash recovery).
 */
export class PrivatePostgres {
  private child?: Child;

  private constructor(
    private readonly children: ChildSet,
    private readonly bin: string,
    private readonly base: string,
    private readonly logDir: string,
    readonly port: number,
    private readonly owner: { uid: number; gid: number } | undefined,
  ) {}

  /** Where initdb and postgres are, or why the soak cannot run its own cluster here. */
  static locate(): { bin: string } | { unavailable: string } {
    const root = '/usr/lib/postgresql';
    const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
    const bin = versions.map((v) => join(root, v, 'bin')).find((b) => existsSync(join(b, 'initdb')) && existsSync(join(b, 'postgres')));
    if (!bin) return { unavailable: `no initdb under ${root}` };
    // initdb and postgres refuse to run as root: as root, run them as the postgres user.
    if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) return { unavailable: 'running as root and there is no postgres user' };
    return { bin };
  }

  static async start(children: ChildSet, bin: string, logDir: string): Promise<PrivatePostgres> {
    const owner = process.getuid?.() === 0 ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) } : undefined;
    // Not under the soak's own log directory: that one is private to root (0700).
    const base = mkdtempSync(join(tmpdir(), 'locus-soak-pg-'));
    if (owner) chownSync(base, owner.uid, owner.gid);
    const init = spawnSync(join(bin, 'initdb'), ['-D', join(base, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], { ...owner, encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
    mkdirSync(logDir, { recursive: true });
    const pg = new PrivatePostgres(children, bin, base, logDir, await freePort(), owner);
    await pg.startServer();
    return pg;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}`;
  }

  /** The immediate stop: the postmaster tells every backend to quit at once, nothing is flushed gracefully. */
  async stopImmediately(): Promise<void> {
    const c = this.child;
    if (!c || c.process.exitCode !== null || c.process.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.process.once('exit', () => resolve());
      c.process.kill('SIGQUIT');
    });
  }

  /** Starts the postmaster (after a stop: crash recovery) and waits until it accepts a query. */
  async startServer(): Promise<void> {
    const args = ['-D', join(this.base, 'data'), '-p', String(this.port), '-k', this.base, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'];
    this.child = this.children.spawn('postgres', join(this.bin, 'postgres'), args, process.env, this.logDir, this.owner);
    await until(
      'the private Postgres',
      async () => {
        const c = new Client({ connectionString: `${this.url}/postgres` });
        await c.connect();
        await c.end();
        return true;
      },
      30_000,
      [this.child],
    );
  }

  get dataDir(): string {
    return join(this.base, 'data');
  }

  remove(): void {
    rmSync(this.base, { recursive: true, force: true });
  }
}
