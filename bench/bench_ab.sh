#!/usr/bin/env bash
# bench/bench_ab.sh: two ringcached builds side by side in one run, for
# "no regression" claims: A (before) and B (after) get identical
# redis-benchmark runs, alternating A-B / B-A, median of BENCH_REPEAT.
#
#   single:  one node, SET and GET at -P 1 and -P 16 (-c 50, -d 16)
#   cluster: three nodes (R=0) of each build, a plain client on the first
#            node (2/3 of the keys forwarded over the data links) and
#            redis-benchmark --cluster (straight to the owners)
#
# Usage: bench/bench_ab.sh A_BINARY B_BINARY   (about 6 minutes)
#   BENCH_REPEAT=5  runs per row and build (median)
#   BENCH_N=200000  requests per -P 16 run (-P 1 runs use a fifth; --cluster
#                   runs ten times as many: their req/s is counted on the
#                   servers, bench/rb_counted.py, over the middle 80 %)
#   BENCH_PIN=1     pin servers to CPU 1 and redis-benchmark to CPU 0
#   BENCH_CASES="single cluster-plain cluster-smart"  the cases to run
#   BENCH_TESTS="set get"                             the tests to run
# Prints one row per case with req/s and p99 of A and B and the B/A ratio.
# It stops every process it started (by PID) on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=/usr/bin/python3
A=${1:?usage: $0 A_BINARY B_BINARY}
B=${2:?usage: $0 A_BINARY B_BINARY}
REPEAT=${BENCH_REPEAT:-5}
N=${BENCH_N:-200000}
PIN=${BENCH_PIN:-1}
CASES=" ${BENCH_CASES:-single cluster-plain cluster-smart} "
TESTS=${BENCH_TESTS:-set get}
. "$ROOT/bench/lib.sh"

SRV_PIN=() CLI_PIN=()
if ((PIN)) && (($(nproc) >= 2)); then SRV_PIN=(taskset -c 1) CLI_PIN=(taskset -c 0); fi
TMP=$(mktemp -d /tmp/bench_ab.XXXXXX)
PIDS=()
trap stop_all EXIT

now_ms() { date +%s%3N; }

wait_ready() { # port
    local deadline=$(($(now_ms) + 10000))
    until [[ "$(timeout 2 redis-cli -p "$1" PING 2>/dev/null)" == PONG ]]; do
        (($(now_ms) < deadline)) || { echo "server on port $1 did not start" >&2; return 1; }
        sleep 0.05
    done
}

wait_members() { # count port...
    local want=$1 deadline=$(($(now_ms) + 30000)) p ok
    shift
    while :; do
        ok=1
        for p in "$@"; do
            [[ "$(redis-cli -p "$p" CLUSTER INFO 2>/dev/null | tr -d '\r' | grep '^cluster_known_nodes:')" == "cluster_known_nodes:$want" ]] || ok=0
        done
        ((ok)) && return 0
        (($(now_ms) < deadline)) || { echo "cluster did not converge" >&2; return 1; }
        sleep 0.05
    done
}

# Not in a subshell: PIDS and the ports handed out must survive the call.
NODE_PORT=""
start_node() { # binary dir [args...]: sets NODE_PORT
    local bin=$1 d=$2 p
    shift 2
    free_port; p=$FREE_PORT
    mkdir -p "$d/$p"
    "${SRV_PIN[@]}" "$bin" --port "$p" --cluster-port $((p + 10000)) --dir "$d/$p" \
        --logfile "$d/$p/ringcached.log" --cluster-replicas 0 "$@" >"$d/$p/console.log" 2>&1 &
    PIDS+=($!)
    wait_ready "$p"
    NODE_PORT=$p
}

