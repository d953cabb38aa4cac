#!/usr/bin/env bash
# Installs what building, running and testing ringcache needs on Debian 12,
# as root. Installs only what is missing; safe to run again.
set -euo pipefail

pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libuv1-dev libhiredis-dev libmurmurhash-dev libcmocka-dev libssl-dev
      redis-server redis-tools python3 python3-redis python3-pyflakes nutcracker iptables procps strace iproute2
      nodejs clang-format-14 prometheus-redis-exporter systemd prometheus
      podman runc netavark aardvark-dns debootstrap eatmydata)  # deploy stage: tests/deploy/

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm ships inside some nodejs builds (NodeSource): install Debian's only when
# the command is missing. The ioredis test needs it.
command -v npm >/dev/null || missing+=(npm)
# kubectl renders deploy/k8s (kubectl kustomize) for tests/deploy/k8s: the
# "kubectl" package of the Google Cloud SDK apt repository, as on the CI
# image (Debian's kubernetes-client 1.20 predates kustomize v5). Installed
# on its own below: where no configured repository has it, only the
# manifest test fails (and says why), not the whole setup.

# The Kubernetes manifest test's node packages, pinned by its
# package-lock.json (needs the npm registry once).
k8s_test_packages() {
    local dir
    dir="$(cd "$(dirname "$0")/.." && pwd)/tests/deploy/k8s"
    [ ! -f "$dir/node_modules/kubernetes-models/package.json" ] || return 0
    echo "setup: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund >/dev/null)
}

kubectl_package() {
    command -v kubectl >/dev/null && return 0
    apt-get install -y -qq --no-install-recommends kubectl >/dev/null ||
        echo "setup: no kubectl package in the configured repositories" >&2
}

if [ ${#missing[@]} -eq 0 ]; then
    [ "$(id -u)" -ne 0 ] || kubectl_package
    k8s_test_packages
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]}; run as root (or: sudo $0)" >&2
    exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The redis-server package may start a system instance on 6379; tests never
# use that port, they start their own servers on free ports.
kubectl_package
k8s_test_packages
