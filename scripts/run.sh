#!/usr/bin/env bash
# Installs what is missing, builds a release ringcached and runs it on port
# 7001 in the foreground (Ctrl-C stops it). Extra arguments go to ringcached.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DRC_TESTS=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target ringcached
echo "ringcached on 127.0.0.1:7001 -- connect with: redis-cli -p 7001"
exec build/release/node/ringcached --port 7001 "$@"
