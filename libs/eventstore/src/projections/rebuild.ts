import type { DataSource } from 'typeorm';
import { moveIdOf, projectLocation, projectMove, type LocationRow, type MoveRow } from '@locus/domain';
import { toRecorded } from '../event-store';
import { HOST_LOAD_FROM_PROJECTIONS, saveLocations, saveMoves } from './vm-projector';

export interface RebuildReport {
  events: number;
  vms: number;
  moves: number;
  ms: number;
}

/**
 * Replays the whole log into fresh projections, in one transaction: readers see the old
 * tables until the new ones commit. Appends wait meanwhile (the streams table is locked),
 * so the rebuilt tables are exactly the log's.
 */
export async function rebuildProjections(dataSource: DataSource): Promise<RebuildReport> {
  const started = Date.now();
  return dataSource.transaction('REPEATABLE READ', async (tx) => {
    await tx.query(`LOCK TABLE streams IN EXCLUSIVE MODE`);
    const locations = new Map<string, LocationRow | undefined>();
    const moves = new Map<string, MoveRow | undefined>();
    let count = 0;
    let after = '0';
    for (;;) {
      const rows = await tx.query(
        `SELECT position, id, stream_id, stream_version, type, data, metadata, recorded_at
           FROM events WHERE position > $1 ORDER BY position LIMIT 5000`,
        [after],
      );
      if (rows.length === 0) break;
      for (const row of rows) {
        const event = toRecorded(row);
        if (!event.streamId.startsWith('vm:')) continue;
        const vm = event.streamId.slice(3);
        locations.set(vm, projectLocation(locations.get(vm), event));
        const moveId = moveIdOf(event);
        if (moveId) moves.set(moveId, projectMove(moves.get(moveId), event));
        count++;
      }
      after = String(rows[rows.length - 1].position);
    }
    await tx.query(`TRUNCATE vm_location, moves, host_load`);
    const locationRows = [...locations.values()].filter((r): r is LocationRow => !!r);
    const moveRows = [...moves.values()].filter((r): r is MoveRow => !!r);
    await saveLocations(tx, locationRows);
    await saveMoves(tx, moveRows);
    await tx.query(HOST_LOAD_FROM_PROJECTIONS);
    return { events: count, vms: locationRows.length, moves: moveRows.length, ms: Date.now() - started };
  });
}
