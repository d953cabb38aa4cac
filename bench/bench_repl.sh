#!/usr/bin/env bash
# bench/bench_repl.sh: replication (issue 14) against Redis Cluster 3 masters +
# 3 replicas, side by side in one run.
#
# gap (default): write unavailability after kill -9 of a primary, as a client
#   sees it. A 3-node ringcache cluster (cluster-replicas --replicas, 1); per
#   run one node is picked at random (the coordinator included), its slots (D:
#   those CLUSTER SLOTS names it primary of) read before the kill; --writers
#   processes write fresh keys of D (SET r<run>:d<w>:<seq> <seq>) and as many
#   write fresh keys of the other slots, and as many again of the slots with
#   no copy on the victim (U, from CLUSTER SLOTS' replicas: at R=1 a slot
#   whose replica died waits for its removal, as every write needs every
#   copy), each paced to --rate writes/s, every
#   acknowledged write timestamped; after --pre s the node gets kill -9, and
#   the writers go on until every one of them has written again and --post s
#   more have passed (at most --max-wait s). Per run: the longest gap between
#   successful writes to D that ends after the kill (or is still open when the
#   run stops), the same on the other slots, and the longest gap before the
#   kill (the client's own noise floor). Then, once the survivors agree, every
#   acknowledged key is read back (lost = missing or another value); a fresh
#   node --join-s to restore 3 nodes and everything is read again; the keys are
#   deleted. Anchor: Redis Cluster 3+3 (cluster-node-timeout 1000, redis-cli
#   --cluster create --cluster-replicas 1), kill -9 of a master, the same
#   writers and checks; the killed master is restarted between runs (it comes
#   back as a replica). Medians and maxima against the targets (dead primary's
#   slots: median < 1 s, max < 2 s; U < 50 ms).
#   The writers use a thin cluster client (CLUSTER SLOTS map, MOVED/ASK
#   followed, on a connection error, timeout, CLUSTERDOWN or TRYAGAIN: sleep
#   --retry-ms, reload the map from any node, retry the same key), the same
#   for both systems. --client redispy uses redis.cluster.RedisCluster instead:
#   redis-py 4.3.4 sleeps 0.25 s after each connection error and reloads its
#   map only after 5 of them, so the gaps it sees are mostly its own back-off.
# coll: one client, one request at a time, at the key's primary: the p50 of
#   LPUSH onto a list and HSET of a new field into a hash holding
#   --coll-sizes elements (1000,100000), --coll-writes (2000) each, at R=1,
#   R=0 and on Redis Cluster 3+3, and the bytes a write cost on ringcache's
#   data links (INFO migration_bytes_sent): a write to a collection goes to
#   the replica as its command, not as the whole value.
# tput: redis-benchmark --cluster, -t set and get (--tests: e.g. lpush,hset,
#   collection writes), -P 16 and -P 1, -c
#   --clients, -r 100000, -d --size, against a 3-node ringcache cluster at R=1,
#   one at R=0, Redis Cluster 3+3 and Redis Cluster of 3 masters without
#   replicas (what replication costs the anchor: 3+3 / 3 masters, repeat by
#   repeat, printed below the table) (all up at once, runs alternating, the
#   order rotated each repeat, medians of --repeat, after one unmeasured run
#   of each: a fresh cluster's first writes create its keys); -n sized to
#   about --seconds on Redis; R1/R0 also repeat by repeat (median printed
#   below the table). ops/s counted on the servers (INFO commandstats of the
#   primaries, polled every 50 ms, over the middle 80 % of each run:
#   redis-benchmark's own figure, printed below the table, rounds a run's
#   length up to its 250 ms ticks, up to 10 % on a 2.5 s run) and p50/p99
#   (--csv), ratios R1/Redis (target >=
#   0.8) and R1/R0 (target >= 0.7), and the p50 a write pays for R=1 over R=0
#   next to the R=0 -P 1 p50 (one client round trip: the target is at most
#   one extra round trip). Then the same with one client (-c 1 -P 1, no
#   queueing; bench/lat_probe.c, timed to the ns: redis-benchmark's p50
#   moves in 8 us steps): SET p50 at R=1 and R=0; one round trip is a
#   PING's p50 (client to node) and, for the hop a replicated write makes,
#   a SET forwarded at R=0 less a direct one (node to node); the target is
#   extra <= one round trip. Servers pinned to CPU 1,
#   redis-benchmark to CPU 0 (--no-pin: none).
# mem: --keys keys `key:%012d` of --value-size bytes piped (redis-cli --pipe)
#   to each slot's primary of a 3-node ringcache cluster at R=1, one at R=0
#   and Redis Cluster 3+3; (sum of used_memory over the nodes after, once
#   replicas caught up and no keyspace table is being rehashed) - (the sum
#   before), / keys; each sum taken once it held still for 2.5 s (a node
#   gives the buffers of a burst back after 1-2 s of quiet). Ratio R1/R0 (target <= 2.0). A rehash keeps the old
#   bucket table (INFO mem_overhead_db_hashtable_rehashing) until it ends,
#   seconds after the last write: measured mid-rehash, a node that just
#   doubled its table counts both (up to 10 B a key at 200,000 keys). The
#   keyspace tables' share (estimated from each node's DBSIZE: 8 B times a
#   power of two) is printed, and the ratio without it: 200,000 keys over 3
#   nodes put each node's share near a power of two, so whether a table has
#   doubled moves the ratio by a few % either way; 1,000,000 keys do not.
# big: big values at R=1 against Redis Cluster 3+3 (cluster-node-timeout 1000
#   both). For each --big-sizes MB, --rounds times: one SET of a value that
#   size, sent whole through a raw socket to a primary of its key, and (for
#   ringcache) one through a node that forwards it, while another process
#   PINGs every node every 5 ms; per SET: its reply and wall time, the longest
#   PING wait of any node (a node's event loop stalled: past about a second
#   its peers remove it, or fail it over), and whether the membership changed
#   meanwhile (cluster_current_epoch). Then the clusters settle before the
#   next. A SET answered -TRYAGAIN is a figure (the client may retry), not a
#   failure.
#
# Usage: bench/bench_repl.sh [gap|tput|mem|big|coll] [options]
#   gap:  --runs 20  --redis-runs (= --runs; 0: no anchor)  --writers 2  --rate 1000
#         --pre 1.0  --post 2.0  --max-wait 30  --retry-ms 5  --client-timeout 1.0
#         --client thin|redispy  --replicas 1  --node-timeout MS (daemon default)
#   tput: --repeat 3  --seconds 2  --clients 50  --size 16  --no-pin
#   mem:  --keys 200000  --value-size 16
#   big:  --big-sizes 64,256,512  --rounds 3
#   all:  --no-anchor (ringcache only)
#   RINGCACHED=path   use this binary instead of building one (build/bench-release)
#   LAT_PROBE=path    the same for bench/lat_probe.c (tput's one-client figure)
# Ports are random in [20000, 55535] with port + 10000 free. Every process it
# starts is stopped by PID (SIGKILL: the clusters are disposable) on exit,
# Ctrl-C included, and its temp dir removed;
# every wait has a timeout; a harness failure exits non-zero. Lost writes and
# missed targets are figures, not failures.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. "$ROOT/bench/lib.sh"
for tool in redis-server redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null || { echo "$tool not found (scripts/setup.sh installs redis-server, redis-tools)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import redis' 2>/dev/null || { echo "python3-redis not found (apt-get install -y python3-redis)" >&2; exit 1; }
ensure_ringcached
export RINGCACHED
ensure_lat_probe
export LAT_PROBE
exec /usr/bin/python3 -u - "$@" <<'PYTHON'
import argparse
import atexit
import binascii
import multiprocessing as mp
import multiprocessing.util  # noqa: its atexit hook (joins children) must run after cleanup()
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.getcwd(), "bench"))
import rb_counted  # noqa: E402 - bench/rb_counted.py, next to this script

