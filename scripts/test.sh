#!/usr/bin/env bash
# Builds and runs every test, in tiers, so a broken build fails in minutes:
#
#   1. fast       release build (-Werror), unit + sim tests
#   2. release    integration tests on the release build
#   3. sanitize   clang ASan+UBSan Debug build, every test it has
#   4. fuzz       the libFuzzer targets only (built alone), label fuzz, and
#   5. deploy     the container image and the systemd unit under podman
#                 (tests/deploy/), side by side with the fuzzers
#
# Each stage prints "=== <stage>: N s ===" when it ends. A stage that finds
# no tests fails (ctest --no-tests=error), and so does a skipped test: a
# missing tool or privilege must be fixed (scripts/setup.sh), not ignored.
# Usage: scripts/test.sh [ctest -R regex]   (with a regex, stages it does
# not match are left out, but at least one test must run)
#        RC_STAGES="fast release" scripts/test.sh   runs only those stages
#        (CI runs them all)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc)
filter=${1:-}
stages=" ${RC_STAGES:-fast release sanitize fuzz deploy} "
ran=0

scripts/setup.sh

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

configure() { # build dir, cmake args...
    local dir=$1
    shift
    cmake -S "$root" -B "$dir" -DRC_WERROR=ON "$@" >/dev/null
}

# Runs ctest in a build dir for a label regex ('' for every test).
run_tests() { # build dir, label regex
    local dir=$1 label=$2 log
    local args=(--output-on-failure -j "$jobs" --no-tests=error)
    [ -z "$label" ] || args+=(-L "$label")
    if [ -n "$filter" ]; then
        args+=(-R "$filter")
        if [[ "$(cd "$dir" && ctest -N "${args[@]}")" == *"Total Tests: 0"* ]]; then
            echo "(no test in $dir matches '$filter'${label:+ with label $label})"
            return 0
        fi
    fi
    log=$(mktemp)
    if ! (cd "$dir" && ctest "${args[@]}") 2>&1 | tee "$log"; then
        rm -f "$log"
        return 1
    fi
    # ctest does not count a skipped test as failed; we do.
    if grep -q '\*\*\*Skipped' "$log"; then
        echo "error: skipped tests count as failures:" >&2
        grep '\*\*\*Skipped' "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
    ran=$((ran + 1))
}

stage_start=0
want() { # stage id: is it selected?
    [[ "$stages" == *" $1 "* ]]
}
stage() { # name: starts a stage
    stage_name=$1
    stage_start=$SECONDS
    echo "=== $stage_name ==="
}
stage_end() {
    echo "=== $stage_name: $((SECONDS - stage_start)) s ==="
}

total_start=$SECONDS

if want fast || want release; then
    stage "fast: release build, unit + sim"
    # Formatting first (1 s): lists unformatted files and fails.
    scripts/format.sh --check
    configure build/release -DCMAKE_BUILD_TYPE=Release
    cmake --build build/release -j "$jobs"
    ! want fast || run_tests build/release '^(unit|sim)$'
    stage_end
fi

if want release; then
    stage "release: integration"
    run_tests build/release '^integration$'
    stage_end
fi

if want sanitize; then
    stage "sanitize: clang ASan+UBSan build, every test"
    # -O1, as the sanitizers' docs advise, every assertion still in (a
    # Debug build): the stage took 565 s against 698-705 s at -O0 on a
    # 2-core machine where the whole run took 1308-1390 s.
    # The simulator's 15 mutants run in the fast stage only (tests/sim/paxos.cmake).
    configure build/sanitize -DCMAKE_BUILD_TYPE=Debug -DRC_SANITIZE=address,undefined \
        -DCMAKE_C_COMPILER=clang -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DRC_SIM_MUTANTS=OFF
    cmake --build build/sanitize -j "$jobs"
    run_tests build/sanitize ''
    stage_end
fi

# Chained with &&: called as 'fuzz_tests || ...', where set -e is off.
fuzz_tests() {
    configure build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
        -DRC_FUZZ=ON -DRC_SANITIZE=address,undefined -DRC_TESTS=ON &&
        cmake --build build/fuzz -j "$jobs" --target rc_fuzz_targets &&
        run_tests build/fuzz '^fuzz$'
}

# Builds the image from a debootstrap base, runs a 3-node cluster in
# containers, kills one (tests/deploy/test_container.sh); then the systemd
# unit for real, systemd as PID 1 in a container, on the release build
# (tests/deploy/test_systemd_podman.sh).
deploy_tests() {
    tests/deploy/test_container.sh || return 1
    if [ ! -x build/release/node/ringcached ]; then
        configure build/release -DCMAKE_BUILD_TYPE=Release &&
            cmake --build build/release -j "$jobs" --target ringcached || return 1
    fi
    tests/deploy/test_systemd_podman.sh
}

want_deploy=0
if want deploy && [[ -z "$filter" || "deploy.container" =~ $filter ]]; then
    want_deploy=1
fi

if want fuzz && [ "$want_deploy" -eq 1 ]; then
    # Side by side: each fuzz target runs for a fixed time whatever else
    # runs, so the deploy tests (mostly podman building images) cost the
    # run only what they take beyond the fuzzing (148 s one after the
    # other on 2026-12-08).
    stage "fuzz and deploy: libFuzzer targets beside the container tests under podman"
    deploy_log=$(mktemp)
    deploy_tests >"$deploy_log" 2>&1 &
    deploy_pid=$!
    fuzz_ok=0
    fuzz_tests || fuzz_ok=$?
    deploy_ok=0
    wait "$deploy_pid" || deploy_ok=$?
    echo "--- deploy tests (run beside the fuzzers) ---"
    cat "$deploy_log"
    rm -f "$deploy_log"
    [ "$fuzz_ok" -eq 0 ] || { echo "error: the fuzz tests failed" >&2; exit 1; }
    [ "$deploy_ok" -eq 0 ] || { echo "error: the deploy tests failed" >&2; exit 1; }
    ran=$((ran + 1))
    stage_end
elif want fuzz; then
    stage "fuzz: libFuzzer targets only"
    fuzz_tests
    stage_end
elif [ "$want_deploy" -eq 1 ]; then
    stage "deploy: container image under podman"
    deploy_tests
    ran=$((ran + 1))
    stage_end
fi

if [ "$ran" -eq 0 ]; then
    echo "error: no test ran${filter:+ (filter '$filter')}" >&2
    exit 1
fi
echo "=== all stages passed: $((SECONDS - total_start)) s ==="
