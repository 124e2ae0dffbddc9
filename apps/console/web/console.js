// @ts-check
// The Locus console's page: plain DOM and SVG, nothing loaded from anywhere but this server.
// State comes from /api/events (server-sent events: the topology, where each VM is, and every
// move as the server's MoveBoard folds it); plan, move and cancel go to /api/plan, /api/move
// and /api/cancel, which send move.plan, vm.move and move.cancel with the same body.
'use strict';

const state = {
  /** @type {any} */ topology: null,
  /** @type {Map<string, any>} */ vms: new Map(),
  /** @type {Map<string, any>} */ moves: new Map(),
  /** @type {string | undefined} */ selected: undefined,
  /** @type {any} */ planned: undefined,
};

const $ = (/** @type {string} */ sel) => /** @type {HTMLElement} */ (document.querySelector(sel));
/** @returns {HTMLElement} */
function el(/** @type {string} */ tag, /** @type {Record<string, any>} */ attrs = {}, /** @type {(Node|string|undefined|null|false)[]} */ ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== undefined && c !== null && c !== false) node.append(c);
  return node;
}
const ms = (/** @type {number | undefined} */ v) => (v === undefined || v === null ? '' : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`);
const short = (/** @type {string} */ id) => id.slice(0, 8);

// ---- topology ----

function renderTopology() {
  const t = state.topology;
  if (!t) return;
  const root = $('#topology');
  root.replaceChildren();
  const stretched = new Set(t.l2Domains.filter((/** @type {any} */ d) => d.kind === 'stretched' || d.sites.length > 1).map((/** @type {any} */ d) => d.name));
  for (const site of t.sites) {
    const planes = [
      ['mapping', site.mappingSystem, 'mapping system (LISP-like xTR)'],
      ['host routes', site.hostRoutes, 'host-route injector (BGP /32)'],
      ['ARP proxy', site.arpProxy, 'ARP proxy'],
      ['L3 vswitch', site.l3VirtualSwitch, 'L3 virtual switch'],
    ];
    const domainsHere = t.l2Domains.filter((/** @type {any} */ d) => d.sites.includes(site.name));
    const card = el(
      'div',
      { class: 'site', 'data-site': site.name },
      el('h4', {}, site.name, ' ', el('span', { class: 'kind' }, site.kind)),
      el('div', { class: 'planes' }, ...planes.map(([name, on, title]) => el('span', { class: `badge${on ? ' on' : ''}`, title, 'data-plane': on ? name : undefined }, String(name)))),
      el(
        'div',
        { class: 'planes' },
        ...domainsHere.map((/** @type {any} */ d) => el('span', { class: `badge${stretched.has(d.name) ? ' stretched' : ''}`, title: `${d.subnet}` }, d.name, stretched.has(d.name) ? ' ↔' : '')),
      ),
    );
    for (const hv of t.hypervisors.filter((/** @type {any} */ h) => h.site === site.name)) {
      const vms = [...state.vms.values()].filter((v) => v.hypervisor === hv.name).sort((a, b) => a.name.localeCompare(b.name));
      card.append(
        el(
          'div',
          { class: 'hypervisor', 'data-hypervisor': hv.name },
          el('div', { class: 'name' }, hv.name),
          el(
            'div',
            { class: 'vms' },
            ...vms.map((v) =>
              el(
                'span',
                {
                  class: `vm${v.moving ? ' moving' : ''}${$('#move-vm') && /** @type {HTMLSelectElement} */ ($('#move-vm')).value === v.name ? ' selected' : ''}`,
                  'data-vm': v.name,
                  title: `${v.ip} ${v.l2Domain} v${v.locationVersion}`,
                  onclick: () => pickVm(v.name),
                },
                v.name,
              ),
            ),
          ),
        ),
      );
    }
    root.append(card);
  }
  $('#domains').replaceChildren(
    ...t.l2Domains.map((/** @type {any} */ d) =>
      el(
        'li',
        { class: 'domain', 'data-domain': d.name },
        el('strong', {}, d.name),
        ' ',
        stretched.has(d.name) ? el('span', { class: 'badge stretched' }, 'stretched') : el('span', { class: 'badge' }, d.kind),
        ' ',
        el('code', {}, `${d.subnet} ${d.encapsulation ?? ''} ${d.segmentId ?? ''}`),
        ' sites: ',
        d.sites.join(', '),
      ),
    ),
  );
}

function renderForm() {
  const vmSel = /** @type {HTMLSelectElement} */ ($('#move-vm'));
  const toSel = /** @type {HTMLSelectElement} */ ($('#move-to'));
  const keepVm = vmSel.value;
  const keepTo = toSel.value;
  vmSel.replaceChildren(...[...state.vms.values()].sort((a, b) => a.name.localeCompare(b.name)).map((v) => el('option', { value: v.name }, `${v.name} (${v.hypervisor})`)));
  toSel.replaceChildren(...state.topology.hypervisors.map((/** @type {any} */ h) => el('option', { value: h.name }, `${h.name} (${h.site})`)));
  if (keepVm) vmSel.value = keepVm;
  if (keepTo) toSel.value = keepTo;
}

function pickVm(/** @type {string} */ name) {
  /** @type {HTMLSelectElement} */ ($('#move-vm')).value = name;
  renderTopology();
}

// ---- plan, move, cancel ----

async function post(/** @type {string} */ path, /** @type {unknown} */ body) {
  const res = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return res.json();
}

function formBody() {
  return {
    vm: /** @type {HTMLSelectElement} */ ($('#move-vm')).value,
    to: /** @type {HTMLSelectElement} */ ($('#move-to')).value,
    mode: /** @type {HTMLSelectElement} */ ($('#move-mode')).value,
  };
}

async function plan(/** @type {Event} */ ev) {
  ev.preventDefault();
  const body = formBody();
  const reply = await post('/api/plan', body);
  const box = $('#plan');
  box.hidden = false;
  if (reply.ok && reply.allowed) {
    state.planned = body;
    const p = reply.prediction ?? {};
    box.className = 'allowed';
    box.replaceChildren(
      el('div', { class: 'verdict', 'data-verdict': 'allowed' }, `Allowed: ${body.vm} ${body.mode} ${reply.from.hypervisor} (${reply.from.site}) → ${reply.to.hypervisor} (${reply.to.site})`),
      el(
        'dl',
        {},
        el('dt', {}, 'downtime'),
        el('dd', { 'data-field': 'downtime' }, ms(p.downtimeMs)),
        el('dt', {}, 'total'),
        el('dd', {}, ms(p.totalMs)),
        el('dt', {}, 'pre-copy rounds'),
        el('dd', { 'data-field': 'rounds' }, String((p.rounds ?? []).length), p.outcome ? ` (${p.outcome}${p.reason ? `: ${p.reason}` : ''})` : ''),
        el('dt', {}, 'planes'),
        el('dd', { 'data-field': 'planes' }, (reply.planes ?? []).join(', ')),
        ...(reply.warnings?.length ? [el('dt', {}, 'warnings'), el('dd', {}, reply.warnings.join('; '))] : []),
      ),
    );
    $('#plan-actions').hidden = false;
  } else {
    state.planned = undefined;
    const refusal = reply.ok ? reply.refusal : reply.error;
    box.className = 'refused';
    box.replaceChildren(el('div', { class: 'verdict', 'data-verdict': 'refused', 'data-code': refusal?.code }, `Refused: ${refusal?.code}`), el('p', { class: 'message' }, refusal?.message ?? ''));
    $('#plan-actions').hidden = true;
  }
}

async function move() {
  if (!state.planned) return;
  const reply = await post('/api/move', state.planned);
  $('#plan-actions').hidden = true;
  const box = $('#plan');
  if (!reply.ok) {
    box.className = 'refused';
    box.replaceChildren(
      el('div', { class: 'verdict', 'data-verdict': 'refused', 'data-code': reply.error?.code }, `Refused: ${reply.error?.code}`),
      el('p', { class: 'message' }, reply.error?.message ?? ''),
    );
    return;
  }
  box.hidden = true;
  state.planned = undefined;
  select(reply.moveId);
}

function discard() {
  state.planned = undefined;
  $('#plan').hidden = true;
  $('#plan-actions').hidden = true;
}

async function cancelSelected() {
  if (!state.selected) return;
  const reply = await post('/api/cancel', { moveId: state.selected });
  if (!reply.ok) $('#timeline-verdict').textContent = `cancel refused: ${reply.error?.code}: ${reply.error?.message}`;
}

// ---- moves: timeline, table, histogram ----

function select(/** @type {string} */ moveId) {
  state.selected = moveId;
  renderTimeline();
  renderMoves();
}

const lane = (/** @type {string} */ c) =>
  c.startsWith('agent')
    ? 'agent'
    : /saga|mobility-manager|ha-/.test(c)
      ? 'saga'
      : /map-server|itr:|etr:/.test(c)
        ? 'map'
        : c.startsWith('route')
          ? 'route'
          : c.startsWith('arp')
            ? 'arp'
            : c.startsWith('convergence')
              ? 'tracker'
              : '';

function renderTimeline() {
  const m = state.selected ? state.moves.get(state.selected) : undefined;
  $('#timeline-hint').hidden = !!state.selected;
  const list = $('#timeline-list');
  const verdict = $('#timeline-verdict');
  if (!m) {
    $('#timeline-title').textContent = state.selected ? `Move ${short(state.selected)}` : 'Timeline';
    list.replaceChildren();
    verdict.textContent = state.selected ? 'waiting for its first event…' : '';
    $('#cancel-btn').hidden = true;
    return;
  }
  $('#timeline-title').textContent = `Move ${short(m.moveId)}: ${m.vm} ${m.mode} ${m.from?.hypervisor ?? '?'} → ${m.to?.hypervisor ?? '?'} (${m.state})`;
  $('#timeline-title').dataset.move = m.moveId;
  const t0 = m.acceptedAt ?? m.timeline[0]?.at ?? 0;
  list.replaceChildren(
    ...m.timeline.map((/** @type {any} */ e) =>
      el(
        'li',
        { 'data-event': e.event, class: e.event === 'VmRelocated' ? 'commit' : undefined, title: new Date(e.at).toISOString() },
        el('span', { class: 't' }, `+${ms(Math.max(0, e.at - t0))}`),
        el('span', { class: `c ${lane(e.component)}` }, e.component),
        el('span', { class: 'x' }, e.text),
      ),
    ),
  );
  const names = { map: 'mapping', routes: 'host routes', arp: 'ARP proxy' };
  $('#timeline-planes').replaceChildren(
    ...Object.entries(m.planeViews ?? {})
      .filter(([, v]) => v.status !== 'n/a')
      .map(([p, v]) =>
        el('span', { class: `plane ${v.status}`, 'data-plane': p }, `${names[/** @type {'map'} */ (p)]} ${v.status === 'done' ? `✓ ${ms(v.ms)}` : '…'}${v.detail ? ` (${v.detail})` : ''}`),
      ),
  );
  verdict.className = '';
  if (m.convergence) {
    verdict.className = 'converged';
    verdict.textContent = `converged in ${Math.round(m.convergence.ms)} ms after the location commit`;
  } else if (m.state === 'failed') {
    verdict.className = 'failed';
    verdict.textContent = `failed: ${m.error}`;
  } else if (m.state === 'cancelled') {
    verdict.textContent = 'cancelled';
  } else if (m.late) {
    verdict.className = 'failed';
    verdict.textContent = `NOT converged ${ms(m.late.afterMs)} after the location commit: ${m.late.stale.map((/** @type {any} */ s) => `${s.component}: ${s.detail}`).join('; ')}`;
  } else if (m.relocatedAt !== undefined) {
    verdict.className = 'waiting';
    const waiting = (m.stale ?? []).map((/** @type {any} */ s) => `${s.component}: ${s.detail}`);
    verdict.textContent = m.state === 'completed' || m.state === 'in-progress' ? `converging… ${waiting.length ? `waiting for ${waiting.join('; ')}` : ''}` : '';
  } else {
    verdict.textContent = m.step ? `in progress (${m.step})` : 'accepted';
  }
  $('#cancel-btn').hidden = !['accepted', 'in-progress'].includes(m.state) || m.relocatedAt !== undefined;
}

function renderMoves() {
  const rows = [...state.moves.values()].sort((a, b) => b.acceptedAt - a.acceptedAt).slice(0, 30);
  $('#moves tbody').replaceChildren(
    ...rows.map((m) =>
      el(
        'tr',
        { 'data-move': m.moveId, class: m.moveId === state.selected ? 'selected' : undefined, onclick: () => select(m.moveId) },
        el('td', {}, el('code', {}, short(m.moveId))),
        el('td', {}, m.vm),
        el('td', {}, m.mode),
        el('td', {}, `${m.from?.hypervisor ?? '?'} → ${m.to?.hypervisor ?? '?'}`),
        el('td', { class: `state-${m.state}` }, m.late && !m.convergence ? 'late' : m.state),
        el('td', { class: 'num' }, ms(m.downtimeMs)),
        el('td', { class: 'num', 'data-field': 'convergence' }, m.convergence ? `${Math.round(m.convergence.ms)} ms` : ''),
      ),
    ),
  );
}

function renderHistogram() {
  const svg = $('#histogram');
  const values = [...state.moves.values()].filter((m) => m.convergence).map((m) => m.convergence.ms);
  const NS = 'http://www.w3.org/2000/svg';
  const svgEl = (/** @type {string} */ tag, /** @type {Record<string, any>} */ attrs, /** @type {string} */ text = '') => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text) n.textContent = text;
    return n;
  };
  svg.replaceChildren();
  if (!values.length) {
    svg.append(svgEl('text', { x: 10, y: 80 }, 'no converged move yet'));
    return;
  }
  const bins = 12;
  const max = Math.max(...values);
  const width = Math.max(1, Math.ceil(max / bins / 5) * 5);
  const counts = Array.from({ length: bins }, () => 0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor(v / width))]++;
  const top = Math.max(...counts);
  const W = 480,
    H = 160,
    left = 28,
    bottom = 20,
    bw = (W - left - 4) / bins;
  svg.append(svgEl('text', { x: 0, y: 12 }, String(top)), svgEl('line', { x1: left, y1: H - bottom, x2: W, y2: H - bottom, stroke: '#cbd5e0' }));
  counts.forEach((c, i) => {
    const h = top ? ((H - bottom - 16) * c) / top : 0;
    const bar = svgEl('rect', { x: left + i * bw + 1, y: H - bottom - h, width: bw - 2, height: h, 'data-count': c });
    bar.append(svgEl('title', {}, `${i * width}–${(i + 1) * width} ms: ${c} move${c === 1 ? '' : 's'}`));
    svg.append(bar);
    if (i % 2 === 0) svg.append(svgEl('text', { x: left + i * bw, y: H - 6 }, `${i * width}`));
  });
  svg.append(svgEl('text', { x: W - 150, y: 12 }, `${values.length} move${values.length === 1 ? '' : 's'}, max ${Math.round(max)} ms`));
}

// ---- the stream ----

function connect() {
  const source = new EventSource('/api/events');
  const status = $('#status');
  source.addEventListener('open', () => {
    status.className = 'status live';
    status.textContent = 'live';
  });
  source.addEventListener('error', () => {
    status.className = 'status down';
    status.textContent = 'reconnecting…';
  });
  source.addEventListener('state', (ev) => {
    const s = JSON.parse(/** @type {MessageEvent} */ (ev).data);
    state.topology = s.topology;
    $('#prefix').textContent = `${s.prefix}.>`;
    state.vms = new Map(s.vms.map((/** @type {any} */ v) => [v.name, v]));
    state.moves = new Map(s.moves.map((/** @type {any} */ m) => [m.moveId, m]));
    renderForm();
    renderAll();
    document.body.dataset.ready = 'true';
  });
  source.addEventListener('vms', (ev) => {
    for (const v of JSON.parse(/** @type {MessageEvent} */ (ev).data)) state.vms.set(v.name, v);
    renderTopology();
  });
  source.addEventListener('move', (ev) => {
    const m = JSON.parse(/** @type {MessageEvent} */ (ev).data);
    state.moves.set(m.moveId, m);
    if (m.moveId === state.selected) renderTimeline();
    renderMoves();
    renderHistogram();
  });
}

function renderAll() {
  renderTopology();
  renderTimeline();
  renderMoves();
  renderHistogram();
}

document.addEventListener('DOMContentLoaded', () => {
  $('#move-form').addEventListener('submit', plan);
  $('#move-btn').addEventListener('click', move);
  $('#discard-btn').addEventListener('click', discard);
  $('#cancel-btn').addEventListener('click', cancelSelected);
  $('#move-vm').addEventListener('change', renderTopology);
  connect();
});
