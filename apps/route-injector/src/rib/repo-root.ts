import { join } from 'node:path';
import { repoRoot } from '@locus/platform';

/** Folder of the vendored GoBGP .proto files. */
export function gobgpProtoDir(): string {
  return join(repoRoot(), 'apps', 'route-injector', 'proto');
}
