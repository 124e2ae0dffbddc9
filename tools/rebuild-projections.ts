import { createDataSource, rebuildProjections } from '@locus/eventstore';
import { loadConfig } from '@locus/platform';

/**
 * `npm run rebuild`: replays the whole event log into fresh projections (vm_location, moves)
 * in one transaction. The live projections are updated in the append transaction already;
 * this is for a changed projection or a suspicion of drift. It connects as the owner role of
 * DATABASE_URL, not as the services' role: emptying the projections (TRUNCATE) and locking the
 * streams table are maintenance, like a migration.
 */
async function main() {
  const config = loadConfig();
  const ds = createDataSource(config.databaseUrl, 2);
  await ds.initialize();
  try {
    const report = await rebuildProjections(ds);
    console.log(`rebuilt projections from ${report.events} events: ${report.vms} VMs, ${report.moves} moves in ${report.ms} ms`);
  } finally {
    await ds.destroy();
  }
}

main().catch((err) => {
  console.error(`rebuild failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
