#!/usr/bin/env bash
# bench/bench_single.sh: ringcached vs redis-server, side by side, one node.
#
# Builds a Release ringcached if needed (build/bench-release), starts it and a
# redis-server (save/appendonly off) on free ports, and runs redis-benchmark
# against each one ALTERNATELY with identical flags: SET, GET, INCR, MSET with
# -c 50, -P 1 and -P 16, -d 16 and -d 1024, -r 100000, each run repeated
# (median taken). Prints req/s and p99 latency with ringcached/redis ratios.
# Then loads 1,000,000 keys with 16-byte values into each (redis-cli --pipe,
# identical input) and compares used_memory and RSS per key.
#
# Usage: bench/bench_single.sh            (about 4 minutes)
#   BENCH_REPEAT=3      runs per row and server (median)
#   BENCH_SECONDS=2     target duration of one run
#   BENCH_KEYS=1000000  keys for the memory test
#   BENCH_PIN=1         pin servers to CPU 1 and redis-benchmark to CPU 0
#   RINGCACHED=path     use this binary instead of building one
# It stops every process it started (by PID) on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPEAT=${BENCH_REPEAT:-3}
SECONDS_PER_RUN=${BENCH_SECONDS:-2}
NKEYS=${BENCH_KEYS:-1000000}
PIN=${BENCH_PIN:-1}
PY=/usr/bin/python3

. "$ROOT/bench/lib.sh"
ensure_ringcached

TMP=$(mktemp -d /tmp/bench_single.XXXXXX)
PIDS=()
trap stop_all EXIT INT TERM

SRV_PIN=() ; CLI_PIN=()
if [[ $PIN == 1 ]] && command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
    SRV_PIN=(taskset -c 1) ; CLI_PIN=(taskset -c 0)
fi

wait_ready() { # port
    for _ in $(seq 200); do
        if [[ "$(redis-cli -p "$1" PING 2>/dev/null)" == PONG ]]; then return 0; fi
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    return 1
}

free_port
RC_PORT=$FREE_PORT
"${SRV_PIN[@]}" "$RINGCACHED" --port "$RC_PORT" --dir "$TMP" --logfile "$TMP/ringcached.log" &
PIDS+=($!)
free_port
RS_PORT=$FREE_PORT
"${SRV_PIN[@]}" redis-server --port "$RS_PORT" --save '' --appendonly no --dir "$TMP" \
    --logfile "$TMP/redis.log" &
PIDS+=($!)
wait_ready "$RC_PORT"
wait_ready "$RS_PORT"

echo "# ringcached $RINGCACHED port $RC_PORT"
echo "# $(redis-server --version) port $RS_PORT"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
     "repeat $REPEAT (median), pinning: ${SRV_PIN[*]:-none}"

# One redis-benchmark run: prints "rps p99" from its --csv output.
run_one() { # port test pipeline datasize requests
    "${CLI_PIN[@]}" timeout 300 redis-benchmark -h 127.0.0.1 -p "$1" -t "$2" -P "$3" -d "$4" -n "$5" -c 50 -r 100000 --csv 2>&1 |
        $PY -c '
import csv, sys
rows = [r for r in csv.reader(sys.stdin) if r and r[0] != "test"]
if len(rows) != 1:
    sys.exit("unexpected redis-benchmark output: %r" % rows)
print(rows[0][1], rows[0][6])'
}

RESULTS=$TMP/results.txt
: >"$RESULTS"
for test in set get incr mset; do
    for P in 1 16; do
        for d in 16 1024; do
            if [[ $test == incr && $d == 1024 ]]; then continue; fi  # INCR has no payload
            # size the run to about SECONDS_PER_RUN on redis-server
            probe=$(run_one "$RS_PORT" "$test" "$P" "$d" $((P == 1 ? 20000 : 100000)))
            n=$($PY -c "print(max(20000, int(float('${probe% *}') * $SECONDS_PER_RUN)))")
            for rep in $(seq "$REPEAT"); do
                if ((rep % 2)); then order="rc rs"; else order="rs rc"; fi
                for who in $order; do
                    port=$RC_PORT; [[ $who == rs ]] && port=$RS_PORT
                    echo "$test $P $d $who $(run_one "$port" "$test" "$P" "$d" "$n")" >>"$RESULTS"
                done
            done
            echo "  done: $test -P $P -d $d (-n $n)" >&2
        done
    done
done

