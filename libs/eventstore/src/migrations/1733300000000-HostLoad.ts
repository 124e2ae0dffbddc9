import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `host_memory` becomes `host_load`: beside the memory located on and heading to each hypervisor, the
 * operator moves running from it and the moves waiting there for a slot, kept by the append statement.
 * `vm.move`'s lookup and the saga's admission counted them over the host's active moves on every
 * request and every admission (O(queue length): up to 66 index entries and heap rows per host under
 * overload, with dead ones while nothing vacuums); now they read one row.
 */
export class HostLoad1733300000000 implements MigrationInterface {
  name = 'HostLoad1733300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE host_memory RENAME TO host_load`);
    await q.query(`ALTER INDEX host_memory_pkey RENAME TO host_load_pkey`);
    await q.query(`ALTER TABLE host_load ADD COLUMN moves_running int NOT NULL DEFAULT 0, ADD COLUMN moves_waiting int NOT NULL DEFAULT 0`);
    await q.query(`INSERT INTO host_load (hypervisor, located_mb, moves_running, moves_waiting)
      SELECT from_hypervisor, 0, count(*) FILTER (WHERE state = 'in-progress' AND cause <> 'ha-restart'), count(*) FILTER (WHERE state = 'accepted')
        FROM moves WHERE state IN ('accepted', 'in-progress') GROUP BY from_hypervisor
      ON CONFLICT (hypervisor) DO UPDATE SET moves_running = EXCLUDED.moves_running, moves_waiting = EXCLUDED.moves_waiting`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE host_load DROP COLUMN moves_running, DROP COLUMN moves_waiting`);
    await q.query(`ALTER INDEX host_load_pkey RENAME TO host_memory_pkey`);
    await q.query(`ALTER TABLE host_load RENAME TO host_memory`);
  }
}