ap = argparse.ArgumentParser(prog="bench/bench_repl.sh")
ap.add_argument("mode", nargs="?", default="gap", choices=["gap", "tput", "mem", "big", "coll"])
ap.add_argument("--runs", type=int, default=20)
ap.add_argument("--redis-runs", type=int)
ap.add_argument("--writers", type=int, default=2)
ap.add_argument("--rate", type=float, default=1000.0)
ap.add_argument("--pre", type=float, default=1.0)
ap.add_argument("--post", type=float, default=2.0)
ap.add_argument("--max-wait", type=float, default=30.0)
ap.add_argument("--retry-ms", type=float, default=5.0)
ap.add_argument("--client-timeout", type=float, default=1.0)
ap.add_argument("--client", choices=["thin", "redispy"], default="thin")
ap.add_argument("--replicas", type=int, default=1)
ap.add_argument("--node-timeout", type=int)
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--seconds", type=float, default=2.0)
ap.add_argument("--clients", type=int, default=50)
ap.add_argument("--tests", default="set,get")
ap.add_argument("--coll-sizes", default="1000,100000")
ap.add_argument("--coll-writes", type=int, default=2000)
ap.add_argument("--size", type=int, default=16)
ap.add_argument("--no-pin", action="store_true")
ap.add_argument("--keys", type=int, default=200000)
ap.add_argument("--value-size", type=int, default=16)
ap.add_argument("--no-anchor", action="store_true")
ap.add_argument("--big-sizes", default="64,256,512")
ap.add_argument("--rounds", type=int, default=3)
args = ap.parse_args()
if args.redis_runs is None:
    args.redis_runs = args.runs
if args.no_anchor:
    args.redis_runs = 0

BIN = os.environ["RINGCACHED"]
TMP = tempfile.mkdtemp(prefix="bench_repl.")
PROCS = []    # every Popen we started
WRITERS = []  # every writer process we started
USED = set()
SECRET = os.urandom(16).hex()
MAIN_PID = os.getpid()
PIN = not args.no_pin and args.mode == "tput" and shutil.which("taskset") and (os.cpu_count() or 1) >= 2
SRV_PIN = ["taskset", "-c", "1"] if PIN else []
CLI_PIN = ["taskset", "-c", "0"] if PIN else []


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def stop(procs):
    """SIGKILL and reap: the clusters are disposable, and a ringcached given
    SIGTERM leaves gracefully (up to cluster-leave-timeout when its peers
    are leaving too)."""
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in procs:
        p.wait()


def cleanup():
    if os.getpid() != MAIN_PID:
        return
    for w in WRITERS:
        if w.is_alive():
            w.terminate()
    for w in WRITERS:
        w.join(5)
        if w.is_alive():
            w.kill()
            w.join()
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

    @staticmethod
    def _encode(words):
        out = [b"*%d\r\n" % len(words)]
        for w in words:
            w = str(w).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(w), w))
        return b"".join(out)

    def _connect(self):
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def cmd(self, *words):
        """The reply (an error reply as a RuntimeError value), or None when the node does not answer."""
        try:
            self._connect()
            self.sock.sendall(self._encode(words))
            return self._reply()
        except (OSError, ConnectionError, ValueError):
            self.close()
            return None

    def pipe(self, cmds):
        """The replies to cmds sent at once, or None when the node does not answer them all."""
        try:
            self._connect()
            self.sock.sendall(b"".join(self._encode(c) for c in cmds))
            return [self._reply() for _ in cmds]
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


def port_taken(*logs):
    """Whether a server's logs say it could not bind a port."""
    for path in logs:
        try:
            with open(path, errors="replace") as f:
                if "already in use" in f.read():
                    return True
        except OSError:
            pass
    return False


def slot_of(key):
    """Redis Cluster's slot (CRC16/XMODEM mod 16384; no hash tags in our keys)."""
    return binascii.crc_hqx(key, 0) & 16383


def parse_slots(reply):
    """[primary port of slot s] (0: none) from a CLUSTER SLOTS reply, or None."""
    if not isinstance(reply, list) or not reply:
        return None
    owner = [0] * 16384
    for rng in reply:
        if not isinstance(rng, list) or len(rng) < 3 or not isinstance(rng[2], list):
            return None
        for s in range(rng[0], rng[1] + 1):
            owner[s] = int(rng[2][1])
    return owner


def slot_owners(conn):
    return parse_slots(conn.cmd("CLUSTER", "SLOTS")) or [0] * 16384


def slots_touching(conn, port):
    """[1 if 'port' holds a copy of slot s (primary or replica) else 0] from
    CLUSTER SLOTS."""
    mask = bytearray(16384)
    reply = conn.cmd("CLUSTER", "SLOTS")
    for rng in reply if isinstance(reply, list) else []:
        if any(isinstance(c, list) and len(c) > 1 and int(c[1]) == port for c in rng[2:]):
            for s in range(rng[0], rng[1] + 1):
                mask[s] = 1
    return mask


def used_memory(ports):
    """(sum of used_memory, sum of the replication backlog and replica output
    buffers in it, where INFO memory reports them) over ports."""
    total = repl = 0
    for p in ports:
        m = kv(Conn(p).cmd("INFO", "memory"))
        total += int(m.get("used_memory", 0))
        repl += int(m.get("mem_replication_backlog", 0)) + int(m.get("mem_clients_slaves", 0))
    return total, repl


def steady_memory(ports, quiet=2.5, timeout=30.0):
    """used_memory(ports) once it has held still for 'quiet' seconds: a
    ringcache node gives back the buffers of a burst (the cluster forming,
    the loading) after 1-2 s of quiet, and those are not memory a key
    takes."""
    end = time.monotonic() + timeout
    last, since = used_memory(ports), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.5)
        cur = used_memory(ports)
        if cur[0] != last[0]:
            last, since = cur, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return cur
    log("used_memory over %s still moving after %.0f s: taken as it is" % (ports, timeout))
    return last


def dbsize_sum(ports):
    return sum(Conn(p).cmd("DBSIZE") or 0 for p in ports)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


# --- the thin cluster client the writers and the checks use ---------------------

class Thin:
    """Slot map from CLUSTER SLOTS; follows MOVED and ASK; any other failure is
    the caller's to retry (after refresh())."""

    def __init__(self, seeds, timeout):
        self.timeout = timeout
        self.known = list(seeds)
        self.conns = {}
        self.slots = [0] * 16384
        self.err = ""
        self.refresh()

    def conn(self, port):
        c = self.conns.get(port)
        if c is None:
            c = self.conns[port] = Conn(port, self.timeout)
        return c

    def refresh(self):
        for port in self.known:
            owner = parse_slots(self.conn(port).cmd("CLUSTER", "SLOTS"))
            if owner:
                self.slots = owner
                for p in set(owner) - {0}:
                    if p not in self.known:
                        self.known.append(p)
                if port != self.known[0]:  # ask the node that answered first next time
                    self.known.remove(port)
                    self.known.insert(0, port)
                return True
        return False

    def call(self, *words):
        """(True, reply) or (False, None) with self.err saying why."""
        port = self.slots[slot_of(words[1].encode())]
        asking = False
        for _ in range(5):
            if port == 0:
                self.err = "no owner in the map"
                return False, None
            c = self.conn(port)
            if asking:
                r = c.pipe([("ASKING",), words])
                r = r[1] if r else None
            else:
                r = c.cmd(*words)
            if isinstance(r, RuntimeError):
                m = str(r)
                if m.startswith(("MOVED ", "ASK ")):
                    f = m.split()
                    port = int(f[2].rsplit(":", 1)[1])
                    asking = f[0] == "ASK"
                    if not asking:
                        self.slots[int(f[1])] = port
                    continue
                self.err = m.split()[0] if m else "error"
                return False, None
            if r is None and c.sock is None:  # no answer (a nil reply leaves the connection open)
                self.err = "connection"
                return False, None
            return True, r
        self.err = "redirect loop"
        return False, None

    def by_owner(self, keys):
        groups = {}
        for k in keys:
            groups.setdefault(self.slots[slot_of(k.encode())], []).append(k)
        return groups


