import type { DriftLocation, MoveRow } from '@locus/domain';
import type { Queryable } from '../event-store';
import { isDataSource, preparedQuery } from '../prepared';

/** Where a VM is, as the location database says. */
export interface VmLocationRow {
  name: string;
  l2Domain: string;
  hypervisor: string;
  site: string;
}

/** A host's outbound moves: operator moves running from it (HA restarts take no slot) and moves waiting for a slot. */
export interface OutboundCounts {
  active: number;
  waiting: number;
}

/** What `vm.move` decides on: the move an earlier request with the same `requestId` made, and where the VM is with its host's outbound moves. */
export interface MoveRequestContext {
  requested?: MoveRow;
  host?: VmLocationRow & OutboundCounts;
  /** Memory committed on the requested target, when asked for and the request is not refused for its queue first. */
  targetUsedMb?: number;
}

/**
 * Memory committed on the hypervisor `host` (an SQL expression): VMs located there and VMs heading
 * there by an active move (`host_load`, kept by the appends), less the VM `vm`'s own share (located
 * there, or its active move heading there: at most one row each).
 */
const committedMbSql = (host: string, vm: string) => `(coalesce((SELECT located_mb + heading_mb FROM host_load WHERE hypervisor = ${host}), 0)
            - coalesce((SELECT memory_mb FROM vm_location WHERE name = ${vm} AND hypervisor = ${host}), 0)
            - coalesce((SELECT l.memory_mb FROM moves m JOIN vm_location l ON l.name = m.vm
                WHERE m.vm = ${vm} AND m.state IN ('accepted', 'in-progress') AND m.to_hypervisor = ${host} AND l.hypervisor <> ${host}), 0))`;

/** A VM's location as the drift detector compares it (its host always given). */
export type DriftLocationRow = DriftLocation & { hypervisor: string };

const DRIFT_COLUMNS = `name AS vm, host(ip) AS ip, site, hypervisor, state, location_version AS "locationVersion"`;

/**
 * The mobility manager's reads of the projections `moves` and `vm_location`, one named query each,
 * so that a handler or a process says what it asks ("operator moves running from this host") and
 * the SQL lives in one place, beside the tables it reads (written only by the projector).
 */
export class MoveReadModel {
  constructor(private readonly db: Queryable) {}

