# bench/lib.sh: sourced by the bench scripts (from the checkout's top, with
# ROOT set; free_port needs $PY, /usr/bin/python3).

# Builds 'target' in build/bench-release (Release, no tests) when 'binary'
# (its path there) is missing or older than a source or CMakeLists.txt
# under the paths after them.
build_bench_target() {
    local target=$1 binary=$2 build=$ROOT/build/bench-release
    shift 2
    if [[ ! -x $build/$binary ||
        -n "$(find "$@" -newer "$build/$binary" \( -name '*.[ch]' -o -name CMakeLists.txt \) \
            2>/dev/null | head -1)" ]]; then
        echo "building $target in $build ..." >&2
        cmake -S "$ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRC_TESTS=OFF >/dev/null
        cmake --build "$build" -j2 --target "$target" >/dev/null
    fi
}

# Sets RINGCACHED to a Release build in build/bench-release, (re)built when
# missing or older than a source or CMakeLists.txt of a library it links,
# unless RINGCACHED is already set.
ensure_ringcached() {
    [[ -z "${RINGCACHED:-}" ]] || return 0
    build_bench_target ringcached node/ringcached node common resp ring paxos member
    RINGCACHED=$ROOT/build/bench-release/node/ringcached
}

# Sets LAT_PROBE to bench/lat_probe.c built in build/bench-release (rebuilt
# when missing or older than its source or ring/), unless LAT_PROBE is set.
ensure_lat_probe() {
    [[ -z "${LAT_PROBE:-}" ]] || return 0
    build_bench_target lat-probe bench/lat-probe bench/lat_probe.c bench/CMakeLists.txt ring
    LAT_PROBE=$ROOT/build/bench-release/bench/lat-probe
}

# A random port in [20000, 55535] that is free, with port + 10000 free too (a
# cluster bus port), and not handed out before in this run: sets FREE_PORT
# (not echoed: the list of ports handed out must survive the call).
USED=" "
FREE_PORT=""
free_port() {
    local p
    while :; do
        p=$(( (RANDOM * 32768 + RANDOM) % 35536 + 20000 ))
        [[ $USED == *" $p "* || $USED == *" $((p + 10000)) "* ]] && continue
        if $PY - "$p" <<'EOF'
import socket, sys
p = int(sys.argv[1])
for port in (p, p + 10000):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
        then
            USED+="$p $((p + 10000)) "
            FREE_PORT=$p
            return
        fi
    done
}

# Stops every process in PIDS (TERM, up to 5 s, then KILL) and reaps it,
# then removes TMP: the bench scripts' exit trap.
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [[ -z "${TMP:-}" ]] || rm -rf "$TMP"
}
