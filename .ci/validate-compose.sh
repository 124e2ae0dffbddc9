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
