import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LAB_ASN, versionCommunity, versionFromCommunities, type HostRoute, type LargeCommunity, type RibPath } from '@locus/domain';
import { gobgpProtoDir } from './repo-root';

/**
 * A small client for GoBGP's gRPC API (AddPath, DeletePath, ListPath, WatchEvent, ListPeer,
 * GetBgp), from the vendored .proto files. Paths are built with `google.protobuf.Any`
 * objects (`@type` + fields), which protobufjs packs because attribute.proto is loaded too.
 */
type Api = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/** The parts of GoBGP's messages this client reads (protobufjs with `keepCase`: snake_case fields). */
interface ApiAttribute {
  '@type'?: string;
  next_hop?: string;
  local_pref?: number;
  communities?: { global_admin: number; local_data1: number; local_data2: number }[];
}
export interface ApiPath {
  pattrs?: ApiAttribute[];
  neighbor_ip?: string;
  best?: boolean;
}
interface ListPathReply {
  destination?: { prefix: string; paths?: ApiPath[] };
}
interface ListPeerReply {
  peer?: { conf?: { neighbor_address?: string }; state?: { session_state?: string } };
}

let ctor: grpc.ServiceClientConstructor | undefined;

function apiConstructor() {
  if (ctor) return ctor;
  const dir = gobgpProtoDir();
  const definition = protoLoader.loadSync(['gobgp.proto', 'attribute.proto', 'capability.proto'], {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
    json: true,
    includeDirs: [dir],
  });
  const apipb = grpc.loadPackageDefinition(definition).apipb as grpc.GrpcObject;
  ctor = apipb.GobgpApi as grpc.ServiceClientConstructor;
  return ctor;
}

const T = (name: string) => `type.googleapis.com/apipb.${name}`;
const IPV4_UNICAST = { afi: 'AFI_IP', safi: 'SAFI_UNICAST' };

export function toApiPath(route: Pick<HostRoute, 'prefix' | 'nextHop' | 'localPref'> & { locationVersion?: number }, asn = LAB_ASN) {
  const [prefix, len] = route.prefix.split('/');
  const pattrs: object[] = [
    { '@type': T('OriginAttribute'), origin: 0 },
    { '@type': T('NextHopAttribute'), next_hop: route.nextHop },
    { '@type': T('LocalPrefAttribute'), local_pref: route.localPref },
  ];
  if (route.locationVersion !== undefined) {
    const c = versionCommunity(route.locationVersion, asn);
    pattrs.push({ '@type': T('LargeCommunitiesAttribute'), communities: [{ global_admin: c.globalAdmin, local_data1: c.localData1, local_data2: c.localData2 }] });
  }
  return { family: IPV4_UNICAST, nlri: { '@type': T('IPAddressPrefix'), prefix, prefix_len: Number(len ?? 32) }, pattrs };
}

export function fromApiPath(prefix: string, p: ApiPath, asn = LAB_ASN): RibPath {
  let nextHop = '';
  let localPref = 100;
  let communities: LargeCommunity[] = [];
  for (const a of p.pattrs ?? []) {
    const type = String(a['@type'] ?? '');
    if (type.endsWith('.NextHopAttribute')) nextHop = a.next_hop ?? '';
    else if (type.endsWith('.LocalPrefAttribute')) localPref = a.local_pref ?? 0;
    else if (type.endsWith('.LargeCommunitiesAttribute')) communities = (a.communities ?? []).map((c) => ({ globalAdmin: c.global_admin, localData1: c.local_data1, localData2: c.local_data2 }));
  }
  const neighbour = p.neighbor_ip && p.neighbor_ip !== '<nil>' ? String(p.neighbor_ip) : '';
  return { prefix, nextHop, localPref, locationVersion: versionFromCommunities(communities, asn), best: !!p.best, neighbour };
}

export class GoBgpClient {
  private readonly api: Api;

  constructor(
    readonly address: string,
    private readonly asn = LAB_ASN,
  ) {
    const Ctor = apiConstructor();
    this.api = new Ctor(address, grpc.credentials.createInsecure()) as Api;
  }

  private unary<T = unknown>(method: string, request: object, timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      this.api[method](request, { deadline: Date.now() + timeoutMs }, (err: Error | null, reply: T) => (err ? reject(err) : resolve(reply)));
    });
  }

  private stream<T>(method: string, request: object, timeoutMs = 5000): Promise<T[]> {
    return new Promise((resolve, reject) => {
      const out: T[] = [];
      const call = this.api[method](request, { deadline: Date.now() + timeoutMs }) as grpc.ClientReadableStream<T>;
      call.on('data', (d: T) => out.push(d));
      call.on('end', () => resolve(out));
      call.on('error', reject);
    });
  }

  getBgp(timeoutMs = 2000): Promise<unknown> {
    return this.unary('GetBgp', {}, timeoutMs);
  }

  async addPath(route: Pick<HostRoute, 'prefix' | 'nextHop' | 'localPref'> & { locationVersion?: number }): Promise<void> {
    await this.unary('AddPath', { table_type: 'GLOBAL', path: toApiPath(route, this.asn) });
  }

  async deletePath(path: RibPath): Promise<void> {
    await this.unary('DeletePath', { table_type: 'GLOBAL', family: IPV4_UNICAST, path: toApiPath(path, this.asn) });
  }

  /** Every path of the global RIB (all paths per destination, `best` marked), or only those of the given prefixes (exact; an empty list: none). */
  async listPaths(prefix?: string | readonly string[]): Promise<RibPath[]> {
    const request: { table_type: string; family: typeof IPV4_UNICAST; prefixes?: { prefix: string; type: string }[] } = { table_type: 'GLOBAL', family: IPV4_UNICAST };
    if (typeof prefix === 'string') request.prefixes = [{ prefix, type: 'EXACT' }];
    else if (prefix) {
      if (prefix.length === 0) return [];
      request.prefixes = prefix.map((p) => ({ prefix: p, type: 'EXACT' }));
    }
    const replies = await this.stream<ListPathReply>('ListPath', request);
    return replies.flatMap(({ destination }) => (destination?.paths ?? []).map((p) => fromApiPath(destination!.prefix, p, this.asn)));
  }

  async peers(): Promise<{ address: string; state: string }[]> {
    const replies = await this.stream<ListPeerReply>('ListPeer', {});
    return replies.map((r) => ({ address: r.peer?.conf?.neighbor_address ?? '', state: r.peer?.state?.session_state ?? 'UNKNOWN' }));
  }

  /** Calls `onChange` on every received-path update (ADJIN) until the returned function is called; reconnects on errors. */
  watch(onChange: () => void, onError?: (err: Error) => void): () => void {
    let closed = false;
    let call: grpc.ClientReadableStream<unknown> | undefined;
    let retry: NodeJS.Timeout | undefined;
    const open = () => {
      if (closed) return;
      const c = this.api.WatchEvent({
        table: {
          filters: [
            { type: 'ADJIN', init: false },
            { type: 'BEST', init: false },
          ],
        },
      }) as grpc.ClientReadableStream<unknown>;
      call = c;
      c.on('data', () => onChange());
      c.on('error', (err: Error & { code?: number }) => {
        if (closed || err.code === grpc.status.CANCELLED) return;
        onError?.(err);
        retry = setTimeout(open, 500);
      });
      c.on('end', () => {
        if (!closed) retry = setTimeout(open, 500);
      });
    };
    open();
    return () => {
      closed = true;
      if (retry) clearTimeout(retry);
      call?.cancel();
    };
  }

  close(): void {
    this.api.close();
  }
}
