/**
 * Human-readable renderings of the replies of every request subject (the `--json` output is the
 * reply exactly as `nats req` prints it). Pure: reply in, text out.
 */
import { formatBytes, formatMs, renderFields, renderTable, shortId } from './format';

type Any = Record<string, any>;

const loc = (l: Any | undefined) => (l ? `${l.hypervisor} (${l.site})` : '?');

export function errorView(reply: Any): string {
  const e = reply.error ?? {};
  return `error ${e.code ?? 'UNKNOWN'}: ${e.message ?? JSON.stringify(reply)}`;
}

export function moveAcceptedView(r: Any): string {
  const lines = [`move ${r.moveId} ${r.duplicate ? 'already accepted (same requestId)' : 'accepted'}: ${r.vm} ${r.mode} ${loc(r.from)} -> ${loc(r.to)}`];
  for (const w of r.warnings ?? []) lines.push(`warning: ${w}`);
  if (r.prediction) lines.push(predictionView(r.prediction));
  return lines.join('\n');
}

export function predictionView(p: Any): string {
  const lines = [
    renderFields([
      ['predicted', p.outcome + (p.reason ? ` (${p.reason})` : '')],
      ['total', formatMs(p.totalMs)],
      ['downtime', formatMs(p.downtimeMs)],
      ['data sent', p.dataSentBytes ? formatBytes(p.dataSentBytes) : undefined],
      ['phases', phases(p.phases)],
    ]),
  ];
  if (p.rounds?.length) lines.push('', roundsTable(p.rounds));
  return lines.join('\n');
}

export function planView(r: Any): string {
  if (r.allowed === false) return `plan: ${r.vm} ${r.mode} would be REFUSED: ${r.refusal?.code}: ${r.refusal?.message}`;
  const lines = [`plan: ${r.vm ?? ''} ${r.mode ?? ''} ${loc(r.from)} -> ${loc(r.to)}: allowed`.replace(/\s+/g, ' ').trim()];
  for (const w of r.warnings ?? []) lines.push(`warning: ${w}`);
  if (r.planes) lines.push(`planes: ${r.planes.join(', ')}`);
  if (r.prediction) lines.push(predictionView(r.prediction));
  else {
    const rest = Object.entries(r).filter(([k]) => !['ok', 'allowed', 'vm', 'mode', 'from', 'to', 'warnings', 'planes', 'plan'].includes(k));
    if (rest.length) lines.push(renderFields(rest.map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)])));
  }
  return lines.join('\n');
}

function phases(p: Any | undefined): string | undefined {
  if (!p || !Object.keys(p).length) return undefined;
  return Object.entries(p)
    .map(([k, v]) => `${k} ${formatMs(v as number)}`)
    .join(', ');
}

export function roundsTable(rounds: Any[]): string {
  return renderTable<Any>(rounds, [
    { header: 'ROUND', value: (r) => r.round, align: 'right' },
    { header: 'SENT', value: (r) => formatBytes(r.sentBytes), align: 'right' },
    { header: 'TOOK', value: (r) => formatMs(r.durationMs), align: 'right' },
    { header: 'DIRTY', value: (r) => formatBytes(r.dirtyBytes), align: 'right' },
    { header: 'THROTTLE', value: (r) => `${r.throttlePct ?? 0}%`, align: 'right' },
    { header: 'DOWNTIME IF STOPPED NOW', value: (r) => formatMs(r.expectedDowntimeMs), align: 'right' },
  ]);
}