def verify(seeds, expect, timeout=30):
    """expect: {key: value}. Returns (missing, wrong). Reads with pipelines to
    each slot's primary; a key whose reply is an error or absent connection is
    retried alone until timeout."""
    cli = Thin(seeds, 2.0)
    missing = wrong = 0
    retry = []
    for port, keys in cli.by_owner(list(expect)).items():
        for i in range(0, len(keys), 1000):
            part = keys[i:i + 1000]
            rs = cli.conn(port).pipe([("GET", k) for k in part]) if port else None
            if rs is None:
                retry += part
                continue
            for k, r in zip(part, rs):
                if isinstance(r, RuntimeError):
                    retry.append(k)
                elif r is None:
                    missing += 1
                elif r != expect[k]:
                    wrong += 1
    deadline = time.monotonic() + timeout
    for k in retry:
        while True:
            ok, r = cli.call("GET", k)
            if ok:
                break
            if time.monotonic() > deadline:
                log("verify: GET %s keeps failing (%s)" % (k, cli.err))
                sys.exit(1)
            time.sleep(0.01)
            cli.refresh()
        if r is None:
            missing += 1
        elif r != expect[k]:
            wrong += 1
    return missing, wrong


def delete_keys(seeds, keys):
    cli = Thin(seeds, 2.0)
    for port, ks in cli.by_owner(keys).items():
        for i in range(0, len(ks), 1000):
            part = ks[i:i + 1000]
            rs = cli.conn(port).pipe([("DEL", k) for k in part]) if port else None
            for k, r in zip(part, rs or [RuntimeError("")] * len(part)):
                if isinstance(r, RuntimeError):
                    cli.call("DEL", k)


# --- writers ------------------------------------------------------------------------

def wkey(run, group, wid, seq):
    return "r%d:%s%d:%d" % (run, group, wid, seq)


