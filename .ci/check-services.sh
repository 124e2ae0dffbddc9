#!/usr/bin/env bash
# Make sure the PostgreSQL and NATS (JetStream) that the tests use answer on
# 127.0.0.1, starting them with the machine's own commands when they don't.
# Waits up to WAIT_SECONDS (default 30) for each; exits non-zero if one never answers.
set -euo pipefail

WAIT_SECONDS=${WAIT_SECONDS:-30}
PG_HOST=127.0.0.1 PG_PORT=5432
NATS_HOST=127.0.0.1 NATS_PORT=4222
NATS_LOG=/var/log/nats-server.log

say() { echo "check-services: $*"; }

pg_answers() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2; }

# NATS greets every new client with an `INFO {...}` line; read it over bash's
# /dev/tcp (no curl/nc needed). Prints the line on success.
nats_info() {
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    IFS= read -r -t 3 line <&3 || exit 1
    [[ $line == INFO* ]] && printf "%s\n" "${line%$'"'"'\r'"'"'}"
  ' "$NATS_HOST" "$NATS_PORT" 2>/dev/null
}
nats_answers() { nats_info >/dev/null; }

# wait_for NAME CHECK-FUNCTION: poll once a second for up to WAIT_SECONDS.
wait_for() {
  local name=$1 check=$2 i
  for ((i = 0; i < WAIT_SECONDS; i++)); do
    if "$check"; then say "$name answers after ${i}s"; return 0; fi
    sleep 1
  done
  "$check"
}

failed=0

# --- PostgreSQL ---
if pg_answers; then
  say "PostgreSQL already answers on $PG_HOST:$PG_PORT"
else
  say "PostgreSQL does not answer on $PG_HOST:$PG_PORT; starting it:"
  say "  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql 2>/dev/null) main start"
  # shellcheck disable=SC2046  # the version folder name is meant to be word-split in
  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start \
    || say "pg_ctlcluster exited with $? (waiting anyway)"
  if ! wait_for PostgreSQL pg_answers; then
    echo "check-services: ERROR: PostgreSQL still does not answer on $PG_HOST:$PG_PORT after ${WAIT_SECONDS}s" >&2
    tail -n 20 /var/log/postgresql/postgresql-*-main.log >&2 2>/dev/null || true
    failed=1
  fi
fi

# --- NATS ---
if nats_answers; then
  say "NATS already answers on $NATS_HOST:$NATS_PORT"
else
  say "NATS does not answer on $NATS_HOST:$NATS_PORT; starting it:"
  say "  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a $NATS_HOST -p $NATS_PORT -js -sd /var/lib/nats-server -l $NATS_LOG"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log \
    || say "start-stop-daemon exited with $? (waiting anyway)"
  if ! wait_for NATS nats_answers; then
    echo "check-services: ERROR: NATS still does not answer on $NATS_HOST:$NATS_PORT after ${WAIT_SECONDS}s" >&2
    tail -n 20 "$NATS_LOG" >&2 2>/dev/null || true
    failed=1
  fi
fi

if ((failed)); then exit 1; fi

# The services' default DATABASE_URL names the database `locus`, which the machine's
# PostgreSQL does not come with: create it once (the apps migrate its schema).
if [[ $(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atc \
        "SELECT 1 FROM pg_database WHERE datname = 'locus'") == 1 ]]; then
  say "database locus exists"
else
  createdb -h "$PG_HOST" -p "$PG_PORT" -U postgres locus
  say "created database locus"
fi

# The event store needs JetStream: say so plainly if this NATS runs without it.
info=$(nats_info || true)
version=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' <<<"$info")
if [[ $info == *'"jetstream":true'* ]]; then
  say "NATS ${version:-?} has JetStream enabled"
else
  say "WARNING: NATS ${version:-?} on $NATS_HOST:$NATS_PORT does not report JetStream; tests that use streams will fail"
fi
say "PostgreSQL and NATS are up"
