import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A host's committed memory is summed in the database (target capacity of every `vm.move`)
 * instead of listing every VM on the host and looking each up in the topology.
 */
export class VmMemory1732800000000 implements MigrationInterface {
  name = 'VmMemory1732800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE vm_location ADD COLUMN memory_mb integer NOT NULL DEFAULT 0`);
    // Existing rows: the memory their VmPlaced recorded (the projection keeps it from now on).
    await q.query(
      `UPDATE vm_location l SET memory_mb = (e.data->>'memoryMb')::int
         FROM events e WHERE e.stream_id = 'vm:' || l.name AND e.type = 'VmPlaced'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE vm_location DROP COLUMN memory_mb`);
  }
}