def writer(run, group, wid, mask, seeds, stop_ev, last_ok, out_q):
    """Writes fresh keys of the slots in mask, paced to args.rate, until stop_ev.
    Puts (group, wid, success times, acked seqs, unacked seqs, errors, error kinds)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT, signal.SIGTERM])
    if args.client == "redispy":
        import redis.cluster
        rc = None
        while rc is None and not stop_ev.is_set():
            try:
                rc = redis.cluster.RedisCluster(
                    startup_nodes=[redis.cluster.ClusterNode("127.0.0.1", p) for p in seeds],
                    socket_timeout=args.client_timeout, socket_connect_timeout=args.client_timeout)
            except Exception:
                time.sleep(args.retry_ms / 1000)

        def write(k, v):
            try:
                return rc.set(k, v) is True, ""
            except Exception as e:
                return False, type(e).__name__

        def refresh():
            pass
    else:
        cli = Thin(seeds, args.client_timeout)

        def write(k, v):
            ok, r = cli.call("SET", k, v)
            return ok and r == "OK", (cli.err if not ok else "reply %r" % (r,))

        refresh = cli.refresh
    times, acked, unacked = [], [], []
    errors, kinds = 0, {}
    period = 1.0 / args.rate if args.rate > 0 else 0.0
    nxt = time.monotonic()
    seq = 0
    while not stop_ev.is_set():
        while True:
            seq += 1
            k = wkey(run, group, wid, seq)
            if mask[slot_of(k.encode())]:
                break
        while True:
            ok, why = write(k, str(seq))
            now = time.monotonic()
            if ok:
                times.append(now)
                acked.append(seq)
                last_ok.value = now
                break
            errors += 1
            kinds[why] = kinds.get(why, 0) + 1
            if stop_ev.is_set():
                unacked.append(seq)
                break
            time.sleep(args.retry_ms / 1000)
            refresh()
        if period:
            nxt += period
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
            elif d < -0.1:
                nxt = time.monotonic()  # no burst to catch up after a stall
    out_q.put((group, wid, times, acked, unacked, errors, kinds))


def longest_gap(times, t_from, t_to):
    """(length, end) of the longest gap between consecutive successes in times
    that ends after t_from; a gap still open at t_to counts up to t_to."""
    best, end = 0.0, t_from
    prev = None
    for t in times:
        if prev is not None and t > t_from and t - prev > best:
            best, end = t - prev, t
        prev = t
    if prev is not None and t_to > prev and t_to > t_from and t_to - prev > best:
        best, end = t_to - prev, t_to
    return best, end


def measure(run, seeds, dmask, kill, umask=None):
    """One run: writers on D and on the other slots (and, with umask, on the
    slots with no copy on the victim, "u"), kill() after args.pre s.
    Returns a dict of gaps (ms), first write after the kill, acked keys, errors."""
    omask = bytearray(1 - x for x in dmask)
    groups = [("d", dmask), ("o", omask)]
    if umask is not None and any(umask):
        groups.append(("u", umask))
    ctx = mp.get_context("fork")
    stop_ev = ctx.Event()
    out_q = ctx.Queue()
    lasts = []
    procs = []
    # a writer inherits these blocked until it has its own handlers (a Ctrl-C
    # must not reach one through the parent's)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT, signal.SIGTERM])
    try:
        for group, mask in groups:
            for wid in range(args.writers):
                last = ctx.RawValue("d", 0.0)
                p = ctx.Process(target=writer, args=(run, group, wid, mask, seeds, stop_ev, last, out_q),
                                daemon=True)
                p.start()
                WRITERS.append(p)
                procs.append(p)
                lasts.append(last)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT, signal.SIGTERM])
    wait_for("every writer's first acknowledged write", lambda: all(x.value > 0 for x in lasts), 30)
    t0 = time.monotonic()
    time.sleep(args.pre)  # the pre-kill measurement period
    t_kill = time.monotonic()
    kill()
    resumed = None
    while True:
        now = time.monotonic()
        if resumed is None and all(x.value > t_kill for x in lasts):
            resumed = now
        if resumed is not None and now - resumed >= args.post:
            break
        if now - t_kill >= args.max_wait:
            break
        time.sleep(0.01)
    stop_ev.set()
    t_end = time.monotonic()
    results = []
    deadline = time.monotonic() + 30
    while len(results) < len(procs):
        try:
            results.append(out_q.get(timeout=max(0.1, deadline - time.monotonic())))
        except Exception:
            log("writers did not report within 30 s (%d of %d)" % (len(results), len(procs)))
            sys.exit(1)
    for p in procs:
        p.join(10)
        if p.exitcode != 0:
            log("a writer exited with %s" % p.exitcode)
            sys.exit(1)
    res = {"acked": {}, "unacked": [], "errors": 0, "kinds": {}, "resumed": resumed is not None}
    times = {g: [] for g, _ in groups}
    for group, wid, ts, acked, unacked, errors, kinds in results:
        times[group] += ts
        for s in acked:
            res["acked"][wkey(run, group, wid, s)] = str(s)
        res["unacked"] += [wkey(run, group, wid, s) for s in unacked]
        res["errors"] += errors
        for k, v in kinds.items():
            res["kinds"][k] = res["kinds"].get(k, 0) + v
    for g in times:
        times[g].sort()
        length, end = longest_gap(times[g], t_kill, t_end)
        res["gap_" + g] = length * 1000
        res["end_" + g] = (end - t_kill) * 1000  # when writes came back, from the kill
        res["pre_" + g] = longest_gap([t for t in times[g] if t >= t0 and t <= t_kill], t0, t0)[0] * 1000
        res["n_" + g] = len(times[g])
    res["window"] = t_end - t0
    return res


def run_line(label, run, victim, role, nslots, r, lost1, lost2):
    print("%s run %2d: killed %-11s %d (primary of %5d slots): dead primary's slots gap %7.1f ms"
          " (ended %.0f ms after the kill), other slots gap %6.1f ms (%s with no copy on it); before the kill %.1f / %.1f ms;"
          " acked %d (%d on D); lost acked: %d missing + %d wrong after failover, %d + %d after restore;"
          " errors %d %s%s" %
          (label, run, role, victim, nslots, r["gap_d"], r["end_d"], r["gap_o"],
           "%.1f ms" % r["gap_u"] if "gap_u" in r else "none", r["pre_d"], r["pre_o"],
           len(r["acked"]), r["n_d"], lost1[0], lost1[1], lost2[0], lost2[1], r["errors"],
           dict(sorted(r["kinds"].items(), key=lambda x: -x[1])[:3]),
           "" if r["resumed"] else " NOT ALL WRITERS RESUMED within %.0f s" % args.max_wait), flush=True)


# --- ringcache -------------------------------------------------------------------

class RcNode:
    def __init__(self, replicas, join=None):
        for attempt in range(5):
            self.spawn(replicas, join)
            wait_for("node %d to answer PING" % self.port,
                     lambda: self.conn.cmd("PING") == "PONG" or self.proc.poll() is not None, 15,
                     on_fail=self.show_logs)
            if self.proc.poll() is None:
                return
            # another process took the port (or port + 10000) since free_port() tried it
            if not port_taken(self.log, self.console) or attempt == 4:
                self.show_logs()
                sys.exit("ringcached exited at startup")

    def spawn(self, replicas, join):
        self.port = free_port()
        self.dir = os.path.join(TMP, "rc", str(self.port))
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "ringcached.log")
        cmd = SRV_PIN + [BIN, "--port", str(self.port), "--cluster-port", str(self.port + 10000),
                         "--dir", self.dir, "--logfile", self.log, "--cluster-secret", SECRET,
                         "--cluster-replicas", str(replicas)]
        if args.node_timeout is not None:
            cmd += ["--cluster-node-timeout", str(args.node_timeout)]
        if join:
            cmd += ["--join", "127.0.0.1:%d" % join]
        self.console = os.path.join(self.dir, "console.log")
        with open(self.console, "w") as out:
            self.proc = spawn(cmd, stdout=out, stderr=subprocess.STDOUT)
        self.conn = Conn(self.port)
        self.name = None

    def show_logs(self):
        tail(self.console)
        tail(self.log)

    def cinfo(self):
        return kv(self.conn.cmd("CLUSTER", "INFO"))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.conn.close()


BUSY_FIELD = re.compile(r"(^|_)(degraded|lag|in_?flight)(_|$)")


def rc_repl_busy(x):
    """Whatever INFO replication reports as degraded, lagging or in flight
    (fields that do not exist yet count as 0)."""
    r = kv(x.conn.cmd("INFO", "replication"))
    return sum(int(v) for k, v in r.items() if v.isdigit() and BUSY_FIELD.search(k))


def rc_settled(nodes):
    """Every node: state ok, len(nodes) members, one epoch, not in transition,
    nothing degraded or in flight."""
    epochs = set()
    for x in nodes:
        i = x.cinfo()
        if i.get("cluster_state") != "ok" or i.get("cluster_known_nodes") != str(len(nodes)) or \
                i.get("cluster_in_transition") != "0":
            return False
        epochs.add(i.get("cluster_current_epoch"))
    return len(epochs) == 1 and not any(rc_repl_busy(x) for x in nodes)


def rc_wait(nodes, what, timeout=60):
    wait_for(what, lambda: rc_settled(nodes), timeout,
             on_fail=lambda: [log("  %d: %s" % (x.port, x.cinfo())) or x.show_logs() for x in nodes])


def rc_start(n, replicas):
    first = RcNode(replicas)
    nodes = [first]
    rc_wait(nodes, "the first ringcache node")
    for _ in range(n - 1):
        nodes.append(RcNode(replicas, join=first.port))
        rc_wait(nodes, "%d ringcache nodes to settle" % len(nodes))
    got = nodes[0].cinfo().get("cluster_replicas")
    if got is not None and got != str(replicas):
        sys.exit("asked for cluster-replicas %d, CLUSTER INFO says %s" % (replicas, got))
    return nodes


def rc_coordinator(nodes):
    coord = kv(nodes[0].conn.cmd("INFO", "cluster")).get("cluster_coordinator")
    for x in nodes:
        if x.name is None:
            x.name = x.conn.cmd("CLUSTER", "MYID")
        if coord and coord == x.name:
            return x
    return None


def rc_gap():
    log("starting a 3-node ringcache cluster, cluster-replicas %d (%s)" % (args.replicas, BIN))
    nodes = rc_start(3, args.replicas)
    print("# ringcache: cluster_replicas %s, ports %s" %
          (nodes[0].cinfo().get("cluster_replicas"), [x.port for x in nodes]), flush=True)
    out = []
    for run in range(1, args.runs + 1):
        rc_wait(nodes, "the cluster to settle before run %d" % run)
        coord = rc_coordinator(nodes)
        victim = random.choice(nodes)
        role = "coordinator" if victim is coord else "member"
        survivors = [x for x in nodes if x is not victim]
        owner = slot_owners(survivors[0].conn)
        dmask = bytearray(1 if o == victim.port else 0 for o in owner)
        if not any(dmask):
            sys.exit("run %d: CLUSTER SLOTS names %d primary of no slot" % (run, victim.port))
        umask = bytearray(1 - x for x in slots_touching(survivors[0].conn, victim.port))
        r = measure(run, [x.port for x in nodes], dmask, victim.kill9, umask)
        rc_wait(survivors, "the survivors to agree after the kill of %d" % victim.port)
        seeds = [x.port for x in survivors]
        lost1 = verify(seeds, r["acked"])
        nodes = survivors + [RcNode(args.replicas, join=random.choice(survivors).port)]
        rc_wait(nodes, "a fresh node to join (restoring 3)")
        seeds = [x.port for x in nodes]
        lost2 = verify(seeds, r["acked"])
        delete_keys(seeds, list(r["acked"]) + r["unacked"])
        run_line("ringcache", run, victim.port, role, sum(dmask), r, lost1, lost2)
        r["lost1"], r["lost2"] = lost1, lost2
        out.append(r)
    stop([x.proc for x in nodes])
    return out


# --- Redis Cluster ---------------------------------------------------------------

class RsNode:
    def __init__(self):
        for attempt in range(5):
            self.port = free_port()
            self.dir = os.path.join(TMP, "rs", str(self.port))
            os.makedirs(self.dir)
            self.log = os.path.join(self.dir, "redis.log")
            self.conn = Conn(self.port)
            if self.start(attempt == 4):
                return

    def start(self, last_try=True):
        """True once it answers PING; False if it exited because its port was
        taken (and not last_try)."""
        self.proc = spawn(SRV_PIN + [
            "redis-server", "--port", str(self.port), "--cluster-enabled", "yes",
            "--cluster-config-file", os.path.join(self.dir, "nodes.conf"),
            "--cluster-node-timeout", "1000", "--dir", self.dir, "--save", "", "--appendonly", "no",
            "--logfile", self.log])
        wait_for("redis-server %d" % self.port,
                 lambda: self.conn.cmd("PING") == "PONG" or self.proc.poll() is not None, 15,
                 on_fail=lambda: tail(self.log))
        if self.proc.poll() is None:
            return True
        if not last_try and port_taken(self.log):
            return False
        tail(self.log)
        sys.exit("redis-server %d exited at startup" % self.port)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.conn.close()

    def nodes(self):
        """{id: (port, flags, master_id)} from CLUSTER NODES."""
        out = {}
        text = self.conn.cmd("CLUSTER", "NODES")
        for line in (text if isinstance(text, str) else "").splitlines():
            f = line.split()
            if len(f) >= 8:
                out[f[0]] = (int(f[1].split("@")[0].rsplit(":", 1)[1] or 0), f[2].split(","), f[3])
        return out


def rs_healthy(nodes, masters=None):
    masters = len(nodes) // 2 if masters is None else masters
    for x in nodes:
        if kv(x.conn.cmd("CLUSTER", "INFO")).get("cluster_state") != "ok":
            return False
        view = x.nodes()
        if len(view) != len(nodes) or any("fail" in fl or "fail?" in fl or "handshake" in fl
                                          for _, fl, _ in view.values()):
            return False
        if sum(1 for _, fl, _ in view.values() if "master" in fl) != masters:
            return False
    for x in nodes:
        r = kv(x.conn.cmd("INFO", "replication"))
        if r.get("role") == "slave" and r.get("master_link_status") != "up":
            return False
    return True


def rs_start(replicas=1):
    """A Redis Cluster of 3 masters with 'replicas' replicas each."""
    log("starting a 3-master + %d-replica Redis Cluster (cluster-node-timeout 1000)" % (3 * replicas))
    nodes = [RsNode() for _ in range(3 * (1 + replicas))]
    create = spawn(["redis-cli", "--cluster", "create"] + ["127.0.0.1:%d" % x.port for x in nodes] +
                   ["--cluster-replicas", str(replicas), "--cluster-yes"],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        text, _ = create.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        sys.exit("redis-cli --cluster create did not finish within 60 s")
    if create.returncode != 0:
        log(text)
        sys.exit("redis-cli --cluster create failed")
    wait_for("Redis Cluster to be healthy", lambda: rs_healthy(nodes, 3), 60, step=0.1)
    return nodes


def rs_caught_up(nodes):
    """Every master's replicas have its whole replication stream."""
    for x in nodes:
        r = kv(x.conn.cmd("INFO", "replication"))
        if r.get("role") != "master":
            continue
        off = r.get("master_repl_offset")
        for k, v in r.items():
            if k.startswith("slave") and k[5:].isdigit():
                f = dict(p.split("=", 1) for p in v.split(","))
                if f.get("offset") != off:
                    return False
    return True


