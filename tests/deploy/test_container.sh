#!/usr/bin/env bash
# The container image, for real, under podman (issue 15): builds
# deploy/container/Containerfile on a Debian base made with debootstrap,
# starts three containers on a network of their own (rc-N-1 founds,
# rc-N-2 and rc-N-3 --join rc-N-1:6379 by DNS name, rc-N-3 started before
# its seed exists), writes and reads keys through each, checks the health
# probe, kills one and checks that the other two agree and still serve
# every key. Stops and removes what it started (by name/ID), on any exit.
#
# Usage: tests/deploy/test_container.sh    (root; scripts/setup.sh first)
set -euo pipefail
source "$(dirname "$0")/podman_lib.sh"

pm_setup
NAME=rc-$$
IMAGE=localhost/ringcache:test-$$
NET=$NAME
started=()

cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        for c in "${started[@]}"; do
            echo "--- logs of $c ---"
            podman logs --tail 30 "$c" 2>&1 || true
        done
    fi
    for c in "${started[@]}"; do podman rm -f -t 2 "$c" >/dev/null 2>&1 || true; done
    podman network rm -f "$NET" >/dev/null 2>&1 || true
    podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
    rm -rf "$PM_DIR"
    [ "$rc" -eq 0 ] && echo "container test: PASS (${SECONDS}s)" || echo "container test: FAIL"
}
trap cleanup EXIT

pm_base_image
pm_build "$IMAGE"

# The image's contract.
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
[ "$user" = "10001:10001" ] || pm_fail "image user is '$user'"
ports=$(podman image inspect --format '{{range $p, $v := .Config.ExposedPorts}}{{$p}} {{end}}' "$IMAGE")
[[ "$ports" == *6379/tcp* && "$ports" == *16379/tcp* ]] || pm_fail "exposed ports: $ports"
hc=$(podman image inspect --format '{{.Config.Healthcheck.Test}}' "$IMAGE")
[[ "$hc" == *"--probe ready"* ]] || pm_fail "healthcheck: $hc"
podman run --rm --network none --health-interval disable "$IMAGE" sh -c '
    set -e
    test "$(id -u):$(id -g)" = 10001:10001
    test -x /usr/bin/ringcached && test -r /etc/ringcache/ringcached.conf
    test -w /var/lib/ringcache
    ! ldd /usr/bin/ringcached | grep -q "not found"
    ! command -v gcc && ! command -v cmake
' 2>>"$PM_DIR/podman-run.log" || pm_fail "image layout (user, binary, config, data dir, no toolchain)"
pm_log "image layout ok"

podman network create "$NET" >/dev/null
run_node() { # index, extra args...
    local i=$1
    shift
    # --health-interval disable: no systemd timer here; the test runs the
    # image's HEALTHCHECK itself (podman healthcheck run).
    podman run -d --name "$NAME-$i" --hostname "$NAME-$i" --network "$NET" \
        --health-interval disable -e RINGCACHE_CLUSTER_SECRET=s3cret-$$ "$IMAGE" "$@" \
        >/dev/null 2>>"$PM_DIR/podman-run.log"
    started+=("$NAME-$i")
    IP[$i]=$(podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
        "$NAME-$i")
}
declare -a IP
ip_of() { echo "${IP[$1]}"; }
cli() { # index, command...
    local i=$1
    shift
    timeout 10 redis-cli -h "${IP[$i]}" -p 6379 "$@"
}
info_field() { cli "$1" INFO cluster | tr -d '\r' | sed -n "s/^$2://p"; }

# Node 3 first: its seed's name does not resolve yet; it must keep retrying.
run_node 3 --join "$NAME-1:6379"
pm_wait "node 3 logs a failed lookup of $NAME-1" \
    sh -c "podman logs $NAME-3 2>&1 | grep -q \"cannot resolve the --join name '$NAME-1'\""
podman exec "$NAME-3" ringcached --probe ready >/dev/null 2>&1 && pm_fail "node 3 ready before its seed"
err=$(podman exec "$NAME-3" ringcached --probe ready 2>&1 || true)
[[ "$err" == *"not ready"* ]] || pm_fail "probe reason: $err"
podman exec "$NAME-3" ringcached --probe live || pm_fail "node 3 not live"
pm_log "node 3 waits for its seed: $err"
run_node 1
run_node 2 --join "$NAME-1:6379"

three_agree() {
    local i e
    e=$(info_field 1 cluster_epoch)
    for i in 1 2 3; do
        [ "$(info_field $i cluster_members)" = 3 ] || return 1
        [ "$(info_field $i cluster_state)" = ok ] || return 1
        [ "$(info_field $i cluster_my_role)" = serving ] || return 1
        [ "$(info_field $i cluster_in_transition)" = 0 ] || return 1
        [ "$(info_field $i cluster_epoch)" = "$e" ] || return 1
    done
}
pm_wait "three nodes agree" three_agree
pm_log "3 nodes agree at epoch $(info_field 1 cluster_epoch)"
for i in 1 2 3; do
    podman healthcheck run "$NAME-$i" || pm_fail "healthcheck of node $i"
    ip=$(ip_of "$i")
    node_ip=$(cli "$i" CLUSTER NODES | grep myself | awk '{print $2}')
    [[ "$node_ip" == "$ip:6379@16379"* ]] || pm_fail "node $i announces $node_ip, its IP is $ip"
