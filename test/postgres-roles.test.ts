import { Client } from 'pg';
import { provisionServiceRole } from '@locus/eventstore';
import { serviceDatabaseUrl } from '@locus/platform';
import { eventually, startTestLab, type TestLab } from './support/harness';
import { asOwner } from './support/store';

/**
 * Two login roles in one cluster: the owner of DATABASE_URL migrates, owns the tables and the
 * append-only trigger; the services log in as the service role, which can only append to and
 * read the log. Nothing the services hold can rewrite history.
 */
describe('Postgres roles: the services append and read, the owner owns', () => {
  let lab: TestLab;
  let service: Client;

  beforeAll(async () => {
    lab = await startTestLab();
    service = new Client({ connectionString: serviceDatabaseUrl(lab.config) });
    await service.connect();
  });
  afterAll(async () => {
    await service?.end();
    await lab?.stop();
  });

  it('the manager pool and the outbox relay log in as the service role, not as the owner', async () => {
    const role = lab.config.databaseServiceUser;
    expect(role).not.toBe(new URL(lab.config.databaseUrl).username);
    expect((await lab.manager.dataSource.query(`SELECT current_user AS role`))[0].role).toBe(role);
    // Every other session on the database is the service role's (the owner's migration session has ended).
    await asOwner(lab.config, (owner) =>
      eventually(
        async () => {
          const rows = await owner.query(`SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND usename IS NOT NULL`);
          return rows.length === 1 && rows[0].usename === role;
        },
        10_000,
        'only service-role sessions',
      ),
    );
  });

  it.each([
    ['UPDATE on events', `UPDATE events SET type = 'Tampered'`],
    ['DELETE on events', `DELETE FROM events`],
    ['TRUNCATE of events', `TRUNCATE events CASCADE`],
    ['DROP TRIGGER', `DROP TRIGGER events_append_only ON events`],
    ['ALTER TABLE ... DISABLE TRIGGER', `ALTER TABLE events DISABLE TRIGGER events_append_only`],
    ['ALTER TABLE ... ADD COLUMN', `ALTER TABLE events ADD COLUMN note text`],
    ['DROP of the trigger function', `DROP FUNCTION events_are_append_only() CASCADE`],
    ['DROP TABLE', `DROP TABLE outbox`],
    ['CREATE TABLE', `CREATE TABLE shadow_events (x int)`],
    ['DELETE on the projections', `DELETE FROM vm_location`],
    ['reading the migrations', `SELECT * FROM migrations`],
  ])('refuses %s to the service role with a permission error', async (_what, sql) => {
    await expect(service.query(sql)).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(/permission denied|must be owner/) });
  });

  it('the trigger and every table stay the owner’s, and the log is untouched', async () => {
    const owners = await asOwner(lab.config, (owner) =>
      owner.query(
        `SELECT c.relname AS name, pg_get_userbyid(c.relowner) AS owner FROM pg_class c
          WHERE c.relname IN ('events', 'streams', 'outbox', 'vm_location', 'moves') ORDER BY 1`,
      ),
    );
    const owner = new URL(lab.config.databaseUrl).username;
    expect(owners).toEqual(['events', 'moves', 'outbox', 'streams', 'vm_location'].map((name) => ({ name, owner })));
    const trigger = await service.query(`SELECT tgenabled FROM pg_trigger WHERE tgname = 'events_append_only'`);
    expect(trigger.rows).toEqual([{ tgenabled: 'O' }]);
    expect((await service.query(`SELECT count(*)::int AS n FROM events WHERE type = 'Tampered'`)).rows[0].n).toBe(0);
  });

  it('every start sets the grants back to what is declared: a privilege granted by hand is revoked', async () => {
    await asOwner(lab.config, (owner) => owner.query(`GRANT UPDATE, DELETE, TRUNCATE ON events TO ${lab.config.databaseServiceUser}`));
    await expect(service.query(`SELECT has_table_privilege('events', 'UPDATE') AS can`)).resolves.toMatchObject({ rows: [{ can: true }] });
    const report = await provisionServiceRole(lab.config.databaseUrl, serviceDatabaseUrl(lab.config));
    expect(report).toEqual({ role: lab.config.databaseServiceUser, created: false });
    for (const privilege of ['UPDATE', 'DELETE', 'TRUNCATE'])
      await expect(service.query(`SELECT has_table_privilege('events', $1) AS can`, [privilege])).resolves.toMatchObject({ rows: [{ can: false }] });
    await expect(service.query(`UPDATE events SET type = 'Tampered'`)).rejects.toMatchObject({ code: '42501' });
  });

  it('says so when the services would log in as the owner (one role: history could be rewritten)', async () => {
    const report = await provisionServiceRole(lab.config.databaseUrl, lab.config.databaseUrl);
    expect(report.unrestricted).toMatch(/owner of the tables/);
  });

  it('a move still runs end to end as the service role: appended, projected, relayed and completed', async () => {
    const before = await lab.vmEventCount('web-01');
    const accepted = await lab.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
    expect(accepted).toMatchObject({ ok: true });
    expect((await lab.waitForMove(accepted.moveId, ['completed'])).state).toMatch(/completed|converged/);
    expect((await lab.req('vm.get', { vm: 'web-01' })).vm).toMatchObject({ hypervisor: 'dc2-hv1', locationVersion: 2, state: 'running' });
    expect(await lab.vmEventCount('web-01')).toBeGreaterThan(before);
    await lab.manager.relay.drained();
    expect((await service.query(`SELECT count(*)::int AS n FROM outbox`)).rows[0].n).toBe(0);
  });
});
