/**
 * What went wrong with a request, in words a newcomer can act on, instead of NATS's codes
 * (`503`, `TIMEOUT`, `CONNECTION_REFUSED`). Shared by `npm run -s req` and `locus`.
 */
export function explainConnectFailure(natsUrl: string, err: unknown): string {
  const { code, message } = codeOf(err);
  if (code === 'CONNECTION_REFUSED' || /ECONNREFUSED|CONNECTION_REFUSED/.test(message))
    return `cannot reach NATS at ${natsUrl}: nothing listens there. Start the lab (npm run lab) or point NATS_URL at a running NATS.`;
  if (code === 'AUTHORIZATION_VIOLATION' || /Authorization Violation/i.test(message))
    return `NATS at ${natsUrl} refused the credentials: give the operator's seed (--nkey or NATS_NKEY_SEED_FILE, e.g. .lab-data/nats-auth/operator.nk) of the lab that runs there.`;
  return `cannot reach NATS at ${natsUrl}: ${message}`;
}

export function explainRequestFailure(subject: string, err: unknown, timeoutMs: number): string {
  const { code, message } = codeOf(err);
  const prefix = subject.split('.')[0];
  if (code === '503' || /^503$|no responders/i.test(message))
    return `nobody answers ${subject}: no service listens on it. Is the lab running (npm run lab), with subject prefix "${prefix}" (LOCUS_SUBJECT_PREFIX), and is the subject spelt right (see the README's Subjects)?`;
  if (code === 'TIMEOUT' || /^TIMEOUT$|timeout/i.test(message))
    return `no reply to ${subject} within ${timeoutMs} ms: the service is busy, stopped mid-request or cut off from NATS; try again, or with a longer timeout`;
  if (code === 'PERMISSIONS_VIOLATION' || /Permissions Violation/i.test(message))
    return `NATS refused ${subject} to these credentials: the operator may send the request subjects listed in the README's Security section (${message})`;
  return `${subject}: ${message}`;
}

function codeOf(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return { code: String(e?.code ?? ''), message: String(e?.message ?? err) };
}