def rs_gap():
    nodes = rs_start()
    by_port = {x.port: x for x in nodes}
    out = []
    for run in range(1, args.redis_runs + 1):
        wait_for("Redis Cluster to be healthy before run %d" % run, lambda: rs_healthy(nodes), 60, step=0.1)
        view = nodes[0].nodes()
        masters = {i: v for i, v in view.items() if "master" in v[1]}
        replica_of = {v[2]: i for i, v in view.items() if "slave" in v[1]}
        vid = random.choice([i for i in masters if i in replica_of])
        victim = by_port[masters[vid][0]]
        survivors = [x for x in nodes if x is not victim]
        owner = slot_owners(survivors[0].conn)
        dmask = bytearray(1 if o == victim.port else 0 for o in owner)
        umask = bytearray(1 - x for x in slots_touching(survivors[0].conn, victim.port))
        r = measure(run, [x.port for x in nodes], dmask, victim.kill9, umask)

        def agreed():
            for s in survivors:
                if kv(s.conn.cmd("CLUSTER", "INFO")).get("cluster_state") != "ok":
                    return False
                o = slot_owners(s.conn)
                if 0 in o or victim.port in o:
                    return False
            return True
        wait_for("Redis Cluster survivors to fail over", agreed, 60, step=0.05)
        seeds = [x.port for x in survivors]
        lost1 = verify(seeds, r["acked"])
        victim.start()  # comes back as a replica of the promoted one
        wait_for("Redis Cluster to heal", lambda: rs_healthy(nodes), 60, step=0.1)
        seeds = [x.port for x in nodes]
        lost2 = verify(seeds, r["acked"])
        delete_keys(seeds, list(r["acked"]) + r["unacked"])
        run_line("redis    ", run, victim.port, "master", sum(dmask), r, lost1, lost2)
        r["lost1"], r["lost2"] = lost1, lost2
        out.append(r)
    stop([x.proc for x in nodes])
    return out


def gap_summary(label, rs):
    if not rs:
        return None
    d = [r["gap_d"] for r in rs]
    o = [r["gap_o"] for r in rs]
    lost = [r["lost1"][0] + r["lost1"][1] for r in rs]
    lost2 = [r["lost2"][0] + r["lost2"][1] for r in rs]
    acked = sum(len(r["acked"]) for r in rs)
    md, xd, mo, xo = med(d), max(d), med(o), max(o)
    print("%s (%d runs):" % (label, len(rs)))
    print("  dead primary's slots, longest write gap: median %7.1f ms (target < 1000: %s), max %7.1f ms"
          " (target < 2000: %s); it ended a median %.0f ms after the kill" %
          (md, "met" if md < 1000 else "MISSED", xd, "met" if xd < 2000 else "MISSED",
           med([r["end_d"] for r in rs])))
    print("  other slots, longest write gap:          median %7.1f ms, max %7.1f ms" % (mo, xo))
    u = [r["gap_u"] for r in rs if "gap_u" in r]
    if u:
        print("  of those, the slots with no copy on the dead node: median %7.1f ms, max %7.1f ms"
              " (target < 50: %s; %d runs)" % (med(u), max(u), "met" if max(u) < 50 else "MISSED", len(u)))
    print("  before the kill (noise floor):            dead primary's slots max %.1f ms, others max %.1f ms" %
          (max(r["pre_d"] for r in rs), max(r["pre_o"] for r in rs)))
    print("  lost acknowledged writes: %d of %d after failover (%d runs with losses), %d after restore%s" %
          (sum(lost), acked, sum(1 for x in lost if x), sum(lost2),
           "" if all(r["resumed"] for r in rs) else
           "; %d runs where a writer never resumed" % sum(1 for r in rs if not r["resumed"])))
    return md, xd, mo, xo


def gap():
    rc = rc_gap() if args.runs > 0 else []
    rs = rs_gap() if args.redis_runs > 0 else []
    print()
    print("kill -9 of a primary under writes: %d writer processes on each group of slots (the dead primary's,"
          " the others, those with no copy on it; %s client) at %.0f writes/s each,"
          " retry after %.0f ms, client timeout %.1f s" %
          (args.writers, args.client, args.rate, args.retry_ms, args.client_timeout))
    a = gap_summary("ringcache 3 nodes, cluster-replicas %d" % args.replicas, rc)
    b = gap_summary("Redis Cluster 3+3, cluster-node-timeout 1000", rs)
    if a and b:
        print("ratios ringcache / Redis Cluster: dead primary's slots median %.2fx, max %.2fx;"
              " other slots median %.2fx, max %.2fx" % tuple(x / y if y else float("nan") for x, y in zip(a, b)))


# --- tput ---------------------------------------------------------------------------

def bench_one(port, test, P, n, clients=None, primaries=None):
    """(ops/s, p50 ms, p99 ms, redis-benchmark's ops/s) of one
    redis-benchmark --cluster run. ops/s is counted on the servers
    (bench/rb_counted.py): the 'test' calls of 'primaries' (ports), polled
    every 50 ms, over the middle 80 % of the run. redis-benchmark's own
    figure divides by a run length it only sees at its 250 ms ticks
    (cluster mode runs a thread a node and notices the end on its
    throughput timer): a 2.5 s run is counted up to 10 % long, which is
    why it is not the measure."""
    clients = args.clients if clients is None else clients
    try:
        return rb_counted.run(primaries or [], ["--cluster", "-h", "127.0.0.1", "-p", str(port), "-t", test,
                                                "-P", str(P), "-n", str(n), "-c", str(clients), "-r", "100000",
                                                "-d", str(args.size)],
                              prefix=CLI_PIN, popen=spawn, timeout=300)
    except (RuntimeError, OSError) as e:
        log("against %d: %s" % (port, e))
        sys.exit(1)


