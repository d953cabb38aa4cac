#!/usr/bin/env bash
# deploy/cluster.sh: a local ringcache cluster on loopback, in one command.
#
#   deploy/cluster.sh start [N]      start N nodes (default 3) on ports BASE..BASE+N-1;
#                                    the first forms the cluster, the others --join it;
#                                    returns once every node agrees on N members
#   deploy/cluster.sh add [PORT]     start one more node (next free port by default),
#                                    joining a live member; waits for agreement
#   deploy/cluster.sh stop PORT      SIGTERM: the node leaves gracefully; waits for it to
#                                    exit and for the others to agree without it
#   deploy/cluster.sh kill PORT      kill -9; waits until the survivors remove it
#   deploy/cluster.sh restart PORT   start a stopped or killed node again with its own
#                                    dir (it rejoins under a new incarnation)
#   deploy/cluster.sh status         per node: pid, alive, cluster state, epoch, known nodes,
#                                    role (serving, filling while it joins, leaving, sending)
#   deploy/cluster.sh wait           wait until every live node agrees
#   deploy/cluster.sh logs PORT [N]  last N (40) lines of a node's log
#   deploy/cluster.sh stop-all       stop every node (graceful, one after the other)
#
# Options (before or after the command; each has an environment variable):
#   --base-port P      RC_BASE_PORT   first client port (7001); bus port = port + 10000
#   --host H           RC_HOST        address to bind and announce (127.0.0.1)
#   --run-dir D        RC_RUN_DIR     root of the node dirs (<checkout>/run/cluster);
#                                     node P keeps its state, log and pidfile in D/P
#   --secret S         RC_SECRET      cluster secret (default: a random one, kept in
#                                     D/secret and reused by add/restart)
#   --replicas R       RC_REPLICAS    cluster-replicas for a new cluster (daemon default)
#   --node-timeout MS  RC_NODE_TIMEOUT  cluster-node-timeout (daemon default)
#   --redirects yes|no RC_REDIRECTS   cluster-redirects (daemon default: forward)
#   --bin PATH         RINGCACHED     the ringcached binary (default: build/release,
#                                     built there if missing)
#   --timeout S        RC_TIMEOUT     how long to wait for a condition (30 s)
#   --no-wait                         kill/stop/add: do not wait for agreement
#   -- ARGS                           extra arguments for every ringcached started
#
# Processes are tracked by pidfiles (D/P/node.pid) and signalled by PID only,
# after checking that the PID still belongs to that node's ringcached.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE_PORT=${RC_BASE_PORT:-7001}
HOST=${RC_HOST:-127.0.0.1}
RUN_DIR=${RC_RUN_DIR:-$ROOT/run/cluster}
SECRET=${RC_SECRET:-}
REPLICAS=${RC_REPLICAS:-}
NODE_TIMEOUT=${RC_NODE_TIMEOUT:-}
REDIRECTS=${RC_REDIRECTS:-}
BIN=${RINGCACHED:-}
TIMEOUT=${RC_TIMEOUT:-30}
NO_WAIT=0
EXTRA=()
ARGS=()

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}
say() { echo "cluster.sh: $*" >&2; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while (($#)); do
    case $1 in
        --base-port) BASE_PORT=${2:?}; shift 2 ;;
        --host) HOST=${2:?}; shift 2 ;;
        --run-dir) RUN_DIR=${2:?}; shift 2 ;;
        --secret) SECRET=${2:?}; shift 2 ;;
        --replicas) REPLICAS=${2:?}; shift 2 ;;
        --node-timeout) NODE_TIMEOUT=${2:?}; shift 2 ;;
        --redirects) REDIRECTS=${2:?}; shift 2 ;;
        --bin) BIN=${2:?}; shift 2 ;;
        --timeout) TIMEOUT=${2:?}; shift 2 ;;
        --no-wait) NO_WAIT=1; shift ;;
        -h | --help | help) usage 0 ;;
        --) shift; EXTRA=("$@"); break ;;
        -*) die "unknown option $1 (see deploy/cluster.sh --help)" ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
