#!/usr/bin/python3
"""bench/repl_steady.py: SET -P 16 throughput of 3-node ringcache clusters in
steady state, R=1 against R=0, in alternating rounds.

bench_repl.sh tput runs each cluster for about 2 s a repeat; this machine's
speed drifts by 10-25 % within minutes, so a 5-8 % change does not show
there. Here every cluster is warmed up first (a fresh cluster's first
writes create its keys and grow its tables), then each round runs
redis-benchmark --cluster against each cluster in turn (the order rotated
by one each round, so that no cluster always runs first) and counts the SET
calls on its servers (INFO commandstats) over --seconds in the middle of a
long run. Printed: each round's rates, the R1/R0 ratio of each round (the
runs of one round are seconds apart, so the drift mostly cancels), and
their medians.

Where the time goes, over the same windows: the servers' CPU time per SET
(user + system of the three nodes, /proc/PID/stat), how busy each CPU was
(/proc/stat: with pinning, CPU 1 is the servers' and CPU 0 the client's),
and the client's own CPU (redis-benchmark, all its threads). A side whose
CPU is near 100 % is the one that sets the rate: the ratio R1/R0 is a
ratio of server capacity only where both runs are server-bound.

Usage: bench/repl_steady.py [--rounds 10] [--seconds 5] [--no-pin] BINARY [BINARY...]
  Every BINARY gets an R=1 cluster; the first also gets an R=0 one.
  Servers run on CPU 1 and redis-benchmark on CPU 0 (as bench_repl.sh
  tput), unless --no-pin: then the scheduler places all of them.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rb_counted  # noqa: E402 - bench/rb_counted.py, next to this script

ap = argparse.ArgumentParser(prog="bench/repl_steady.py")
ap.add_argument("--rounds", type=int, default=10)
ap.add_argument("--seconds", type=float, default=5.0)
ap.add_argument("--warmup", type=float, default=1.5)
ap.add_argument("--no-pin", action="store_true")
ap.add_argument("binaries", nargs="+")
args = ap.parse_args()
PIN = not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
TICK = os.sysconf("SC_CLK_TCK")
TMP = tempfile.mkdtemp(prefix="repl_steady.")
PROCS = []
SECRET = os.urandom(8).hex()


def free_ports(n):
    """'n' consecutive free ports whose bus ports (+10000) are free too."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
        s.close()
        if base + n + 10000 > 65535:
            continue
        ok = True
        for p in [base + i for i in range(n)] + [base + 10000 + i for i in range(n)]:
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return base
    sys.exit("no free ports")


