#!/bin/sh
# tests/deploy/k8s/run.sh: renders deploy/k8s with kubectl kustomize and
# validates every object (validate.js). Offline: nothing is applied to a
# cluster. The node packages come from package-lock.json (npm ci), installed
# by scripts/setup.sh or here when node_modules is missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
command -v kubectl >/dev/null || { echo "FAIL: kubectl not found (scripts/setup.sh installs it)"; exit 1; }
command -v node >/dev/null || { echo "FAIL: node not found (scripts/setup.sh installs it)"; exit 1; }
if [ ! -f "$here/node_modules/kubernetes-models/package.json" ] || [ ! -f "$here/node_modules/yaml/package.json" ]; then
    (cd "$here" && timeout 300 npm ci --no-audit --no-fund) || {
        echo "FAIL: npm ci in $here failed (npm registry unreachable?)"
        exit 1
    }
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
kubectl kustomize "$root/deploy/k8s" >"$out"
echo "ok   kubectl kustomize deploy/k8s renders ($(grep -c '^kind:' "$out") objects)"
sh -n "$root/deploy/k8s/start.sh"
echo "ok   start.sh parses (sh -n)"
node "$here/validate.js" "$out"
