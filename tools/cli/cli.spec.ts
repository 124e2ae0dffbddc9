import type { PlaneEvent, RecordedEvent } from '@locus/contracts';
import { bar, formatBytes, formatMs, renderFields, renderTable, truncate, visibleLength } from './format';
import { MoveBoard } from './moves';
import { renderBoard } from './watch-view';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const MOVE = '0c4a83df-f936-4580-b8d1-464644c93c97';

function vmEvent(type: string, data: Record<string, unknown>, atMs: number): RecordedEvent<any> {
  return { id: `${type}-${atMs}`, streamId: 'vm:web-01', streamVersion: 1, position: '1', type, data, metadata: { correlationId: 'c', component: 'test', at: iso(atMs) }, recordedAt: iso(atMs) };
}
function plane(planeName: 'map' | 'route' | 'arp', type: string, atMs: number, data: Record<string, unknown>, extra: Partial<PlaneEvent> = {}): PlaneEvent {
  return { id: `${type}-${atMs}-${JSON.stringify(data)}`, plane: planeName, type, component: 'test', vm: 'web-01', moveId: MOVE, locationVersion: 2, at: iso(atMs), data, ...extra };
}

function acceptedAndRelocated(board: MoveBoard) {
  board.applyVmEvent(vmEvent('MoveAccepted', { moveId: MOVE, vm: 'web-01', mode: 'cold', from: { hypervisor: 'dc1-hv1', site: 'dc1' }, to: { hypervisor: 'dc2-hv1', site: 'dc2' }, locationVersion: 1, planes: ['location', 'mapping', 'host-routes', 'arp-proxy'] }, 0));
  board.applyVmEvent(vmEvent('MoveStarted', { moveId: MOVE, hypervisor: 'dc1-hv1' }, 1));
  board.applyVmEvent(vmEvent('VmRelocated', { moveId: MOVE, vm: 'web-01', ip: '10.1.0.10', mac: 'x', from: { hypervisor: 'dc1-hv1', site: 'dc1' }, to: { hypervisor: 'dc2-hv1', site: 'dc2' }, locationVersion: 2 }, 100));
}

describe('format', () => {
  it('aligns a table, numbers to the right, and cuts it to a width', () => {
    const rows = [{ a: 'web-01', n: 5 }, { a: 'a-much-longer-name', n: 1234 }];
    const t = renderTable(rows, [{ header: 'NAME', value: (r) => r.a }, { header: 'N', value: (r) => r.n, align: 'right' }]);
    expect(t.split('\n')).toEqual(['NAME                   N', 'web-01                 5', 'a-much-longer-name  1234']);
    const cut = renderTable(rows, [{ header: 'NAME', value: (r) => r.a }, { header: 'N', value: (r) => r.n, align: 'right' }], { maxWidth: 16 });
    for (const line of cut.split('\n')) expect(visibleLength(line)).toBeLessThanOrEqual(16);
    expect(cut).toContain('…');
  });
  it('formats durations, sizes, bars and fields', () => {
    expect(formatMs(0.423)).toBe('0.42 ms');
    expect(formatMs(12.34)).toBe('12.3 ms');
    expect(formatMs(345.6)).toBe('346 ms');
    expect(formatMs(1234)).toBe('1.23 s');
    expect(formatMs(125_000)).toBe('2 min 5 s');
    expect(formatMs(undefined)).toBe('');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.00 GiB');
    expect(bar(0.5, 4)).toBe('[##--]');
    expect(bar(2, 2)).toBe('[##]');
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(visibleLength('\x1b[1mab\x1b[0m')).toBe(2);
    expect(renderFields([['state', 'completed'], ['error', undefined], ['vm', 'web-01']])).toBe('state  completed\nvm     web-01');
  });
});

