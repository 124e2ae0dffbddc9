import type { NatsConnection } from 'nats';
import { mappingSubjects, type MapResolveReply, type MapResolveRequest, type MappingView } from '@locus/contracts';
import { hostEid, type MappingClock, type SitePolicy } from '@locus/domain';
import { requestJson } from '@locus/messaging';
import { checkItrKnown } from '../shared/mapping-sites';
import type { MapServerService } from '../map-server/map-server.service';
import { flatten, registrationView } from '../shared/views';

/**
 * `map.resolve {"eid"}`: the map-resolver's answer (nothing is remembered about the asker).
 * `{"eid","itr"}`: what that ITR's cache holds; `{"eid","itr","forward":true}`: a packet for the EID
 * at that ITR (a miss resolves and caches). ITR questions go to the ITR wherever it runs.
 */
export class ResolveEidHandler {
  constructor(
    private readonly mapServer: MapServerService,
    private readonly deps: { nc: NatsConnection; prefix: string; policy: SitePolicy; clock: MappingClock; negativeTtlMin: number },
  ) {}

  async handle(req: MapResolveRequest): Promise<MapResolveReply | object> {
    if (req.itr) {
      checkItrKnown(this.deps.policy, req.itr);
      return requestJson(this.deps.nc, mappingSubjects(this.deps.prefix).itr(req.itr), { op: 'resolve', eid: req.eid, ...(req.forward ? { forward: true } : {}) }, 5000);
    }
    const entry = this.mapServer.server.resolve(req.eid);
    const view: MappingView = entry
      ? registrationView(entry, this.deps.clock.lab())
      : { prefix: hostEid(req.eid), negative: true, ttl: this.deps.negativeTtlMin, expiresInS: this.deps.negativeTtlMin * 60 };
    return { ok: true, eid: req.eid, source: 'map-resolver', ...flatten(view), mapping: view } satisfies MapResolveReply;
  }
}
