import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The event store and the projections that form the authoritative location database.
 * Events are append-only (a trigger refuses UPDATE and DELETE); `streams` carries each
 * stream's version for expected-version appends; `outbox` holds committed events not yet
 * acknowledged by JetStream.
 */
export class InitialSchema1732600000000 implements MigrationInterface {
  name = 'InitialSchema1732600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE streams (
        stream_id text PRIMARY KEY,
        version integer NOT NULL CHECK (version > 0)
      )`);
    await q.query(`
      CREATE TABLE events (
        position bigserial PRIMARY KEY,
        id uuid NOT NULL UNIQUE,
        stream_id text NOT NULL,
        stream_version integer NOT NULL CHECK (stream_version > 0),
        type text NOT NULL,
        data jsonb NOT NULL,
        metadata jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
      )`);
    await q.query(`
      CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'events are append-only: % refused', TG_OP;
      END $$`);
    await q.query(`
      CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
      FOR EACH ROW EXECUTE FUNCTION events_are_append_only()`);
    await q.query(`
      CREATE TABLE outbox (
        position bigint PRIMARY KEY REFERENCES events(position),
        subject text NOT NULL
      )`);
    await q.query(`
      CREATE TABLE vm_location (
        name text PRIMARY KEY,
        ip inet NOT NULL,
        mac macaddr NOT NULL,
        l2_domain text NOT NULL,
        site text NOT NULL,
        hypervisor text NOT NULL,
        state text NOT NULL CHECK (state IN ('running', 'stopped', 'moving')),
        location_version integer NOT NULL CHECK (location_version > 0),
        stream_version integer NOT NULL,
        updated_at timestamptz NOT NULL,
        CONSTRAINT vm_location_ip_unique UNIQUE (ip),
        CONSTRAINT vm_location_mac_unique UNIQUE (mac)
      )`);
    await q.query(`CREATE INDEX vm_location_site ON vm_location (site)`);
    await q.query(`CREATE INDEX vm_location_hypervisor ON vm_location (hypervisor)`);
    await q.query(`
      CREATE TABLE moves (
        move_id uuid PRIMARY KEY,
        vm text NOT NULL,
        state text NOT NULL,
        request_id text,
        accepted_at timestamptz NOT NULL,
        view jsonb NOT NULL
      )`);
    // One idempotency key, one move; one active move per VM.
    await q.query(`CREATE UNIQUE INDEX moves_request_id_unique ON moves (request_id) WHERE request_id IS NOT NULL`);
    await q.query(`CREATE UNIQUE INDEX moves_one_active_per_vm ON moves (vm) WHERE state IN ('accepted', 'in-progress')`);
    await q.query(`CREATE INDEX moves_vm ON moves (vm, accepted_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE moves`);
    await q.query(`DROP TABLE vm_location`);
    await q.query(`DROP TABLE outbox`);
    await q.query(`DROP TABLE events`);
    await q.query(`DROP FUNCTION events_are_append_only`);
    await q.query(`DROP TABLE streams`);
  }
}
