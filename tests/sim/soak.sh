#!/bin/sh
# tests/sim/soak.sh: runs the Paxos simulator over a long range of seeds,
# split into one contiguous part per core, and reports the first failure of
# each worker with its replay line. The one rule: the summary names every
# seed range and whether it finished, so a clean result can be quoted.
#
#   tests/sim/soak.sh FIRST COUNT [JOBS]
#   PAXOS_SIM=build/rel/tests/paxos-sim-mut6 tests/sim/soak.sh 1 100000
#
# JOBS defaults to the number of cores. PAXOS_SIM defaults to the Release
# simulator next to this checkout (build/rel/tests/paxos-sim); SOAK_ARGS
# passes further options (e.g. "--nodes 5"). Logs go to SOAK_DIR (default
# a fresh directory under /tmp). Exit 0 only if every worker finished clean.
set -u

usage() {
    echo "usage: $0 FIRST COUNT [JOBS]" >&2
    exit 2
}

[ $# -ge 2 ] || usage
first=$1
count=$2
jobs=${3:-$(nproc 2>/dev/null || echo 1)}
case "$first$count$jobs" in
*[!0-9]*) usage ;;
esac
if [ "$count" -le 0 ] || [ "$jobs" -le 0 ]; then
    usage
fi

root=$(cd "$(dirname "$0")/../.." && pwd)
sim=${PAXOS_SIM:-$root/build/rel/tests/paxos-sim}
[ -x "$sim" ] || {
    echo "soak: $sim not built (cmake --build build/rel --target paxos-sim)" >&2
    exit 2
}
dir=${SOAK_DIR:-$(mktemp -d /tmp/paxos-soak.XXXXXX)}
mkdir -p "$dir"

last=$((first + count - 1))
per=$(((count + jobs - 1) / jobs))
echo "soak: seeds $first..$last over $jobs workers ($per each), $sim ${SOAK_ARGS:-}"
echo "soak: logs in $dir"
start=$(date +%s)

w=0
pids=""
while [ $w -lt "$jobs" ]; do
    a=$((first + w * per))
    n=$per
    [ $((a + n - 1)) -gt "$last" ] && n=$((last - a + 1))
    if [ "$n" -gt 0 ]; then
        # shellcheck disable=SC2086
        ("$sim" --seed "$a" --seeds "$n" ${SOAK_ARGS:-} >"$dir/worker$w.log" 2>&1
         echo $? >"$dir/worker$w.rc") &
        pids="$pids $!"
        echo "$a $n" >"$dir/worker$w.range"
    fi
    w=$((w + 1))
done
# shellcheck disable=SC2086
wait $pids
end=$(date +%s)

status=0
w=0
while [ $w -lt "$jobs" ]; do
    if [ -f "$dir/worker$w.range" ]; then
        read -r a n <"$dir/worker$w.range"
        rc=$(cat "$dir/worker$w.rc" 2>/dev/null || echo 99)
        range="$a..$((a + n - 1))"
        if [ "$rc" = 0 ]; then
            # the summary ("N seeds ok ...") and the lease counts after it
            echo "worker $w: seeds $range clean: $(grep -m 1 ' seeds ok ' "$dir/worker$w.log")"
            grep -m 1 '^leases: ' "$dir/worker$w.log" | sed 's/^/    /'
        else
            status=1
            echo "worker $w: seeds $range FAILED (exit $rc); first failure:"
            if grep -q '^replay: ' "$dir/worker$w.log"; then
                grep -m 1 '^seed ' "$dir/worker$w.log" | sed 's/^/    /'
                grep -m 1 '^replay: ' "$dir/worker$w.log" | sed 's/^/    /'
            else
                echo "    no violation reported (killed or crashed): see $dir/worker$w.log"
            fi
        fi
    fi
    w=$((w + 1))
done
echo "soak: seeds $first..$last, $jobs workers, wall $((end - start)) s: $([ $status = 0 ] && echo clean || echo FAILURES)"
exit $status
