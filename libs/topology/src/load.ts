// The one impure edge of the library: read a topology YAML file, validate it, index it.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { LineCounter, parseDocument, type YAMLError } from 'yaml';
import type { Topology } from './schema';
import { TopologyIndex } from './topology';
import { type ValidateOptions, validateTopology } from './validate';

export class TopologyError extends Error {
  override readonly name = 'TopologyError';

  constructor(
    /** File path or other description of where the topology came from. */
    readonly source: string,
    readonly problems: readonly string[],
    readonly warnings: readonly string[] = [],
  ) {
    super([`Invalid topology ${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`, ...problems.map((p) => `  - ${p}`)].join('\n'));
  }
}

export interface LoadedTopology {
  topology: Topology;
  index: TopologyIndex;
  warnings: string[];
}

/**
 * Parses and validates topology YAML text. Throws TopologyError listing every YAML and validation
 * problem; `source` names the text in the error (normally the file path).
 */
export function parseTopology(text: string, source = '<inline>', options: LoadOptions = {}): LoadedTopology {
  const { value, yamlWarnings } = parseYaml(text, source, options.withoutVms ? SKIP_VMS : undefined);
  const result = validateTopology(value, options);
  const warnings = [...yamlWarnings, ...result.warnings];
  if (!result.ok) throw new TopologyError(source, result.problems, warnings);
  // The index's own frozen copy is the one returned: holding the validated original too was a second copy of every VM.
  const index = new TopologyIndex(result.topology);
  return { topology: index.topology, index, warnings };
}

/**
 * The YAML as plain values. A whole `yaml` Document of a 100,000-VM file costs over 1 GiB, so a clean
 * file is parsed piecewise (parseInPieces); anything else (an error, a warning, a shape the pieces
 * do not cover) goes through one Document, which gives the line and column of every problem.
 */
function parseYaml(text: string, source: string, skip?: ReadonlySet<string>): { value: unknown; yamlWarnings: string[] } {
  const pieces = parseInPieces(text, skip);
  if (pieces) return { value: pieces.value, yamlWarnings: [] };
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  const describe = (e: YAMLError) => {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    return `yaml line ${line}, column ${col}: ${e.message.split('\n')[0]}`;
  };
  const yamlWarnings = doc.warnings.map(describe);
  if (doc.errors.length > 0) throw new TopologyError(source, doc.errors.map(describe), yamlWarnings);
  return { value: doc.toJS(), yamlWarnings };
}