describe('MoveBoard: observed convergence from plane events', () => {
  it('given map (2 ITRs), routes (confirm + old withdrawn) and ARP events, then converged at the last of them after the commit', () => {
    const board = new MoveBoard({ hostRouteSites: new Set(['dc1', 'dc2']) });
    acceptedAndRelocated(board);
    board.applyPlaneEvent(plane('map', 'Registered', 105, { site: 'dc2', publishTo: ['branch'], smrTo: ['dc1'] }));
    board.applyPlaneEvent(plane('map', 'CacheUpdated', 108, { itr: 'branch', version: 2 }));
    board.applyPlaneEvent(plane('route', 'RouteConfirmed', 120, { site: 'dc2', ms: 15 }));
    const m = board.moves.get(MOVE)!;
    expect(board.plane(m, 'map')).toMatchObject({ status: 'pending', detail: '1/2 ITRs' });
    expect(board.plane(m, 'routes')).toMatchObject({ status: 'pending' });
    board.applyPlaneEvent(plane('arp', 'ProxyInstalled', 110, { site: 'dc1' }));
    board.applyPlaneEvent(plane('route', 'RouteWithdrawn', 125, { site: 'dc1', replacedBy: { site: 'dc2', locationVersion: 2 } }, { locationVersion: 1, moveId: undefined }));
    expect(m.observed).toBeUndefined();
    const lines = board.applyPlaneEvent(plane('map', 'CacheUpdated', 130, { itr: 'dc1', version: 2 }));
    expect(board.plane(m, 'map')).toMatchObject({ status: 'done', ms: 30 });
    expect(board.plane(m, 'routes')).toMatchObject({ status: 'done', ms: 25 });
    expect(board.plane(m, 'arp')).toMatchObject({ status: 'done', ms: 10 });
    expect(m.observed).toEqual({ at: T0 + 130, ms: 30 });
    expect(board.convergence(m)).toEqual({ ms: 30, source: 'observed' });
    expect(lines.join('\n')).toMatch(/converged in 30 ms/);
  });

  it('ignores plane events of another version of the VM and expired-timer ARP repairs', () => {
    const board = new MoveBoard();
    acceptedAndRelocated(board);
    board.applyPlaneEvent(plane('map', 'Registered', 101, { publishTo: [], smrTo: [] }, { locationVersion: 1, moveId: undefined }));
    const m = board.moves.get(MOVE)!;
    expect(m.map.registeredAt).toBeUndefined();
    board.applyPlaneEvent(plane('arp', 'NeighbourRepaired', 50_000, { how: 'expired' }));
    expect(m.arp.events).toBe(0);
  });

  it('given a MoveConverged from the tracker, then its convergenceMs wins', () => {
    const board = new MoveBoard();
    acceptedAndRelocated(board);
    board.applyPlaneEvent(plane('map', 'Registered', 104, { publishTo: [], smrTo: [] }));
    board.applyPlaneEvent(plane('route', 'RouteConfirmed', 140, { site: 'dc2', ms: 15 }));
    board.applyVmEvent(vmEvent('MoveConverged', { moveId: MOVE, convergenceMs: 41.5, locationVersion: 2, planes: { location: { ms: 0 }, mapping: { ms: 4 }, 'host-routes': { ms: 40, advertised: 'dc2' } } }, 142));
    const m = board.moves.get(MOVE)!;
    expect(board.trackerSeen).toBe(true);
    expect(m.state).toBe('converged');
    expect(board.convergence(m)).toEqual({ ms: 41.5, source: 'tracker' });
    expect(m.observed?.ms).toBe(40);
    expect(board.plane(m, 'map')).toMatchObject({ status: 'done', ms: 4, detail: 'tracker' });
    expect(board.plane(m, 'routes')).toMatchObject({ status: 'done', ms: 40 });
  });

  it('follows pre-copy rounds and renders a board that fits the terminal', () => {
    const board = new MoveBoard();
    board.applyVmEvent(vmEvent('MoveAccepted', { moveId: MOVE, vm: 'web-01', mode: 'hot', from: { hypervisor: 'dc1-hv1', site: 'dc1' }, to: { hypervisor: 'dc2-hv1', site: 'dc2' }, locationVersion: 1, planes: ['location', 'l2-announce'], plan: { mode: 'hot', maxRounds: 30, downtimeLimitMs: 300 } }, 0));
    board.applyVmEvent(vmEvent('PreCopyRoundCompleted', { moveId: MOVE, round: 0, sentBytes: 2 * 1024 ** 3, durationMs: 1000, dirtyBytes: 400 * 1024 ** 2, throttlePct: 0, expectedDowntimeMs: 600 }, 1000));
    const m = board.moves.get(MOVE)!;
    expect(m.precopy).toMatchObject({ round: 0, maxRounds: 30, expectedDowntimeMs: 600, downtimeLimitMs: 300 });
    const screen = renderBoard(board, { width: 140, height: 20, now: T0 + 2000, title: 'locus watch' });
    expect(screen).toMatch(/r1\/30 \[#####-----\] 2\.00 GiB 600ms>300ms/);
    for (const line of screen.split('\n')) expect(visibleLength(line)).toBeLessThanOrEqual(140);
    const narrow = renderBoard(board, { width: 80, height: 20, now: T0 + 2000, title: 'locus watch' });
    for (const line of narrow.split('\n')) expect(visibleLength(line)).toBeLessThanOrEqual(80);
    expect(narrow).not.toMatch(/MOVE/);
  });

  it('forgets the oldest finished moves beyond maxMoves', () => {
    const board = new MoveBoard({ maxMoves: 2 });
    for (let i = 0; i < 4; i++) {
      const id = `00000000-0000-4000-8000-00000000000${i}`;
      board.applyVmEvent(vmEvent('MoveAccepted', { moveId: id, vm: `vm-${i}`, mode: 'cold', from: { hypervisor: 'a', site: 'a' }, to: { hypervisor: 'b', site: 'b' }, locationVersion: 1 }, i));
      board.applyVmEvent(vmEvent('MoveCompleted', { moveId: id, locationVersion: 2, downtimeMs: 0, totalMs: 0 }, i));
    }
    expect([...board.moves.values()].map((m) => m.vm).sort()).toEqual(['vm-2', 'vm-3']);
  });
});
