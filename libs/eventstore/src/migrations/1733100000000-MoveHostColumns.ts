import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A move's source and target hypervisor and its cause as stored columns generated from `view`,
 * indexed for the active moves. Admission counts a host's running and waiting moves and sums the
 * memory heading to a target on every `vm.move`; filtered through `view` (a move's whole view, its
 * timeline included, usually TOASTed), each of those read and decompressed every active move's view
 * of the host: 120–420 blocks per call with ~1,300 queued moves (the overload bench), Postgres the
 * largest CPU user. The columns are written with the view by the same statements (nothing else
 * changes), so a rebuild of the projection fills them too.
 */
export class MoveHostColumns1733100000000 implements MigrationInterface {
  name = 'MoveHostColumns1733100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE moves
      ADD COLUMN from_hypervisor text GENERATED ALWAYS AS (view->'from'->>'hypervisor') STORED,
      ADD COLUMN to_hypervisor text GENERATED ALWAYS AS (view->'to'->>'hypervisor') STORED,
      ADD COLUMN cause text GENERATED ALWAYS AS (view->>'cause') STORED`);
    await q.query(`DROP INDEX moves_active_from`);
    await q.query(`DROP INDEX moves_active_to`);
    await q.query(`CREATE INDEX moves_active_from ON moves (from_hypervisor, state, accepted_at) WHERE state IN ('accepted', 'in-progress')`);
    await q.query(`CREATE INDEX moves_active_to ON moves (to_hypervisor) WHERE state IN ('accepted', 'in-progress')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX moves_active_from`);
    await q.query(`DROP INDEX moves_active_to`);
    await q.query(`ALTER TABLE moves DROP COLUMN from_hypervisor, DROP COLUMN to_hypervisor, DROP COLUMN cause`);
    await q.query(`CREATE INDEX moves_active_from ON moves ((view->'from'->>'hypervisor'), accepted_at) WHERE state IN ('accepted', 'in-progress')`);
    await q.query(`CREATE INDEX moves_active_to ON moves ((view->'to'->>'hypervisor')) WHERE state IN ('accepted', 'in-progress')`);
  }
}
