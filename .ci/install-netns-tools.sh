#!/usr/bin/env bash
# Install what the Linux dataplane's tests (network namespaces) need from Debian, when missing:
# iproute2 (ip, bridge), iputils ping and arping, coreutils' timeout. Idempotent; runs apt-get update
# at most once.
set -euo pipefail

missing=()
command -v ip >/dev/null 2>&1 && command -v bridge >/dev/null 2>&1 || missing+=(iproute2)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
command -v arping >/dev/null 2>&1 || missing+=(iputils-arping)
if ((${#missing[@]} == 0)); then
  echo "install-netns-tools: $(ip -V), $(arping -V 2>&1 | head -n 1) already installed"
  exit 0
fi
echo "install-netns-tools: installing Debian's ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-netns-tools: $(ip -V), $(arping -V 2>&1 | head -n 1)"
