#!/usr/bin/env bash
# Install GoBGP's daemon (Debian package gobgpd) for the host-route tests, when it is missing.
# Idempotent: does nothing when gobgpd is already on PATH; runs apt-get update at most once.
set -euo pipefail

if command -v gobgpd >/dev/null 2>&1; then
  echo "install-gobgp: $(gobgpd --version 2>/dev/null || echo gobgpd) already installed"
  exit 0
fi
echo "install-gobgp: gobgpd not found, installing Debian's package"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends gobgpd >/dev/null
echo "install-gobgp: $(gobgpd --version)"
