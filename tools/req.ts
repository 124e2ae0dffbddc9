import { connect } from 'nats';
import { natsServers } from '@locus/messaging';
import { operatorConnectOptions } from './cli/credentials';
import { explainConnectFailure, explainRequestFailure } from './cli/request-failure';

/**
 * `npm run -s req -- SUBJECT 'JSON'`: what `nats req SUBJECT 'JSON'` does, for machines
 * without the NATS CLI. Prints the reply as it came and exits 1 on `"ok":false`. Connects as the
 * operator when NATS_NKEY_SEED_FILE, LOCUS_NATS_AUTH_DIR or the lab's .lab-data/nats-auth names one.
 */
async function main() {
  const [subject, body = '{}'] = process.argv.slice(2);
  if (!subject) {
    console.error('usage: npm run -s req -- SUBJECT \'JSON\'   e.g. npm run -s req -- locus.vm.get \'{"vm":"web-01"}\'');
    process.exit(2);
  }
  const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const timeout = Number(process.env.REQ_TIMEOUT_MS ?? 10000);
  const nc = await connect({ servers: natsServers(natsUrl), maxReconnectAttempts: 2, ...operatorConnectOptions() }).catch((err) => {
    throw new Error(explainConnectFailure(natsUrl, err));
  });
  try {
    const msg = await nc.request(subject, new TextEncoder().encode(body), { timeout }).catch((err) => {
      throw new Error(explainRequestFailure(subject, err, timeout));
    });
    const text = new TextDecoder().decode(msg.data);
    console.log(text);
    try {
      if (JSON.parse(text).ok === false) process.exitCode = 1;
    } catch {
      /* not JSON: printed as is */
    }
  } finally {
    await nc.close();
  }
}

main().catch((err) => {
  console.error(`req: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
