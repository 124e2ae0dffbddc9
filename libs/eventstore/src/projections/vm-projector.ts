import type { EntityManager } from 'typeorm';
import type { RecordedEvent } from '@locus/contracts';
import { moveIdOf, projectLocation, projectMove, type LocationRow, type MoveRow } from '@locus/domain';
import type { Projector } from '../event-store';

/**
 * Keeps `vm_location` (the authoritative location DB) and `moves` in step with the VM streams.
 * The row logic is the domain's pure reducers; this adapter only loads and saves rows, set-based:
 * one query loads every touched location and move row, one statement saves the changed ones,
 * whether the events are one append's or a whole appendMany batch's.
 */
export class VmProjector implements Projector {
  readonly name = 'vm';

  async apply(events: RecordedEvent[], tx: EntityManager): Promise<void> {
    const vmEvents = events.filter((e) => e.streamId.startsWith('vm:'));
    if (vmEvents.length === 0) return;
    const moveIdOfEvent = (e: RecordedEvent) => moveIdOf(e);
    const vms = [...new Set(vmEvents.map((e) => e.streamId.slice(3)))];
    const moveIds = [...new Set(vmEvents.map(moveIdOfEvent).filter((id): id is string => !!id))];
    const loaded = await loadRows(tx, vms, moveIds);
    const locations = new Map<string, LocationRow | undefined>(loaded.locations);
    const moves = new Map<string, MoveRow | undefined>(loaded.moves);
    for (const event of vmEvents) {
      const vm = event.streamId.slice(3);
      locations.set(vm, projectLocation(locations.get(vm), event));
      const moveId = moveIdOfEvent(event);
      if (moveId) moves.set(moveId, projectMove(moves.get(moveId), event));
    }
    // The reducers return the same object when nothing changed: such rows need no write.
    const changedLocations = [...locations].filter(([vm, row]) => row && row !== loaded.locations.get(vm)).map(([, row]) => row!);
    const changedMoves = [...moves].filter(([id, row]) => row && row !== loaded.moves.get(id)).map(([, row]) => row!);
    await saveProjections(tx, changedLocations, changedMoves);
  }
}

/** The location rows of `vms` and the move rows of `moveIds`, in one query. */
async function loadRows(tx: EntityManager, vms: string[], moveIds: string[]): Promise<{ locations: Map<string, LocationRow>; moves: Map<string, MoveRow> }> {
  const rows: (Partial<LocationDbRow> & { view: MoveRow | null })[] = await tx.query(
    `SELECT name, host(ip) AS ip, mac::text AS mac, l2_domain, site, hypervisor, memory_mb, state, location_version, stream_version, updated_at, NULL::jsonb AS view
       FROM vm_location WHERE name = ANY($1::text[])
     UNION ALL
     SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, view FROM moves WHERE move_id = ANY($2::uuid[])`,
    [vms, moveIds],
  );
  const locations = new Map<string, LocationRow>();
  const moves = new Map<string, MoveRow>();
  for (const r of rows) {
    if (r.view) moves.set(r.view.moveId, r.view);
    else locations.set(r.name!, locationFromDb(r as LocationDbRow));
  }
  return { locations, moves };
}

/** A `vm_location` row as Postgres returns it (`ip` through `host()`, `mac` as text). */
export interface LocationDbRow {
  name: string;
  ip: string;
  mac: string;
  l2_domain: string;
  site: string;
  hypervisor: string;
  memory_mb: number | null;
  state: LocationRow['state'];
  location_version: number;
  stream_version: number;
  updated_at: Date | string;
}

export function locationFromDb(r: LocationDbRow): LocationRow {
  return {
    name: r.name,
    ip: r.ip,
    mac: r.mac,
    l2Domain: r.l2_domain,
    site: r.site,
    hypervisor: r.hypervisor,
    memoryMb: r.memory_mb ?? 0,
    state: r.state,
    locationVersion: r.location_version,
    streamVersion: r.stream_version,
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

/** Upserts location and move rows in one statement (nothing is sent when both are empty). */
export async function saveProjections(tx: EntityManager, locations: LocationRow[], moves: MoveRow[]): Promise<void> {
  if (locations.length === 0 && moves.length === 0) return;
  await tx.query(
    `WITH saved_locations AS (
       INSERT INTO vm_location (name, ip, mac, l2_domain, site, hypervisor, state, location_version, stream_version, updated_at, memory_mb)
       SELECT * FROM unnest($1::text[], $2::inet[], $3::macaddr[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::int[], $10::timestamptz[], $17::int[])
       ON CONFLICT (name) DO UPDATE SET ip = EXCLUDED.ip, mac = EXCLUDED.mac, l2_domain = EXCLUDED.l2_domain, site = EXCLUDED.site,
         hypervisor = EXCLUDED.hypervisor, memory_mb = EXCLUDED.memory_mb, state = EXCLUDED.state, location_version = EXCLUDED.location_version,
         stream_version = EXCLUDED.stream_version, updated_at = EXCLUDED.updated_at
       RETURNING 1
     ), saved_moves AS (
       INSERT INTO moves (move_id, vm, state, request_id, accepted_at, view)
       SELECT * FROM unnest($11::uuid[], $12::text[], $13::text[], $14::text[], $15::timestamptz[], $16::jsonb[])
       ON CONFLICT (move_id) DO UPDATE SET state = EXCLUDED.state, view = EXCLUDED.view
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM saved_locations)::int AS locations, (SELECT count(*) FROM saved_moves)::int AS moves`,
    [
      locations.map((r) => r.name),
      locations.map((r) => r.ip),
      locations.map((r) => r.mac),
      locations.map((r) => r.l2Domain),
      locations.map((r) => r.site),
      locations.map((r) => r.hypervisor),
      locations.map((r) => r.state),
      locations.map((r) => r.locationVersion),
      locations.map((r) => r.streamVersion),
      locations.map((r) => r.updatedAt),
      moves.map((r) => r.moveId),
      moves.map((r) => r.vm),
      moves.map((r) => r.state),
      moves.map((r) => r.requestId),
      moves.map((r) => r.acceptedAt),
      moves.map((r) => JSON.stringify(r)),
      locations.map((r) => r.memoryMb),
    ],
  );
}

/** Upserts location rows, 1,000 per statement (rebuilds write every VM). */
export async function saveLocations(tx: EntityManager, rows: LocationRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) await saveProjections(tx, rows.slice(i, i + 1000), []);
}

/** Upserts move rows, 1,000 per statement. */
export async function saveMoves(tx: EntityManager, rows: MoveRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) await saveProjections(tx, [], rows.slice(i, i + 1000));
}