export function moveView(m: Any): string {
  const conv = m.convergenceMs ?? m.convergence?.ms;
  const lines = [
    renderFields([
      ['move', m.moveId],
      ['vm', m.vm],
      ['mode', `${m.mode}${m.cause && m.cause !== 'operator' ? ` (${m.cause})` : ''}`],
      ['from -> to', `${loc(m.from)} -> ${loc(m.to)}`],
      ['state', m.state + (m.queuePosition !== undefined ? ` (queue position ${m.queuePosition})` : '')],
      ['location version', m.locationVersion],
      ['request id', m.requestId],
      ['accepted', m.acceptedAt],
      ['finished', m.finishedAt],
      ['downtime', formatMs(m.downtimeMs)],
      ['total', formatMs(m.totalMs)],
      ['phases', phases(m.phases)],
      ['data sent', m.dataSentBytes ? formatBytes(m.dataSentBytes) : undefined],
      ['planes', m.planes?.length ? m.planes.join(', ') : undefined],
      ['converged in', conv !== undefined ? formatMs(conv) : undefined],
      ['error', m.error ? `${m.error.code}: ${m.error.message}` : undefined],
    ]),
  ];
  for (const w of m.warnings ?? []) lines.push(`warning: ${w}`);
  if (m.convergenceLate)
    lines.push(`convergence late: after ${formatMs(m.convergenceLate.afterMs)} still stale: ${(m.convergenceLate.stale ?? []).map((x: Any) => `${x.plane} ${x.component} (${x.detail})`).join('; ')}`);
  const perPlane = m.planeTimes ?? m.convergence?.planes ?? (typeof m.planes === 'object' && !Array.isArray(m.planes) ? m.planes : undefined);
  if (perPlane && typeof perPlane === 'object')
    lines.push(
      '',
      renderTable<[string, unknown]>(Object.entries(perPlane), [
        { header: 'PLANE', value: ([k]) => k },
        {
          header: 'CONVERGED',
          value: ([, v]) => (typeof v === 'number' ? formatMs(v) : typeof v === 'object' && v ? formatMs((v as Any).ms ?? (v as Any).convergenceMs) || JSON.stringify(v) : String(v)),
          align: 'right',
        },
        { header: 'DETAIL', value: ([, v]) => (v && typeof v === 'object' ? compact(Object.fromEntries(Object.entries(v as Any).filter(([k]) => k !== 'ms'))) : '') },
      ]),
    );
  if (m.rounds?.length) lines.push('', roundsTable(m.rounds));
  if (m.timeline?.length) {
    const t0 = Date.parse(m.timeline[0].at);
    lines.push(
      '',
      renderTable<Any>(m.timeline as Any[], [
        { header: 'AT', value: (e) => e.at?.slice(11, 23) },
        { header: '+', value: (e) => formatMs(Date.parse(e.at) - t0), align: 'right' },
        { header: 'COMPONENT', value: (e) => e.component },
        { header: 'EVENT', value: (e) => e.event },
        { header: 'DETAIL', value: (e) => (e.detail ? compact(e.detail) : '') },
      ]),
    );
  }
  return lines.join('\n');
}

function compact(detail: Any): string {
  return Object.entries(detail)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(' ');
}

export function vmView(v: Any): string {
  return renderFields([
    ['vm', v.name],
    ['ip', v.ip],
    ['mac', v.mac],
    ['site', v.site],
    ['hypervisor', v.hypervisor],
    ['l2 domain', v.l2Domain],
    ['state', v.state],
    ['location version', v.locationVersion],
  ]);
}

export function vmsTable(vms: Any[]): string {
  return (
    renderTable<Any>(vms, [
      { header: 'VM', value: (v) => v.name },
      { header: 'IP', value: (v) => v.ip },
      { header: 'MAC', value: (v) => v.mac },
      { header: 'SITE', value: (v) => v.site },
      { header: 'HYPERVISOR', value: (v) => v.hypervisor },
      { header: 'L2 DOMAIN', value: (v) => v.l2Domain },
      { header: 'STATE', value: (v) => v.state },
      { header: 'VER', value: (v) => v.locationVersion, align: 'right' },
    ]) + `\n${vms.length} VM${vms.length === 1 ? '' : 's'}`
  );
}

