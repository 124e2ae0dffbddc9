import { execIn, namespacesUnavailable } from '@locus/dataplane';

/**
 * `describe` where network namespaces can be made (root, iproute2, arping, a kernel with veth,
 * bridge and macvlan), else `describe.skip` with the reason in the suite's name.
 */
export function describeWithNamespaces(name: string, body: () => void): void {
  const reason = namespacesUnavailable();
  if (reason) console.warn(`${name}: skipped, ${reason}`);
  if (reason) describe.skip(`${name} (skipped: ${reason})`, body);
  else describe(name, body);
}

/** One ping from a namespace: true when the reply came within a second. */
export async function pings(ns: string, to: string): Promise<boolean> {
  try {
    await execIn(ns, ['ping', '-c', '1', '-W', '1', to]);
    return true;
  } catch {
    return false;
  }
}
