import type { HostedState, HostInventory } from './host-inventory';

/** A row of the location DB for this host, as `vm.list {hypervisor}` gives it. */
export interface PlacedHere {
  vm: string;
  state: 'running' | 'stopped' | 'moving';
  locationVersion: number;
}

/** Where what a host holds differs from what the location DB places on it. */
export interface InventoryDifference {
  /** Held here, but the DB places them elsewhere (or nowhere): a second copy unless a move is under way. */
  extra: { vm: string; state: HostedState; locationVersion: number }[];
  /** The DB says they run here, but this host does not hold them; `seen` is the newest version this host saw (above the DB's: fenced out by an event the DB does not have). */
  missing: { vm: string; locationVersion: number; seen?: number }[];
}

/**
 * An agent's reconcile (at start with what its hypervisor still runs, and after a NATS reconnect):
 * its inventory against the DB's rows for its host. Pure; the agent reports the difference to the
 * manager's drift check, which repairs through the recorded paths. A VM moving is left out of
 * `missing` (its saga decides where it runs), not of `extra` (the manager tells a move from a copy).
 */
export function compareInventory(inv: HostInventory, placedHere: readonly PlacedHere[]): InventoryDifference {
  const placed = new Map(placedHere.map((p) => [p.vm, p]));
  const extra: InventoryDifference['extra'] = [];
  for (const [vm, held] of inv.vms) if (!placed.has(vm)) extra.push({ vm, state: held.state, locationVersion: held.locationVersion });
  const missing: InventoryDifference['missing'] = [];
  for (const p of placedHere) {
    if (p.state !== 'running' || inv.vms.has(p.vm)) continue;
    const seen = inv.seen.get(p.vm);
    missing.push({ vm: p.vm, locationVersion: p.locationVersion, ...(seen !== undefined ? { seen } : {}) });
  }
  return { extra, missing };
}
