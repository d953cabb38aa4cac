#!/usr/bin/python3
"""bench/bench_bigvalue.py: SET and GET of big values (16-256 MB) on one
ringcached node and one redis-server, side by side, alternating in each
round; prints each size's median wall time (a raw-socket client sends the
whole SET and reads the whole reply) and ringcache / Redis.

Usage: bench/bench_bigvalue.py [--ringcached PATH] [--sizes 16,64,128,256]
                               [--rounds 3]
The servers run on free loopback ports with a temporary dir and are stopped
by PID at the end."""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("server on port %d exited early" % port)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    sys.exit("server on port %d did not listen" % port)


def one(port, value):
    """(SET ms, GET ms) of 'value' under key 'big', on a fresh connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    cmd = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n" % (len(value), value)
    t0 = time.monotonic()
    s.sendall(cmd)
    reply = s.recv(256)
    t1 = time.monotonic()
    if reply != b"+OK\r\n":
        sys.exit("port %d: SET of %d bytes answered %r" % (port, len(value), reply[:120]))
    s.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n")
    want = len(value) + len(b"$%d\r\n\r\n" % len(value))
    got = 0
    while got < want:
        chunk = s.recv(1 << 20)
        if not chunk:
            sys.exit("port %d closed during GET" % port)
        got += len(chunk)
    t2 = time.monotonic()
    s.close()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--ringcached", default=os.path.join(root, "build/release/node/ringcached"))
    ap.add_argument("--sizes", default="16,64,128,256")
    ap.add_argument("--rounds", type=int, default=3)
    opts = ap.parse_args()
    redis = shutil.which("redis-server")
    if not os.access(opts.ringcached, os.X_OK) or redis is None:
        sys.exit("needs %s and redis-server" % opts.ringcached)
    tmp = tempfile.mkdtemp(prefix="bigvalue-")
    procs = []
    try:
        rp, sp = free_port(), free_port()
        procs.append(subprocess.Popen([opts.ringcached, "--port", str(rp), "--dir", tmp],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(rp, procs[-1])
        procs.append(subprocess.Popen([redis, "--port", str(sp), "--save", "", "--dir", tmp],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(sp, procs[-1])
        print("| MB | ringcache SET ms | Redis SET ms | SET ratio | ringcache GET ms | Redis GET ms |"
              " GET ratio |")
        print("|---|---|---|---|---|---|---|")
        for mb in [int(x) for x in opts.sizes.split(",")]:
            value = b"z" * (mb << 20)
            rc, rd = [], []
            for i in range(opts.rounds):
                order = [(rp, rc), (sp, rd)] if i % 2 == 0 else [(sp, rd), (rp, rc)]
                for port, out in order:
                    out.append(one(port, value))
            m = [statistics.median(x[k] for x in runs) for runs in (rc, rd) for k in (0, 1)]
            print("| %d | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f |" %
                  (mb, m[0], m[2], m[0] / m[2], m[1], m[3], m[1] / m[3]))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