/** Sequence items parsed per Document: small enough to stay cheap, large enough to be fast. */
const ITEMS_PER_PIECE = 1000;
const TOP_KEY = /^([A-Za-z_][A-Za-z0-9_-]*):(?=[ \t]|\r?$)/;
const SKIPPED = /^[ \t]*(#.*)?\r?$/; // blank or comment only
const SEQUENCE_ITEM = /^( *)-(?=[ \t]|\r?$)/;

/**
 * Parses a top-level block mapping one key at a time, and a block sequence under a key (the VMs)
 * `ITEMS_PER_PIECE` items at a time, each piece its own small Document. Every piece is a slice of
 * whole lines of the text, so it means what it means in the whole file; a split that could change
 * the meaning (an alias to another piece, a multi-line scalar across items, directives, document
 * markers) makes a piece fail or not fit, and then the result is undefined: the caller parses the
 * whole text. Also undefined on any YAML error or warning, which the caller reports with positions.
 * Exported for its tests; parseTopology is the entry point.
 */
export function parseInPieces(text: string, skip?: ReadonlySet<string>): { value: Record<string, unknown> } | undefined {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1 && i + 1 < text.length; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  const lineAt = (n: number) => text.slice(starts[n], n + 1 < starts.length ? starts[n + 1] - 1 : text.length); // without its \n
  const end = (n: number) => (n < starts.length ? starts[n] : text.length);

  // Top-level keys: a line at column 0 is a key, a comment, or (under a key) a sequence item.
  const keys: { key: string; line: number }[] = [];
  for (let n = 0; n < starts.length; n++) {
    const line = lineAt(n);
    if (line === '' || SKIPPED.test(line) || line[0] === ' ') continue;
    const key = TOP_KEY.exec(line)?.[1];
    if (key) keys.push({ key, line: n });
    else if (!(keys.length > 0 && SEQUENCE_ITEM.test(line))) return undefined;
  }
  if (keys.length === 0) return undefined;

  const value: Record<string, unknown> = {};
  for (let k = 0; k < keys.length; k++) {
    const { key, line: first } = keys[k];
    const last = k + 1 < keys.length ? keys[k + 1].line : starts.length; // exclusive
    if (key === '__proto__' || Object.prototype.hasOwnProperty.call(value, key)) return undefined;
    const items = sequenceItems(key, first, last, lineAt);
    if (items && skip?.has(key)) {
      value[key] = []; // not wanted by this process: not parsed at all
      continue;
    }
    if (!items) {
      const piece = parsePiece(text.slice(starts[first], end(last)));
      if (!piece.ok || !isPlainObject(piece.value) || Object.keys(piece.value).length !== 1 || !(key in piece.value)) return undefined;
      value[key] = piece.value[key];
      continue;
    }
    const list: unknown[] = [];
    for (let i = 0; i < items.length; i += ITEMS_PER_PIECE) {
      const count = Math.min(ITEMS_PER_PIECE, items.length - i);
      const to = i + count < items.length ? items[i + count] : last;
      const lines = oneLineItems(items, i, count, to, lineAt);
      if (lines) {
        for (const item of lines) list.push(item);
        continue;
      }
      const piece = parsePiece(text.slice(starts[items[i]], end(to)));
      if (!piece.ok || !Array.isArray(piece.value) || piece.value.length !== count) return undefined;
      for (const item of piece.value) list.push(item);
    }
    value[key] = list;
  }
  return { value };
}

/** Line numbers where the items of `key:`'s block sequence start, or undefined when its value is not one. */
function sequenceItems(key: string, first: number, last: number, lineAt: (n: number) => string): number[] | undefined {
  if (!SKIPPED.test(lineAt(first).slice(key.length + 1))) return undefined; // a value on the key's own line
  const items: number[] = [];
  let indent = -1;
  for (let n = first + 1; n < last; n++) {
    const line = lineAt(n);
    if (SKIPPED.test(line)) continue;
    const item = SEQUENCE_ITEM.exec(line);
    if (indent === -1) {
      if (!item) return undefined;
      indent = item[1].length;
    }
    if (item && item[1].length === indent) items.push(n);
    else if (line.length - line.trimStart().length <= indent) return undefined;
  }
  return items.length > 0 ? items : undefined;
}

/**
 * The items `from`..`from + count` of a sequence when every one is a single line `- { key: value, … }`
 * of the shape a generated inventory has, and YAML could only mean one thing by it; else undefined
 * (the piece goes through the YAML parser). Reading such lines directly costs a fraction of a YAML
 * Document (which was 14 % of a 100,000-VM lab's start).
 */
function oneLineItems(items: readonly number[], from: number, count: number, to: number, lineAt: (n: number) => string): Record<string, unknown>[] | undefined {
  const out: Record<string, unknown>[] = [];
  for (let k = from; k < from + count; k++) {
    const next = k + 1 < from + count ? items[k + 1] : to;
    if (next !== items[k] + 1) return undefined; // the item runs over more lines (or blank and comment lines follow it)
    const item = flowMappingLine(lineAt(items[k]));
    if (!item) return undefined;
    out.push(item);
  }
  return out;
}

const FLOW_ITEM = /^ *- \{ *(.*?) *\}[ \t]*\r?$/;
const FLOW_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const QUOTED = /^"[^"\\]*"$/;
/** Plain scalars read as strings: no character YAML gives a meaning to inside a flow mapping. */
const PLAIN_TEXT = /^[A-Za-z0-9][A-Za-z0-9._\/-]*$/;
const PLAIN_INT = /^(0|[1-9][0-9]{0,14})$/;
/** Plain scalars the YAML 1.2 core schema resolves to something else than a string (or an int read above): left to the parser. */
const CORE_SPECIAL = /^([-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|true|True|TRUE|false|False|FALSE|null|Null|NULL)$/;

/** `- { key: value, … }` with unique plain keys and values that are quoted strings without escapes, plain text or decimal ints; undefined for anything else. Exported for its tests. */
export function flowMappingLine(line: string): Record<string, unknown> | undefined {
  const body = FLOW_ITEM.exec(line)?.[1];
  if (body === undefined || body === '') return undefined;
  const item: Record<string, unknown> = {};
  for (const pair of body.split(',')) {
    const colon = pair.indexOf(': ');
    if (colon < 0) return undefined;
    const key = pair.slice(0, colon).trim();
    const raw = pair.slice(colon + 2).trim();
    if (!FLOW_KEY.test(key) || key === '__proto__' || Object.prototype.hasOwnProperty.call(item, key)) return undefined;
    if (QUOTED.test(raw)) item[key] = raw.slice(1, -1);
    else if (PLAIN_INT.test(raw)) item[key] = Number(raw);
    else if (PLAIN_TEXT.test(raw) && !CORE_SPECIAL.test(raw)) item[key] = raw;
    else return undefined;
  }
  return item;
}

function parsePiece(text: string): { ok: true; value: unknown } | { ok: false } {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0 || doc.warnings.length > 0) return { ok: false };
  try {
    return { ok: true, value: doc.toJS() };
  } catch {
    return { ok: false };
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface LoadOptions extends ValidateOptions {
  /**
   * Leave the VMs out (an empty list): for the processes that learn the VMs from the location DB
   * (route injectors, the mapping system), so that a 100,000-VM file costs them nothing to load.
   * A file that does not parse piecewise is still read whole.
   */
  readonly withoutVms?: boolean;
}

const SKIP_VMS: ReadonlySet<string> = new Set(['vms']);

/**
 * The last topology parsed from each file with each set of options, by content: the services of one
 * process (the agents and the ARP proxies of a lab process, say) share one copy instead of each
 * parsing and holding a 100,000-VM file. Read-only to everyone.
 */
const loaded = new Map<string, { digest: string; topology: LoadedTopology }>();

/** Reads, validates and indexes a topology file. Throws TopologyError (file path in the first line, one problem per line). */
export function loadTopologyFile(path: string, options: LoadOptions = {}): LoadedTopology {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    throw new TopologyError(absolute, [`cannot read file: ${(err as Error).message}`]);
  }
  const key = `${absolute}\0${JSON.stringify(options)}`;
  const digest = createHash('sha1').update(text).digest('hex');
  const known = loaded.get(key);
  if (known?.digest === digest) return known.topology;
  const topology = parseTopology(text, absolute, options);
  loaded.set(key, { digest, topology });
  return topology;
}

const DEFAULT_TOPOLOGY = join('topologies', 'default.yaml');

function findUp(start: string, relative: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Absolute path of `topologies/default.yaml`: walks up from this module's directory (works from
 * libs/topology/src and from dist/libs/topology/src), then from the working directory.
 */
export function defaultTopologyPath(): string {
  const found = findUp(__dirname, DEFAULT_TOPOLOGY) ?? findUp(process.cwd(), DEFAULT_TOPOLOGY);
  if (!found) throw new Error(`cannot find ${DEFAULT_TOPOLOGY} above ${__dirname} or ${process.cwd()}`);
  return found;
}
