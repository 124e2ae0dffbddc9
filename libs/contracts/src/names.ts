import { z } from 'zod';

/** Names appear inside NATS subjects, so they are restricted to lowercase tokens without dots. */
export const Name = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lowercase letters, digits and dashes');

export const MoveMode = z.enum(['hot', 'warm', 'cold']);
export type MoveMode = z.infer<typeof MoveMode>;

export const Location = z.object({ hypervisor: Name, site: Name });
export type Location = z.infer<typeof Location>;

/**
 * One copy of each repeated name: a site, hypervisor or L2 domain name that thousands of VMs carry
 * parses (JSON, YAML) as as many separate strings. Decoders of large lists pass their names through.
 */
export function internerOfStrings(): (value: string) => string {
  const seen = new Map<string, string>();
  return (value) => {
    const known = seen.get(value);
    if (known !== undefined) return known;
    seen.set(value, value);
    return value;
  };
}
