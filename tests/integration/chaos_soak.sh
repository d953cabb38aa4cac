#!/usr/bin/env bash
# The chaos test (test_cluster_chaos.py, issue 14) as a soak: runs it again
# and again, one seed after another, against a release build, until the time
# is up or a run fails. A failure stops the soak at once and prints the line
# that replays it; every run's output is kept in the log dir. At the end (or
# the failure) it prints the totals: runs, faults injected, operations, and
# lost / stale / divergent / phantom counts summed over the runs.
#
# Usage: tests/integration/chaos_soak.sh [options]
#   -b DIR   build dir with node/ringcached          (build/release)
#   -m MIN   minutes to run in all                   (10)
#   -d SEC   chaos seconds per run (RC_CHAOS_SECONDS) (120)
#   -s SEED  first seed; the next runs take SEED+1 ... (from the clock)
#   -k NAME  which test of test_cluster_chaos.py     (test_chaos_one_fault_at_a_time;
#            test_chaos_two_faults_at_r2: R=2, pairs of overlapping failures)
#   -l DIR   where each run's output goes            (a new temp dir)
# RC_CHAOS_FAULTS (e.g. kill,pause,restart,leave,join) and RC_NODE_ARGS pass
# through to the test; RC_KEEP_TMP=1 keeps the nodes' logs of every run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build/release
minutes=10
seconds=120
seed=$(($(date +%s) % 1000000))
test=test_chaos_one_fault_at_a_time
logs=
while getopts "b:m:d:s:k:l:" opt; do
    case $opt in
    b) build=$OPTARG ;;
    m) minutes=$OPTARG ;;
    d) seconds=$OPTARG ;;
    s) seed=$OPTARG ;;
    k) test=$OPTARG ;;
    l) logs=$OPTARG ;;
    *) sed -n '2,18p' "$0" >&2; exit 2 ;;
    esac
done
daemon=$build/node/ringcached
[ -x "$daemon" ] || { echo "no $daemon: build it first (cmake --build $build)" >&2; exit 2; }
if strings "$daemon" | grep -q __asan_init; then
    echo "warning: $daemon is a sanitizer build: fewer faults per run" >&2
fi
logs=${logs:-$(mktemp -d /tmp/rc-chaos-soak.XXXXXX)}
mkdir -p "$logs"
export RC_CHAOS_SAVE=$logs  # a failed run's history goes there
end=$(($(date +%s) + minutes * 60))
runs=0 faults=0 ops=0 lost=0 stale=0 divergent=0 phantom=0 errors=0

# Sums the figures of one run's "<name>: ops=... | lost=... stale=..." and
# "<name> faults: N (...)" lines into the totals.
tally() {
    local line
    line=$(grep -E '^chaos[a-z0-9= ]*: ops=' "$1" | tail -1 || true)
    if [ -n "$line" ]; then
        ops=$((ops + $(sed -E 's/.* ops=([0-9]+) .*/\1/' <<<"$line")))
        lost=$((lost + $(sed -E 's/.* lost=([0-9]+) .*/\1/' <<<"$line")))
        stale=$((stale + $(sed -E 's/.* stale=([0-9]+) .*/\1/' <<<"$line")))
        divergent=$((divergent + $(sed -E 's/.* divergent=([0-9]+) .*/\1/' <<<"$line")))
        phantom=$((phantom + $(sed -E 's/.* phantom=([0-9]+) .*/\1/' <<<"$line")))
        errors=$((errors + $(sed -E 's/.* errors=([0-9]+).*/\1/' <<<"$line")))
    fi
    line=$(grep -E '^chaos[a-z0-9= ]* faults: [0-9]+' "$1" | tail -1 || true)
    if [ -n "$line" ]; then
        faults=$((faults + $(sed -E 's/.* faults: ([0-9]+) .*/\1/' <<<"$line")))
    fi
}

totals() {
    echo "soak: $runs runs (seeds $first..$((seed - 1))), $faults faults, $ops ops," \
        "lost $lost, stale $stale, divergent $divergent, phantom $phantom," \
        "client errors $errors; logs in $logs"
}

first=$seed
echo "chaos soak: $minutes min, $seconds s per run, test $test, seeds from $seed, logs in $logs"
while [ "$(date +%s)" -lt "$end" ]; do
    out=$logs/seed-$seed.log
    t0=$(date +%s)
    status=0
    RINGCACHED=$daemon RC_CHAOS_SEED=$seed RC_CHAOS_SECONDS=$seconds PYTHONDONTWRITEBYTECODE=1 \
        /usr/bin/python3 "$here/test_cluster_chaos.py" -k "$test" >"$out" 2>&1 || status=$?
    runs=$((runs + 1))
    tally "$out"
    seed=$((seed + 1))
    summary=$(grep -E '^chaos[a-z0-9= ]*: ops=' "$out" | tail -1 | cut -d'|' -f2 | sed 's/ {.*//' || true)
    echo "seed $((seed - 1)): $([ $status -eq 0 ] && echo ok || echo FAILED)" \
        "in $(($(date +%s) - t0)) s,$(grep -E '^chaos[a-z0-9= ]* faults:' "$out" | cut -d: -f2 |
            cut -d'(' -f1 | tr -d ' ') faults;$summary"
    if [ $status -ne 0 ]; then
        grep -E '^(AssertionError|  #|\[FAIL\])|history saved' "$out" | head -40 || true
        totals
        echo "FAILED: seed $((seed - 1)); output in $out"
        echo "replay: RINGCACHED=$daemon RC_CHAOS_SEED=$((seed - 1)) RC_CHAOS_SECONDS=$seconds" \
            "${RC_CHAOS_FAULTS:+RC_CHAOS_FAULTS=$RC_CHAOS_FAULTS }RC_KEEP_TMP=1" \
            "/usr/bin/python3 $here/test_cluster_chaos.py -k $test"
        exit 1
    fi
done
totals