  /** A read the services run for every move: prepared once per pooled session (inside a transaction, as given). */
  private async rows<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    if (isDataSource(this.db)) return preparedQuery<T>(this.db, sql, parameters);
    return (await this.db.query(sql, parameters)) as T[];
  }

  // ---- vm_location ----

  /** Where the VM is; undefined for a VM the location database does not have. */
  async location(vm: string): Promise<VmLocationRow | undefined> {
    const [row] = await this.rows<VmLocationRow>(`SELECT name, l2_domain AS "l2Domain", hypervisor, site FROM vm_location WHERE name = $1`, [vm]);
    return row;
  }

  /**
   * What `vm.move` decides on, for many requests in one query (for a group read), in the order given:
   * the move an earlier request with the same `requestId` made (if any), and where the VM is with
   * its host's outbound moves (no `host` for an unknown VM). For a
   * request that names its target `to`, also the memory committed there (`memoryCommittedMb(to, vm)`)
   * when the VM is known and its host has fewer than `maxWaiting` moves waiting: a request that
   * will be refused for its queue costs no sum.
   */
  async moveRequestContexts(requests: readonly { vm: string; requestId?: string; to?: string }[], maxWaiting?: number): Promise<MoveRequestContext[]> {
    const rows = await this.rows<{ ord: number; requested: MoveRow | null; name: string | null; targetUsedMb: number | string | null } & VmLocationRow & OutboundCounts>(
      `SELECT r.ord::int AS ord, (SELECT view FROM moves WHERE request_id = r.request_id) AS requested, l.*,
              CASE WHEN l.name IS NOT NULL AND r.target IS NOT NULL AND ($4::int IS NULL OR l.waiting < $4) THEN ${committedMbSql('r.target', 'r.vm')} END AS "targetUsedMb"
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS r (vm, request_id, target, ord) LEFT JOIN LATERAL (
           SELECT l.name, l.l2_domain AS "l2Domain", l.hypervisor, l.site, coalesce(h.moves_running, 0) AS active, coalesce(h.moves_waiting, 0) AS waiting
             FROM vm_location l LEFT JOIN host_load h ON h.hypervisor = l.hypervisor WHERE l.name = r.vm) l ON true
        ORDER BY r.ord`,
      [requests.map((r) => r.vm), requests.map((r) => r.requestId ?? null), requests.map((r) => r.to ?? null), Number.isFinite(maxWaiting) ? Math.min(maxWaiting!, 2 ** 31 - 1) : null],
    );
    return rows.map(({ ord: _ord, requested, targetUsedMb, ...host }) => ({
      ...(requested ? { requested } : {}),
      ...(host.name !== null ? { host: host as VmLocationRow & OutboundCounts } : {}),
      ...(targetUsedMb !== null ? { targetUsedMb: Number(targetUsedMb) } : {}),
    }));
  }

  /** The VMs located on a hypervisor, by name. */
  async vmsOn(hypervisor: string): Promise<string[]> {
    return (await this.rows<{ name: string }>(`SELECT name FROM vm_location WHERE hypervisor = $1 ORDER BY name`, [hypervisor])).map((r) => r.name);
  }

  /** Memory committed on a hypervisor: VMs located there plus VMs heading there by an active move (`host_load`), less `except`'s share. */
  async memoryCommittedMb(hypervisor: string, except?: string): Promise<number> {
    const [row] = await this.rows<{ used: number | string }>(`SELECT ${committedMbSql('$1', '$2')} AS used`, [hypervisor, except ?? '']);
    return Number(row?.used ?? 0);
  }

  /** How many VMs the location database holds. */
  async vmCount(): Promise<number> {
    const [row] = await this.rows<{ n: number }>(`SELECT count(*)::int AS n FROM vm_location`);
    return row?.n ?? 0;
  }

  /** The next `limit` VMs by name after `after` (from the first when undefined), as the drift detector compares them. */
  async driftLocationsAfter(after: string | undefined, limit: number): Promise<DriftLocationRow[]> {
    return this.rows<DriftLocationRow>(`SELECT ${DRIFT_COLUMNS} FROM vm_location WHERE ($1::text IS NULL OR name > $1) ORDER BY name LIMIT $2`, [after ?? null, limit]);
  }

  /** The named VMs the location database has, by name, as the drift detector compares them. */
  async driftLocationsNamed(names: readonly string[]): Promise<DriftLocationRow[]> {
    return this.rows<DriftLocationRow>(`SELECT ${DRIFT_COLUMNS} FROM vm_location WHERE name = ANY($1::text[]) ORDER BY name`, [[...new Set(names)]]);
  }

  /** The VMs that own these IPs, as the drift detector compares them. */
  async driftLocationsByIp(ips: readonly string[]): Promise<DriftLocationRow[]> {
    return ips.length ? this.rows<DriftLocationRow>(`SELECT ${DRIFT_COLUMNS} FROM vm_location WHERE ip = ANY($1::inet[])`, [ips]) : [];
  }

  // ---- moves ----

  /** Operator moves running from a host (HA restarts take no outbound slot): `host_load`'s count. */
  async operatorMovesRunningFrom(hypervisor: string): Promise<number> {
    const [row] = await this.rows<{ n: number }>(`SELECT moves_running AS n FROM host_load WHERE hypervisor = $1`, [hypervisor]);
    return row?.n ?? 0;
  }

  /** A host's operator moves running and its `limit` oldest moves waiting for a slot, in one query (what admission decides on when a move ends). */
  async outboundQueueOf(hypervisor: string, limit: number): Promise<{ running: number; queued: { moveId: string; vm: string }[] }> {
    const [row] = await this.rows<{ running: number; queued: { moveId: string; vm: string }[] | null }>(
      `SELECT coalesce((SELECT moves_running FROM host_load WHERE hypervisor = $1), 0) AS running,
              (SELECT json_agg(json_build_object('moveId', q.move_id, 'vm', q.vm)) FROM (
                 SELECT move_id, vm FROM moves WHERE state = 'accepted' AND from_hypervisor = $1 ORDER BY accepted_at, move_id LIMIT $2) q) AS queued`,
      [hypervisor, limit],
    );
    return { running: row?.running ?? 0, queued: row?.queued ?? [] };
  }

  /** Moves of the same source host accepted before this one and still waiting. */
  async queuedAhead(hypervisor: string, acceptedAt: string, moveId: string): Promise<number> {
    const [row] = await this.rows<{ ahead: number }>(
      `SELECT count(*)::int AS ahead FROM moves WHERE state = 'accepted' AND from_hypervisor = $1
         AND (accepted_at, move_id) < ($2::timestamptz, $3::uuid)`,
      [hypervisor, acceptedAt, moveId],
    );
    return row?.ahead ?? 0;
  }

  /** The source host of a move; undefined for a move the projection does not have. */
  async sourceHostOf(moveId: string): Promise<string | undefined> {
    const [row] = await this.rows<{ host: string | null }>(`SELECT from_hypervisor AS host FROM moves WHERE move_id = $1`, [moveId]);
    return row?.host ?? undefined;
  }

  /** The VM's move accepted or in progress, if any. */
  async activeMoveOf(vm: string): Promise<{ moveId: string; state: string } | undefined> {
    const [row] = await this.rows<{ moveId: string; state: string }>(`SELECT move_id AS "moveId", state FROM moves WHERE vm = $1 AND state IN ('accepted', 'in-progress') LIMIT 1`, [vm]);
    return row;
  }

  /** A move's projected view. */
  async moveView(moveId: string): Promise<MoveRow | undefined> {
    const [row] = await this.rows<{ view: MoveRow }>(`SELECT view FROM moves WHERE move_id = $1`, [moveId]);
    return row?.view;
  }

  /** A move's mode (cold, warm, hot). */
  async moveMode(moveId: string): Promise<string | undefined> {
    const [row] = await this.rows<{ mode: string | null }>(`SELECT view->>'mode' AS mode FROM moves WHERE move_id = $1`, [moveId]);
    return row?.mode ?? undefined;
  }

  /**
   * When the oldest move not converged yet within the lookback was accepted (a late one may still
   * converge). A completed move whose VM has completed a later move is superseded (its planes follow
   * the newer location): it would only pin the replay further back. Undefined: none.
   */
  async oldestUnconvergedAcceptedAt(lookbackMs: number): Promise<Date | undefined> {
    const [row] = await this.rows<{ since: Date | string | null }>(
      `SELECT min(m.accepted_at) AS since FROM moves m
        WHERE m.state IN ('accepted', 'in-progress', 'completed') AND m.accepted_at > now() - ($1::int * interval '1 millisecond')
          AND NOT (m.state = 'completed' AND EXISTS (
            SELECT 1 FROM moves later WHERE later.vm = m.vm AND later.accepted_at > m.accepted_at AND later.state IN ('completed', 'converged')))`,
      [lookbackMs],
    );
    return row?.since ? new Date(row.since) : undefined;
  }
}