def tput():
    log("starting ringcache R=1, ringcache R=0%s" %
        ("" if args.no_anchor else ", Redis Cluster 3+3 and Redis Cluster 3 masters"))
    r1, r0 = rc_start(3, 1), rc_start(3, 0)
    members = {"r1": r1, "r0": r0, "fwd": r0, "rtt": r0}  # the one-client probe's clusters
    targets = {"r1": r1[0].port, "r0": r0[0].port}
    primaries = {"r1": [x.port for x in r1], "r0": [x.port for x in r0]}
    if not args.no_anchor:
        rs = rs_start()
        targets["rs"] = rs[0].port
        primaries["rs"] = [x.port for x in rs if kv(x.conn.cmd("INFO", "replication")).get("role") == "master"]
        if len(primaries["rs"]) != 3:
            sys.exit("Redis Cluster 3+3: %d masters, not 3" % len(primaries["rs"]))
        # The anchor without its replicas: what replication costs Redis
        # Cluster on this machine, next to what it costs ringcache.
        rs0 = rs_start(0)
        targets["rs0"] = rs0[0].port
        primaries["rs0"] = [x.port for x in rs0]
    print("# pinning: %s; -c %d -r 100000 -d %d; repeat %d (median)" %
          ("servers CPU 1, redis-benchmark CPU 0" if PIN else "none", args.clients, args.size, args.repeat))
    who_all = list(targets)
    rows, paired, paired_rs = {}, {}, {}
    for test in args.tests.split(","):
        for P in (16, 1):
            probe_on = "rs" if "rs" in targets else "r0"
            rps = bench_one(targets[probe_on], test, P, 100000 if P > 1 else 20000)[0]
            n = max(20000, int(rps * args.seconds))
            res = {w: [] for w in who_all}
            # One unmeasured run each first: a cluster's first writes create
            # its keys and grow its tables (a fresh R=1 cluster ran 20-30 %
            # slower for its first 1.5 s of SET -P 16).
            for w in who_all:
                bench_one(targets[w], test, P, n, primaries=primaries[w])
            for rep in range(args.repeat):
                order = who_all[rep % len(who_all):] + who_all[:rep % len(who_all)]
                for w in order:
                    res[w].append(bench_one(targets[w], test, P, n, primaries=primaries[w]))
            rows[(test, P)] = {w: tuple(med([x[i] for x in res[w]]) for i in range(4)) for w in who_all}
            paired[(test, P)] = [a[0] / b[0] for a, b in zip(res["r1"], res["r0"])]
            if "rs0" in res:
                paired_rs[(test, P)] = [a[0] / b[0] for a, b in zip(res["rs"], res["rs0"])]
            log("  done: %s -P %d (-n %d)" % (test, P, n))
    print()
    print("| test | -P | R=1 ops/s | R=0 ops/s | Redis 3+3 ops/s | Redis 3 masters ops/s | R1/Redis (>= 0.8) |"
          " R1/R0 (>= 0.7) | Redis 3+3 / 3 masters | p50 ms R1 / R0 / Redis | p99 ms R1 / R0 / Redis |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    nan = (float("nan"),) * 4
    for (test, P), r in rows.items():
        r1, r0, rs, rs0 = r["r1"], r["r0"], r.get("rs", nan), r.get("rs0", nan)
        a, b = r1[0] / rs[0] if rs[0] == rs[0] else float("nan"), r1[0] / r0[0]
        print("| %s | %d | %.0f | %.0f | %.0f | %.0f | %.2f%s | %.2f%s | %.2f | %.3f / %.3f / %.3f |"
              " %.3f / %.3f / %.3f |" %
              (test.upper(), P, r1[0], r0[0], rs[0], rs0[0], a, "" if not a < 0.8 else " *", b,
               "" if b >= 0.7 else " *", rs[0] / rs0[0], r1[1], r0[1], rs[1], r1[2], r0[2], rs[2]))
    print()
    print("ops/s: counted on the servers (INFO commandstats of the primaries, polled every 50 ms) over the"
          " middle 80 %% of each run. redis-benchmark's own figures (rounded to its 250 ms ticks), R=1 / R=0 /"
          " Redis: %s" % "; ".join("%s -P %d %.0f / %.0f / %.0f" % (t.upper(), P, r["r1"][3], r["r0"][3],
                                                                     r.get("rs", nan)[3])
                                   for (t, P), r in rows.items()))
    print()
    print("R1/R0 repeat by repeat (R=1 and R=0 run back to back, so a drift of the machine's speed cancels),"
          " median [all]: %s" % "; ".join("%s -P %d %.2f [%s]" % (t.upper(), P, med(v),
                                                                 " ".join("%.2f" % x for x in v))
                                          for (t, P), v in paired.items()))
    if paired_rs:
        print()
        print("Redis Cluster's own cost of replication, 3+3 / 3 masters repeat by repeat, median [all]: %s" %
              "; ".join("%s -P %d %.2f [%s]" % (t.upper(), P, med(v), " ".join("%.2f" % x for x in v))
                        for (t, P), v in paired_rs.items()))
    if ("set", 1) not in rows:
        return  # the write path's latency is SET's: probed with it only
    s1, s0 = rows[("set", 1)]["r1"], rows[("set", 1)]["r0"]
    print()
    print("Rows marked * miss their target. A write's extra p50 at R=1 (-P 1 -c %d): %.3f ms over R=0's %.3f ms"
          " (with this many clients on one server CPU, mostly queueing)" % (args.clients, s1[1] - s0[1], s0[1]))
    # One client, one request at a time: no queueing, so the extra p50 is
    # what replication adds to a write. Two yardsticks for "one round
    # trip": a PING's p50 (the client's own round trip to a node), and a
    # node-to-node round trip, the extra p50 of a SET its node forwards at
    # R=0 (the hop a replicated write makes: two nodes on one CPU, request
    # and reply through both event loops). Timed by bench/lat_probe.c to
    # the nanosecond: redis-benchmark's p50 moves in 8 us steps (its
    # histogram's finest step here), too coarse for a 20-40 us round trip.
    # It sends each SET to the node its key's slot is primary on (the
    # cluster's first node), as --cluster does, or (fwd) to that node for
    # keys of the other nodes' slots.
    runs = (("r1", targets["r1"], "set", []), ("r0", targets["r0"], "set", []),
            ("fwd", targets["r0"], "set", ["-f"]), ("rtt", targets["r0"], "ping", []))
    lat = {w: [] for w, _, _, _ in runs}
    # What the nodes did for a request: its reads and writes summed over
    # the cluster's nodes (/proc/<pid>/io), which no load on the machine
    # moves. A replicated write adds one round trip if it adds what a
    # forward hop adds: one write and one read on each of two nodes.
    calls = {w: [] for w, _, _, _ in runs}
    for rep in range(PROBE_ROUNDS):
        for w, port, test, extra in runs:
            before = node_calls(members[w])
            lat[w].append(probe(port, test, extra)["p50_us"])
            after = node_calls(members[w])
            calls[w].append(tuple((a - b) / (PROBE_N + PROBE_WARMUP) for a, b in zip(after, before)))
    # per round (its four runs are seconds apart, so a drift cancels)
    extra_r = [a - b for a, b in zip(lat["r1"], lat["r0"])]
    hop_r = [a - b for a, b in zip(lat["fwd"], lat["r0"])]
    l1, l0, rtt, extra, hop = med(lat["r1"]), med(lat["r0"]), med(lat["rtt"]), med(extra_r), med(hop_r)
    print("One client (-c 1 -P 1, bench/lat_probe.c, %d requests a run, %d rounds, medians): SET p50 R=1 %.1f us,"
          " R=0 %.1f us; a write's extra at R=1, round by round: %.1f us. One round trip: a PING's p50, %.1f us"
          " (target extra <= it: %s); a node-to-node round trip, a forwarded SET's extra at R=0 round by round,"
          " %.1f us (extra <= it: %s)" % (PROBE_N, PROBE_ROUNDS, l1, l0, extra, rtt,
                                          "met" if extra <= rtt else "MISSED", hop, "met" if extra <= hop else "MISSED"))
    print("  round by round, p50 us R=1 / R=0 / R=0 forwarded / PING: %s" %
          "; ".join("%.1f / %.1f / %.1f / %.1f" % tuple(lat[w][i] for w, _, _, _ in runs)
                    for i in range(PROBE_ROUNDS)))
    rw = {w: tuple(med([x[i] for x in calls[w]]) for i in range(2)) for w in calls}
    print("  system calls a request, summed over the cluster's 3 nodes (reads + writes, medians of the rounds):"
          " SET R=1 %.2f + %.2f, R=0 %.2f + %.2f, R=0 forwarded %.2f + %.2f, PING %.2f + %.2f; a write at R=1"
          " adds %.2f + %.2f, a forward hop %.2f + %.2f" %
          (rw["r1"] + rw["r0"] + rw["fwd"] + rw["rtt"] +
           (rw["r1"][0] - rw["r0"][0], rw["r1"][1] - rw["r0"][1],
            rw["fwd"][0] - rw["r0"][0], rw["fwd"][1] - rw["r0"][1])))


PROBE_ROUNDS = 9
PROBE_N = 10000
PROBE_WARMUP = 2000  # requests sent before the timed ones


def node_calls(nodes):
    """(read, write) system calls the 'nodes' made so far, summed
    (/proc/<pid>/io: syscr counts read(2), readv(2) and the like, syscw
    write(2), writev(2) and the like; epoll_wait(2) in neither)."""
    r = w = 0
    for x in nodes:
        with open("/proc/%d/io" % x.proc.pid) as f:
            d = dict(line.split(": ") for line in f.read().splitlines())
        r += int(d["syscr"])
        w += int(d["syscw"])
    return r, w


def probe(port, test, extra):
    """{p50_us, p99_us, mean_us, min_us} of one lat-probe run: PROBE_N
    requests, one at a time, on one connection to 'port' ('extra': more
    of its options)."""
    out = subprocess.run(CLI_PIN + [os.environ["LAT_PROBE"], "-p", str(port), "-t", test, "-n", str(PROBE_N),
                                    "-w", str(PROBE_WARMUP), "-d", str(args.size)] + extra,
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        log("lat-probe against %d: %s" % (port, out.stderr.strip()))
        sys.exit(1)
    return {k: float(v) for k, v in (f.split("=") for f in out.stdout.split()) if k != "n"}


# --- mem ----------------------------------------------------------------------------

def load(seed_port, n, size):
    owner = slot_owners(Conn(seed_port))
    ports = sorted(set(owner) - {0})
    if 0 in owner:
        sys.exit("CLUSTER SLOTS on %d does not cover every slot" % seed_port)
    procs = {p: spawn(["redis-cli", "-p", str(p), "--pipe"], stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for p in ports}
    bufs = {p: [] for p in ports}
    val = b"v" * size
    vh = b"\r\n$%d\r\n" % size
    for i in range(n):
        k = b"key:%012d" % i
        p = owner[slot_of(k)]
        bufs[p].append(b"*3\r\n$3\r\nSET\r\n$16\r\n" + k + vh + val + b"\r\n")
        if len(bufs[p]) >= 50000:
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


def rehashing(ports):
    """Bytes of old keyspace tables still being rehashed over ports (0 where
    INFO memory has no such field: Redis before 7.4)."""
    return sum(int(kv(Conn(p).cmd("INFO", "memory")).get("mem_overhead_db_hashtable_rehashing", 0))
               for p in ports)


def table_bytes(keys):
    """8 B a bucket, a power of two of at least 'keys' buckets (at least 4):
    the size of a keyspace table that grew to 'keys' keys by doubling when
    full, as ringcache's and Redis's do. An estimate, not read from INFO."""
    n = 4
    while n < keys:
        n *= 2
    return 8 * n


def mem_one(label, ports, seed, settled):
    wait_for("%s to settle before loading" % label, settled, 60, step=0.1)
    wait_for("%s to finish rehashing before loading" % label, lambda: rehashing(ports) == 0, 300, step=0.2)
    before = steady_memory(ports)
    tables0 = sum(table_bytes(Conn(p).cmd("DBSIZE") or 0) for p in ports)
    t0 = time.monotonic()
    load(seed, args.keys, args.value_size)
    wait_for("%s to settle after loading" % label, settled, 60, step=0.1)
    t1 = time.monotonic()
    old = rehashing(ports)
    wait_for("%s to finish rehashing after loading" % label, lambda: rehashing(ports) == 0, 300, step=0.2)
    if old:
        log("  %s: waited %.1f s for the keyspace rehash (%.1f MB of old tables)" %
            (label, time.monotonic() - t1, old / 1e6))
    after = steady_memory(ports)
    sizes = [Conn(p).cmd("DBSIZE") or 0 for p in ports]
    db = sum(sizes)
    tables = (sum(table_bytes(n) for n in sizes) - tables0) / args.keys
    per = (after[0] - before[0]) / args.keys
    repl = (after[1] - before[1]) / args.keys
    print("%-28s used_memory %6.1f MB -> %6.1f MB over %d nodes: %6.1f B a key%s; DBSIZE sum %d (%.2fx the keys);"
          " loaded in %.1f s" % (label, before[0] / 1e6, after[0] / 1e6, len(ports), per,
                                  " (%.1f of it replication backlog and replica buffers)" % repl if after[1] else "",
                                  db, db / args.keys, t1 - t0), flush=True)
    print("%-28s of which keyspace tables (est.) %.1f B a key: keys a node %s" %
          ("", tables, "/".join(str(n) for n in sizes)), flush=True)
    if db not in (args.keys, 2 * args.keys):
        sys.exit("%s: DBSIZE sum %d after loading %d keys" % (label, db, args.keys))
    return per, tables


def mem():
    if args.value_size <= 0:
        sys.exit("--value-size must be positive")
    print("# %d keys `key:%%012d`, %d-byte values, piped to each slot's primary" % (args.keys, args.value_size))
    res = {}
    for R in (1, 0):
        nodes = rc_start(3, R)
        res[R] = mem_one("ringcache 3 nodes R=%d" % R, [x.port for x in nodes], nodes[0].port,
                         lambda: rc_settled(nodes))
        stop([x.proc for x in nodes])
    if not args.no_anchor:
        nodes = rs_start()
        res["rs"] = mem_one("Redis Cluster 3+3", [x.port for x in nodes], nodes[0].port,
                            lambda: rs_caught_up(nodes))
    print()
    ratio = res[1][0] / res[0][0]
    print("memory per key R=1 / R=0: %.4fx (target <= 2.0: %s)%s" %
          (ratio, "met" if ratio <= 2.0 else "MISSED",
           "; R=1 / Redis Cluster 3+3: %.2fx" % (res[1][0] / res["rs"][0]) if "rs" in res else ""))
    # A node's table doubles when its keys pass a power of two: when the
    # nodes' shares straddle one (200,000 keys over 3 nodes: about 65,536
    # at R=0, 131,072 at R=1), the tables alone move the ratio by a few %.
    print("without the keyspace tables (est.): R=1 %.1f B, R=0 %.1f B a key: %.3fx" %
          (res[1][0] - res[1][1], res[0][0] - res[0][1],
           (res[1][0] - res[1][1]) / (res[0][0] - res[0][1])))


def big_set(port, key, value):
    """(reply, ms) of one SET of 'value' sent whole on a fresh connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=300)
    t0 = time.monotonic()
    s.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (len(key), key, len(value)))
    s.sendall(memoryview(value))
    s.sendall(b"\r\n")
    reply = b""
    while not reply.endswith(b"\r\n"):
        chunk = s.recv(512)
        if not chunk:
            reply += b"(connection closed)\r\n"
            break
        reply += chunk
    ms = (time.monotonic() - t0) * 1000
    s.close()
    return reply.decode(errors="replace").strip(), ms


def ping_worst(ports, stop_ev, out_q):
    """A process of its own (a thread here would wait on this one's copies of
    the value): PINGs each port every 5 ms; puts {port: longest wait in ms}."""
    import threading
    worst = {p: 0.0 for p in ports}

    def one(port):
        c = socket.create_connection(("127.0.0.1", port), timeout=30)
        while not stop_ev.is_set():
            t0 = time.monotonic()
            c.sendall(b"PING\r\n")
            c.recv(64)
            worst[port] = max(worst[port], time.monotonic() - t0)
            time.sleep(0.005)
        c.close()

    ths = [threading.Thread(target=one, args=(p,)) for p in ports]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    out_q.put({p: w * 1000 for p, w in worst.items()})


def big_round(label, ports, entry, key, value, epoch_of, settle):
    stop_ev, q = mp.Event(), mp.Queue()
    pg = mp.Process(target=ping_worst, args=(ports, stop_ev, q))
    WRITERS.append(pg)
    pg.start()
    time.sleep(0.2)  # its connections are up
    e0 = epoch_of()
    reply, ms = big_set(entry, key, value)
    time.sleep(0.3)
    stop_ev.set()
    worst = q.get(timeout=30)
    pg.join(10)
    settle()
    e1 = epoch_of()
    stall = max(worst.values())
    print("| %s | %d | %s | %.0f | %.0f | %s |" %
          (label, len(value) >> 20, reply[:70], ms, stall, "no" if e1 == e0 else "yes, epoch %s to %s" % (e0, e1)),
          flush=True)
    return reply == "+OK", stall, e1 != e0


def big():
    sizes = [int(x) for x in args.big_sizes.split(",")]
    print("| cluster, path | MB | reply | ms | longest PING wait of any node, ms | membership changed |")
    print("|---|---|---|---|---|---|")
    summary = {}
    nodes = rc_start(3, 1)
    ports = [x.port for x in nodes]
    owner = slot_owners(nodes[0].conn)
    own = next(k for k in (b"big:%d" % i for i in range(10000)) if owner[slot_of(k)] == ports[0])
    fwd = next(k for k in (b"big:%d" % i for i in range(10000)) if owner[slot_of(k)] not in (0, ports[0]))
    rc_epoch = lambda: nodes[0].cinfo().get("cluster_current_epoch")  # noqa: E731
    for mb in sizes:
        value = b"z" * (mb << 20)
        for path, key in (("own", own), ("forwarded", fwd)):
            res = [big_round("ringcache R=1, " + path, ports, ports[0], key, value, rc_epoch,
                             lambda: rc_wait(nodes, "ringcache to settle", 120)) for _ in range(args.rounds)]
            summary[("ringcache R=1, " + path, mb)] = res
        del value
    stop([x.proc for x in nodes])
    if not args.no_anchor:
        rs = rs_start()
        owner = slot_owners(rs[0].conn)
        by_port = {x.port: x for x in rs}
        key = b"big:0"
        rs_epoch = lambda: kv(rs[0].conn.cmd("CLUSTER", "INFO")).get("cluster_current_epoch")  # noqa: E731

        def rs_settle():
            wait_for("Redis Cluster to be healthy", lambda: rs_healthy(rs, 3), 120, step=0.1)

        for mb in sizes:
            value = b"z" * (mb << 20)
            res = []
            for _ in range(args.rounds):
                # a failover moves the key's primary: ask each time
                owner = slot_owners(rs[0].conn)
                res.append(big_round("Redis Cluster 3+3, at the primary", [x.port for x in rs],
                                     by_port[owner[slot_of(key)]].port, key, value, rs_epoch, rs_settle))
            summary[("Redis Cluster 3+3, at the primary", mb)] = res
            del value
    print()
    for (label, mb), res in summary.items():
        print("%s, %d MB: acknowledged %d of %d, longest stall %.0f ms, membership changed in %d" %
              (label, mb, sum(r[0] for r in res), len(res), max(r[1] for r in res), sum(r[2] for r in res)))


# --- coll ---------------------------------------------------------------------------

def coll():
    """One client, one request at a time, at the key's primary: the p50 of
    LPUSH onto a list and of HSET of a new field into a hash that hold
    --coll-sizes elements, ringcache R=1 and R=0 and Redis Cluster 3+3; and
    the bytes ringcache's data links carried a write."""
    clusters = {"R=1": rc_start(3, 1), "R=0": rc_start(3, 0)}
    if not args.no_anchor:
        clusters["Redis 3+3"] = rs_start()
    res = {}
    for name, nodes in clusters.items():
        owner = slot_owners(nodes[0].conn)
        for what, key in (("LPUSH", "clist"), ("HSET", "chash")):
            c = Conn(owner[slot_of(key.encode())], timeout=30)
            have = 0
            for size in sorted(int(x) for x in args.coll_sizes.split(",")):
                while have < size:
                    n = min(1000, size - have)
                    if what == "LPUSH":
                        c.pipe([["RPUSH", key] + ["e%d" % (have + i) for i in range(n)]])
                    else:
                        c.pipe([["HSET", key] + [w for i in range(n) for w in ("f%d" % (have + i), "v")]])
                    have += n
                sent0 = sum(int(kv(x.conn.cmd("INFO", "migration")).get("migration_bytes_sent", 0))
                            for x in nodes)
                lat = []
                for i in range(args.coll_writes):
                    words = ["LPUSH", key, "new%d" % i] if what == "LPUSH" else \
                        ["HSET", key, "g%d:%d" % (size, i), "v"]
                    t0 = time.perf_counter()
                    out = c.cmd(*words)
                    lat.append(time.perf_counter() - t0)
                    if not isinstance(out, int):
                        sys.exit("%s %s: %r" % (name, what, out))
                have += args.coll_writes if what == "LPUSH" else 0
                sent = sum(int(kv(x.conn.cmd("INFO", "migration")).get("migration_bytes_sent", 0))
                           for x in nodes) - sent0
                res[(what, size, name)] = (med(lat) * 1e6, sent / args.coll_writes)
                log("  %s: %s onto %d elements: p50 %.1f us" % (name, what, size, med(lat) * 1e6))
            c.close()
    print()
    print("| write | elements | R=1 p50 us | R=0 p50 us | Redis 3+3 p50 us | R=1 - R=0 us |"
          " data link bytes a write, R=1 |")
    print("|---|---|---|---|---|---|---|")
    nan = (float("nan"), float("nan"))
    for what in ("LPUSH", "HSET"):
        for size in sorted(int(x) for x in args.coll_sizes.split(",")):
            r1, r0 = res[(what, size, "R=1")], res[(what, size, "R=0")]
            rs = res.get((what, size, "Redis 3+3"), nan)
            print("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.0f |" %
                  (what, size, r1[0], r0[0], rs[0], r1[0] - r0[0], r1[1]))


print("# %s, %d cores, load %s" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(),
                                  " ".join(open("/proc/loadavg").read().split()[:3])))
print("# bench/bench_repl.sh %s; ringcached %s; %s" %
      (" ".join(sys.argv[1:]) or "gap", BIN,
       subprocess.run(["redis-server", "--version"], stdout=subprocess.PIPE, text=True).stdout.split(" sha")[0]),
      flush=True)
{"gap": gap, "tput": tput, "mem": mem, "big": big, "coll": coll}[args.mode]()
PYTHON
