import { generateKeySeed, keyMaterialFromEnv, writeKeyFile } from '../apps/mapping-system/src';

/**
 * Key material for the mapping system (its site keys are derived from one secret seed; there is
 * no default one):
 *
 *   node dist/tools/mapping-key.js          prints a new seed (256 random bits, hex), e.g. for
 *                                           LOCUS_MAPPING_KEY_SEED or a Kubernetes Secret
 *   node dist/tools/mapping-key.js FILE     writes a new seed to FILE (mode 0400) unless FILE exists,
 *                                           for LOCUS_MAPPING_KEY_FILE; says which, never the seed
 */
function main() {
  const [file, ...rest] = process.argv.slice(2);
  if (rest.length || file === '-h' || file === '--help') {
    console.error('usage: node dist/tools/mapping-key.js [FILE]   (no FILE: print a new seed)');
    process.exit(2);
  }
  if (file === undefined) {
    process.stdout.write(`${generateKeySeed()}\n`);
    return;
  }
  const outcome = writeKeyFile(file);
  // a kept file must still be usable: refuse now rather than at the mapping system's start
  keyMaterialFromEnv({ LOCUS_MAPPING_KEY_FILE: file });
  console.log(outcome === 'created' ? `mapping key seed written to ${file}` : `mapping key seed kept: ${file} already holds one`);
}

try {
  main();
} catch (err) {
  console.error(`mapping-key failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
