/**
 * The Go threads the lab's embedded nats-server may run its code on: what `GOMAXPROCS` says when it
 * is set, else one on a machine of two cores or fewer, where the server shares them with the
 * services and Postgres and one thread spares it the hand-offs between threads (about 120 context
 * switches per move measured on a 2-core guest: docs/flow-of-a-move.md, Process layout); else Go's
 * own choice (undefined).
 */
export function embeddedNatsGomaxprocs(env: NodeJS.ProcessEnv, cores: number): string | undefined {
  return env.GOMAXPROCS ?? (cores <= 2 ? '1' : undefined);
}
