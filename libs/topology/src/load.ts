// The one impure edge of the library: read a topology YAML file, validate it, index it.
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
    super(
      [`Invalid topology ${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`, ...problems.map((p) => `  - ${p}`)].join('\n'),
    );
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
export function parseTopology(text: string, source = '<inline>', options: ValidateOptions = {}): LoadedTopology {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  const describe = (e: YAMLError) => {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    return `yaml line ${line}, column ${col}: ${e.message.split('\n')[0]}`;
  };
  const yamlWarnings = doc.warnings.map(describe);
  if (doc.errors.length > 0) throw new TopologyError(source, doc.errors.map(describe), yamlWarnings);
  const result = validateTopology(doc.toJS(), options);
  const warnings = [...yamlWarnings, ...result.warnings];
  if (!result.ok) throw new TopologyError(source, result.problems, warnings);
  return { topology: result.topology, index: new TopologyIndex(result.topology), warnings };
}

/** Reads, validates and indexes a topology file. Throws TopologyError (file path in the first line, one problem per line). */
export function loadTopologyFile(path: string, options: ValidateOptions = {}): LoadedTopology {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    throw new TopologyError(absolute, [`cannot read file: ${(err as Error).message}`]);
  }
  return parseTopology(text, absolute, options);
}

const DEFAULT_TOPOLOGY = join('lab', 'default.yaml');

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
 * Absolute path of `lab/default.yaml`: walks up from this module's directory (works from
 * libs/topology/src and from dist/libs/topology/src), then from the working directory.
 */
export function defaultTopologyPath(): string {
  const found = findUp(__dirname, DEFAULT_TOPOLOGY) ?? findUp(process.cwd(), DEFAULT_TOPOLOGY);
  if (!found) throw new Error(`cannot find ${DEFAULT_TOPOLOGY} above ${__dirname} or ${process.cwd()}`);
  return found;
}
