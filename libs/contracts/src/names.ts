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