export function topologyView(t: Any): string {
  const yes = (b: boolean) => (b ? 'yes' : '-');
  const vmsAt = (hv: string) => (t.vms ?? []).filter((v: Any) => v.hypervisor === hv).length;
  return [
    `topology ${t.name ?? ''}`.trim(),
    '',
    renderTable<Any>(t.sites ?? [], [
      { header: 'SITE', value: (s) => s.name },
      { header: 'KIND', value: (s) => s.kind },
      { header: 'RLOC', value: (s) => s.rloc },
      { header: 'ROUTER', value: (s) => s.router?.ip },
      { header: 'HOST ROUTES', value: (s) => yes(s.hostRoutes) },
      { header: 'MAPPING', value: (s) => yes(s.mappingSystem) },
      { header: 'L3 VSWITCH', value: (s) => yes(s.l3VirtualSwitch) },
      { header: 'ARP PROXY', value: (s) => yes(s.arpProxy) },
      { header: 'ANYCAST GATEWAYS', value: (s) => (s.anycastGateways ?? []).map((g: Any) => g.ip).join(' ') },
    ]),
    '',
    renderTable<Any>(t.l2Domains ?? [], [
      { header: 'L2 DOMAIN', value: (d) => d.name },
      { header: 'KIND', value: (d) => d.kind },
      { header: 'SITES', value: (d) => (d.sites ?? []).join(',') },
      { header: 'ENCAP', value: (d) => `${d.encapsulation} ${d.segmentId}` },
      { header: 'SUBNET', value: (d) => d.subnet },
      { header: 'GATEWAY', value: (d) => d.gateway },
    ]),
    '',
    renderTable<Any>(t.hypervisors ?? [], [
      { header: 'HYPERVISOR', value: (h) => h.name },
      { header: 'SITE', value: (h) => h.site },
      { header: 'L2 DOMAINS', value: (h) => (h.l2Domains ?? []).join(',') },
      { header: 'MEMORY', value: (h) => formatBytes(h.memoryMb * 1048576), align: 'right' },
      { header: 'LINK', value: (h) => `${h.linkMbps} Mb/s`, align: 'right' },
      { header: 'VMS', value: (h) => vmsAt(h.name), align: 'right' },
    ]),
    '',
    `${(t.vms ?? []).length} VMs (initial placement; \`locus vms\` shows where they are now)`,
  ].join('\n');
}

export function mapResolveView(r: Any): string {
  const m = r.mapping ?? {};
  return renderFields([
    ['eid', r.eid],
    ['answered by', r.source],
    ['lookup', r.lookup],
    ['cached', r.cached === undefined ? undefined : String(r.cached)],
    ['negative', r.negative === undefined ? undefined : String(r.negative)],
    ['prefix', m.prefix],
    ['vm', m.vm],
    ['rloc', r.rloc],
    ['site', r.site],
    ['version', r.version],
    ['ttl', r.ttl !== undefined ? `${r.ttl} min` : undefined],
    ['subscribed', m.subscribed === undefined ? undefined : String(m.subscribed)],
  ]);
}

export function mapListView(r: Any): string {
  const lines = [
    renderTable<Any>(r.entries ?? [], [
      { header: 'PREFIX', value: (e) => e.prefix },
      { header: 'VM', value: (e) => e.vm },
      { header: 'RLOC', value: (e) => (e.negative ? 'negative' : e.rloc) },
      { header: 'SITE', value: (e) => e.site },
      { header: 'VER', value: (e) => e.version, align: 'right' },
      { header: 'TTL', value: (e) => `${e.ttl}m`, align: 'right' },
      { header: 'EXPIRES IN', value: (e) => `${Math.round(e.expiresInS)} s`, align: 'right' },
      { header: 'SUB', value: (e) => (e.subscribed === undefined ? '' : e.subscribed ? 'yes' : 'smr') },
    ]),
    `${r.source}: ${(r.entries ?? []).length} of ${r.total} entries`,
  ];
  if (r.stats) lines.push(`stats: ${JSON.stringify(r.stats)}`);
  return lines.join('\n');
}

