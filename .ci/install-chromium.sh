#!/usr/bin/env bash
# Install Debian's chromium for the console's browser tests (test/console.test.ts drives it with
# npm's playwright-core, which downloads no browser), when it is missing.
# Idempotent: does nothing when /usr/bin/chromium exists; runs apt-get update at most once.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
  echo "install-chromium: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
  exit 0
fi
echo "install-chromium: chromium not found, installing Debian's package"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "install-chromium: $(/usr/bin/chromium --version)"