((${#ARGS[@]})) || usage 1
CMD=${ARGS[0]}
ARGS=("${ARGS[@]:1}")
if ! [[ $BASE_PORT =~ ^[0-9]+$ ]] || ((BASE_PORT < 1 || BASE_PORT + 10000 > 65535)); then
    die "base port must be in 1..55535 (its bus port is port + 10000), not '$BASE_PORT'"
fi
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout wants whole seconds, not '$TIMEOUT'"
case $RUN_DIR in /*) ;; *) RUN_DIR=$PWD/$RUN_DIR ;; esac
command -v redis-cli >/dev/null || die "redis-cli not found (apt-get install redis-tools)"

now_ms() { date +%s%3N; }

# --- nodes and their processes ------------------------------------------------

node_dir() { echo "$RUN_DIR/$1"; }

# Ports of every node dir under RUN_DIR, ascending.
all_ports() {
    local d
    [[ -d $RUN_DIR ]] || return 0
    for d in "$RUN_DIR"/*/; do
        d=${d%/}
        d=${d##*/}
        [[ $d =~ ^[0-9]+$ ]] && echo "$d"
    done | sort -n
}

# Prints the PID of node PORT's ringcached if it is running. The PID must be a
# live (not zombie) process whose command line names this node's dir, so a
# stale pidfile never makes us signal someone else's process.
node_pid() {
    local f pid st
    f=$(node_dir "$1")/node.pid
    [[ -f $f ]] || return 1
    pid=$(<"$f")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/stat ]] || return 1
    st=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ $st != Z && $st != X ]] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$(node_dir "$1")/ringcached.conf" || return 1
    echo "$pid"
}

live_ports() {
    local p
    for p in $(all_ports); do
        node_pid "$p" >/dev/null && echo "$p"
    done
    return 0
}

