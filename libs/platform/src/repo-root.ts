import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root: the nearest folder above `from` whose package.json is Locus's (works from src and from dist). */
export function repoRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).name === 'locus') return dir;
      } catch {
        /* not ours */
      }
    }
    if (dirname(dir) === dir) throw new Error(`no Locus package.json above ${from}`);
  }
}
