#!/usr/bin/env bash
# bench/bench_failover.sh: how fast a ringcache cluster removes a killed node,
# against Redis Cluster's failover, and whether it ever removes a live one.
#
# failover (default): start an N-node ringcache cluster (3, or --nodes 5), then
#   RUNS times: kill -9 one member (a non-coordinator; every K-th run the
#   coordinator), poll every survivor's CLUSTER INFO every ~10 ms and record
#   the time from the kill until EVERY survivor reports the removal decided
#   (cluster_known_nodes == N-1, a newer cluster_current_epoch, state ok);
#   then start a fresh node with --join to restore N (join time recorded too).
#   Prints median and max. Anchor: a 3-master + 3-replica Redis Cluster with
#   cluster-node-timeout 1000: time from kill -9 of a master until every
#   survivor's CLUSTER NODES shows it 'fail' and its replica promoted; the
#   killed master is restarted (it comes back as a replica) between runs.
# stress (--stress): start the cluster, saturate both cores with
#   redis-benchmark against it (cluster mode and plain through one node) for
#   --duration seconds, poll every node's epoch and membership every 100 ms and
#   report every change seen. Must be 0; exits 1 otherwise.
#
# Usage: bench/bench_failover.sh [options]
#   --nodes N            ringcache cluster size (3)
#   --runs R             ringcache kill runs (20)
#   --coordinator-every K  kill the coordinator on every K-th run (4; 0: never)
#   --redis-runs M       Redis Cluster anchor runs (5; 0: skip the anchor)
#   --skip-ringcache     anchor only
#   --node-timeout MS    ringcache cluster-node-timeout (daemon default)
#   --replicas R         ringcache cluster-replicas (daemon default)
#   --stress             the no-false-removal mode instead
#   --duration S         stress duration (300)
#   --poll-ms MS         failover polling interval (10)
#   RINGCACHED=path      use this binary instead of building one (build/bench-release)
# Ports are random in [20000, 55535] with port + 10000 free. Every process it
# starts is stopped by PID on exit; each wait has a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. "$ROOT/bench/lib.sh"
ensure_ringcached
export RINGCACHED
exec /usr/bin/python3 -u - "$@" <<'PYTHON'
import argparse
import atexit
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser(prog="bench/bench_failover.sh")
ap.add_argument("--nodes", type=int, default=3)
ap.add_argument("--runs", type=int, default=20)
ap.add_argument("--coordinator-every", type=int, default=4)
ap.add_argument("--redis-runs", type=int, default=5)
ap.add_argument("--skip-ringcache", action="store_true")
ap.add_argument("--node-timeout", type=int)
ap.add_argument("--replicas", type=int)
ap.add_argument("--stress", action="store_true")
ap.add_argument("--duration", type=int, default=300)
ap.add_argument("--poll-ms", type=float, default=10.0)
args = ap.parse_args()

BIN = os.environ["RINGCACHED"]
TMP = tempfile.mkdtemp(prefix="bench_failover.")
PROCS = []  # every Popen we started
USED = set()
SECRET = os.urandom(16).hex()


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            try:
                p.terminate()
            except OSError:
                pass
    deadline = time.monotonic() + 10
    for p in PROCS:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    shutil.rmtree(TMP, ignore_errors=True)


atexit.register(cleanup)
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, lambda *_: sys.exit(130))


def free_port():
    """A random port in [20000, 55535], free, with port + 10000 free too."""
    while True:
        p = random.randint(20000, 55535)
        if p in USED or p + 10000 in USED:
            continue
        ok = True
        for port in (p, p + 10000):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            USED.update((p, p + 10000))
            return p


# --- a minimal RESP client (keeps one connection per node) -------------------

class Conn:
    def __init__(self, port, timeout=0.5):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)

    def cmd(self, *words):
        """Reply, or None when the node does not answer (connection reset next time)."""
        try:
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            out = b"*%d\r\n" % len(words)
            for w in words:
                w = str(w).encode()
                out += b"$%d\r\n%s\r\n" % (len(w), w)
            self.sock.sendall(out)
            return self._reply()
        except (OSError, ConnectionError, RuntimeError, ValueError):
            self.close()
            return None


def kv(text):
    d = {}
    for line in (text or "").splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            d[k] = v.strip()
    return d


def wait_for(what, cond, timeout, step=0.02, on_fail=None):
    deadline = time.monotonic() + timeout
    while True:
        r = cond()
        if r:
            return r
        if time.monotonic() >= deadline:
            log("timeout (%ss) waiting for %s" % (timeout, what))
            if on_fail:
                on_fail()
            sys.exit(1)
        time.sleep(step)


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()[-n:]
        log("---- last %d lines of %s\n%s" % (len(lines), path, "".join(lines).rstrip()))
    except OSError:
        pass


