#!/usr/bin/env bash
# bench/bench_handoff.sh: the slot hand-off (issue 13) against Redis Cluster's
# resharding, side by side in one run.
#
# rate:   a fresh 3-node ringcache cluster (cluster-replicas 0), BENCH_N keys
#         `key:%012d` with BENCH_SIZE-byte values loaded (piped straight to
#         each slot's owner, DBSIZE sum checked), then a 4th node started with
#         --join. Polled every ~20 ms: the time from the start of the new
#         process to every node reporting 4 members, cluster_in_transition:0
#         and the new node in its CLUSTER SLOTS. Keys moved = the new node's
#         migration_keys_received. After the background drops, the DBSIZE sum
#         must be BENCH_N again.
# big:    the same with BENCH_BIG_N keys of BENCH_BIG_SIZE bytes (MB/s).
# redis:  the anchor: a 3-master Redis Cluster, the same keys, a 4th master
#         (redis-cli --cluster add-node, then wait until every node knows it),
#         `redis-cli --cluster rebalance --cluster-use-empty-masters
#         --cluster-pipeline P` for each P in BENCH_RS_PIPELINES; keys moved =
#         DBSIZE of the new master. Done for the BENCH_N small keys and (part
#         big) the BENCH_BIG_N large ones.
# impact: a fresh 3-node ringcache cluster with the BENCH_N keys; two
#         concurrent redis-benchmark processes against the first node, -t set
#         and -t get, each -c BENCH_CLIENTS/2 -P 16 -r BENCH_N for about
#         BENCH_IMPACT_SECONDS: once without a hand-off (baseline), once with a
#         4th node joining 1 s in. Per-250 ms throughput (redis-benchmark's
#         progress lines), the summary p99, errors (redis-benchmark exits
#         non-zero on an error reply; the first node's total_error_replies).
# pause:  a fresh 3-node cluster with the BENCH_N keys; a python client in
#         its own process doing single GET/SET round trips on random loaded
#         keys through the first node, every op timestamped; a 4th node joins.
#         p50/p99/max of the ops before the join, during the transition (join
#         to done) and during it on keys whose slot moved; errors.
#
# Usage: bench/bench_handoff.sh [rate big redis impact pause ...]   (default: all; ~4-5 min)
#   BENCH_N=1000000 BENCH_SIZE=16          small keys
#   BENCH_BIG_N=60000 BENCH_BIG_SIZE=16384 large keys (~1 GB)
#   BENCH_RS_PIPELINES="10 100"            redis-cli --cluster-pipeline values (small keys)
#   BENCH_RS_BIG_PIPELINE=10               the one used for the large keys
#   BENCH_CLIENTS=50 BENCH_IMPACT_SECONDS=8
#   BENCH_PAUSE_BEFORE=3                   seconds of probe ops before the join
#   BENCH_PERF=1                           perf record the 3 old nodes and the new one during the rate
#                                          and big joins (BENCH_PERF_GRAPH=dwarf,16384: --call-graph)
#   RINGCACHED=path                        use this binary instead of building one (build/bench-release)
# Ports are random in [20000, 55535] with port + 10000 free. Every process it
# starts is stopped by PID on exit and its temp dir removed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. "$ROOT/bench/lib.sh"
ensure_ringcached
export RINGCACHED
exec /usr/bin/python3 -u - "$@" <<'PYTHON'
import atexit
import binascii
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.environ["RINGCACHED"]
N = int(os.environ.get("BENCH_N", 1000000))
SIZE = int(os.environ.get("BENCH_SIZE", 16))
BIG_N = int(os.environ.get("BENCH_BIG_N", 60000))
BIG_SIZE = int(os.environ.get("BENCH_BIG_SIZE", 16384))
RS_PIPELINES = [int(x) for x in os.environ.get("BENCH_RS_PIPELINES", "10 100").split()]
RS_BIG_PIPELINE = int(os.environ.get("BENCH_RS_BIG_PIPELINE", 10))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 50))
IMPACT_SECONDS = float(os.environ.get("BENCH_IMPACT_SECONDS", 8))
PAUSE_BEFORE = float(os.environ.get("BENCH_PAUSE_BEFORE", 3))
PERF = os.environ.get("BENCH_PERF", "0") == "1"
PERF_GRAPH = os.environ.get("BENCH_PERF_GRAPH", "dwarf,16384")
PARTS = sys.argv[1:] or ["rate", "big", "redis", "impact", "pause"]
for p in PARTS:
    if p not in ("rate", "big", "redis", "impact", "pause"):
        sys.exit("usage: bench/bench_handoff.sh [rate big redis impact pause ...]")

