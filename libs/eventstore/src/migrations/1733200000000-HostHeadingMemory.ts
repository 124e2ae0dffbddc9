import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The memory heading to each hypervisor (VMs located elsewhere whose active move targets it), kept
 * in `host_memory` by the append statement beside the located memory. `vm.move`'s capacity check
 * summed it over the active moves to the target on every request: under overload (~1,300 moves
 * queued) 850–1,130 buffer hits per lookup, most in that sum's index and heap. Now it reads one row.
 * The index the sum used is dropped (nothing else reads it; every move update wrote it).
 */
export class HostHeadingMemory1733200000000 implements MigrationInterface {
  name = 'HostHeadingMemory1733200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE host_memory ADD COLUMN heading_mb bigint NOT NULL DEFAULT 0`);
    await q.query(`INSERT INTO host_memory (hypervisor, located_mb, heading_mb)
      SELECT m.to_hypervisor, 0, sum(l.memory_mb) FROM moves m JOIN vm_location l ON l.name = m.vm
       WHERE m.state IN ('accepted', 'in-progress') AND l.hypervisor <> m.to_hypervisor GROUP BY m.to_hypervisor
      ON CONFLICT (hypervisor) DO UPDATE SET heading_mb = EXCLUDED.heading_mb`);
    await q.query(`DROP INDEX moves_active_to`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX moves_active_to ON moves (to_hypervisor) WHERE state IN ('accepted', 'in-progress')`);
    await q.query(`ALTER TABLE host_memory DROP COLUMN heading_mb`);
  }
}