# --- ringcache nodes -----------------------------------------------------------

class RcNode:
    def __init__(self, join=None):
        self.port = free_port()
        self.dir = os.path.join(TMP, "rc", str(self.port))
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "ringcached.log")
        cmd = [BIN, "--port", str(self.port), "--cluster-port", str(self.port + 10000),
               "--dir", self.dir, "--logfile", self.log, "--cluster-secret", SECRET]
        if args.node_timeout is not None:
            cmd += ["--cluster-node-timeout", str(args.node_timeout)]
        if args.replicas is not None:
            cmd += ["--cluster-replicas", str(args.replicas)]
        if join:
            cmd += ["--join", "127.0.0.1:%d" % join]
        self.console = os.path.join(self.dir, "console.log")
        with open(self.console, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        PROCS.append(self.proc)
        self.conn = Conn(self.port)
        self.name = None

    def show_logs(self):
        tail(self.console)
        tail(self.log)

    def info(self):
        return kv(self.conn.cmd("CLUSTER", "INFO"))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.conn.close()


def rc_view(nodes):
    """[(state, epoch, known)] per node."""
    out = []
    for n in nodes:
        i = n.info()
        out.append((i.get("cluster_state"), i.get("cluster_current_epoch"), i.get("cluster_known_nodes")))
    return out


def rc_agreed(nodes):
    v = rc_view(nodes)
    epochs = {e for _, e, _ in v}
    ok = all(s == "ok" and k == str(len(nodes)) for s, _, k in v) and len(epochs) == 1 and None not in epochs
    return int(v[0][1]) if ok else None


def rc_wait_agreed(nodes, timeout=30):
    def fail():
        log("last view: %s" % list(zip([n.port for n in nodes], rc_view(nodes))))
        for n in nodes:
            n.show_logs()
    return wait_for("%d ringcache nodes to agree" % len(nodes), lambda: rc_agreed(nodes) is not None,
                    timeout, on_fail=fail) and rc_agreed(nodes)


def rc_start(n):
    first = RcNode()
    wait_for("node %d to answer PING" % first.port,
             lambda: first.conn.cmd("PING") == "PONG" or first.proc.poll() is not None, 15,
             on_fail=first.show_logs)
    if first.proc.poll() is not None:
        first.show_logs()
        sys.exit("ringcached exited at startup")
    nodes = [first]
    rc_wait_agreed(nodes)
    nodes += [RcNode(join=first.port) for _ in range(n - 1)]
    rc_wait_agreed(nodes)
    return nodes


def rc_coordinator(nodes):
    """The node the cluster calls its coordinator, or None if we cannot tell."""
    coord = kv(nodes[0].conn.cmd("INFO", "cluster")).get("cluster_coordinator")
    if not coord:
        return None
    for n in nodes:
        if n.name is None:
            n.name = n.conn.cmd("CLUSTER", "MYID")
        if coord in (n.name, "127.0.0.1:%d" % n.port, str(n.port)) or \
                (n.name and len(coord) >= 8 and n.name.startswith(coord)) or coord.endswith(":%d" % n.port):
            return n
    return None


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def summary(label, xs):
    if not xs:
        return "%s: no runs" % label
    return "%s: n=%d median %.0f ms, mean %.0f ms, min %.0f ms, max %.0f ms" % (
        label, len(xs), statistics.median(xs), statistics.mean(xs), min(xs), max(xs))


def rc_failover():
    n = args.nodes
    log("starting a %d-node ringcache cluster (%s)" % (n, BIN))
    nodes = rc_start(n)
    times = {"member": [], "coordinator": []}
    first_seen = []
    joins = []
    unknown_coord = 0
    for run in range(1, args.runs + 1):
        e0 = rc_agreed(nodes)
        coord = rc_coordinator(nodes)
        want_coord = args.coordinator_every > 0 and run % args.coordinator_every == 0
        if coord is None:
            unknown_coord += 1
            victim, role = random.choice(nodes), "unknown"
        elif want_coord:
            victim, role = coord, "coordinator"
        else:
            victim, role = random.choice([x for x in nodes if x is not coord]), "member"
        survivors = [x for x in nodes if x is not victim]
        done = {}
        t0 = time.monotonic()
        victim.kill9()
        deadline = t0 + 30
        while len(done) < len(survivors):
            now = time.monotonic()
            if now > deadline:
                log("run %d: removal of %d not decided everywhere within 30 s: %s" %
                    (run, victim.port, list(zip([s.port for s in survivors], rc_view(survivors)))))
                for s in survivors:
                    s.show_logs()
                sys.exit(1)
            for s in survivors:
                if s.port in done:
                    continue
                i = s.info()
                if i.get("cluster_known_nodes") == str(n - 1) and i.get("cluster_state") == "ok" and \
                        i.get("cluster_current_epoch", "0").isdigit() and int(i["cluster_current_epoch"]) > e0:
                    done[s.port] = (time.monotonic() - t0) * 1000
            time.sleep(args.poll_ms / 1000)
        all_ms = max(done.values())
        first_seen.append(min(done.values()))
        times["coordinator" if role == "coordinator" else "member"].append(all_ms)
        nodes = list(survivors)  # a copy: survivors stays the measured set
        # restore N with a fresh node
        tj = time.monotonic()
        nodes.append(RcNode(join=random.choice(survivors).port))
        e1 = rc_wait_agreed(nodes)
        joins.append((time.monotonic() - tj) * 1000)
        print("run %2d: killed %-11s %d: removal decided on all %d survivors in %6.0f ms (first %4.0f ms);"
              " rejoin to %d took %5.0f ms (epoch now %d)" %
              (run, role, victim.port, len(survivors), all_ms, min(done.values()), n, joins[-1], e1), flush=True)
    everything = times["member"] + times["coordinator"]
    print()
    print("ringcache, %d nodes, %s, kill -9 -> removal decided on every survivor:" %
          (n, "cluster-node-timeout %s" % args.node_timeout if args.node_timeout else "default node timeout"))
    print("  " + summary("all runs", everything))
    print("  " + summary("non-coordinator killed", times["member"]))
    print("  " + summary("coordinator killed", times["coordinator"]))
    print("  " + summary("first survivor to know", first_seen))
    print("  " + summary("fresh node --join -> all agree", joins))
    if unknown_coord:
        print("  (coordinator unknown in %d runs: INFO cluster_coordinator did not match any node)" % unknown_coord)
    for x in nodes:
        x.proc.terminate()
    return everything


# --- Redis Cluster anchor ----------------------------------------------------------

class RsNode:
    def __init__(self):
        self.port = free_port()
        self.dir = os.path.join(TMP, "rs", str(self.port))
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "redis.log")
        self.proc = None
        self.conn = Conn(self.port)
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--cluster-enabled", "yes",
             "--cluster-config-file", os.path.join(self.dir, "nodes.conf"),
             "--cluster-node-timeout", "1000", "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--logfile", self.log], stdin=subprocess.DEVNULL, start_new_session=True)
        PROCS.append(self.proc)
        wait_for("redis-server %d" % self.port, lambda: self.conn.cmd("PING") == "PONG", 15)

    def nodes(self):
        """{id: (port, flags, master_id)} from CLUSTER NODES."""
        out = {}
        for line in (self.conn.cmd("CLUSTER", "NODES") or "").splitlines():
            f = line.split()
            if len(f) >= 8:
                out[f[0]] = (int(f[1].split("@")[0].rsplit(":", 1)[1] or 0), f[2].split(","), f[3])
        return out