TMP = tempfile.mkdtemp(prefix="bench_handoff.")
PROCS = []  # every Popen we started
USED = set()
SECRET = os.urandom(16).hex()


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def stop(procs):
    for p in procs:
        if p.poll() is None:
            try:
                p.terminate()
            except OSError:
                pass
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def cleanup():
    stop(PROCS)
    shutil.rmtree(TMP, ignore_errors=True)


atexit.register(cleanup)
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, lambda *_: sys.exit(130))


def spawn(cmd, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(cmd, start_new_session=True, **kw)
    PROCS.append(p)
    return p


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


# --- a minimal RESP client ------------------------------------------------------

class Conn:
    def __init__(self, port, timeout=2.0):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += chunk

    def _reply(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode(errors="replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ValueError("bad reply %r" % line)

    def cmd(self, *words):
        """The reply (an error reply as a RuntimeError value), or None when the node does not answer."""
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
        except (OSError, ConnectionError, ValueError):
            self.close()
            return None


def kv(text):
    d = {}
    if not isinstance(text, str):
        return d
    for line in text.splitlines():
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


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def slot_of(key):
    """Redis Cluster's slot (CRC16/XMODEM mod 16384; no hash tags in our keys)."""
    return binascii.crc_hqx(key, 0) & 16383


def slot_owners(conn):
    """[port of the owner of slot s] from CLUSTER SLOTS (0: none)."""
    owner = [0] * 16384
    for rng in conn.cmd("CLUSTER", "SLOTS") or []:
        for s in range(rng[0], rng[1] + 1):
            owner[s] = int(rng[2][1])
    return owner


def dbsize_sum(ports):
    return sum(Conn(p).cmd("DBSIZE") or 0 for p in ports)


# --- loading: SETs piped straight to each slot's owner -------------------------

def load(seed_port, n, size):
    owner = slot_owners(Conn(seed_port))
    ports = sorted(set(owner) - {0})
    if len(ports) == 0 or 0 in owner:
        sys.exit("CLUSTER SLOTS on %d does not cover every slot" % seed_port)
    procs = {p: spawn(["redis-cli", "-p", str(p), "--pipe"], stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for p in ports}
    bufs = {p: [] for p in ports}
    val = b"v" * size
    hdr = b"*3\r\n$3\r\nSET\r\n$16\r\n"
    vh = b"\r\n$%d\r\n" % size
    batch = max(1, (4 << 20) // (size + 48))
    t0 = time.monotonic()
    for i in range(n):
        k = b"key:%012d" % i
        p = owner[slot_of(k)]
        bufs[p].append(hdr + k + vh + val + b"\r\n")
        if len(bufs[p]) >= batch:
            procs[p].stdin.write(b"".join(bufs[p]))
            bufs[p] = []
    for p in ports:
        procs[p].stdin.write(b"".join(bufs[p]))
        procs[p].stdin.close()
    for p in ports:
        out = procs[p].stdout.read().decode(errors="replace").strip()
        procs[p].wait()
        last = out.splitlines()[-1] if out else ""
        if procs[p].returncode != 0 or "errors: 0," not in last:
            sys.exit("loading %d failed: %s" % (p, out[-500:]))
    got = dbsize_sum(ports)
    if got != n:
        sys.exit("DBSIZE sum %d after loading %d keys" % (got, n))
    log("  loaded %d x %d B in %.1f s (DBSIZE sum %d)" % (n, size, time.monotonic() - t0, got))


# --- ringcache -------------------------------------------------------------------

class RcNode:
    def __init__(self, join=None):
        self.port = free_port()
        self.dir = os.path.join(TMP, "rc", str(self.port))
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "ringcached.log")
        cmd = [BIN, "--port", str(self.port), "--cluster-port", str(self.port + 10000),
               "--dir", self.dir, "--logfile", self.log, "--cluster-secret", SECRET,
               "--cluster-replicas", "0"]
        if join:
            cmd += ["--join", "127.0.0.1:%d" % join]
        self.console = os.path.join(self.dir, "console.log")
        with open(self.console, "w") as out:
            self.proc = spawn(cmd, stdout=out, stderr=subprocess.STDOUT)
        self.conn = Conn(self.port)

    def show_logs(self):
        tail(self.console)
        tail(self.log)

    def cinfo(self):
        return kv(self.conn.cmd("CLUSTER", "INFO"))

    def minfo(self):
        return kv(self.conn.cmd("INFO", "migration"))


def rc_settled(nodes):
    """Every node: state ok, len(nodes) members, one epoch, not in transition."""
    epochs = set()
    for x in nodes:
        i = x.cinfo()
        if i.get("cluster_state") != "ok" or i.get("cluster_known_nodes") != str(len(nodes)) or \
                i.get("cluster_in_transition") != "0":
            return False
        epochs.add(i.get("cluster_current_epoch"))
    return len(epochs) == 1


def rc_start(n=3):
    first = RcNode()
    wait_for("node %d to answer PING" % first.port,
             lambda: first.conn.cmd("PING") == "PONG" or first.proc.poll() is not None, 15,
             on_fail=first.show_logs)
    if first.proc.poll() is not None:
        first.show_logs()
        sys.exit("ringcached exited at startup")
    nodes = [first]
    for _ in range(n - 1):
        nodes.append(RcNode(join=first.port))
        wait_for("%d ringcache nodes to settle" % len(nodes), lambda: rc_settled(nodes), 30,
                 on_fail=lambda: [x.show_logs() for x in nodes])
    return nodes


def rc_join(nodes, n_keys, on_start=None, perf=False):
    """Starts a node joining nodes[0]; polls until the hand-off is over everywhere.
    Returns (new node, result dict)."""
    old_sent = sum(int(x.minfo().get("migration_keys_sent", 0)) for x in nodes)
    cpu0 = [cpu_seconds(x.proc.pid) for x in nodes]
    if on_start:
        on_start()
    t0 = time.monotonic()
    new = RcNode(join=nodes[0].port)
    hnew = perf_start([new.proc.pid], "the new node") if perf else None
    allnodes = nodes + [new]
    want = str(len(allnodes))
    t_known = t_trans = t_done = None
    max_rate = 0.0
    while True:
        now = time.monotonic()
        if now - t0 > 300:
            log("hand-off not over within 300 s")
            for x in allnodes:
                log("  %d: %s %s" % (x.port, x.cinfo(), x.minfo()))
                x.show_logs()
            sys.exit(1)
        ci = [x.cinfo() for x in allnodes]
        known = all(i.get("cluster_known_nodes") == want and i.get("cluster_state") == "ok" for i in ci)
        if known and t_known is None:
            t_known = now
        if t_trans is None and any(i.get("cluster_in_transition") == "1" for i in ci):
            t_trans = now
        for x in nodes:
            r = x.minfo().get("migration_send_rate_keys_per_sec")
            if r:
                max_rate = max(max_rate, float(r))
        if known and all(i.get("cluster_in_transition") == "0" for i in ci):
            # the new node serves: every node's CLUSTER SLOTS names it
            if all(new.port in set(slot_owners(x.conn)) for x in allnodes):
                t_done = time.monotonic()
                break
        time.sleep(0.02)
    cpu = [cpu_seconds(x.proc.pid) - c for x, c in zip(nodes, cpu0)] + [cpu_seconds(new.proc.pid)]
    perf_stop(hnew)
    mi = new.minfo()
    res = {
        "cpu": cpu,
        "wall": t_done - t0,
        "known": (t_known - t0) if t_known else float("nan"),
        "trans": (t_trans - t0) if t_trans else float("nan"),
        "keys": int(mi.get("migration_keys_received", 0)),
        "bytes": int(mi.get("migration_bytes_received", 0)),
        "sent": sum(int(x.minfo().get("migration_keys_sent", 0)) for x in nodes) - old_sent,
        "max_rate": max_rate,
        "failures": sum(int(x.minfo().get("migration_stream_failures", 0)) for x in allnodes),
        "t0": t0, "t_done": t_done,
    }
    # the old servers drop what they handed over in the background: the sum
    # must come back to n_keys, and every node must agree on the owners
    wait_for("the old servers to drop the moved keys",
             lambda: all(x.minfo().get("migration_slots_dropping") == "0" for x in allnodes), 120)
    res["dbsize"] = dbsize_sum([x.port for x in allnodes])
    res["new_dbsize"] = new.conn.cmd("DBSIZE")
    return new, res


def perf_start(pids, name):
    """perf record of 'pids' (BENCH_PERF=1), or None."""
    if not PERF or not shutil.which("perf"):
        return None
    out = os.path.join(TMP, "perf-%s.data" % name)
    p = spawn(["perf", "record", "--call-graph", PERF_GRAPH, "-o", out, "-p", ",".join(map(str, pids))],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p, out, name


def perf_stop(h):
    if not h:
        return
    p, out, name = h
    p.send_signal(signal.SIGINT)
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
    for children in ("--no-children", "--children"):
        rep = subprocess.run(["perf", "report", "-i", out, "--stdio", children, "--sort", "sym",
                              "-g", "none", "--percent-limit", "3"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        print("# perf, %s during the join, %s, symbols >= 3%%:" % (name, children[2:]))
        for line in rep.splitlines():
            if line.strip() and not line.startswith("#"):
                print("#   " + line.strip())


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def rc_rate(n, size, label):
    log("ringcache %s: 3 nodes, %d x %d B, then a 4th joins" % (label, n, size))
    nodes = rc_start(3)
    load(nodes[0].port, n, size)
    h = perf_start([x.proc.pid for x in nodes], "the 3 old nodes")
    new, r = rc_join(nodes, n, perf=True)
    perf_stop(h)
    stop([x.proc for x in nodes + [new]])
    mb = r["bytes"] / 1e6
    print("ringcache %-5s %7d x %5d B: %7d keys (%.0f MB) moved in %6.2f s wall (4 members known at %.2f s,"
          " transition seen at %.2f s): %8.0f keys/s, %6.1f MB/s; sent %d, stream failures %d, peak"
          " send rate %.0f keys/s; DBSIZE sum after %d (new node %s); CPU s during the join: old nodes %s,"
          " new node %.2f" %
          (label, n, size, r["keys"], mb, r["wall"], r["known"], r["trans"], r["keys"] / r["wall"],
           mb / r["wall"], r["sent"], r["failures"], r["max_rate"], r["dbsize"], r["new_dbsize"],
           "/".join("%.2f" % c for c in r["cpu"][:-1]), r["cpu"][-1]),
          flush=True)
    if r["dbsize"] != n:
        print("!! DBSIZE sum %d != %d after the hand-off" % (r["dbsize"], n))
    return r


# --- Redis Cluster --------------------------------------------------------------

class RsNode:
    def __init__(self):
        self.port = free_port()
        self.dir = os.path.join(TMP, "rs", str(self.port))
        os.makedirs(self.dir)
        self.proc = spawn(["redis-server", "--port", str(self.port), "--cluster-enabled", "yes",
                           "--cluster-config-file", os.path.join(self.dir, "nodes.conf"),
                           "--dir", self.dir, "--save", "", "--appendonly", "no",
                           "--logfile", os.path.join(self.dir, "redis.log")])
        self.conn = Conn(self.port)
        wait_for("redis-server %d" % self.port, lambda: self.conn.cmd("PING") == "PONG", 15)


def rs_known(nodes):
    return all(kv(x.conn.cmd("CLUSTER", "INFO")).get("cluster_known_nodes") == str(len(nodes)) and
               kv(x.conn.cmd("CLUSTER", "INFO")).get("cluster_state") == "ok" for x in nodes)


def rs_rate(n, size, pipeline, label):
    log("Redis Cluster %s: 3 masters, %d x %d B, add-node + rebalance --cluster-pipeline %d" %
        (label, n, size, pipeline))
    nodes = [RsNode() for _ in range(3)]
    c = subprocess.run(["timeout", "60", "redis-cli", "--cluster", "create"] +
                       ["127.0.0.1:%d" % x.port for x in nodes] + ["--cluster-replicas", "0", "--cluster-yes"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if c.returncode != 0:
        sys.exit("redis-cli --cluster create failed:\n" + c.stdout)
    wait_for("Redis Cluster ok", lambda: rs_known(nodes), 30, step=0.05)
    load(nodes[0].port, n, size)
    new = RsNode()
    t0 = time.monotonic()
    a = subprocess.run(["timeout", "60", "redis-cli", "--cluster", "add-node", "127.0.0.1:%d" % new.port,
                        "127.0.0.1:%d" % nodes[0].port], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if a.returncode != 0:
        sys.exit("add-node failed:\n" + a.stdout)
    allnodes = nodes + [new]
    wait_for("every Redis node to know the 4th", lambda: rs_known(allnodes), 30, step=0.02)
    t1 = time.monotonic()
    for attempt in range(50):
        rb = subprocess.run(["timeout", "600", "redis-cli", "--cluster", "rebalance", "127.0.0.1:%d" % nodes[0].port,
                             "--cluster-use-empty-masters", "--cluster-pipeline", str(pipeline)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if rb.returncode == 0 and "Moving" in rb.stdout:
            break
        time.sleep(0.1)  # "Nodes don't agree about configuration": gossip still spreading
    else:
        sys.exit("rebalance failed:\n" + rb.stdout[-2000:])
    t2 = time.monotonic()
    moved = new.conn.cmd("DBSIZE")
    total = dbsize_sum([x.port for x in allnodes])
    stop([x.proc for x in allnodes])
    mb = moved * (size + 16) / 1e6
    r = {"wall": t2 - t0, "rebalance": t2 - t1, "keys": moved, "mb": mb, "retries": attempt}
    print("redis     %-5s %7d x %5d B, --cluster-pipeline %4d: %7d keys (%.0f MB) moved in %6.2f s wall"
          " (add-node + agreement %.2f s, rebalance %.2f s): %8.0f keys/s, %6.1f MB/s (rebalance alone %.0f"
          " keys/s); DBSIZE sum after %d" %
          (label, n, size, pipeline, moved, mb, r["wall"], t1 - t0, r["rebalance"], moved / r["wall"],
           mb / r["wall"], moved / r["rebalance"], total), flush=True)
    return r


# --- client impact ------------------------------------------------------------------

class Bench:
    """One redis-benchmark process; its progress lines timestamped as they arrive."""

    def __init__(self, port, test, n, clients):
        self.samples = []  # (t, rps, avg_msec)
        self.out = []
        self.proc = spawn(["stdbuf", "-o0", "redis-benchmark", "-p", str(port), "-t", test, "-P", "16",
                           "-c", str(clients), "-r", str(N), "-n", str(n), "--precision", "3"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.err = b""
        self.th = threading.Thread(target=self._read, daemon=True)
        self.th.start()
        self.eth = threading.Thread(target=self._read_err, daemon=True)
        self.eth.start()

    def _read_err(self):
        self.err = self.proc.stderr.read()

    def _read(self):
        buf = b""
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                break
            buf += chunk
            parts = buf.replace(b"\r", b"\n").split(b"\n")
            buf = parts.pop()
            now = time.monotonic()
            for line in parts:
                line = line.decode(errors="replace")
                self.out.append(line)
                if ": rps=" in line and "nan" not in line:
                    try:
                        rps = float(line.split("rps=")[1].split()[0])
                        avg = float(line.split("avg_msec=")[1].split()[0])
                        self.samples.append((now, rps, avg))
                    except (IndexError, ValueError):
                        pass

    def wait(self):
        self.proc.wait()
        self.th.join()
        self.eth.join()
        p99 = rps = float("nan")
        for i, line in enumerate(self.out):
            if "throughput summary:" in line:
                rps = float(line.split(":")[1].split()[0])
            if line.strip().startswith("avg") and "p99" in line and i + 1 < len(self.out):
                cols = line.split()
                vals = self.out[i + 1].split()
                p99 = float(vals[cols.index("p99")])
        errs = self.err.decode(errors="replace").count("Error") + (self.proc.returncode != 0)
        return {"rps": rps, "p99": p99, "errors": errs, "rc": self.proc.returncode,
                "stderr": self.err.decode(errors="replace")[-300:]}


def impact_run(nodes, n_each, join):
    errs0 = int(kv(nodes[0].conn.cmd("INFO", "stats")).get("total_error_replies", 0))
    half = max(1, CLIENTS // 2)
    t0 = time.monotonic()
    benches = [Bench(nodes[0].port, "set", n_each, half), Bench(nodes[0].port, "get", n_each, half)]
    res = None
    if join:
        time.sleep(1.0)
        new, res = rc_join(nodes, N)
        nodes.append(new)
    out = [b.wait() for b in benches]
    t_end = time.monotonic()
    errs1 = int(kv(nodes[0].conn.cmd("INFO", "stats")).get("total_error_replies", 0))
    return {"t0": t0, "t_end": t_end, "benches": benches, "out": out, "node_errors": errs1 - errs0, "join": res}


def combined(benches, t_from, t_to):
    """Per-250 ms total throughput: both processes' samples in 250 ms bins."""
    bins = {}
    for b in benches:
        for t, rps, avg in b.samples:
            if t_from <= t <= t_to:
                k = int((t - t_from) / 0.25)
                bins.setdefault(k, [0.0, 0.0, 0])
                bins[k][0] += rps
                bins[k][1] = max(bins[k][1], avg)
                bins[k][2] += 1
    return [(k, v[0], v[1]) for k, v in sorted(bins.items()) if v[2] == len(benches)]


def rc_impact():
    log("ringcache impact: 3 nodes, %d x %d B, redis-benchmark set + get (-c %d each, -P 16) on the first"
        " node, baseline then a 4th node joining" % (N, SIZE, CLIENTS // 2))
    nodes = rc_start(3)
    load(nodes[0].port, N, SIZE)
    probe = Bench(nodes[0].port, "set", 200000, CLIENTS // 2).wait()
    n_each = int(max(100000, probe["rps"] * IMPACT_SECONDS / 2))
    base = impact_run(nodes, n_each, join=False)
    run = impact_run(nodes, n_each, join=True)
    stop([x.proc for x in nodes])
    j = run["join"]
    bb = combined(base["benches"], base["t0"], base["t_end"])
    steady = [r for _, r, _ in bb[2:-2]] or [r for _, r, _ in bb]
    base_med = statistics.median(steady) if steady else float("nan")
    win = combined(run["benches"], j["t0"], j["t_done"])
    wr = [r for _, r, _ in win]
    over = max(b.samples[-1][0] if b.samples else 0 for b in run["benches"])
    print("impact: redis-benchmark -t set and -t get concurrently, -c %d each, -P 16, -r %d, -n %d each,"
          " against the first node" % (CLIENTS // 2, N, n_each))
    for name, r in (("baseline", base), ("with join", run)):
        s, g = r["out"]
        print("  %-9s SET %8.0f req/s p99 %7.3f ms | GET %8.0f req/s p99 %7.3f ms | errors: redis-benchmark"
              " %d/%d (exit %s/%s), node total_error_replies +%d" %
              (name, s["rps"], s["p99"], g["rps"], g["p99"], s["errors"], g["errors"], s["rc"], g["rc"],
               r["node_errors"]))
        for o in (s, g):
            if o["rc"] != 0:
                print("    stderr: %r" % o["stderr"])
    print("  the join: %d keys moved in %.2f s under load (%.0f keys/s); benchmark ended %.2f s after it%s" %
          (j["keys"], j["wall"], j["keys"] / j["wall"], over - j["t_done"],
           "" if over >= j["t_done"] else " (!! the benchmark ended before the hand-off did)"))
    if wr:
        print("  per-250 ms set+get throughput: baseline median %.0f req/s; during the hand-off (%d bins) mean"
              " %.0f (%.2fx), min %.0f (%.2fx); worst bin avg latency %.3f ms vs baseline max %.3f ms" %
              (base_med, len(wr), statistics.mean(wr), statistics.mean(wr) / base_med, min(wr),
               min(wr) / base_med, max(a for _, _, a in win), max(a for _, _, a in bb[2:-2] or bb)))
    s0, g0 = base["out"]
    s1, g1 = run["out"]
    print("  p99 ratio (with join / baseline, whole run): SET %.2fx, GET %.2fx" %
          (s1["p99"] / s0["p99"], g1["p99"] / g0["p99"]))
    return base, run


# --- the pause a client sees --------------------------------------------------------

PROBE = r'''
import random, socket, struct, sys, time
port, n, out, stop_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
import os
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
f = open(out, "wb")
val = b"v" * 16
i = 0
buf = b""
def reply():
    global buf
    while b"\r\n" not in buf:
        c = s.recv(65536)
        if not c:
            raise ConnectionError
        buf += c
    line, rest = buf.split(b"\r\n", 1)
    if line[:1] == b"$" and int(line[1:]) >= 0:
        n = int(line[1:])
        while len(rest) < n + 2:
            c = s.recv(65536)
            if not c:
                raise ConnectionError
            rest += c
        rest = rest[n + 2:]
    buf = rest
    return line[:1] != b"-"
while not os.path.exists(stop_file):
    k = random.randrange(n)
    key = b"key:%012d" % k
    op = i & 1
    if op:
        msg = b"*3\r\n$3\r\nSET\r\n$16\r\n" + key + b"\r\n$16\r\n" + val + b"\r\n"
    else:
        msg = b"*2\r\n$3\r\nGET\r\n$16\r\n" + key + b"\r\n"
    t = time.monotonic()
    s.sendall(msg)
    ok = reply()
    d = time.monotonic() - t
    f.write(struct.pack("<ddIB", t, d, k, ok))
    i += 1
f.close()
'''


def rc_pause():
    import struct
    log("ringcache pause: 3 nodes, %d x %d B, a python client doing GET/SET round trips through the first"
        " node, then a 4th node joins" % (N, SIZE))
    nodes = rc_start(3)
    load(nodes[0].port, N, SIZE)
    before = slot_owners(nodes[0].conn)
    script = os.path.join(TMP, "probe.py")
    with open(script, "w") as f:
        f.write(PROBE)
    out = os.path.join(TMP, "probe.bin")
    stop_file = os.path.join(TMP, "probe.stop")
    p = spawn(["/usr/bin/python3", script, str(nodes[0].port), str(N), out, stop_file])
    time.sleep(PAUSE_BEFORE)
    new, j = rc_join(nodes, N)
    time.sleep(1.0)
    open(stop_file, "w").close()
    p.wait(30)
    after = slot_owners(nodes[0].conn)
    stop([x.proc for x in nodes + [new]])
    recs = []
    with open(out, "rb") as f:
        data = f.read()
    sz = struct.calcsize("<ddIB")
    for off in range(0, len(data) - sz + 1, sz):
        recs.append(struct.unpack_from("<ddIB", data, off))
    moved = [before[s] != after[s] for s in range(16384)]
    pre = [d for t, d, k, ok in recs if t < j["t0"]]
    win = [(t, d, k, ok) for t, d, k, ok in recs if j["t0"] <= t <= j["t_done"]]
    winm = [d for t, d, k, ok in win if moved[slot_of(b"key:%012d" % k)]]
    post = [d for t, d, k, ok in recs if t > j["t_done"]]
    errors = sum(1 for r in recs if not r[3])
    worst = max(win, key=lambda r: r[1]) if win else None
    print("pause: one python client, single GET/SET round trips on random loaded keys via the first node;"
          " %d slots moved; the join took %.2f s (%d keys)" % (sum(moved), j["wall"], j["keys"]))
    fmt = "  %-32s ops %7d  p50 %7.3f ms  p99 %7.3f ms  max %8.3f ms"
    for name, xs in (("before the join", pre), ("during the hand-off, all keys", [d for _, d, _, _ in win]),
                     ("during, keys of moved slots", winm), ("after", post)):
        print(fmt % (name, len(xs), pct(xs, 0.5) * 1e3, pct(xs, 0.99) * 1e3, max(xs or [0]) * 1e3))
    print("  error replies: %d of %d ops%s" % (errors, len(recs),
          "" if not worst else "; slowest op in the window at +%.2f s into the join (%.1f ms, slot %d, moved %s)" %
          (worst[0] - j["t0"], worst[1] * 1e3, slot_of(b"key:%012d" % worst[2]),
           moved[slot_of(b"key:%012d" % worst[2])])))
    return pre, win


# --- main -----------------------------------------------------------------------------

print("# %s, %d cores, load %s" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(),
                                  " ".join(open("/proc/loadavg").read().split()[:3])))
print("# ringcached %s; %s" % (BIN, subprocess.run(["redis-server", "--version"], stdout=subprocess.PIPE,
                                                   text=True).stdout.split(" sha")[0]))
small = {}
if "rate" in PARTS:
    small["rc"] = rc_rate(N, SIZE, "small")
if "redis" in PARTS:
    small["rs"] = {}
    for pl in RS_PIPELINES:
        small["rs"][pl] = rs_rate(N, SIZE, pl, "small")
big = {}
if "big" in PARTS:
    big["rc"] = rc_rate(BIG_N, BIG_SIZE, "big")
    if "redis" in PARTS:
        big["rs"] = rs_rate(BIG_N, BIG_SIZE, RS_BIG_PIPELINE, "big")
if "impact" in PARTS:
    rc_impact()
if "pause" in PARTS:
    rc_pause()

print()
print("summary (keys/s and MB/s over the whole wall time: join or add-node to done everywhere)")
if "rc" in small:
    rc = small["rc"]
    rck = rc["keys"] / rc["wall"]
    print("  ringcache %d x %d B: %.0f keys/s (target >= 500000: %s)" %
          (N, SIZE, rck, "met" if rck >= 500000 else "MISSED, %.2fx of it" % (rck / 500000)))
    for pl, rs in small.get("rs", {}).items():
        print("    vs redis-cli rebalance --cluster-pipeline %d: %.0f keys/s -> ratio %.2fx"
              " (vs rebalance alone %.2fx)" % (pl, rs["keys"] / rs["wall"], rck / (rs["keys"] / rs["wall"]),
                                               rck / (rs["keys"] / rs["rebalance"])))
if "rc" in big:
    rc = big["rc"]
    mbs = rc["bytes"] / 1e6 / rc["wall"]
    print("  ringcache %d x %d B: %.1f MB/s (target >= 500: %s)" %
          (BIG_N, BIG_SIZE, mbs, "met" if mbs >= 500 else "MISSED, %.2fx of it" % (mbs / 500)))
    if "rs" in big:
        rs = big["rs"]
        print("    vs redis-cli rebalance --cluster-pipeline %d: %.1f MB/s -> ratio %.2fx" %
              (RS_BIG_PIPELINE, rs["mb"] / rs["wall"], mbs / (rs["mb"] / rs["wall"])))
PYTHON