export function routesView(r: Any): string {
  return (r.sites ?? [])
    .map((s: Any) =>
      s.unavailable
        ? `site ${s.site}: UNAVAILABLE (no injector answered)`
        : `site ${s.site} (rib: ${s.rib}, ${s.routes.length} routes)\n` +
          renderTable<Any>(s.routes, [
            { header: 'PREFIX', value: (x) => x.prefix },
            { header: 'VM', value: (x) => x.vm },
            { header: 'VER', value: (x) => x.locationVersion, align: 'right' },
            { header: 'STATE', value: (x) => x.state },
            { header: 'NEXT HOP', value: (x) => x.nextHop },
            { header: 'LOCAL PREF', value: (x) => x.localPref, align: 'right' },
            { header: 'CONFIRMED IN', value: (x) => formatMs(x.confirmMs), align: 'right' },
          ]),
    )
    .join('\n\n');
}

export function reconcileView(r: Any): string {
  return (r.sites ?? [])
    .map((s: Any) =>
      s.unavailable
        ? `site ${s.site}: UNAVAILABLE`
        : s.fixes.length === 0
          ? `site ${s.site}: RIB matches the location DB`
          : `site ${s.site}: ${s.fixes.length} fixes\n` +
            renderTable<Any>(s.fixes, [
              { header: 'PREFIX', value: (f) => f.prefix },
              { header: 'VM', value: (f) => f.vm },
              { header: 'FIX', value: (f) => f.fix },
              { header: 'VER', value: (f) => f.locationVersion, align: 'right' },
              { header: 'REASON', value: (f) => f.reason },
            ]),
    )
    .join('\n');
}

export function arpStaleView(r: Any): string {
  const rows = r.stale ?? [];
  const lines = [
    rows.length === 0
      ? 'no neighbour holds a wrong MAC'
      : renderTable<Any>(rows, [
          { header: 'VM', value: (s) => s.vm },
          { header: 'IP', value: (s) => s.ip },
          { header: 'SITE', value: (s) => s.site },
          { header: 'NEIGHBOUR', value: (s) => `${s.neighbour} (${s.neighbourIp})` },
          { header: 'HOLDS', value: (s) => s.heldMac },
          { header: 'RIGHT', value: (s) => s.rightMac ?? 'nobody' },
          { header: 'SINCE', value: (s) => s.since?.slice(11, 23) },
          { header: 'EXPIRES BY', value: (s) => s.expiresBy?.slice(11, 23) },
        ]),
  ];
  if (r.unavailableSites?.length) lines.push(`unavailable sites: ${r.unavailableSites.join(', ')}`);
  return lines.join('\n');
}

export function arpListView(r: Any): string {
  return (r.sites ?? [])
    .map((s: Any) => {
      if (s.unavailable) return `site ${s.site}: UNAVAILABLE`;
      const head = `site ${s.site}: proxy ${s.proxyEnabled ? 'on' : 'OFF'}, ${s.proxies.length} proxy entries, ${s.gateways.length} anycast gateways, ${s.neighbours.length} lab neighbours`;
      return s.proxies.length
        ? `${head}\n${renderTable<Any>(s.proxies, [
            { header: 'IP', value: (p) => p.ip },
            { header: 'VM', value: (p) => p.vm },
            { header: 'ANSWERS WITH', value: (p) => p.mac },
            { header: 'VER', value: (p) => p.locationVersion, align: 'right' },
            { header: 'SINCE', value: (p) => p.since },
          ])}`
        : head;
    })
    .join('\n');
}

export function cancelView(r: Any): string {
  const rest = Object.entries(r).filter(([k]) => k !== 'ok');
  return `cancel accepted${r.moveId ? ` for move ${shortId(r.moveId)}` : ''}\n${renderFields(rest.map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]))}`;
}