def wait(cond, what, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    sys.exit("timed out waiting for " + what)


def info(port, section):
    try:
        out = subprocess.run(["redis-cli", "-p", str(port), section[0]] + section[1:],
                             capture_output=True, text=True, timeout=5).stdout
    except subprocess.TimeoutExpired:
        return ""
    return out


def cpu_seconds(pid):
    """User + system CPU seconds of process 'pid' (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_busy():
    """{cpu index: (busy ticks, all ticks)} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *v = line.split()
                v = [int(x) for x in v]
                idle = v[3] + v[4]  # idle + iowait
                out[int(name[3:])] = (sum(v[:8]) - idle, sum(v[:8]))
    return out


def cluster(binary, replicas):
    base = free_ports(3)
    ports = [base + i for i in range(3)]
    pids = []
    for i, p in enumerate(ports):
        d = os.path.join(TMP, str(p))
        os.mkdir(d)
        cmd = ([binary, "--port", str(p), "--cluster-port", str(p + 10000), "--dir", d,
                "--logfile", os.path.join(d, "log"), "--cluster-secret", SECRET,
                "--cluster-replicas", str(replicas)] + (["--join", "127.0.0.1:%d" % base] if i else []))
        PROCS.append(subprocess.Popen((["taskset", "-c", "1"] if PIN else []) + cmd,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        pids.append(PROCS[-1].pid)  # taskset execs the node: the same process
        wait(lambda: "PONG" in info(p, ["PING"]), "node %d" % p)
        n = i + 1
        wait(lambda: "cluster_known_nodes:%d" % n in info(base, ["CLUSTER", "INFO"]) and
             "cluster_state:ok" in info(base, ["CLUSTER", "INFO"]), "%d members" % n)
    for p in ports:  # every node agrees, every slot served
        wait(lambda: "cluster_state:ok" in info(p, ["CLUSTER", "INFO"]), "node %d ok" % p)
    return ports, pids


def rate(target):
    """(SET/s, server CPU us per SET, {cpu: busy fraction}, client CPU
    fraction) counted on the cluster 'target' (ports, pids) over
    args.seconds, after args.warmup, in the middle of one long
    redis-benchmark run."""
    ports, pids = target
    socks = [socket.create_connection(("127.0.0.1", p)) for p in ports]
    bench = subprocess.Popen((["taskset", "-c", "0"] if PIN else []) +
                             ["redis-benchmark", "--cluster", "-h", "127.0.0.1", "-p", str(ports[0]), "-t",
                              "set", "-P", "16", "-n", "1000000000", "-c", "50", "-r", "100000", "-d", "16",
                              "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(args.warmup)
        a, t0 = rb_counted.calls(socks, "set"), time.monotonic()
        sa, ca, ba = sum(cpu_seconds(p) for p in pids), cpu_seconds(bench.pid), cpu_busy()
        time.sleep(args.seconds)
        z, t1 = rb_counted.calls(socks, "set"), time.monotonic()
        sz, cz, bz = sum(cpu_seconds(p) for p in pids), cpu_seconds(bench.pid), cpu_busy()
    finally:
        bench.terminate()
        bench.wait()
        for s in socks:
            s.close()
    time.sleep(0.5)
    busy = {c: (bz[c][0] - ba[c][0]) / max(1, bz[c][1] - ba[c][1]) for c in bz}
    return (z - a) / (t1 - t0), (sz - sa) * 1e6 / max(1, z - a), busy, (cz - ca) / (t1 - t0)


def main():
    try:
        targets = [("R=1 %s" % b, cluster(b, 1)) for b in args.binaries]
        targets.append(("R=0 %s" % args.binaries[0], cluster(args.binaries[0], 0)))
        print("# %s, load %.2f %.2f %.2f; bench/repl_steady.py --rounds %d --seconds %g; pinning: %s" %
              ((time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),) + os.getloadavg() +
               (args.rounds, args.seconds, "servers CPU 1, redis-benchmark CPU 0" if PIN else "none")))
        for _, t in targets:  # warm-up: keys created, tables grown
            rate(t)
        res = {name: [] for name, _ in targets}
        where = {name: [] for name, _ in targets}
        for r in range(args.rounds):
            # the order rotated by one each round: no cluster always runs first
            got = {}
            for i in range(len(targets)):
                name, t = targets[(i + r) % len(targets)]
                got[name] = rate(t)
            line = []
            for name, _ in targets:
                x = got[name]
                res[name].append(x[0])
                where[name].append(x[1:])
                line.append("%s %.0f" % (name, res[name][-1]))
            print("round %d: %s" % (r + 1, "; ".join(line)), flush=True)
        r0 = res[targets[-1][0]]
        print()
        print("| cluster | median SET/s | R1/R0 of each round: median [min-max] |")
        print("|---|---|---|")
        for name, _ in targets:
            v = res[name]
            q = [a / b for a, b in zip(v, r0)]
            print("| %s | %.0f | %s |" % (name, statistics.median(v), "-" if name == targets[-1][0] else
                                          "%.3f [%.3f-%.3f]" % (statistics.median(q), min(q), max(q))))
        print()
        print("| cluster | servers' CPU us per SET | CPU 0 busy | CPU 1 busy | client CPU (all threads) |")
        print("|---|---|---|---|---|")
        for name, _ in targets:
            w = where[name]
            print("| %s | %.3f | %.0f %% | %.0f %% | %.0f %% |" %
                  (name, statistics.median(x[0] for x in w), 100 * statistics.median(x[1].get(0, 0) for x in w),
                   100 * statistics.median(x[1].get(1, 0) for x in w), 100 * statistics.median(x[2] for x in w)))
        u1, u0 = where[targets[0][0]], where[targets[-1][0]]
        print("\nservers' CPU per SET, R=1 over R=0, round by round: median %.3f" %
              statistics.median(a[0] / b[0] for a, b in zip(u1, u0)))
        if len(args.binaries) > 1:
            first = res[targets[0][0]]
            for name, _ in targets[1:-1]:
                q = [a / b for a, b in zip(first, res[name])]
                c = [a[0] / b[0] for a, b in zip(u1, where[name])]
                print("\n%s against %s, round by round: SET/s median %.3f [%.3f-%.3f]; servers' CPU per SET"
                      " median %.3f [%.3f-%.3f]" % (targets[0][0], name, statistics.median(q), min(q), max(q),
                                                    statistics.median(c), min(c), max(c)))
    finally:
        for p in PROCS:
            p.terminate()
        for p in PROCS:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(TMP, ignore_errors=True)


main()