done
pm_log "health checks pass; each node announces its container address"

# Keys through each node, read back through every node.
for i in 1 2 3; do
    oks=$(for k in $(seq 1 30); do echo "SET key-$i-$k val-$i-$k"; done | cli "$i" | grep -c '^OK$')
    [ "$oks" = 30 ] || pm_fail "SET through node $i: $oks of 30 OK"
done
expected=$(for j in 1 2 3; do for k in $(seq 1 30); do echo "val-$j-$k"; done; done)
check_keys() { # nodes...
    local i got
    for i in "$@"; do
        got=$(for j in 1 2 3; do for k in $(seq 1 30); do echo "GET key-$j-$k"; done; done | cli "$i")
        if [ "$got" != "$expected" ]; then
            echo "node $i: $(diff <(echo "$expected") <(echo "$got") | grep -c '^>') of 90 replies differ:" \
                "$(diff <(echo "$expected") <(echo "$got") | grep '^>' | sort | uniq -c | head -5)" >&2
            return 1
        fi
    done
}
check_keys 1 2 3 || pm_fail "keys do not read back through every node"
pm_log "90 keys written through the three nodes, read back through each"

# Kill node 3 (SIGKILL): the others remove it, agree, and serve every slot.
# With cluster-replicas 1 (the image's default) node 3's slots have their
# copies on the survivors: no key is lost and none reads another value;
# both survivors answer alike, and rewritten, every key reads back through
# both.
held=$(cli 3 DBSIZE)
[ "$held" -gt 0 ] && [ "$held" -lt 90 ] || pm_fail "node 3 holds $held of the 90 keys"
r3=$(cli 3 INFO replication | tr -d '\r' | sed -n 's/^repl_replicas://p')
[ "$r3" = 1 ] || pm_fail "node 3 runs R=$r3, not 1"
podman kill -s KILL "$NAME-3" >/dev/null
two_agree() {
    local i e
    e=$(info_field 1 cluster_epoch)
    for i in 1 2; do
        [ "$(info_field $i cluster_members)" = 2 ] || return 1
        [ "$(info_field $i cluster_state)" = ok ] || return 1
        [ "$(info_field $i cluster_in_transition)" = 0 ] || return 1
        [ "$(info_field $i cluster_epoch)" = "$e" ] || return 1
    done
    [ "$(cli 1 CLUSTER SLOTS | md5sum)" = "$(cli 2 CLUSTER SLOTS | md5sum)" ]
}
pm_wait "the two survivors agree without node 3" two_agree
pm_log "node 3 killed; nodes 1 and 2 agree at epoch $(info_field 1 cluster_epoch)"
gets() { for j in 1 2 3; do for k in $(seq 1 30); do echo "GET key-$j-$k"; done; done | cli "$1"; }
got1=$(gets 1)
got2=$(gets 2)
[ "$got1" = "$got2" ] || pm_fail "the survivors answer differently"
misses=$(paste -d' ' <(echo "$expected") <(echo "$got1") | awk 'NF == 1' | wc -l)
wrong=$(paste -d' ' <(echo "$expected") <(echo "$got1") | awk 'NF == 2 && $1 != $2' | wc -l)
[ "$wrong" = 0 ] || pm_fail "$wrong keys read back a wrong value"
[ "$misses" = 0 ] || pm_fail "$misses misses after node 3 (holding $held keys) died"
pm_log "survivors agree on every key: all 90 kept (node 3 held $held copies)"
for i in 1 2; do
    oks=$(for j in 1 2 3; do for k in $(seq 1 30); do echo "SET key-$j-$k val-$j-$k"; done; done |
        cli "$i" | grep -c '^OK$')
    [ "$oks" = 90 ] || pm_fail "SET through node $i after the kill: $oks of 90 OK"
done
check_keys 1 2 || pm_fail "keys unreadable after node 3 died"
for i in 1 2; do podman healthcheck run "$NAME-$i" || pm_fail "health of node $i after the kill"; done
pm_log "90 keys rewritten and read back through both survivors; both healthy"

# A graceful stop (SIGTERM) exits 0.
podman stop -t 20 "$NAME-2" >/dev/null 2>>"$PM_DIR/podman-run.log"
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME-2")
[ "$code" = 0 ] || pm_fail "node 2 exited $code on SIGTERM"
pm_log "node 2 stopped cleanly (exit 0)"
