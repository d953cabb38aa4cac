#!/usr/bin/env bash
# Builds and runs every test: release build with warnings as errors, then
# ASan+UBSan build, then the libFuzzer targets for a bounded time.
# Usage: scripts/test.sh [ctest -R regex]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc)
filter=("$@")

scripts/setup.sh

run_suite() { # name, ctest label regex ('' for all), cmake args...
    local name=$1 label=$2
    shift 2
    echo "=== $name build ==="
    cmake -S "$root" -B "build/$name" -DRC_WERROR=ON "$@" >/dev/null
    cmake --build "build/$name" -j "$jobs"
    echo "=== $name tests ==="
    (cd "build/$name" && ctest --output-on-failure -j "$jobs" ${label:+-L "$label"} \
        ${filter[@]:+-R "${filter[@]}"})
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run_suite release "" -DCMAKE_BUILD_TYPE=Release
run_suite sanitize "" -DCMAKE_BUILD_TYPE=Debug -DRC_SANITIZE=address,undefined \
    -DCMAKE_C_COMPILER=clang
run_suite fuzz "^fuzz$" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DRC_FUZZ=ON \
    -DRC_SANITIZE=address,undefined -DRC_TESTS=ON
echo "=== all suites passed ==="
