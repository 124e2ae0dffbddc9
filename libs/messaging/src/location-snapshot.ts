import type { Logger } from 'pino';
import { subjects, type ListVmsRequest, type VmView } from '@locus/contracts';
import { requestJson } from './json-endpoint';

type Requester = Parameters<typeof requestJson>[0];

/**
 * Soft state, hard truth: every service that follows the locations (agents, mapping, routes,
 * ARP) starts from the location DB's answer to `vm.list`, then applies the event stream on top
 * (both carry location versions, so their order does not matter). Asks until the mobility
 * manager answers, backing off, with a warning on the first and every tenth failure.
 */
export async function fetchLocationSnapshot(
  nc: Requester,
  prefix: string,
  filter: ListVmsRequest,
  log: Logger,
  options: { maxAttempts?: number; timeoutMs?: number } = {},
): Promise<VmView[]> {
  const subject = subjects(prefix).request('vm.list');
  for (let attempt = 1; ; attempt++) {
    try {
      const reply = await requestJson<{ ok: boolean; vms: VmView[] }>(nc, subject, filter, options.timeoutMs ?? 3000);
      if (!reply.ok) throw new Error(JSON.stringify(reply));
      return reply.vms;
    } catch (err) {
      if (attempt >= (options.maxAttempts ?? Infinity)) throw err;
      if (attempt === 1 || attempt % 10 === 0) log.warn({ err: (err as Error).message, attempt }, 'mobility manager not answering vm.list yet; retrying');
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * attempt)));
    }
  }
}
