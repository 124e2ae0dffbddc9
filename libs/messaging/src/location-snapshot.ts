import type { Logger } from 'pino';
import { internerOfStrings, subjects, type ListVmsReply, type ListVmsRequest, type VmView } from '@locus/contracts';
import { requestJson } from './json-endpoint';

type Requester = Parameters<typeof requestJson>[0];

/** The filter of a whole `vm.list` walk: the paging fields are the walker's. */
export type VmListFilter = Omit<ListVmsRequest, 'after' | 'limit'>;

/** First timeout of one page request, and the most it grows to when a page is asked again. */
export const SNAPSHOT_PAGE_TIMEOUT_MS = 3000;
export const SNAPSHOT_MAX_PAGE_TIMEOUT_MS = 30_000;

/**
 * Walks every page of `vm.list` for the filter, asking `fetchPage` for each (`after` = the
 * previous page's `next`), until a page comes without `next`.
 */
export async function walkVmPages(filter: VmListFilter, fetchPage: (body: ListVmsRequest) => Promise<ListVmsReply>, pageSize?: number): Promise<{ vms: VmView[]; pages: number }> {
  const vms: VmView[] = [];
  const intern = internerOfStrings();
  let after: string | undefined;
  for (let pages = 1; ; pages++) {
    const page = await fetchPage({ ...filter, ...(after ? { after } : {}), ...(pageSize ? { limit: pageSize } : {}) });
    for (const vm of page.vms) {
      // A 100,000-VM snapshot repeats a few site, hypervisor and domain names 100,000 times.
      vm.site = intern(vm.site);
      vm.hypervisor = intern(vm.hypervisor);
      vm.l2Domain = intern(vm.l2Domain);
      vms.push(vm);
    }
    if (!page.next) return { vms, pages };
    if (page.next === after) throw new Error(`vm.list answered next=${page.next} again: the walk would not end`);
    after = page.next;
  }
}

/** The manager answered, but UNAVAILABLE (still starting, or at capacity): ask again, no need to wait longer for the answer. */
class VmListUnavailable extends Error {}

/** One `vm.list` page, or an error for an `ok:false` reply. */
async function vmListPage(nc: Requester, subject: string, body: ListVmsRequest, timeoutMs: number): Promise<ListVmsReply> {
  const reply = await requestJson<({ ok: true } & ListVmsReply) | { ok: false; error?: { code?: string } }>(nc, subject, body, timeoutMs);
  if (!reply.ok) throw new (reply.error?.code === 'UNAVAILABLE' ? VmListUnavailable : Error)(`vm.list: ${JSON.stringify(reply)}`);
  return reply;
}

/**
 * Every VM of the filter, page by page, one request per page and no retry (for tools and
 * one-off checks: the planes use `fetchLocationSnapshot`).
 */
export async function listAllVms(nc: Requester, prefix: string, filter: VmListFilter = {}, options: { timeoutMs?: number; pageSize?: number } = {}): Promise<VmView[]> {
  const subject = subjects(prefix).request('vm.list');
  return (await walkVmPages(filter, (body) => vmListPage(nc, subject, body, options.timeoutMs ?? 5000), options.pageSize)).vms;
}

/**
 * Soft state, hard truth: every service that follows the locations (agents, mapping, routes,
 * ARP) starts from the location DB's answer to `vm.list`, then applies the event stream on top
 * (both carry location versions, so their order does not matter). Walks every page of the
 * filter; a page that does not come is asked again, backing off, with a timeout that doubles
 * from `timeoutMs` (3 s) up to 30 s and stays there for the next pages (a busy manager answers
 * slowly; a request whose deadline passed is not even run; an UNAVAILABLE answer, from a manager
 * still placing its VMs, is asked again without a longer timeout), and a warning on a page's first and
 * every tenth failure. `maxAttempts` bounds the tries of each page. Logs pages, VMs and ms once done.
 */
export async function fetchLocationSnapshot(
  nc: Requester,
  prefix: string,
  filter: ListVmsRequest,
  log: Logger,
  options: { maxAttempts?: number; timeoutMs?: number; maxTimeoutMs?: number; pageSize?: number } = {},
): Promise<VmView[]> {
  const subject = subjects(prefix).request('vm.list');
  const started = performance.now();
  const maxTimeoutMs = Math.max(options.maxTimeoutMs ?? SNAPSHOT_MAX_PAGE_TIMEOUT_MS, options.timeoutMs ?? 0);
  let timeoutMs = options.timeoutMs ?? SNAPSHOT_PAGE_TIMEOUT_MS;
  const { after: _after, limit, ...whole } = filter;
  const fetchPage = async (body: ListVmsRequest): Promise<ListVmsReply> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await vmListPage(nc, subject, body, timeoutMs);
      } catch (err) {
        if (attempt >= (options.maxAttempts ?? Infinity)) throw err;
        if (attempt === 1 || attempt % 10 === 0) log.warn({ err: (err as Error).message, attempt, after: body.after, timeoutMs }, 'mobility manager not answering vm.list yet; retrying');
        if (!(err instanceof VmListUnavailable)) timeoutMs = Math.min(maxTimeoutMs, timeoutMs * 2);
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * attempt)));
      }
    }
  };
  const { vms, pages } = await walkVmPages(whole, fetchPage, options.pageSize ?? limit);
  log.info({ pages, vms: vms.length, ms: Math.round(performance.now() - started), filter: whole }, 'location snapshot loaded');
  return vms;
}
