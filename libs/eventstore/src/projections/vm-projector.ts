import type { EntityManager } from 'typeorm';
import type { RecordedEvent } from '@locus/contracts';
import { hostLoadDeltas, moveIdOf, projectLocation, projectMove, type HostLoadDelta, type LocationRow, type MoveRow } from '@locus/domain';
import type { InlineProjection, Queryable } from '../event-store';

/**
 * `vm_location` (the authoritative location DB) and `moves`, kept in step with the VM streams by the
 * domain's pure reducers (`projectLocation`, `projectMove`): live in each append's own statement
 * (`VmInlineProjection`), and whole by a rebuild (`saveLocations`, `saveMoves`). Both write with the
 * same conflict clauses, so a rebuild gives the live rows.
 */
const LOCATION_ON_CONFLICT = `ON CONFLICT (name) DO UPDATE SET ip = EXCLUDED.ip, mac = EXCLUDED.mac, l2_domain = EXCLUDED.l2_domain, site = EXCLUDED.site,
  hypervisor = EXCLUDED.hypervisor, memory_mb = EXCLUDED.memory_mb, state = EXCLUDED.state, location_version = EXCLUDED.location_version,
  stream_version = EXCLUDED.stream_version, updated_at = EXCLUDED.updated_at`;
const MOVE_ON_CONFLICT = `ON CONFLICT (move_id) DO UPDATE SET state = EXCLUDED.state, view = EXCLUDED.view`;
/**
 * `host_load` as a rebuild (and the migration) computes it from the projections, per host: the memory
 * of the VMs located there and of the VMs located elsewhere whose active move heads there, the
 * operator moves running from there and the moves waiting there for a slot.
 */
export const HOST_LOAD_FROM_PROJECTIONS = `INSERT INTO host_load (hypervisor, located_mb, heading_mb, moves_running, moves_waiting)
  SELECT hypervisor, coalesce(sum(located_mb), 0), coalesce(sum(heading_mb), 0), sum(moves_running), sum(moves_waiting) FROM (
    SELECT hypervisor, memory_mb AS located_mb, 0 AS heading_mb, 0 AS moves_running, 0 AS moves_waiting FROM vm_location
    UNION ALL
    SELECT m.to_hypervisor, 0, l.memory_mb, 0, 0 FROM moves m JOIN vm_location l ON l.name = m.vm
     WHERE m.state IN ('accepted', 'in-progress') AND l.hypervisor <> m.to_hypervisor
    UNION ALL
    SELECT from_hypervisor, 0, 0, count(*) FILTER (WHERE state = 'in-progress' AND cause <> 'ha-restart'), count(*) FILTER (WHERE state = 'accepted')
      FROM moves WHERE state IN ('accepted', 'in-progress') GROUP BY from_hypervisor) per_host
  GROUP BY hypervisor`;

/** The rows one append batch writes, each with the VM stream it belongs to. */
export interface VmRows {
  locations: { streamId: string; row: LocationRow }[];
  moves: { streamId: string; row: MoveRow }[];
  /** What the batch changes in `host_load` (memory located and heading, moves running and waiting), per VM stream. */
  hostLoad: ({ streamId: string } & HostLoadDelta)[];
  /** Every VM stream of the batch with the rows its events were folded over (to remember when claimed). */
  folded: Map<string, { location?: LocationRow; moves: Map<string, MoveRow | undefined> }>;
}

/**
 * `vm_location` and `moves` written in the append's own statement (see `InlineProjection`): the
 * domain's pure reducers, folded before the insert over the rows as they stand at
 * the append's expected version. Those rows come from memory when this process wrote the stream's
 * last version (the common case: the manager appends a move's steps one after another), otherwise
 * from one query. Remembered rows are tagged with the stream version they reflect and used only for
 * an append expecting exactly that version, so another writer's append (a replica, a rebuild) is
 * never folded over a stale row: the claim would fail, or the rows are read again. A VM's active move
 * is always among its rows (read with the location, kept when remembered): `host_load` changes by the
 * difference of the rows before and after, and a relocation by a drift repair changes it too.
 */
const MOVES_REMEMBERED_PER_VM = 3;

export class VmInlineProjection implements InlineProjection<VmRows> {
  readonly name = 'vm';
  /** vm -> its location row (absent: no row) and its moves' rows, as of stream version `at`. */
  private readonly remembered = new Map<string, { at: number; location?: LocationRow; moves: Map<string, MoveRow | undefined> }>();

  /** VMs whose rows are remembered: the ones moving now are what matters (a 100,000-VM placement would otherwise leave 50,000 rows behind). */
  constructor(private readonly capacity = 4096) {}