# Memory per key: the same 1M SETs (16-byte values) into each server.
$PY - "$NKEYS" >"$TMP/load.resp" <<'EOF'
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
for i in range(n):
    k = b"key:%010d" % i
    v = b"%016d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$16\r\n%s\r\n" % (len(k), k, v))
EOF
mem() { # port -> "used_memory rss keys"
    redis-cli -p "$1" INFO memory | tr -d '\r' | awk -F: '/^used_memory:/{u=$2} /^used_memory_rss:/{r=$2} END{printf "%s %s ", u, r}'
    redis-cli -p "$1" DBSIZE
}
# fresh processes: RSS after the throughput runs would hide the growth
free_port
MRC_PORT=$FREE_PORT
"${SRV_PIN[@]}" "$RINGCACHED" --port "$MRC_PORT" --dir "$TMP" --logfile "$TMP/ringcached-mem.log" &
PIDS+=($!)
free_port
MRS_PORT=$FREE_PORT
"${SRV_PIN[@]}" redis-server --port "$MRS_PORT" --save '' --appendonly no --dir "$TMP" \
    --logfile "$TMP/redis-mem.log" &
PIDS+=($!)
wait_ready "$MRC_PORT"
wait_ready "$MRS_PORT"
for who in rc rs; do
    port=$MRC_PORT; [[ $who == rs ]] && port=$MRS_PORT
    before=$(mem "$port")
    redis-cli -p "$port" --pipe <"$TMP/load.resp" >"$TMP/pipe.$who.log"
    after=$(mem "$port")
    echo "mem $who $before $after" >>"$RESULTS"
done

$PY - "$RESULTS" "$NKEYS" <<'EOF'
import statistics, sys
from collections import defaultdict
rows = defaultdict(lambda: {"rc": [], "rs": []})
mem = {}
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "mem":
        mem[f[1]] = [int(x) for x in f[2:]]
        continue
    test, P, d, who, rps, p99 = f
    rows[(test, int(P), int(d))][who].append((float(rps), float(p99)))
print()
print("| test | -P | -d | ringcached req/s | redis req/s | ratio | ringcached p99 ms | redis p99 ms | p99 ratio |")
print("|---|---|---|---|---|---|---|---|---|")
worst = []
for (test, P, d), r in rows.items():
    rc_rps = statistics.median(x[0] for x in r["rc"])
    rs_rps = statistics.median(x[0] for x in r["rs"])
    rc_p99 = statistics.median(x[1] for x in r["rc"])
    rs_p99 = statistics.median(x[1] for x in r["rs"])
    ratio = rc_rps / rs_rps
    p99r = rc_p99 / rs_p99 if rs_p99 else float("nan")
    flag = "" if ratio >= 1.0 and p99r <= 1.0 else " *"
    print("| %s | %d | %d | %.0f | %.0f | %.2f | %.3f | %.3f | %.2f%s |"
          % (test.upper(), P, d, rc_rps, rs_rps, ratio, rc_p99, rs_p99, p99r, flag))
n = int(sys.argv[2])
if "rc" in mem and "rs" in mem:
    print()
    print("| memory, %d keys x 16-byte values | ringcached | redis | ratio |" % n)
    print("|---|---|---|---|")
    (rc_u0, rc_r0, rc_k0, rc_u1, rc_r1, rc_k1) = mem["rc"]
    (rs_u0, rs_r0, rs_k0, rs_u1, rs_r1, rs_k1) = mem["rs"]
    assert rc_k1 == rs_k1 == n, (rc_k1, rs_k1, n)
    u_rc, u_rs = (rc_u1 - rc_u0) / n, (rs_u1 - rs_u0) / n
    r_rc, r_rs = (rc_r1 - rc_r0) / n, (rs_r1 - rs_r0) / n
    print("| used_memory per key (bytes) | %.1f | %.1f | %.2f |" % (u_rc, u_rs, u_rc / u_rs))
    print("| RSS per key (bytes) | %.1f | %.1f | %.2f |" % (r_rc, r_rs, r_rc / r_rs))
    print("| used_memory total after load (MB) | %.1f | %.1f | %.2f |" % (rc_u1 / 2**20, rs_u1 / 2**20, rc_u1 / rs_u1))
    print("| RSS total after load (MB) | %.1f | %.1f | %.2f |" % (rc_r1 / 2**20, rs_r1 / 2**20, rc_r1 / rs_r1))
print()
print("Rows marked * miss a target (throughput >= 1.0x, p99 <= 1.0x).")
EOF
