import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { natsSeedFileName, type NatsCredentials } from '@locus/contracts';
import { DEFAULT_NATS_AUTH_DIR, natsAuthOptions } from '@locus/messaging';

/**
 * The operator credentials a tool connects with: `--nkey` / NATS_NKEY_SEED_FILE, else the
 * operator seed of LOCUS_NATS_AUTH_DIR, else the lab's (.lab-data/nats-auth/operator.nk) when it
 * exists, else none. A server without authentication accepts a client with an nkey too.
 */
export function operatorCredentials(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): NatsCredentials | undefined {
  const seedFile = explicit ?? env.NATS_NKEY_SEED_FILE;
  if (seedFile) return { role: 'operator', seedFile };
  const inDir = join(env.LOCUS_NATS_AUTH_DIR ?? DEFAULT_NATS_AUTH_DIR, natsSeedFileName('operator'));
  return env.LOCUS_NATS_AUTH_DIR || existsSync(inDir) ? { role: 'operator', seedFile: inDir } : undefined;
}

/** The connect options for those credentials (none without). */
export function operatorConnectOptions(explicit?: string, env: NodeJS.ProcessEnv = process.env): { authenticator?: ReturnType<typeof natsAuthOptions>['authenticator']; inboxPrefix?: string } {
  const credentials = operatorCredentials(explicit, env);
  if (!credentials) return {};
  const { authenticator, inboxPrefix } = natsAuthOptions(credentials);
  return { authenticator, inboxPrefix };
}