  async prepare(pending: readonly RecordedEvent[], expected: ReadonlyMap<string, number>, db: Queryable): Promise<VmRows> {
    const vmEvents = pending.filter((e) => e.streamId.startsWith('vm:'));
    const folded = new Map<string, { location?: LocationRow; moves: Map<string, MoveRow | undefined> }>();
    const missingVms = new Set<string>();
    const missingMoves = new Set<string>();
    for (const e of vmEvents) {
      const vm = e.streamId.slice(3);
      let state = folded.get(vm);
      if (!state) {
        const known = this.remembered.get(vm);
        const fresh = known !== undefined && known.at === expected.get(e.streamId);
        state = fresh ? { location: known.location, moves: new Map(known.moves) } : { location: undefined, moves: new Map() };
        if (!fresh && expected.get(e.streamId) !== 0) missingVms.add(vm);
        folded.set(vm, state);
      }
      const moveId = moveIdOf(e);
      if (moveId && !state.moves.has(moveId)) {
        // A move's first event creates its row: nothing to read.
        if (e.type !== 'MoveAccepted') missingMoves.add(moveId);
        state.moves.set(moveId, undefined);
      }
    }
    // Rows nobody remembers are read once, outside any transaction: they reflect at least the
    // expected version (rows commit with their stream's version); a later one fails the claim. A
    // VM read so also brings its active move, if any.
    if (missingVms.size > 0 || missingMoves.size > 0) {
      const loaded = await loadRows(db, [...missingVms], [...missingMoves]);
      for (const vm of missingVms) folded.get(vm)!.location = loaded.locations.get(vm);
      for (const [moveId, row] of loaded.moves) folded.get(row.vm)?.moves.set(moveId, row);
    }
    const before = new Map([...folded].map(([vm, st]) => [vm, { location: st.location, moves: new Map(st.moves) }]));
    for (const event of vmEvents) {
      const st = folded.get(event.streamId.slice(3))!;
      st.location = projectLocation(st.location, event);
      const moveId = moveIdOf(event);
      if (moveId) st.moves.set(moveId, projectMove(st.moves.get(moveId), event));
    }
    const locations: VmRows['locations'] = [];
    const moves: VmRows['moves'] = [];
    const hostLoad: VmRows['hostLoad'] = [];
    for (const [vm, st] of folded) {
      const was = before.get(vm)!;
      const streamId = `vm:${vm}`;
      if (st.location && st.location !== was.location) locations.push({ streamId, row: st.location });
      for (const [moveId, row] of st.moves) if (row && row !== was.moves.get(moveId)) moves.push({ streamId, row });
      for (const delta of hostLoadDeltas({ location: was.location, moves: [...was.moves.values()] }, { location: st.location, moves: [...st.moves.values()] })) {
        hostLoad.push({ streamId, ...delta });
      }
    }
    return { locations, moves, hostLoad, folded };
  }

  ctes(first: number, rows: VmRows): { sql: string; params: unknown[] } {
    const $ = (i: number) => `$${first + i}`;
    const L = rows.locations.map((x) => x.row);
    const M = rows.moves.map((x) => x.row);
    return {
      // A changed row's updated_at is the recorded_at of the event that last changed it (the one at its stream_version), as a rebuild gives.
      sql: `, loc AS (
         SELECT * FROM unnest(${$(0)}::text[], ${$(1)}::text[], ${$(2)}::inet[], ${$(3)}::macaddr[], ${$(4)}::text[], ${$(5)}::text[], ${$(6)}::text[], ${$(7)}::text[], ${$(8)}::int[], ${$(9)}::int[], ${$(10)}::int[])
           AS l(stream_id, name, ip, mac, l2_domain, site, hypervisor, state, location_version, stream_version, memory_mb)
       ), saved_locations AS (
         INSERT INTO vm_location (name, ip, mac, l2_domain, site, hypervisor, state, location_version, stream_version, updated_at, memory_mb)
         SELECT l.name, l.ip, l.mac, l.l2_domain, l.site, l.hypervisor, l.state, l.location_version, l.stream_version, i.recorded_at, l.memory_mb
           FROM loc l JOIN inserted i ON i.stream_id = l.stream_id AND i.stream_version = l.stream_version
         ${LOCATION_ON_CONFLICT}
         RETURNING 1
       ), mv AS (
         SELECT * FROM ROWS FROM (unnest(${$(11)}::text[]), unnest(${$(12)}::uuid[]), unnest(${$(13)}::text[]), unnest(${$(14)}::text[]), unnest(${$(15)}::text[]), unnest(${$(16)}::timestamptz[]), jsonb_array_elements(${$(17)}::jsonb))
           AS m(stream_id, move_id, vm, state, request_id, accepted_at, view)
       ), saved_moves AS (
         INSERT INTO moves (move_id, vm, state, request_id, accepted_at, view)
         SELECT m.move_id, m.vm, m.state, m.request_id, m.accepted_at, m.view FROM mv m JOIN claimed USING (stream_id)
         ${MOVE_ON_CONFLICT}
         RETURNING 1
       ), hm AS (
         SELECT * FROM unnest(${$(18)}::text[], ${$(19)}::text[], ${$(20)}::bigint[], ${$(21)}::bigint[], ${$(22)}::int[], ${$(23)}::int[])
           AS h(stream_id, hypervisor, located_mb, heading_mb, moves_running, moves_waiting)
       ), saved_host_load AS (
         -- One row per host, in host order: two appends touching the same hosts lock them in one order.
         INSERT INTO host_load (hypervisor, located_mb, heading_mb, moves_running, moves_waiting)
         SELECT h.hypervisor, sum(h.located_mb), sum(h.heading_mb), sum(h.moves_running), sum(h.moves_waiting)
           FROM hm h JOIN claimed USING (stream_id) GROUP BY h.hypervisor ORDER BY h.hypervisor
         ON CONFLICT (hypervisor) DO UPDATE SET located_mb = host_load.located_mb + EXCLUDED.located_mb, heading_mb = host_load.heading_mb + EXCLUDED.heading_mb,
           moves_running = host_load.moves_running + EXCLUDED.moves_running, moves_waiting = host_load.moves_waiting + EXCLUDED.moves_waiting
         RETURNING 1
       )`,
      params: [
        rows.locations.map((x) => x.streamId),
        L.map((r) => r.name),
        L.map((r) => r.ip),
        L.map((r) => r.mac),
        L.map((r) => r.l2Domain),
        L.map((r) => r.site),
        L.map((r) => r.hypervisor),
        L.map((r) => r.state),
        L.map((r) => r.locationVersion),
        L.map((r) => r.streamVersion),
        L.map((r) => r.memoryMb),
        rows.moves.map((x) => x.streamId),
        M.map((r) => r.moveId),
        M.map((r) => r.vm),
        M.map((r) => r.state),
        M.map((r) => r.requestId),
        M.map((r) => r.acceptedAt),
        // One JSON array: as jsonb[] each row's quotes were escaped into an array literal.
        JSON.stringify(M),
        rows.hostLoad.map((x) => x.streamId),
        rows.hostLoad.map((x) => x.hypervisor),
        rows.hostLoad.map((x) => x.locatedMb),
        rows.hostLoad.map((x) => x.headingMb),
        rows.hostLoad.map((x) => x.movesRunning),
        rows.hostLoad.map((x) => x.movesWaiting),
      ],
    };
  }