port_free() { # port: 0 when nobody listens on it (TCP, loopback and wildcard)
    /usr/bin/python3 - "$1" "$HOST" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[2], int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

check_ports_free() { # port
    local p
    for p in "$1" $(($1 + 10000)); do
        if ! port_free "$p"; then
            echo "port $p (needed by node $1$( ((p != $1)) && echo "'s bus")) is in use:" >&2
            ss -ltnp "sport = :$p" 2>/dev/null | tail -n +2 >&2 || true
            return 1
        fi
    done
}

log_tail() { # port [lines]
    local d n=${2:-30} f
    d=$(node_dir "$1")
    for f in "$d/ringcached.log" "$d/console.log"; do
        if [[ -s $f ]]; then
            echo "---- last $n lines of $f" >&2
            tail -n "$n" "$f" >&2
        fi
    done
}

find_binary() {
    if [[ -n $BIN ]]; then
        [[ -x $BIN && -f $BIN ]] || die "ringcached binary '$BIN' is not an executable file"
        BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
        return
    fi
    BIN=$ROOT/build/release/node/ringcached
    if [[ ! -x $BIN ]]; then
        say "no $BIN yet: building a Release ringcached in $ROOT/build/release ..."
        cmake -S "$ROOT" -B "$ROOT/build/release" -DCMAKE_BUILD_TYPE=Release -DRC_TESTS=OFF >/dev/null ||
            die "cmake configure failed"
        cmake --build "$ROOT/build/release" -j "$(nproc)" --target ringcached >/dev/null ||
            die "build failed (run: cmake --build $ROOT/build/release --target ringcached)"
    fi
}

load_secret() {
    local f=$RUN_DIR/secret
    if [[ -n $SECRET ]]; then
        :
    elif [[ -s $f ]]; then
        SECRET=$(<"$f")
    else
        SECRET=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    fi
    mkdir -p "$RUN_DIR"
    (umask 077 && printf '%s\n' "$SECRET" >"$f")
}

# Writes the node's config file (mode 600: it holds the secret).
write_conf() { # port
    local d
    d=$(node_dir "$1")
    mkdir -p "$d"
    (
        umask 077
        {
            echo "# written by deploy/cluster.sh; the node runs as: ringcached $d/ringcached.conf [--join ...]"
            echo "port $1"
            echo "bind $HOST"
            echo "cluster-port $(($1 + 10000))"
            echo "dir $d"
            echo "logfile $d/ringcached.log"
            echo "cluster-secret $SECRET"
            [[ -z $REPLICAS ]] || echo "cluster-replicas $REPLICAS"
            [[ -z $NODE_TIMEOUT ]] || echo "cluster-node-timeout $NODE_TIMEOUT"
            [[ -z $REDIRECTS ]] || echo "cluster-redirects $REDIRECTS"
        } >"$d/ringcached.conf"
    )
}

# Starts node PORT in the background, in its own session (a Ctrl-C in this
# terminal does not reach it), and records its PID. JOIN is host:port or "".
launch() { # port join
    local d pid
    d=$(node_dir "$1")
    check_ports_free "$1" || die "cannot start node $1"
    write_conf "$1"
    local cmd=("$BIN" "$d/ringcached.conf")
    [[ -z $2 ]] || cmd+=(--join "$2")
    cmd+=("${EXTRA[@]}")
    echo "$(date -u '+%F %T') ${cmd[*]}" >>"$d/console.log"
    # Not a process group leader (no job control here), so setsid execs in place
    # and $! is ringcached itself.
    setsid "${cmd[@]}" </dev/null >>"$d/console.log" 2>&1 &
    pid=$!
    echo "$pid" >"$d/node.pid"
}

info_field() { # port "command words" field -> value ("" when unreachable)
    # shellcheck disable=SC2086 # $2 is several words on purpose
    timeout 3 redis-cli -h "$HOST" -p "$1" $2 2>/dev/null | tr -d '\r' | sed -n "s/^$3://p" | head -1
}

# One line per node: "port state epoch known", "?" for what it cannot tell.
node_view() { # port
    local out state epoch known
    out=$(timeout 3 redis-cli -h "$HOST" -p "$1" CLUSTER INFO 2>/dev/null | tr -d '\r') || out=""
    state=$(sed -n 's/^cluster_state://p' <<<"$out")
    epoch=$(sed -n 's/^cluster_current_epoch://p' <<<"$out")
    known=$(sed -n 's/^cluster_known_nodes://p' <<<"$out")
    echo "$1 ${state:-?} ${epoch:-?} ${known:-?}"
}

# Waits until the node answers PING; fails early if its process exits.
wait_ready() { # port
    local deadline=$(($(now_ms) + TIMEOUT * 1000))
    while (($(now_ms) < deadline)); do
        node_pid "$1" >/dev/null || {
            say "node $1 exited during startup"
            log_tail "$1"
            return 1
        }
        [[ "$(timeout 2 redis-cli -h "$HOST" -p "$1" PING 2>/dev/null)" == PONG ]] && return 0
        sleep 0.05
    done
    say "node $1 did not answer PING within ${TIMEOUT}s"
    log_tail "$1"
    return 1
}

# Waits until every live node reports cluster_state ok, the same
# cluster_current_epoch and cluster_known_nodes == the number of live nodes
# (or WANT when given). Prints the time it took.
wait_agree() { # [want]
    local want=${1:-} start deadline ports p view lines n epochs ok s e k
    start=$(now_ms)
    deadline=$((start + TIMEOUT * 1000))
    while :; do
        mapfile -t ports < <(live_ports)
        n=${want:-${#ports[@]}}
        ((${#ports[@]})) || {
            say "no node is running"
            return 1
        }
        lines=()
        ok=1
        epochs=""
        for p in "${ports[@]}"; do
            view=$(node_view "$p")
            lines+=("$view")
            read -r _ s e k <<<"$view"
            [[ $s == ok && $k == "$n" && $e != "?" ]] || ok=0
            [[ -z $epochs || $epochs == "$e" ]] || ok=0
            epochs=$e
        done
        if ((ok)); then
            say "agreed: ${#ports[@]} live node(s), $n known, epoch $epochs ($(($(now_ms) - start)) ms)"
            return 0
        fi
        if (($(now_ms) >= deadline)); then
            say "no agreement after ${TIMEOUT}s (want state ok, $n known nodes, one epoch). Last view:"
            for view in "${lines[@]}"; do
                read -r p s e k <<<"$view"
                echo "  node $p: state $s, epoch $e, known nodes $k" >&2
            done
            for p in "${ports[@]}"; do log_tail "$p" 15; done
            return 1
        fi
        sleep 0.05
    done
}

# A live member to join through: the lowest port that reports state ok.
join_target() {
    local p
    for p in $(live_ports); do
        if [[ $(info_field "$p" "CLUSTER INFO" cluster_state) == ok ]]; then
            echo "$HOST:$p"
            return 0
        fi
    done
    return 1
}

# Signals node PORT and waits for it to exit. Returns 1 on timeout.
signal_and_wait() { # port signal timeout_s
    local pid deadline
    pid=$(node_pid "$1") || return 0
    kill "-$2" "$pid" 2>/dev/null || true
    deadline=$(($(now_ms) + $3 * 1000))
    while kill -0 "$pid" 2>/dev/null && [[ $(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) != Z ]]; do
        (($(now_ms) < deadline)) || return 1
        sleep 0.02
    done
    rm -f "$(node_dir "$1")/node.pid"
}

need_port_arg() {
    if ((${#ARGS[@]} == 0)) || ! [[ ${ARGS[0]} =~ ^[0-9]+$ ]]; then
        die "$CMD wants a port (see deploy/cluster.sh status)"
    fi
    PORT=${ARGS[0]}
    [[ -d $(node_dir "$PORT") ]] || die "no node $PORT under $RUN_DIR"
}

# --- commands -------------------------------------------------------------------

cmd_status() {
    local p pid view s e k myid coord role mstate rc=0 n=0 epochs="" live=0
    mapfile -t ports < <(all_ports)
    if ((${#ports[@]} == 0)); then
        echo "no nodes under $RUN_DIR (deploy/cluster.sh start)"
        return 1
    fi
    printf '%-6s %-8s %-6s %-9s %-6s %-6s %-10s %-12s %s\n' PORT PID ALIVE STATE EPOCH KNOWN ROLE ID COORDINATOR
    for p in "${ports[@]}"; do
        if pid=$(node_pid "$p"); then
            live=$((live + 1))
            read -r _ s e k <<<"$(node_view "$p")"
            myid=$(timeout 3 redis-cli -h "$HOST" -p "$p" CLUSTER MYID 2>/dev/null | tr -d '\r') || myid=""
            coord=$(info_field "$p" "INFO cluster" cluster_coordinator)
            [[ -z $coord || $coord != "$myid" ]] || coord="$coord (this node)"
            # serving, joining (being filled: not serving yet), leaving (handing off)
            role=$(info_field "$p" "INFO cluster" cluster_my_role)
            mstate=$(info_field "$p" "INFO migration" migration_state)
            [[ $role != serving || -z $mstate || $mstate == idle ]] || role="$mstate"
            [[ $role != joining ]] || role=filling
            printf '%-6s %-8s %-6s %-9s %-6s %-6s %-10s %-12s %s\n' "$p" "$pid" yes "$s" "$e" "$k" "${role:--}" "${myid:0:12}" "${coord:0:12}${coord:40}"
            [[ $role != filling && $role != leaving && $role != sending && $role != handing-over ]] || rc=1
            [[ -z $epochs || $epochs == "$e" ]] || rc=1
            epochs=$e
            [[ $s == ok ]] || rc=1
            n=$k
        else
            local lf
            lf=$(node_dir "$p")/ringcached.log
            [[ -s $lf ]] || lf=$(node_dir "$p")/console.log
            printf '%-6s %-8s %-6s %s\n' "$p" - no "(log: $lf)"
        fi
    done
    if ((live == 0)); then
        echo "no node is running"
        return 1
    fi
    if ((rc == 0)) && [[ $n == "$live" ]]; then
        echo "all $live live node(s) agree: epoch $epochs, $n members"
    else
        echo "live nodes do not agree yet (or know of dead members): see the table"
        rc=1
    fi
    return $rc
}

cmd_start() {
    local n=${ARGS[0]:-3} i p ports=() first
    if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 100)); then
        die "start wants a node count 1..100, not '$n'"
    fi
    ((BASE_PORT + n - 1 + 10000 <= 65535)) || die "ports $BASE_PORT..$((BASE_PORT + n - 1)) leave no room for bus ports"
    if [[ -n $(live_ports) ]]; then
        cmd_status >&2 || true
        die "a cluster is already running under $RUN_DIR (deploy/cluster.sh stop-all first, or add)"
    fi
    find_binary
    for ((i = 0; i < n; i++)); do
        p=$((BASE_PORT + i))
        check_ports_free "$p" || die "pick another base port (--base-port or RC_BASE_PORT)"
        ports+=("$p")
    done
    # A new cluster: old node dirs would make their nodes rejoin a dead one.
    for p in $(all_ports); do
        rm -rf "$(node_dir "$p")"
    done
    [[ -n ${RC_SECRET:-} || -n $SECRET ]] || rm -f "$RUN_DIR/secret"
    load_secret
    first=${ports[0]}
    say "starting $n node(s) on $HOST:${ports[0]}..${ports[n - 1]} (bus +10000), dirs under $RUN_DIR"
    launch "$first" ""
    wait_ready "$first" || die "node $first did not start"
    wait_agree 1 || die "node $first did not form a one-node cluster"
    for p in "${ports[@]:1}"; do
        launch "$p" "$HOST:$first"
    done
    for p in "${ports[@]:1}"; do
        wait_ready "$p" || die "node $p did not start"
    done
    wait_agree "$n" || die "the $n nodes did not agree on their membership"
    cmd_status || true
    echo
    echo "connect: redis-cli -p $first   (any node serves any key)"
    echo "         redis-cli -c -p $first (cluster mode: follows MOVED redirects)"
    echo "more:    deploy/cluster.sh add | stop PORT | kill PORT | status | stop-all"
}

cmd_add() {
    local p target live
    find_binary
    load_secret
    target=$(join_target) || die "no live member to join (deploy/cluster.sh status)"
    if ((${#ARGS[@]})); then
        p=${ARGS[0]}
        [[ $p =~ ^[0-9]+$ ]] || die "add wants a port, not '$p'"
        if node_pid "$p" >/dev/null; then die "node $p is already running"; fi
        rm -rf "$(node_dir "$p")"
    else
        p=$(all_ports | tail -1)
        p=$((${p:-$BASE_PORT} + 1))
        while [[ -d $(node_dir "$p") ]] || ! port_free "$p" || ! port_free $((p + 10000)); do
            p=$((p + 1))
            ((p + 10000 <= 65535)) || die "no free port left above $BASE_PORT"
        done
    fi
    live=$(live_ports | wc -l)
    say "adding node $p, joining through $target"
    launch "$p" "$target"
    wait_ready "$p" || die "node $p did not start"
    ((NO_WAIT)) || wait_agree $((live + 1)) || die "the cluster did not agree on $((live + 1)) members with node $p"
    echo "$p"
}

cmd_restart() {
    local target live
    need_port_arg
    if node_pid "$PORT" >/dev/null; then die "node $PORT is running"; fi
    find_binary
    load_secret
    target=$(join_target) || target=""
    [[ -n $target ]] || say "no live member: node $PORT restarts from its own state"
    live=$(live_ports | wc -l)
    launch "$PORT" "$target"
    wait_ready "$PORT" || die "node $PORT did not start"
    ((NO_WAIT)) || wait_agree $((live + 1)) || die "the cluster did not agree on $((live + 1)) members with node $PORT"
}

cmd_stop() {
    need_port_arg
    node_pid "$PORT" >/dev/null || die "node $PORT is not running"
    say "stopping node $PORT (SIGTERM: graceful leave)"
    if ! signal_and_wait "$PORT" TERM "$TIMEOUT"; then
        log_tail "$PORT"
        die "node $PORT did not exit within ${TIMEOUT}s of SIGTERM (deploy/cluster.sh kill $PORT forces it)"
    fi
    if ((!NO_WAIT)) && [[ -n $(live_ports) ]]; then
        wait_agree || die "the other nodes did not agree after node $PORT left"
    fi
}

cmd_kill() {
    need_port_arg
    node_pid "$PORT" >/dev/null || die "node $PORT is not running"
    say "killing node $PORT (kill -9)"
    signal_and_wait "$PORT" KILL 10 || die "node $PORT survived kill -9?"
    if ((!NO_WAIT)) && [[ -n $(live_ports) ]]; then
        wait_agree || die "the survivors did not remove node $PORT"
    fi
}

cmd_wait() {
    wait_agree "${ARGS[0]:-}"
}

cmd_logs() {
    need_port_arg
    log_tail "$PORT" "${ARGS[1]:-40}" 2>&1
}

cmd_stop_all() {
    local p ports failed=0
    mapfile -t ports < <(live_ports | sort -rn)
    if ((${#ports[@]} == 0)); then
        say "no node is running"
        return 0
    fi
    # One after the other, newest first: each leave is decided while a
    # majority is still there to decide it.
    for p in "${ports[@]}"; do
        say "stopping node $p"
        if ! signal_and_wait "$p" TERM "$TIMEOUT"; then
            say "node $p did not exit within ${TIMEOUT}s of SIGTERM: killing it"
            log_tail "$p" 15
            signal_and_wait "$p" KILL 10 || failed=1
        fi
    done
    ((failed == 0)) || die "some nodes could not be stopped: deploy/cluster.sh status"
    say "all nodes stopped (logs and state stay under $RUN_DIR)"
}

case $CMD in
    start) cmd_start ;;
    add) cmd_add ;;
    stop) cmd_stop ;;
    kill) cmd_kill ;;
    restart) cmd_restart ;;
    status) cmd_status ;;
    wait) cmd_wait ;;
    logs) cmd_logs ;;
    stop-all) cmd_stop_all ;;
    *) die "unknown command '$CMD' (see deploy/cluster.sh --help)" ;;
esac