CLUSTER_FIRST=""
declare -A CLUSTER_NODES # first node's port -> the three ports
start_cluster() { # binary dir: sets CLUSTER_FIRST (the first node's port)
    local bin=$1 d=$2 p1 p2 p3 secret
    secret=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    start_node "$bin" "$d" --cluster-secret "$secret"; p1=$NODE_PORT
    start_node "$bin" "$d" --cluster-secret "$secret" --join "127.0.0.1:$p1"; p2=$NODE_PORT
    start_node "$bin" "$d" --cluster-secret "$secret" --join "127.0.0.1:$p1"; p3=$NODE_PORT
    wait_members 3 "$p1" "$p2" "$p3"
    CLUSTER_FIRST=$p1
    CLUSTER_NODES[$p1]="$p1 $p2 $p3"
}

# One run: prints "rps p99". With --cluster, rps is counted on the three
# nodes (bench/rb_counted.py: redis-benchmark --cluster rounds a run's
# length up to its 250 ms ticks; a 0.15 s run reads as 0.25 s).
run_one() { # mode(plain|cluster) port test pipeline requests
    local extra=() nodes="" r
    if [[ $1 == cluster ]]; then
        extra=(--cluster)
        nodes=${CLUSTER_NODES[$2]}
    fi
    r=$("${CLI_PIN[@]}" $PY "$ROOT/bench/rb_counted.py" "$nodes" "${extra[@]}" -h 127.0.0.1 -p "$2" \
        -t "$3" -P "$4" -n "$5" -c 50 -d 16 -r 100000) || { echo "$r" >&2; return 1; }
    set -- $r
    echo "$1 $3"
}

RESULTS=$TMP/results.txt
: >"$RESULTS"
compare() { # case mode portA portB
    local name=$1 mode=$2 pa=$3 pb=$4 test P n rep who r order
    [[ $CASES == *" $name "* ]] || return 0
    for test in $TESTS; do
        for P in 16 1; do
            n=$((P == 1 ? N / 5 : N))
            # --cluster runs are counted on the servers, over at least 0.3 s
            [[ $mode == cluster ]] && n=$((n * 10))
            for rep in $(seq "$REPEAT"); do
                if ((rep % 2)); then order="A B"; else order="B A"; fi
                for who in $order; do
                    if [[ $who == A ]]; then r=$(run_one "$mode" "$pa" "$test" "$P" "$n"); else r=$(run_one "$mode" "$pb" "$test" "$P" "$n"); fi
                    echo "$name $test $P $who $r" >>"$RESULTS"
                done
            done
            echo "  done: $name $test -P $P" >&2
        done
    done
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), repeat $REPEAT (median), -c 50 -d 16 -r 100000, pinning: ${SRV_PIN[*]:-none}"
echo "# A: $A"
echo "# B: $B"
if [[ $CASES == *" single "* ]]; then
    start_node "$A" "$TMP/a1"; sa=$NODE_PORT
    start_node "$B" "$TMP/b1"; sb=$NODE_PORT
    compare single plain "$sa" "$sb"
fi
if [[ $CASES == *" cluster-"* ]]; then
    start_cluster "$A" "$TMP/a3"; a1=$CLUSTER_FIRST
    start_cluster "$B" "$TMP/b3"; b1=$CLUSTER_FIRST
fi
compare cluster-plain plain "${a1:-}" "${b1:-}"
compare cluster-smart cluster "${a1:-}" "${b1:-}"

$PY - "$RESULTS" <<'EOF'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    case, test, P, who, rps, p99 = line.split()
    rows[(case, test, int(P), who)].append((float(rps), float(p99)))
print("%-14s %-4s %3s %12s %12s %7s %9s %9s" % ("case", "test", "-P", "A req/s", "B req/s", "B/A", "A p99 ms", "B p99 ms"))
for key in sorted({k[:3] for k in rows}, key=lambda k: (k[0], k[1], -k[2])):
    a = rows[key + ("A",)]
    b = rows[key + ("B",)]
    ar = statistics.median(r for r, _ in a)
    br = statistics.median(r for r, _ in b)
    ap = statistics.median(p for _, p in a)
    bp = statistics.median(p for _, p in b)
    print("%-14s %-4s %3d %12.0f %12.0f %7.3f %9.3f %9.3f" % (key + (ar, br, br / ar, ap, bp)))
EOF
