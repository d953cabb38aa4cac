#!/usr/bin/env bash
# Installs what building, running and testing ringcache needs on Debian 12,
# as root. Installs only what is missing; safe to run again.
set -euo pipefail

pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libuv1-dev libhiredis-dev libmurmurhash-dev libcmocka-dev libssl-dev
      redis-server redis-tools python3 python3-redis nutcracker iptables procps strace iproute2
      nodejs clang-format-14
      podman runc netavark aardvark-dns debootstrap eatmydata)  # deploy stage: tests/deploy/

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm ships inside some nodejs builds (NodeSource): install Debian's only when
# the command is missing. The ioredis test needs it.
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
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
