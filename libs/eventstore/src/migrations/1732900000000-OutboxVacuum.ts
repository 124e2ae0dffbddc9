import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The outbox is a queue: every event is inserted and deleted within milliseconds, so its index fills
 * with dead entries that the relay's `ORDER BY position LIMIT n` walks before the first live row
 * (about 150 blocks per batch under load with the default thresholds, which wait for 20 % of the
 * table plus 50 rows). Vacuum it after every thousand deletes, without the cost-based pause.
 */
export class OutboxVacuum1732900000000 implements MigrationInterface {
  name = 'OutboxVacuum1732900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE outbox RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay, autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)`,
    );
  }
}
