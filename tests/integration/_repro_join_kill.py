#!/usr/bin/python3
"""Local repro loop (not committed): join J at R=1, kill -9 J right after it
serves its first slots, count repl_slots_lost."""
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
import rccluster, rctest, handoff_load as hl

N = int(os.environ.get("N", "60"))
t = rctest.TestCtx("repro")
extra = ["--cluster-replicas", "1", "--loglevel", "verbose"]
ok = False
try:
    cl = rccluster.start_cluster(t, 4, extra=extra)
    keys = ["k:%05d" % i for i in range(3000)]
    c = cl[0].client()
    for k in keys:
        c.set(k, "v")
    import threading, random
    stop = threading.Event()
    def writer(srv, seed):
        r = random.Random(seed)
        cc = srv.client(socket_timeout=5)
        while not stop.is_set():
            try:
                p = cc.pipeline(transaction=False)
                for _ in range(20):
                    p.set(r.choice(keys), "x%d" % r.randrange(1000))
                p.execute(raise_on_error=False)
            except Exception:
                time.sleep(0.01)
    ths = [threading.Thread(target=writer, args=(s, i), daemon=True) for i, s in enumerate(cl)]
    for th in ths:
        th.start()
    def lost():
        tot = 0
        for s in cl:
            r = rctest.parse_info(rctest.parse_reply(rctest.RawConn(s.host, s.port, timeout=5).call("INFO", "replication")))
            tot += int(r.get("repl_slots_lost", 0))
        return tot
    for i in range(N):
        j = rccluster.join_node(t, cl, extra=extra, wait=True)
        delay = (i % 10) * 0.004
        def serves():
            try:
                return any(p[:1] == (j.port,) for p in hl.slot_copies(j))
            except Exception:
                return False
        rctest.wait_for(serves, timeout=20, interval=0.001, what="j serves")
        time.sleep(delay)
        rctest.kill_node(j)
        t.expect_dead.add(id(j))
        rccluster.wait_agree(cl, timeout=20)
        hl.wait_settled(cl, timeout=30)
        n = lost()
        print("iter %d delay %.3f lost %d" % (i, delay, n), flush=True)
        if n:
            print("REPRO: logs kept in", [s.dir for s in cl + [j]])
            os.environ["RC_KEEP_TMP"] = "1"
            break
    ok = True
    stop.set()
finally:
    stop.set()
    t.teardown(not ok)
