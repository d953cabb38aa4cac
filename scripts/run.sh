#!/usr/bin/env bash
# Installs what is missing, builds a release ringcached and starts a 3-node
# cluster on 127.0.0.1:7001-7003 in the background (deploy/cluster.sh start 3).
# Extra arguments go to every node. Stop it with deploy/cluster.sh stop-all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DRC_TESTS=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target ringcached
export RINGCACHED=build/release/node/ringcached
if [[ -n "$(deploy/cluster.sh status 2>/dev/null | awk '$3 == "yes"')" ]]; then
    echo "a local cluster is already running; restarting it with the new build" >&2
    deploy/cluster.sh stop-all
fi
exec deploy/cluster.sh start 3 -- "$@"
