#!/usr/bin/env bash
# bench/bench_cluster.sh: a ringcache cluster against its anchors, side by side.
#
# (a) cluster-aware client: a 3-node ringcache cluster (cluster-replicas 0) vs a
#     3-master Redis Cluster (redis-cli --cluster create ... --cluster-replicas 0),
#     both driven by `redis-benchmark --cluster`.
# (b) plain client through ONE node: redis-benchmark against one node of the
#     same ringcache cluster (about 2/3 of the keys are forwarded to their owner)
#     vs twemproxy (Debian's nutcracker, ketama, redis: true) in front of 3
#     redis-servers.
# Every row: -t set or get, -c 50, -r 100000, -P 16 and -P 1; N sized to about
# BENCH_SECONDS on the anchor; the runs alternate between ringcache and the
# anchor (order flipped every repeat), medians shown, ratio = ringcache/anchor
# for req/s, p50 and p99 (from redis-benchmark --csv; in part a, req/s is
# counted on the servers: see run_one).
#
# Usage: bench/bench_cluster.sh [a|b ...]      (default: a b; about 3 minutes)
#   BENCH_REPEAT=3      runs per row and side (median)
#   BENCH_SECONDS=2     target duration of one run
#   BENCH_CLIENTS=50    redis-benchmark -c
#   BENCH_PIN=1         pin every server to CPU 1 and redis-benchmark to CPU 0
#   BENCH_HASH=ketama   twemproxy distribution (ketama or modula)
#   RINGCACHED=path     use this binary instead of building one (build/bench-release)
# Ports are picked at random in [20000, 55535] with port + 10000 free too.
# Every process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPEAT=${BENCH_REPEAT:-3}
SECONDS_PER_RUN=${BENCH_SECONDS:-2}
CLIENTS=${BENCH_CLIENTS:-50}
PIN=${BENCH_PIN:-1}
HASH=${BENCH_HASH:-ketama}
PY=/usr/bin/python3
PARTS=("$@")
((${#PARTS[@]})) || PARTS=(a b)
for part in "${PARTS[@]}"; do
    [[ $part == a || $part == b ]] || { echo "usage: $0 [a|b ...]" >&2; exit 2; }
done
command -v nutcracker >/dev/null || { echo "nutcracker not found (apt-get install -y nutcracker)" >&2; exit 1; }

. "$ROOT/bench/lib.sh"
ensure_ringcached

TMP=$(mktemp -d /tmp/bench_cluster.XXXXXX)
PIDS=()
trap stop_all EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }

SRV_PIN=() ; CLI_PIN=()
if [[ $PIN == 1 ]] && command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
    SRV_PIN=(taskset -c 1) ; CLI_PIN=(taskset -c 0)
fi

show_log() { # file
    [[ -s $1 ]] && { echo "---- last 20 lines of $1" >&2; tail -n 20 "$1" >&2; }
    return 0
}

wait_ready() { # port log
    local deadline=$(($(now_ms) + 15000))
    while (($(now_ms) < deadline)); do
        [[ "$(timeout 2 redis-cli -p "$1" PING 2>/dev/null)" == PONG ]] && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    show_log "$2"
    return 1
}

# Waits until every port reports cluster_state:ok, cluster_known_nodes == N and
# one cluster_current_epoch (timeout in s).
wait_cluster() { # timeout port...
    local deadline=$(($(now_ms) + $1 * 1000)) p out ok e epochs view
    shift
    while :; do
        ok=1 epochs="" view=""
        for p in "$@"; do
            out=$(timeout 2 redis-cli -p "$p" CLUSTER INFO 2>/dev/null | tr -d '\r') || out=""
            e=$(sed -n 's/^cluster_current_epoch://p' <<<"$out")
            grep -qx 'cluster_state:ok' <<<"$out" || ok=0
            grep -qx "cluster_known_nodes:$#" <<<"$out" || ok=0
            [[ -n $e && ( -z $epochs || $epochs == "$e" ) ]] || ok=0
            epochs=$e
            view+=" $p:$(sed -n 's/^cluster_state://p' <<<"$out")/epoch=$e/known=$(sed -n 's/^cluster_known_nodes://p' <<<"$out")"
        done
        ((ok)) && return 0
        if (($(now_ms) >= deadline)); then
            echo "cluster did not converge:$view" >&2
            return 1
        fi
        sleep 0.05
    done
}

# --- ringcache: 3 nodes, no replicas -------------------------------------------------
RC_OK=0
RC_PORTS=()
start_ringcache() {
    local i p d secret
    secret=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    for i in 0 1 2; do
        free_port; p=$FREE_PORT
        d=$TMP/rc/$p
        mkdir -p "$d"
        local join=()
        ((i == 0)) || join=(--join "127.0.0.1:${RC_PORTS[0]}")
        "${SRV_PIN[@]}" "$RINGCACHED" --port "$p" --cluster-port $((p + 10000)) --dir "$d" \
            --logfile "$d/ringcached.log" --cluster-secret "$secret" --cluster-replicas 0 \
            "${join[@]}" >"$d/console.log" 2>&1 &
        PIDS+=($!)
        RC_PORTS+=("$p")
        wait_ready "$p" "$d/console.log" || { show_log "$d/ringcached.log"; return 1; }
        if ((i == 0)); then wait_cluster 15 "$p" || return 1; fi
    done
    if ! wait_cluster 30 "${RC_PORTS[@]}"; then
        for p in "${RC_PORTS[@]}"; do show_log "$TMP/rc/$p/ringcached.log"; done
        return 1
    fi
}

# --- Redis Cluster: 3 masters -------------------------------------------------------
RS_PORTS=()
start_redis_cluster() {
    local i p d addrs=()
    for i in 0 1 2; do
        free_port; p=$FREE_PORT
        d=$TMP/rs/$p
        mkdir -p "$d"
        "${SRV_PIN[@]}" redis-server --port "$p" --cluster-enabled yes --cluster-config-file "$d/nodes.conf" \
            --dir "$d" --save '' --appendonly no --logfile "$d/redis.log" &
        PIDS+=($!)
        RS_PORTS+=("$p")
        addrs+=("127.0.0.1:$p")
    done
    for p in "${RS_PORTS[@]}"; do wait_ready "$p" "$TMP/rs/$p/redis.log"; done
    timeout 60 redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$TMP/rs-create.log" 2>&1 ||
        { cat "$TMP/rs-create.log" >&2; return 1; }
    wait_cluster 30 "${RS_PORTS[@]}"
}

# --- twemproxy in front of 3 redis-servers -------------------------------------------
TW_PORT=""
start_twemproxy() {
    local i p d stats conf=$TMP/nutcracker.yml
    free_port; TW_PORT=$FREE_PORT
    free_port; stats=$FREE_PORT
    {
        echo "bench:"
        echo "  listen: 127.0.0.1:$TW_PORT"
        echo "  hash: fnv1a_64"
        echo "  distribution: $HASH"
        echo "  redis: true"
        echo "  auto_eject_hosts: false"
        echo "  timeout: 5000"
        echo "  servers:"
    } >"$conf"
    for i in 0 1 2; do
        free_port; p=$FREE_PORT
        d=$TMP/tw/$p
        mkdir -p "$d"
        "${SRV_PIN[@]}" redis-server --port "$p" --dir "$d" --save '' --appendonly no --logfile "$d/redis.log" &
        PIDS+=($!)
        wait_ready "$p" "$d/redis.log"
        echo "   - 127.0.0.1:$p:1 server$i" >>"$conf"
    done
    nutcracker -t -c "$conf" >"$TMP/nutcracker-test.log" 2>&1 || { cat "$TMP/nutcracker-test.log" >&2; return 1; }
    "${SRV_PIN[@]}" nutcracker -c "$conf" -s "$stats" -a 127.0.0.1 -o "$TMP/nutcracker.log" -v 4 &
    PIDS+=($!)
    # nutcracker answers PING (redis: true) once it listens
    wait_ready "$TW_PORT" "$TMP/nutcracker.log"
}

# One redis-benchmark run: prints "rps p50 p99" from its --csv output. In
# cluster mode rps is counted on the servers (bench/rb_counted.py:
# redis-benchmark --cluster rounds a run's length up to its 250 ms ticks):
# every node's calls (no replicas here) over the middle 80 % of the run.
run_one() { # mode(cluster|plain) port test pipeline requests
    local extra=() nodes="" r
    if [[ $1 == cluster ]]; then
        extra=(--cluster)
        if [[ " ${RC_PORTS[*]:-} " == *" $2 "* ]]; then nodes="${RC_PORTS[*]}"; else nodes="${RS_PORTS[*]}"; fi
    fi
    r=$("${CLI_PIN[@]}" $PY "$ROOT/bench/rb_counted.py" "$nodes" "${extra[@]}" -h 127.0.0.1 -p "$2" \
        -t "$3" -P "$4" -n "$5" -c "$CLIENTS" -r 100000) || { echo "$r"; return 1; }
    echo "${r% *}"
}

RESULTS=$TMP/results.txt
: >"$RESULTS"
# part who_rc(mode port) who_anchor(mode port)
bench_part() { # part rc_mode rc_port an_mode an_port
    local part=$1 test P probe n rep order who mode port r
    for test in set get; do
        for P in 16 1; do
            probe=$(run_one "$4" "$5" "$test" "$P" $((P == 1 ? 20000 : 100000)))
            n=$($PY -c "print(max(20000, int(float('${probe%% *}') * $SECONDS_PER_RUN)))")
            for rep in $(seq "$REPEAT"); do
                if ((rep % 2)); then order="rc an"; else order="an rc"; fi
                for who in $order; do
                    if [[ $who == rc ]]; then mode=$2 port=$3; else mode=$4 port=$5; fi
                    if ((RC_OK == 0)) && [[ $who == rc ]]; then continue; fi
                    if r=$(run_one "$mode" "$port" "$test" "$P" "$n"); then
                        echo "$part $test $P $who $r" >>"$RESULTS"
                    else
                        echo "  $part $test -P $P: $who run failed: $r" >&2
                    fi
                done
            done
            echo "  done: ($part) $test -P $P (-n $n)" >&2
        done
    done
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
     "repeat $REPEAT (median), -c $CLIENTS -r 100000, pinning: ${SRV_PIN[*]:-none}"
echo "# ringcached $RINGCACHED"
echo "# $(redis-server --version | cut -d' ' -f1-3), $(nutcracker --version 2>&1 | head -1)"

if start_ringcache; then
    RC_OK=1
    echo "# ringcache cluster: ports ${RC_PORTS[*]}"
else
    echo "# ringcache cluster did NOT start (see above): anchors only" >&2
    echo "# ringcache cluster did NOT start: anchors only"
fi

for part in "${PARTS[@]}"; do
    if [[ $part == a ]]; then
        start_redis_cluster || { echo "Redis Cluster did not start" >&2; exit 1; }
        echo "# Redis Cluster: ports ${RS_PORTS[*]}"
        bench_part a cluster "${RC_PORTS[0]:-0}" cluster "${RS_PORTS[0]}"
    else
        start_twemproxy || { echo "twemproxy did not start" >&2; exit 1; }
        echo "# twemproxy ($HASH) on $TW_PORT"
        bench_part b plain "${RC_PORTS[0]:-0}" plain "$TW_PORT"
    fi
done

if ((RC_OK)); then
    # How much the entry node forwarded (whatever INFO calls it).
    echo "# node ${RC_PORTS[0]} INFO lines mentioning forward:" \
        "$(redis-cli -p "${RC_PORTS[0]}" INFO 2>/dev/null | tr -d '\r' | grep -i forward | tr '\n' ' ')"
    echo "# keys per node:" "$(for p in "${RC_PORTS[@]}"; do printf '%s ' "$(redis-cli -p "$p" DBSIZE)"; done)"
fi

$PY - "$RESULTS" <<'EOF'
import statistics, sys
from collections import defaultdict
rows = defaultdict(lambda: {"rc": [], "an": []})
for line in open(sys.argv[1]):
    part, test, P, who, rps, p50, p99 = line.split()
    rows[(part, test, int(P))][who].append((float(rps), float(p50), float(p99)))
titles = {
    "a": ("3-node ringcache vs 3-master Redis Cluster, redis-benchmark --cluster", "Redis Cluster"),
    "b": ("one ringcache node (plain client, ~2/3 forwarded) vs twemproxy + 3 redis-servers", "twemproxy"),
}
worst = []
for part in ("a", "b"):
    keys = [k for k in rows if k[0] == part]
    if not keys:
        continue
    title, anchor = titles[part]
    print()
    print("(%s) %s" % (part, title))
    print()
    print("| test | -P | ringcache req/s | %s req/s | ratio | ringcache p50/p99 ms | %s p50/p99 ms | p50 ratio | p99 ratio |" % (anchor, anchor))
    print("|---|---|---|---|---|---|---|---|---|")
    for k in keys:
        r = rows[k]
        med = lambda who, i: statistics.median(x[i] for x in r[who]) if r[who] else float("nan")
        rc = [med("rc", i) for i in range(3)]
        an = [med("an", i) for i in range(3)]
        ratio = lambda a, b: a / b if b else float("nan")
        rr, r50, r99 = ratio(rc[0], an[0]), ratio(rc[1], an[1]), ratio(rc[2], an[2])
        flag = "" if rr >= 1.0 else " *"
        print("| %s | %d | %.0f | %.0f | %.2f%s | %.3f / %.3f | %.3f / %.3f | %.2f | %.2f |"
              % (k[1].upper(), k[2], rc[0], an[0], rr, flag, rc[1], rc[2], an[1], an[2], r50, r99))
print()
print("Ratios are ringcache / anchor (medians); rows marked * are below the 1.0x throughput target.")
EOF
((RC_OK)) || exit 1
