#!/usr/bin/env bash
# Render deploy/k8s's kustomizations and validate every object offline (no cluster, no download
# outside Debian's packages and the npm registry):
#   - kustomize: `kubectl kustomize` of Debian's kubernetes-client (kubectl 1.20, kustomize 2.0.3),
#     unpacked into a cache folder, not installed (the machine may have a kubectl of its own);
#   - schemas: .ci/validate-manifests.cjs with the npm packages kubernetes-models (the Kubernetes
#     OpenAPI JSON schemas, compiled with ajv) and kubernetes-types (no unknown fields), taken from
#     node_modules when they are devDependencies, else installed into the cache folder.
#
#   bash .ci/validate-deploy.sh                  base and every overlay under deploy/k8s
#   bash .ci/validate-deploy.sh DIR...           these kustomization folders (e.g. a copy to try out)
#   LOCUS_KUBECTL=kubectl bash .ci/validate-deploy.sh   render with another kubectl
#
# Exit status 0 when every kustomization renders and every object passes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TOOLS=${LOCUS_DEPLOY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/locus-deploy-tools}
MODELS_VERSION=4.5.1  # Kubernetes 1.27 schemas; CommonJS, Node >= 14
TYPES_VERSION=1.30.0

log() { echo "validate-deploy: $*"; }

# ---- 1. kubectl from Debian (kustomize built in) ----
kubectl_bin="$TOOLS/kubernetes-client/usr/bin/kubectl"
if [[ -z ${LOCUS_KUBECTL:-} && ! -x $kubectl_bin ]]; then
  log "unpacking Debian's kubernetes-client into $TOOLS"
  mkdir -p "$TOOLS"
  tmp=$(mktemp -d)
  download() { (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root kubernetes-client); }
  if ! download 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    download
  fi
  rm -rf "$TOOLS/kubernetes-client"
  dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$TOOLS/kubernetes-client"
  rm -rf "$tmp"
fi
kubectl=${LOCUS_KUBECTL:-$kubectl_bin}
log "rendering with $("$kubectl" version --client --short 2>/dev/null || "$kubectl" version --client 2>/dev/null | head -n 1)"

# ---- 2. the validator's npm packages ----
if [[ ! -d node_modules/yaml || ! -d node_modules/typescript ]]; then
  echo "validate-deploy: node_modules has no yaml or typescript: run npm ci first" >&2
  exit 1
fi
has_version() { # has_version DIR PACKAGE VERSION
  [[ -f $1/node_modules/$2/package.json ]] && node -e "process.exit(require('$1/node_modules/$2/package.json').version === '$3' ? 0 : 1)"
}
if has_version "$PWD" kubernetes-models "$MODELS_VERSION" && has_version "$PWD" kubernetes-types "$TYPES_VERSION"; then
  unset LOCUS_DEPLOY_TOOLS
else
  npm_dir="$TOOLS/npm"
  if ! has_version "$npm_dir" kubernetes-models "$MODELS_VERSION" || ! has_version "$npm_dir" kubernetes-types "$TYPES_VERSION"; then
    log "installing kubernetes-models@$MODELS_VERSION and kubernetes-types@$TYPES_VERSION into $npm_dir (not devDependencies yet)"
    mkdir -p "$npm_dir"
    npm install --prefix "$npm_dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      "kubernetes-models@$MODELS_VERSION" "kubernetes-types@$TYPES_VERSION" >/dev/null
  fi
  export LOCUS_DEPLOY_TOOLS=$npm_dir
fi

# ---- 3. the topology the manifests ship is the lab's ----
if ! cmp -s deploy/k8s/base/topology.yaml topologies/default.yaml; then
  echo "validate-deploy: deploy/k8s/base/topology.yaml differs from topologies/default.yaml; copy it again:" >&2
  echo "  cp topologies/default.yaml deploy/k8s/base/topology.yaml" >&2
  exit 1
fi

# ---- 4. render and validate ----
if (($# > 0)); then
  targets=("$@")
else
  targets=(deploy/k8s/base deploy/k8s/overlays/*/)
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=0
for dir in "${targets[@]}"; do
  dir=${dir%/}
  name=$(basename "$dir")
  # Created at install time by commands in deploy/README.md, never rendered: the mapping key and the NATS users.
  flags=(--external locus-mapping-key --external nats-auth)
  for role in manager agent mapping route-injector arp-proxy operator admin; do flags+=(--external "locus-nats-$role"); done
  # CloudNativePG: its Cluster CRD has no schema offline, and the operator creates the app secret.
  [[ $name == cnpg ]] && flags+=(--crd postgresql.cnpg.io/v1/Cluster --external locus-pg-app)
  rendered="$out/$name.yaml"
  if ! "$kubectl" kustomize "$dir" >"$rendered" 2>"$out/$name.err"; then
    echo "validate-deploy: $dir does not render:" >&2
    sed 's/^/  /' "$out/$name.err" >&2
    failed=$((failed + 1))
    continue
  fi
  if ! node .ci/validate-manifests.cjs --name "$dir" "${flags[@]}" "$rendered"; then
    echo "validate-deploy: $dir is NOT valid" >&2
    failed=$((failed + 1))
  fi
done
if ((failed > 0)); then
  echo "validate-deploy: $failed of ${#targets[@]} kustomization(s) failed" >&2
  exit 1
fi
log "${#targets[@]} kustomization(s) valid"
