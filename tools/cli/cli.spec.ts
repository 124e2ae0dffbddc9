import type { RecordedEvent } from '@locus/contracts';
import { MoveBoard } from '@locus/domain';
import { bar, formatBytes, formatMs, renderFields, renderTable, truncate, visibleLength } from './format';
import { renderBoard } from './watch-view';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const MOVE = '0c4a83df-f936-4580-b8d1-464644c93c97';

function vmEvent(type: string, data: Record<string, unknown>, atMs: number): RecordedEvent<any> {
  return { id: `${type}-${atMs}`, streamId: 'vm:web-01', streamVersion: 1, position: '1', type, data, metadata: { correlationId: 'c', component: 'test', at: iso(atMs) }, recordedAt: iso(atMs) };
}

describe('format', () => {
  it('aligns a table, numbers to the right, and cuts it to a width', () => {
    const rows = [
      { a: 'web-01', n: 5 },
      { a: 'a-much-longer-name', n: 1234 },
    ];
    const t = renderTable(rows, [
      { header: 'NAME', value: (r) => r.a },
      { header: 'N', value: (r) => r.n, align: 'right' },
    ]);
    expect(t.split('\n')).toEqual(['NAME                   N', 'web-01                 5', 'a-much-longer-name  1234']);
    const cut = renderTable(
      rows,
      [
        { header: 'NAME', value: (r) => r.a },
        { header: 'N', value: (r) => r.n, align: 'right' },
      ],
      { maxWidth: 16 },
    );
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
    expect(
      renderFields([
        ['state', 'completed'],
        ['error', undefined],
        ['vm', 'web-01'],
      ]),
    ).toBe('state  completed\nvm     web-01');
  });
});

describe('locus watch: the board on a terminal', () => {
  it('follows pre-copy rounds and renders a board that fits the terminal', () => {
    const board = new MoveBoard();
    board.applyVmEvent(
      vmEvent(
        'MoveAccepted',
        {
          moveId: MOVE,
          vm: 'web-01',
          mode: 'hot',
          from: { hypervisor: 'dc1-hv1', site: 'dc1' },
          to: { hypervisor: 'dc2-hv1', site: 'dc2' },
          locationVersion: 1,
          planes: ['location', 'l2-announce'],
          plan: { mode: 'hot', maxRounds: 30, downtimeLimitMs: 300 },
        },
        0,
      ),
    );
    board.applyVmEvent(
      vmEvent('PreCopyRoundCompleted', { moveId: MOVE, round: 0, sentBytes: 2 * 1024 ** 3, durationMs: 1000, dirtyBytes: 400 * 1024 ** 2, throttlePct: 0, expectedDowntimeMs: 600 }, 1000),
    );
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
