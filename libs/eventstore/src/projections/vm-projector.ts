import type { EntityManager } from 'typeorm';
import type { RecordedEvent, VmEvent } from '@locus/contracts';
import { moveIdOf, projectLocation, projectMove, type LocationRow, type MoveRow } from '@locus/domain';
import type { Projector } from '../event-store';

/**
 * Keeps `vm_location` (the authoritative location DB) and `moves` in step with the VM streams.
 * The row logic is the domain's pure reducers; this adapter only loads and saves rows.
 */
export class VmProjector implements Projector {
  readonly name = 'vm';

  async apply(events: RecordedEvent[], tx: EntityManager): Promise<void> {
    const vmEvents = events.filter((e) => e.streamId.startsWith('vm:'));
    if (vmEvents.length === 0) return;
    const vm = vmEvents[0].streamId.slice(3);
    let location = await loadLocation(tx, vm);
    const moves = new Map<string, MoveRow | undefined>();
    for (const event of vmEvents) {
      location = projectLocation(location, event);
      const moveId = moveIdOf({ type: event.type, data: event.data } as VmEvent);
      if (!moveId) continue;
      if (!moves.has(moveId)) moves.set(moveId, await loadMove(tx, moveId));
      moves.set(moveId, projectMove(moves.get(moveId), event));
    }
    if (location) await saveLocations(tx, [location]);
    await saveMoves(tx, [...moves.values()].filter((m): m is MoveRow => !!m));
  }
}

async function loadLocation(tx: EntityManager, name: string): Promise<LocationRow | undefined> {
  const rows = await tx.query(
    `SELECT name, host(ip) AS ip, mac::text AS mac, l2_domain, site, hypervisor, state, location_version, stream_version, updated_at
       FROM vm_location WHERE name = $1`,
    [name],
  );
  return rows.length ? locationFromDb(rows[0]) : undefined;
}

export function locationFromDb(r: Record<string, any>): LocationRow {
  return {
    name: r.name,
    ip: r.ip,
    mac: r.mac,
    l2Domain: r.l2_domain,
    site: r.site,
    hypervisor: r.hypervisor,
    state: r.state,
    locationVersion: r.location_version,
    streamVersion: r.stream_version,
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

async function loadMove(tx: EntityManager, moveId: string): Promise<MoveRow | undefined> {
  const rows = await tx.query(`SELECT view FROM moves WHERE move_id = $1`, [moveId]);
  return rows.length ? rows[0].view : undefined;
}

export async function saveLocations(tx: EntityManager, rows: LocationRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    const chunk = rows.slice(i, i + 1000);
    await tx.query(
      `INSERT INTO vm_location (name, ip, mac, l2_domain, site, hypervisor, state, location_version, stream_version, updated_at)
       SELECT * FROM unnest($1::text[], $2::inet[], $3::macaddr[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::int[], $10::timestamptz[])
       ON CONFLICT (name) DO UPDATE SET ip = EXCLUDED.ip, mac = EXCLUDED.mac, l2_domain = EXCLUDED.l2_domain, site = EXCLUDED.site,
         hypervisor = EXCLUDED.hypervisor, state = EXCLUDED.state, location_version = EXCLUDED.location_version,
         stream_version = EXCLUDED.stream_version, updated_at = EXCLUDED.updated_at`,
      [
        chunk.map((r) => r.name),
        chunk.map((r) => r.ip),
        chunk.map((r) => r.mac),
        chunk.map((r) => r.l2Domain),
        chunk.map((r) => r.site),
        chunk.map((r) => r.hypervisor),
        chunk.map((r) => r.state),
        chunk.map((r) => r.locationVersion),
        chunk.map((r) => r.streamVersion),
        chunk.map((r) => r.updatedAt),
      ],
    );
  }
}

export async function saveMoves(tx: EntityManager, rows: MoveRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    const chunk = rows.slice(i, i + 1000);
    await tx.query(
      `INSERT INTO moves (move_id, vm, state, request_id, accepted_at, view)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::jsonb[])
       ON CONFLICT (move_id) DO UPDATE SET state = EXCLUDED.state, view = EXCLUDED.view`,
      [
        chunk.map((r) => r.moveId),
        chunk.map((r) => r.vm),
        chunk.map((r) => r.state),
        chunk.map((r) => r.requestId),
        chunk.map((r) => r.acceptedAt),
        chunk.map((r) => JSON.stringify(r)),
      ],
    );
  }
}
