#!/usr/bin/python3
"""bench/rb_counted.py: one redis-benchmark run whose req/s is counted on
the servers. Prints "rps p50 p99 own_rps" (own_rps: redis-benchmark's
figure).

redis-benchmark --cluster runs a thread a node, and with threads it
notices the end of a run only on its 250 ms throughput timer, so its own
req/s divides by a length rounded up to a tick: quantized, and low by up
to a tick (10 % of a 2.5 s run; a 0.15 s run reads as 0.25 s). Here the
'test' calls of the given nodes (INFO commandstats: pass the masters, or
every node when there are no replicas) are polled every 50 ms, and req/s
is their rate over the middle 80 % of the run. Without nodes, or when
that window spans less than 0.3 s, it prints redis-benchmark's own.

Usage: rb_counted.py "NODE_PORT..." REDIS_BENCHMARK_ARGS...
  (-n and -t must be among the arguments, as separate words)
bench_repl.sh imports it and calls run()."""
import csv
import re
import socket
import subprocess
import sys
import time


WINDOW_MIN = 0.3  # seconds the middle 80 % must span to be the measure


def calls(socks, test):
    """Calls of command 'test' the nodes ran so far (INFO commandstats)."""
    total = 0
    for s in socks:
        s.sendall(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("node closed the connection")
            buf += chunk
            head = buf.find(b"\r\n")
            if head < 0:
                continue
            if buf[:1] != b"$":
                raise RuntimeError("INFO commandstats answered %r" % buf[:head][:200])
            if len(buf) >= head + 2 + int(buf[1:head]) + 2:
                break
        m = re.search(r"^cmdstat_%s:calls=(\d+)" % re.escape(test), buf.decode(), re.M)
        total += int(m.group(1)) if m else 0
    return total


def run(nodes, args, prefix=(), popen=subprocess.Popen, timeout=120):
    """Runs redis-benchmark with 'args' (--csv is added), behind 'prefix'
    (e.g. taskset), started by 'popen' (a caller that tracks its children
    passes its own); 'nodes': the ports to count on. Returns (rps, p50 ms,
    p99 ms, redis-benchmark's own rps); raises RuntimeError with its last
    lines when it fails."""
    n = int(args[args.index("-n") + 1])
    test = args[args.index("-t") + 1]
    socks = [socket.create_connection(("127.0.0.1", int(x)), timeout=5) for x in nodes]
    try:
        base = calls(socks, test) if socks else 0
        p = popen(list(prefix) + ["timeout", str(timeout), "redis-benchmark"] + list(args) + ["--csv"],
                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        samples = []
        while socks and p.poll() is None:
            samples.append((time.monotonic(), calls(socks, test) - base))
            time.sleep(0.05)
        lines = p.communicate()[0].splitlines()
    finally:
        for s in socks:
            s.close()
    rows = [r for r in csv.reader(lines) if len(r) >= 7 and r[0] != "test"]
    if p.returncode != 0 or len(rows) != 1:
        raise RuntimeError("redis-benchmark %s failed (rc %s): %r" % (" ".join(args), p.returncode, lines[-5:]))
    own = float(rows[0][1])
    rps = own
    mid = [(t, c) for t, c in samples if 0.1 * n <= c <= 0.9 * n]
    if len(mid) >= 2 and mid[-1][0] - mid[0][0] >= WINDOW_MIN:
        rps = (mid[-1][1] - mid[0][1]) / (mid[-1][0] - mid[0][0])
    return rps, float(rows[0][4]), float(rows[0][6]), own


def main():
    try:
        r = run(sys.argv[1].split(), sys.argv[2:])
    except (RuntimeError, OSError) as e:
        sys.exit(str(e))
    print(*r)


if __name__ == "__main__":
    main()
