import type { DataSource } from 'typeorm';
import { LocusError } from '@locus/contracts';
import { MoveEntity } from '@locus/eventstore';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The move a request names: by its id, or by the first 8 characters or more of it (the short id
 * the logs, `locus watch` and `--wait` print). A prefix that matches several moves is refused,
 * naming how many, so that nothing acts on the wrong one.
 */
export async function findMove(dataSource: DataSource, moveId: string): Promise<MoveEntity> {
  const repo = dataSource.getRepository(MoveEntity);
  if (UUID.test(moveId)) {
    const row = await repo.findOne({ where: { moveId: moveId.toLowerCase() } });
    if (!row) throw new LocusError('UNKNOWN_MOVE', `no move with id ${moveId}`);
    return row;
  }
  const rows = await repo
    .createQueryBuilder('m')
    .where('m.move_id::text LIKE :prefix', { prefix: `${moveId.toLowerCase()}%` })
    .limit(2)
    .getMany();
  if (rows.length === 0) throw new LocusError('UNKNOWN_MOVE', `no move whose id starts with ${moveId}`);
  if (rows.length > 1) throw new LocusError('BAD_REQUEST', `moveId ${moveId} starts more than one move's id; give more of it`);
  return rows[0];
}