  settle(rows: VmRows, claimed: ReadonlyMap<string, number>): void {
    for (const [vm, st] of rows.folded) {
      const at = claimed.get(`vm:${vm}`);
      this.remembered.delete(vm); // re-inserted last: the map's order is least recently written first
      if (at === undefined) continue; // not claimed: another writer moved the stream on
      // The VM's last few moves (a finished one still records its convergence) and always its active
      // one (its heading memory); an older one's later event (rare) reads its row again.
      const known = [...st.moves].filter(([, row]) => row !== undefined);
      const moves = new Map(known.filter(([, row], i) => i >= known.length - MOVES_REMEMBERED_PER_VM || row!.state === 'accepted' || row!.state === 'in-progress'));
      this.remembered.set(vm, { at, location: st.location, moves });
    }
    while (this.remembered.size > this.capacity) this.remembered.delete(this.remembered.keys().next().value!);
  }

  discard(rows: VmRows): void {
    for (const vm of rows.folded.keys()) this.remembered.delete(vm);
  }
}

/** The location rows of `vms` with their active moves, and the move rows of `moveIds`, in one query. */
async function loadRows(tx: Queryable, vms: string[], moveIds: string[]): Promise<{ locations: Map<string, LocationRow>; moves: Map<string, MoveRow> }> {
  const rows: (Partial<LocationDbRow> & { view: MoveRow | null })[] = await tx.query(
    `SELECT name, host(ip) AS ip, mac::text AS mac, l2_domain, site, hypervisor, memory_mb, state, location_version, stream_version, updated_at, NULL::jsonb AS view
       FROM vm_location WHERE name = ANY($1::text[])
     UNION ALL
     SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, view FROM moves
      WHERE move_id = ANY($2::uuid[]) OR (vm = ANY($1::text[]) AND state IN ('accepted', 'in-progress'))`,
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
async function saveProjections(tx: EntityManager, locations: LocationRow[], moves: MoveRow[]): Promise<void> {
  if (locations.length === 0 && moves.length === 0) return;
  await tx.query(
    `WITH saved_locations AS (
       INSERT INTO vm_location (name, ip, mac, l2_domain, site, hypervisor, state, location_version, stream_version, updated_at, memory_mb)
       SELECT * FROM unnest($1::text[], $2::inet[], $3::macaddr[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::int[], $10::timestamptz[], $17::int[])
       ${LOCATION_ON_CONFLICT}
       RETURNING 1
     ), saved_moves AS (
       INSERT INTO moves (move_id, vm, state, request_id, accepted_at, view)
       SELECT * FROM unnest($11::uuid[], $12::text[], $13::text[], $14::text[], $15::timestamptz[], $16::jsonb[])
       ${MOVE_ON_CONFLICT}
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
