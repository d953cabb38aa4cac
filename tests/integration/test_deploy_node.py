"""What a container or service manager relies on (issue 15): the health
probe (`ringcached --probe live|ready [host:]port`) and `--join` by a DNS
name, resolved on the loop and retried while the name or the seed is not
there yet. Real nodes on loopback; `localhost` comes from /etc/hosts."""

import os
import subprocess
import time

import rccluster
import rctest
from rctest import test, wait_for


def probe(mode, target, password=None, timeout=10):
    """Runs the probe; returns (exit code, stderr, seconds it took)."""
    env = dict(os.environ)
    env.pop("RINGCACHE_PASSWORD", None)
    if password is not None:
        env["RINGCACHE_PASSWORD"] = password
    argv = [rctest.ringcached_path(), "--probe", mode]
    if target is not None:
        argv.append(str(target))
    t0 = time.monotonic()
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr.strip(), time.monotonic() - t0


def refused_port():
    """A free port nobody listens on."""
    return rctest.free_port()


@test
def test_probe_live_and_ready_on_a_serving_node(t):
    nodes = rccluster.start_cluster(t, 2)
    for n in nodes:
        for mode in ("live", "ready"):
            rc, err, _ = probe(mode, "127.0.0.1:%d" % n.port)
            assert rc == 0, (mode, n.port, err)
            assert err == "", err
    # The port alone means 127.0.0.1; a name works too.
    assert probe("ready", nodes[0].port)[0] == 0
    assert probe("live", "localhost:%d" % nodes[1].port)[0] == 0
    # RINGCACHE_PASSWORD set but empty means no password.
    assert probe("ready", nodes[1].port, password="")[0] == 0


@test
def test_probe_fails_with_a_reason(t):
    port = refused_port()
    rc, err, took = probe("live", "127.0.0.1:%d" % port)
    assert rc == 1 and "cannot connect" in err and "refused" in err.lower(), err
    assert "\n" not in err, err
    rc, err, _ = probe("ready", "127.0.0.1:%d" % port)
    assert rc == 1 and "cannot connect" in err, err
    for bad in (["bogus"], ["live", "127.0.0.1:0"], ["live", "host:"], ["ready", "1:2:x"],
                ["live", "70000"], ["live", "1", "2"]):
        p = subprocess.run([rctest.ringcached_path(), "--probe"] + bad, capture_output=True,
                           text=True, timeout=10)
        assert p.returncode == 1 and p.stderr.startswith("probe: "), (bad, p.returncode, p.stderr)
    # A listener that never answers: bounded by the 2 s timeout.
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        rc, err, took = probe("live", "127.0.0.1:%d" % s.getsockname()[1])
        assert rc == 1 and "2 s" in err, err
        assert took < 4.5, took
    finally:
        s.close()


@test
def test_probe_auth(t):
    srv = t.server(args=["--requirepass", "s3cret"])
    rc, err, _ = probe("live", srv.port)
    assert rc == 1 and "NOAUTH" in err, err
    rc, err, _ = probe("live", srv.port, password="wrong")
    assert rc == 1 and "AUTH failed" in err, err
    assert probe("live", srv.port, password="s3cret")[0] == 0
    assert probe("ready", srv.port, password="s3cret")[0] == 0


@test
def test_joiner_before_its_seed_joins_by_name(t):
    """A joiner started before its seed: live at once but not ready (with a
    reason), and it joins once the seed comes up, through `localhost`."""
    seed_port = rctest.free_port()
    joiner = rccluster._start_one(t, extra=["--join", "localhost:%d" % seed_port])
    rc, err, _ = probe("live", joiner.port)
    assert rc == 0, err
    rc, err, _ = probe("ready", joiner.port)
    assert rc == 1 and "not ready" in err and "cluster_my_role:none" in err, err
    assert "resolved to 127.0.0.1" in joiner.log(), joiner.log()[-2000:]
    # The seed comes up later, on the port the joiner was told.
    d = t.mkdtemp()
    seed = t.server(args=rccluster.node_args(seed_port) + ["--dir", d], port=seed_port)
    rccluster.wait_agree([seed, joiner], timeout=20 * rctest.timeout_scale())
    wait_for(lambda: probe("ready", joiner.port)[0] == 0, timeout=10, interval=0.1,
             what="the joiner ready")
    seed.client().set("k1", "v1")
    assert joiner.client().get("k1") == b"v1"


@test
def test_join_by_name_that_does_not_resolve_yet(t):
    """A name that does not resolve: the node keeps running, logs each
    failed lookup and retries with a growing delay; a bad --join is refused
    at startup."""
    nodes = rccluster.start_cluster(t, 1)
    bad = rccluster._start_one(t, extra=["--join", "no-such-seed.invalid:%d" % nodes[0].port])
    wait_for(lambda: bad.log().count("cannot resolve the --join name 'no-such-seed.invalid'") >= 2,
             timeout=15, interval=0.1, what="two failed lookups logged")
    assert "retrying in 250 ms" in bad.log() and "retrying in 500 ms" in bad.log(), bad.log()[-2000:]
    rc, err, _ = probe("ready", bad.port)
    assert rc == 1 and "not ready" in err, err
    assert probe("live", bad.port)[0] == 0
    # By name, joins a live cluster.
    named = rccluster._start_one(t, extra=["--join", "localhost:%d" % nodes[0].port])
    rccluster.wait_agree(nodes + [named], timeout=20 * rctest.timeout_scale())
    for arg in ("bad name:1", "-x:1", "a" * 300 + ":1", "host:99999", "[::1"):
        srv = rctest.start_server(args=["--join", arg], wait=False)
        t.adopt(srv, expect_dead=True)
        code = srv.wait_exit(timeout=10)
        assert code == 1, (arg, code)
        assert "Bad --join" in srv.log(), (arg, srv.log()[-500:])


if __name__ == "__main__":
    rctest.main()
