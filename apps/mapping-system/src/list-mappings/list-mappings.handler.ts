import type { NatsConnection } from 'nats';
import { mappingSubjects, type MapListReply, type MapListRequest } from '@locus/contracts';
import type { MappingClock, SitePolicy } from '@locus/domain';
import { requestJson } from '@locus/messaging';
import { checkItrKnown } from '../shared/mapping-sites';
import type { MapServerService } from '../map-server/map-server.service';
import { registrationView } from '../shared/views';

/**
 * `map.list {}`: the map-server's registrations (and its counters); `{"itr"}`: that ITR's cache.
 * First `limit` (default 1000) by prefix; `eids`: only the entries of those prefixes.
 */
export class ListMappingsHandler {
  constructor(
    private readonly mapServer: MapServerService,
    private readonly deps: { nc: NatsConnection; prefix: string; policy: SitePolicy; clock: MappingClock },
  ) {}

  async handle(req: MapListRequest): Promise<MapListReply | object> {
    const limit = req.limit ?? 1000;
    if (req.itr) {
      checkItrKnown(this.deps.policy, req.itr);
      return requestJson(this.deps.nc, mappingSubjects(this.deps.prefix).itr(req.itr), { op: 'list', limit, ...(req.eids ? { eids: req.eids } : {}) }, 5000);
    }
    const { total, entries } = this.mapServer.server.list(limit, req.eids);
    const lab = this.deps.clock.lab();
    return { ok: true, source: 'map-server', total, entries: entries.map((e) => registrationView(e, lab)), stats: this.mapServer.server.stats() } satisfies MapListReply;
  }
}
