#!/usr/bin/python3
"""Issue 5: a seeded chaos run. Five nodes take kill -9, SIGSTOP/SIGCONT,
restarts with their dir and fresh joins at random for RC_CHAOS_SECONDS
(45 s), while a client pipelines SET/GET/MGET through random live nodes.
Asserts: no request hangs (every batch answers, errors allowed while the
table changes), no node crashes or trips a sanitizer (teardown checks every
exit code and log), every live node agrees on one membership afterwards,
and keys written then read back through every node. Replay a failure with
RC_CHAOS_SEED=<seed printed>."""

import os
import random
import threading
import time

import redis

import rccluster
import rctest
from rctest import test


@test
def test_chaos_kill_stop_restart_join_under_load(t):
    seed = int(os.environ.get("RC_CHAOS_SEED", "20261128"))
    seconds = float(os.environ.get("RC_CHAOS_SECONDS", "45"))
    print("chaos seed %d, %.0f s" % (seed, seconds))
    rnd = random.Random(seed)
    crnd = random.Random(seed + 1)  # the client's own stream: the schedule replays alike
    nodes = rccluster.start_cluster(t, 5)
    stop = time.monotonic() + seconds
    stats = {"ok": 0, "err": 0, "hang": 0}
    live = list(nodes)
    paused = []
    lock = threading.Lock()

    def client():
        i = 0
        while time.monotonic() < stop:
            with lock:
                srv = crnd.choice(live)
            r = redis.Redis(host=srv.host, port=srv.port,
                            socket_timeout=10 * rctest.timeout_scale(),
                            socket_connect_timeout=2)
            try:
                p = r.pipeline(transaction=False)
                for j in range(40):
                    p.set("ch:%d" % ((i + j) % 4000), "v%d" % (i + j))
                    p.get("ch:%d" % ((i + 7 * j) % 4000))
                p.mget(["ch:%d" % k for k in range(i % 400, 4000, 400)])
                p.execute(raise_on_error=False)
                stats["ok"] += 1
            except redis.exceptions.TimeoutError:
                stats["hang"] += 1
            except (redis.exceptions.ConnectionError, OSError):
                stats["err"] += 1  # a killed or frozen-then-removed node
            finally:
                r.close()
            i += 40

    th = threading.Thread(target=client, daemon=True)
    th.start()
    while time.monotonic() < stop:
        time.sleep(rnd.uniform(0.3, 1.2))
        with lock:
            ready = [s for s in live if s.alive() and s not in paused]
        act = rnd.random()
        if act < 0.25 and len(ready) > 3:
            v = rnd.choice(ready)
            rctest.kill_node(v)
            t.expect_dead.add(id(v))
            with lock:
                live.remove(v)
            print("kill -9 %d" % v.port)
        elif act < 0.45 and len(ready) > 3 and not paused:
            v = rnd.choice(ready)
            rctest.pause_node(v)
            paused.append(v)
            print("SIGSTOP %d" % v.port)
        elif act < 0.65 and paused:
            v = paused.pop()
            rctest.resume_node(v)
            print("SIGCONT %d" % v.port)
        elif act < 0.85 and len(live) < 6:
            seed_node = rnd.choice(ready)
            n = rccluster._start_one(t, join=seed_node)
            with lock:
                live.append(n)
            print("join %d through %d" % (n.port, seed_node.port))
        elif ready:
            v = rnd.choice(ready)
            rctest.kill_node(v)
            v.exitcode = None
            v.spawn()
            v.wait_ready()
            print("restart %d with its dir" % v.port)
    for v in paused:
        rctest.resume_node(v)
    th.join(60 * rctest.timeout_scale())
    assert not th.is_alive(), "the client is stuck"
    print("client batches: %(ok)d answered, %(err)d connection errors, %(hang)d hung" % stats)
    assert stats["hang"] == 0, stats
    assert stats["ok"] > 0, stats
    survivors = [s for s in live if s.alive()]
    rccluster.wait_agree(survivors, timeout=40 * rctest.timeout_scale())
    # the settled cluster serves every key through every node
    first = survivors[0].client()
    for k in range(300):
        first.set("after:%d" % k, "x%d" % k)
    for s in survivors:
        cl = s.client()
        got = cl.mget(["after:%d" % k for k in range(300)])
        assert got == [("x%d" % k).encode() for k in range(300)], s.port


if __name__ == "__main__":
    rctest.run()
