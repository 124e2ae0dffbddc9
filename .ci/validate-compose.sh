#!/usr/bin/env bash
# Validate docker-compose.yml with Debian's docker-compose 1.29.2.
# `config` only parses, interpolates and checks the schema: no Docker engine needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Install Debian's docker-compose on first use (CI and new machines run as root).
if ! command -v docker-compose >/dev/null 2>&1; then
  echo "validate-compose: docker-compose not found, installing Debian's package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi

echo "validate-compose: $(docker-compose version --short 2>/dev/null || echo 'docker-compose (version unknown)')"
if ! docker-compose -f docker-compose.yml config -q; then
  echo "validate-compose: docker-compose.yml is NOT valid" >&2
  exit 1
fi
echo "validate-compose: docker-compose.yml is valid"
# The override that publishes NATS and PostgreSQL on the host, merged as `-f … -f …` merges it.
if ! docker-compose -f docker-compose.yml -f docker-compose.host-ports.yml config -q; then
  echo "validate-compose: docker-compose.yml with docker-compose.host-ports.yml is NOT valid" >&2
  exit 1
fi
# Side by side with `npm run lab`: the stack alone publishes neither NATS nor PostgreSQL on the host; the override publishes both.
published() { docker-compose "$@" config | grep -cE '^\s+- 127\.0\.0\.1:[0-9]+:(4222|8222|5432)/tcp' || true; }
if [ "$(published -f docker-compose.yml)" -ne 0 ]; then
  echo "validate-compose: docker-compose.yml publishes NATS or PostgreSQL on the host; they belong in docker-compose.host-ports.yml" >&2
  exit 1
fi
if [ "$(published -f docker-compose.yml -f docker-compose.host-ports.yml)" -ne 3 ]; then
  echo "validate-compose: docker-compose.host-ports.yml does not publish NATS (4222, 8222) and PostgreSQL (5432) on 127.0.0.1" >&2
  exit 1
fi
echo "validate-compose: docker-compose.host-ports.yml merges and publishes NATS and PostgreSQL on 127.0.0.1"
