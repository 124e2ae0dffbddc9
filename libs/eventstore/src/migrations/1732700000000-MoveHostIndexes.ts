import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Admission (outbound moves per source host), queue positions and target capacity look moves up
 * by host: index the hosts inside the move view instead of scanning every move ever made.
 */
export class MoveHostIndexes1732700000000 implements MigrationInterface {
  name = 'MoveHostIndexes1732700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX moves_active_from ON moves ((view->'from'->>'hypervisor'), accepted_at) WHERE state IN ('accepted', 'in-progress')`);
    await q.query(`CREATE INDEX moves_active_to ON moves ((view->'to'->>'hypervisor')) WHERE state IN ('accepted', 'in-progress')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX moves_active_to`);
    await q.query(`DROP INDEX moves_active_from`);
  }
}
