import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { ListVmsRequest } from '@locus/contracts';
import { startPrivateNats } from './lab';
import type { BenchProcess } from './session';
import type { Session } from './run';

/** Does this build's vm.list take pages ({after, limit})? Then no reply carries every VM. */
const vmListPaged = () => ListVmsRequest.safeParse({ limit: 1 }).success;

/**
 * The NATS the labs use: the shared one, or a private nats-server (started here, stopped by the
 * bench's cleanup) when asked for, or when vm.list of the biggest lab would not fit in one message of
 * the shared server. Sets `session.natsUrl` and `session.natsServer`; returns the notes for the report.
 */
export async function chooseNats(bench: BenchProcess, session: Session, which: 'auto' | 'shared' | 'private', biggestLab: number): Promise<string[]> {
  const notes: string[] = [];
  const sharedNats = session.natsUrl;
  const probe = await connect({ servers: sharedNats, maxReconnectAttempts: 0 }).catch((err: Error) => {
    throw new Error(`NATS does not answer at ${sharedNats}: ${err.message}`);
  });
  const maxPayload = probe.info?.max_payload ?? 1024 * 1024;
  await probe.close();
  const vmListBytes = biggestLab * 175; // one VmView is ~150-175 bytes of JSON
  const paged = vmListPaged();
  const needPrivate = which === 'private' || (which === 'auto' && !paged && vmListBytes > 0.9 * maxPayload);
  if (needPrivate) {
    bench.privateNatsDir = mkdtempSync(join(tmpdir(), 'locus-bench-nats-'));
    const priv = await startPrivateNats(bench.children, bench.privateNatsDir);
    session.natsUrl = priv.url;
    session.natsServer = 'private';
    if (which === 'auto')
      notes.push(
        `private nats-server (JetStream, max_payload 64 MiB) at ${priv.url}: vm.list of ${biggestLab} VMs is ~${Math.round(vmListBytes / 1024)} KiB in one reply, over the shared server's max_payload of ${Math.round(maxPayload / 1024)} KiB (this build's vm.list is not paged)`,
      );
    bench.log(`private nats-server at ${priv.url}`);
  }
  return notes;
}