def rs_healthy(nodes):
    for x in nodes:
        if kv(x.conn.cmd("CLUSTER", "INFO")).get("cluster_state") != "ok":
            return False
        view = x.nodes()
        if len(view) != len(nodes) or any("fail" in fl or "fail?" in fl or "handshake" in fl
                                          for _, fl, _ in view.values()):
            return False
        if sum(1 for _, fl, _ in view.values() if "master" in fl) != len(nodes) // 2:
            return False
    # every replica's link is up (so it may be promoted)
    for x in nodes:
        r = kv(x.conn.cmd("INFO", "replication"))
        if r.get("role") == "slave" and r.get("master_link_status") != "up":
            return False
    return True


def rs_failover():
    log("starting a 3-master + 3-replica Redis Cluster (cluster-node-timeout 1000)")
    nodes = [RsNode() for _ in range(6)]
    create = subprocess.run(["timeout", "60", "redis-cli", "--cluster", "create"] +
                            ["127.0.0.1:%d" % x.port for x in nodes] +
                            ["--cluster-replicas", "1", "--cluster-yes"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if create.returncode != 0:
        log(create.stdout)
        sys.exit("redis-cli --cluster create failed")
    wait_for("Redis Cluster to be healthy", lambda: rs_healthy(nodes), 60, step=0.1)
    by_port = {x.port: x for x in nodes}
    times = []
    for run in range(1, args.redis_runs + 1):
        view = nodes[0].nodes()
        masters = {i: v for i, v in view.items() if "master" in v[1]}
        replica_of = {v[2]: i for i, v in view.items() if "slave" in v[1]}
        vid = random.choice([i for i in masters if i in replica_of])
        rid = replica_of[vid]
        victim = by_port[masters[vid][0]]
        survivors = [x for x in nodes if x is not victim]
        done = {}
        t0 = time.monotonic()
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        victim.conn.close()
        while len(done) < len(survivors):
            if time.monotonic() - t0 > 60:
                sys.exit("Redis Cluster run %d: no failover within 60 s" % run)
            for s in survivors:
                if s.port in done:
                    continue
                v = s.nodes()
                if vid in v and "fail" in v[vid][1] and rid in v and "master" in v[rid][1]:
                    done[s.port] = (time.monotonic() - t0) * 1000
            time.sleep(args.poll_ms / 1000)
        times.append(max(done.values()))
        print("redis run %d: killed master %d: 'fail' + replica promoted on all %d survivors in %6.0f ms"
              " (first %4.0f ms)" % (run, victim.port, len(survivors), times[-1], min(done.values())), flush=True)
        victim.start()  # comes back as a replica of the promoted one
        wait_for("Redis Cluster to heal", lambda: rs_healthy(nodes), 60, step=0.1)
    print()
    print("Redis Cluster 3+3, cluster-node-timeout 1000, kill -9 of a master -> 'fail' and replica promoted everywhere:")
    print("  " + summary("all runs", times))
    for x in nodes:
        x.proc.terminate()
    return times


# --- no false removal under load -------------------------------------------------

def cpu_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def stress():
    n = args.nodes
    log("starting a %d-node ringcache cluster (%s)" % (n, BIN))
    nodes = rc_start(n)
    base = rc_view(nodes)
    log("agreed: %s; loading for %d s" % (base, args.duration))
    bench = []
    common = ["-t", "set,get", "-c", "50", "-P", "16", "-r", "100000", "-l", "-q"]
    for cmd in (["redis-benchmark", "--cluster", "-p", str(nodes[0].port)] + common,
                ["redis-benchmark", "-p", str(nodes[1].port)] + common):
        p = subprocess.Popen(["timeout", str(args.duration + 5)] + cmd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
        PROCS.append(p)
        bench.append(p)
    changes = []
    unreachable = 0
    last = {x.port: v for x, v in zip(nodes, base)}
    b0, t0c = cpu_busy()
    t0 = time.monotonic()
    next_report = t0 + 30
    for x in nodes:
        x.conn.timeout = 2.0
    while time.monotonic() - t0 < args.duration:
        for x in nodes:
            i = x.info()
            if not i:
                unreachable += 1
                continue
            v = (i.get("cluster_state"), i.get("cluster_current_epoch"), i.get("cluster_known_nodes"))
            if v != last[x.port]:
                changes.append((round(time.monotonic() - t0, 2), x.port, last[x.port], v))
                log("CHANGE at %.2f s on %d: %s -> %s" % changes[-1])
                last[x.port] = v
        if any(p.poll() is not None for p in bench):
            log("a redis-benchmark exited early (rc %s)" % [p.poll() for p in bench])
            break
        if time.monotonic() >= next_report:
            log("  %.0f s: %d changes so far" % (time.monotonic() - t0, len(changes)))
            next_report += 30
        time.sleep(0.1)
    b1, t1c = cpu_busy()
    elapsed = time.monotonic() - t0
    ops = {}
    for x in nodes:
        st = kv(x.conn.cmd("INFO", "stats"))
        ops[x.port] = st.get("total_commands_processed")
    for p in bench:
        p.terminate()
    for p in bench:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    print("no-false-removal: %d nodes, %.0f s of redis-benchmark (--cluster via %d and plain via %d,"
          " -c 50 -P 16 set,get), machine CPU busy %.0f%% of %d cores" %
          (n, elapsed, nodes[0].port, nodes[1].port, 100.0 * (b1 - b0) / max(1, t1c - t0c), os.cpu_count()))
    print("  commands processed per node: %s" % ops)
    print("  polls without an answer (2 s timeout): %d" % unreachable)
    print("  membership/epoch/state changes seen: %d" % len(changes))
    for c in changes:
        print("    at %.2f s node %d: %s -> %s" % c)
    return len(changes)


if args.stress:
    sys.exit(1 if stress() else 0)
print("# %s, %d cores, load %s" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(),
                                  " ".join(open("/proc/loadavg").read().split()[:3])))
rc_ok = True
if not args.skip_ringcache and args.runs > 0:
    rc_failover()
if args.redis_runs > 0:
    rs_failover()
PYTHON
