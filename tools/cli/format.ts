/**
 * Plain-text formatting for the `locus` CLI and the benchmark: aligned tables, durations, sizes.
 * Pure (no terminal access): callers pass the width they have.
 */

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** Display width of a string: ANSI colour codes take no room. */
export function visibleLength(s: string): number {
  return [...s.replace(ANSI, '')].length;
}

/** Cuts a string to `width` columns, ending in '…' when it was longer. */
export function truncate(s: string, width: number): string {
  if (visibleLength(s) <= width) return s;
  const plain = [...s.replace(ANSI, '')];
  return width <= 1 ? plain.slice(0, width).join('') : plain.slice(0, width - 1).join('') + '…';
}

function padTo(s: string, width: number, align: 'left' | 'right'): string {
  const gap = Math.max(0, width - visibleLength(s));
  return align === 'right' ? ' '.repeat(gap) + s : s + ' '.repeat(gap);
}

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | undefined | null;
  align?: 'left' | 'right';
  /** The column never gets narrower than this when the table is squeezed into maxWidth. */
  minWidth?: number;
  /** Columns with a drop rank are left out, lowest rank first, before anything is cut to fit maxWidth. */
  dropRank?: number;
}

/**
 * An aligned table: a header line, then one line per row, columns two spaces apart. With
 * `maxWidth`, the widest columns are cut (ending in '…') until the lines fit.
 */
export function renderTable<T>(rows: readonly T[], allColumns: readonly Column<T>[], options: { maxWidth?: number } = {}): string {
  let columns = [...allColumns];
  if (options.maxWidth) {
    const natural = (c: Column<T>) => Math.max(visibleLength(c.header), ...rows.map((r) => visibleLength(String(c.value(r) ?? ''))));
    const droppable = columns.filter((c) => c.dropRank !== undefined).sort((a, b) => a.dropRank! - b.dropRank!);
    const width = () => columns.reduce((a, c) => a + natural(c), 0) + 2 * (columns.length - 1);
    while (width() > options.maxWidth && droppable.length) {
      const drop = droppable.shift();
      columns = columns.filter((c) => c !== drop);
    }
  }
  const cells = rows.map((r) =>
    columns.map((c) => {
      const v = c.value(r);
      return v === undefined || v === null ? '' : String(v);
    }),
  );
  const widths = columns.map((c, i) => Math.max(visibleLength(c.header), ...cells.map((row) => visibleLength(row[i]))));
  if (options.maxWidth) {
    const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
    while (total() > options.maxWidth) {
      let widest = -1;
      widths.forEach((w, i) => {
        if (w > (columns[i].minWidth ?? 4) && (widest < 0 || w > widths[widest])) widest = i;
      });
      if (widest < 0) break;
      widths[widest]--;
    }
  }
  const line = (values: string[]) =>
    values
      .map((v, i) => padTo(truncate(v, widths[i]), widths[i], columns[i].align ?? 'left'))
      .join('  ')
      .replace(/\s+$/, '');
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

/** Key/value lines with the keys aligned: `state     completed`. */
export function renderFields(fields: readonly [string, string | number | undefined | null][]): string {
  const shown = fields.filter(([, v]) => v !== undefined && v !== null && v !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

/** Milliseconds for people: 0.42 ms, 12.3 ms, 345 ms, 1.23 s, 2 min 5 s. */
export function formatMs(ms: number | undefined | null): string {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return '';
  const a = Math.abs(ms);
  if (a < 1) return `${ms.toFixed(2)} ms`;
  if (a < 10) return `${ms.toFixed(2)} ms`;
  if (a < 100) return `${ms.toFixed(1)} ms`;
  if (a < 1000) return `${Math.round(ms)} ms`;
  if (a < 60_000) return `${(ms / 1000).toFixed(a < 10_000 ? 2 : 1)} s`;
  const min = Math.floor(a / 60_000);
  return `${ms < 0 ? '-' : ''}${min} min ${Math.round((a - min * 60_000) / 1000)} s`;
}

/** Bytes for people, binary units: 512 B, 1.5 KiB, 12.0 MiB, 3.25 GiB. */
export function formatBytes(bytes: number | undefined | null): string {
  if (bytes === undefined || bytes === null || !Number.isFinite(bytes)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}

/** A bar of `width` cells for a fraction in [0, 1]: `[#####-----]`. */
export function bar(fraction: number, width = 10): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

/** First 8 characters of a UUID, as the lab's log shows moves. */
export function shortId(id: string | undefined): string {
  return id ? id.slice(0, 8) : '';
}

/** `hh:mm:ss.mmm` of an epoch-ms time, in UTC (the log's clock). */
export function clockTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}
