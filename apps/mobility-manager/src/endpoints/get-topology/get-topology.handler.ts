import type { TopologyIndex } from '@locus/topology';

/** `topology.get`: the lab topology the control plane was started with (initial placement). */
export class GetTopologyHandler {
  constructor(private readonly topology: TopologyIndex) {}

  handle(_req?: unknown): { topology: unknown } {
    return { topology: this.topology.toJSON() };
  }
}
