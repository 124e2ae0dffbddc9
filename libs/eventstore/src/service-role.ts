import { Client, escapeIdentifier, escapeLiteral } from 'pg';
import type { Logger } from 'pino';

/**
 * What the services' Postgres role may do, table by table, and nothing else: append to and read
 * the log, claim stream versions, keep the outbox and the projections. Never UPDATE, DELETE or
 * TRUNCATE on `events`, no DDL, and it owns nothing (only the owner may drop or disable the
 * append-only trigger, or alter a table).
 */
export const SERVICE_GRANTS: Readonly<Record<string, readonly string[]>> = {
  events: ['SELECT', 'INSERT'],
  // expected-version claims: INSERT a new stream, UPDATE ... WHERE version = expected (FOR UPDATE)
  streams: ['SELECT', 'INSERT', 'UPDATE'],
  // the relay locks a batch (FOR UPDATE SKIP LOCKED needs UPDATE) and deletes what it published
  outbox: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  // projections are upserted in the append transaction
  vm_location: ['SELECT', 'INSERT', 'UPDATE'],
  moves: ['SELECT', 'INSERT', 'UPDATE'],
  host_load: ['SELECT', 'INSERT', 'UPDATE'],
};
/** `events.position` is a bigserial: appending takes its next value. */
const SERVICE_SEQUENCES = ['events_position_seq'];

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface ServiceRoleReport {
  role: string;
  /** Created by this start (it did not exist). */
  created: boolean;
  /** The service role is the owner, a superuser or a member of the owner: it could still rewrite history. */
  unrestricted?: string;
}

/**
 * Run as the owner (migration) role after the migrations: creates the service role when missing
 * (LOGIN, with the password of its URL if it has one; needs CREATEROLE) and sets its privileges on
 * the store's tables to exactly `SERVICE_GRANTS`, revoking anything else, so every start leaves
 * them as declared. One transaction under an advisory lock: two managers starting together do
 * not interleave their grants.
 */
export async function provisionServiceRole(ownerUrl: string, serviceUrl: string, logger?: Logger): Promise<ServiceRoleReport> {
  const service = new URL(serviceUrl);
  const role = decodeURIComponent(service.username);
  if (!ROLE_NAME.test(role)) throw new Error(`the service role "${role}" must be lower-case letters, digits and underscores`);
  const password = service.password ? decodeURIComponent(service.password) : undefined;
  const log = logger?.child({ component: 'event-store' });
  const client = new Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const owner: string = (await client.query(`SELECT current_user AS owner`)).rows[0].owner;
    if (owner === role) {
      const unrestricted = `the services log in as ${role}, the owner of the tables: they could drop the append-only trigger and rewrite history`;
      log?.warn({ role }, unrestricted);
      return { role, created: false, unrestricted };
    }
    const created = await createRoleIfMissing(client, role, owner, password);
    if (created) log?.info({ role }, `created the service role ${role}`);
    const id = escapeIdentifier(role);
    await client.query('BEGIN');
    try {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('locus-service-grants'))`);
      await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${id}`);
      await client.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ${id}`);
      // Before Postgres 15 every role could create tables in public: only the owner may here. Where the
      // schema is not the owner's to change this is skipped (a savepoint keeps the grants going).
      await client.query('SAVEPOINT public_create');
      await client.query(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`).catch(() => client.query('ROLLBACK TO SAVEPOINT public_create'));
      await client.query(`GRANT USAGE ON SCHEMA public TO ${id}`);
      for (const [table, privileges] of Object.entries(SERVICE_GRANTS)) await client.query(`GRANT ${privileges.join(', ')} ON TABLE ${escapeIdentifier(table)} TO ${id}`);
      for (const sequence of SERVICE_SEQUENCES) await client.query(`GRANT USAGE ON SEQUENCE ${escapeIdentifier(sequence)} TO ${id}`);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    const { rows } = await client.query(
      `SELECT r.rolsuper OR pg_has_role(r.oid, c.relowner, 'USAGE') AS unrestricted FROM pg_roles r, pg_class c WHERE r.rolname = $1 AND c.oid = 'events'::regclass`,
      [role],
    );
    if (rows[0]?.unrestricted) {
      const unrestricted = `the service role ${role} is a superuser or a member of the tables' owner: it could drop the append-only trigger and rewrite history`;
      log?.warn({ role }, unrestricted);
      return { role, created, unrestricted };
    }
    log?.info({ role, owner, grants: SERVICE_GRANTS }, `the services connect as ${role}: they append to and read the log, ${owner} owns the tables and the append-only trigger`);
    return { role, created };
  } finally {
    await client.end();
  }
}

async function createRoleIfMissing(client: Client, role: string, owner: string, password?: string): Promise<boolean> {
  const found = await client.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [role]);
  if (found.rowCount) return false;
  try {
    await client.query(`CREATE ROLE ${escapeIdentifier(role)} LOGIN${password ? ` PASSWORD ${escapeLiteral(password)}` : ''}`);
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    // Roles are the cluster's: another database's manager (a parallel test, a second lab) may have just created it.
    if (code === '42710' || code === '23505') return false;
    if (code === '42501')
      throw new Error(
        `the service role ${role} does not exist and ${owner} may not create roles: create it (CREATE ROLE ${role} LOGIN PASSWORD '...'), or set LOCUS_DATABASE_SERVICE_USER to a login role that exists`,
      );
    throw err;
  }
}
