#!/usr/bin/python3
"""The built-in Prometheus endpoint (issue 15, node/metrics): a 3-node
cluster with metrics-port on every node, scraped over HTTP; `promtool check
metrics` on every body; values checked against CLUSTER INFO and against
what the test did (forwarded requests, a kill -9, a joining fourth node).
Bad requests get their status or are closed by the deadline while the node
goes on serving; metrics-port 0 listens on nothing. test_alert_rules runs
`promtool check rules` and `promtool test rules` on deploy/prometheus/.

Run: RINGCACHED=build/release/node/ringcached python3 test_metrics.py [-k name]
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rccluster  # noqa: E402
import rctest  # noqa: E402
from rctest import test, wait_for  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PROMTOOL = "/usr/bin/promtool"  # Debian package prometheus (scripts/setup.sh)
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape_raw(port, path="/metrics", method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, dict(r.headers), r.read().decode()


def parse(body):
    """{'name{labels}': float} of every sample line."""
    out = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "bad sample line %r" % line
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def promtool_check(body):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=body.encode(), capture_output=True,
                       timeout=30)
    complaint = (p.stdout + p.stderr).decode().strip()
    assert p.returncode == 0 and complaint == "", "promtool check metrics: rc %d: %s" % (
        p.returncode, complaint)


def scrape(port):
    status, headers, body = scrape_raw(port)
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8", headers
    promtool_check(body)
    return parse(body)


def metric_node(t, join=None):
    """A cluster node with a metrics port of its own: (server, metrics port)."""
    for _ in range(5):
        mport = rctest.free_port()
        try:
            srv = rccluster._start_one(t, join=join, extra=["--metrics-port", str(mport)])
            return srv, mport
        except AssertionError as e:
            if "in use" not in str(e).lower() and "metrics" not in str(e).lower():
                raise
    raise AssertionError("could not start a node with a metrics port")


def key_owned_elsewhere(srv, prefix):
    """Keys whose slot 'srv' does not serve."""
    table = rccluster._slots(srv)
    mine = set()
    for lo, hi, nodes in table:
        if nodes[0][1] == srv.port:
            mine.update(range(lo, hi + 1))
    return [k for k in ("%s:%d" % (prefix, i) for i in range(2000))
            if rccluster.keyslot(k) not in mine]


@test
def test_endpoint_cluster_values(t):
    first, m0 = metric_node(t)
    nodes, mports = [first], [m0]
    for _ in range(2):
        s, mp = metric_node(t, join=first)
        nodes.append(s)
        mports.append(mp)
    rccluster.wait_agree(nodes, timeout=20 * rctest.timeout_scale())

    served = 0
    for srv, mp in zip(nodes, mports):
        v = scrape(mp)
        info = rccluster.cluster_info(srv)
        assert v["ringcache_cluster_epoch"] == float(info["cluster_current_epoch"]), (v, info)
        assert v["ringcache_cluster_members"] == 3
        assert v["ringcache_cluster_members_alive"] == 3
        assert v["ringcache_cluster_state_ok"] == 1
        assert v['ringcache_cluster_state{state="ok"}'] == 1
        assert v['ringcache_node_role{role="serving"}'] == 1
        assert v['ringcache_node_role{role="filling"}'] == 0
        assert v["ringcache_cluster_in_transition"] == 0
        assert v["ringcache_slots_unserved"] == 0
        assert v["ringcache_slots_degraded"] == 0
        assert v["ringcache_paxos_decisions_total"] >= 1
        myid = srv.client().execute_command("CLUSTER", "MYID")
        myid = myid.decode() if isinstance(myid, bytes) else myid
        info_keys = [k for k in v if k.startswith("ringcache_node_info{")]
        assert len(info_keys) == 1 and 'id="%s"' % myid in info_keys[0], info_keys
        assert 'addr="127.0.0.1:%d"' % srv.port in info_keys[0], info_keys
        served += v["ringcache_slots_served"]
    assert served == 16384, served
    # Somebody proposed the joins: its decision histogram has them.
    hist = [scrape(mp)["ringcache_paxos_decision_duration_seconds_count"] for mp in mports]
    assert sum(hist) >= 2, hist

    # Requests sent to a node that does not own their keys are forwarded.
    body0 = scrape(m0)
    before = body0["ringcache_forwarded_requests_total"]
    before_sets = body0.get('ringcache_command_calls_total{cmd="set"}', 0)
    c = first.client()
    keys = key_owned_elsewhere(first, "fwd")[:50]
    for k in keys:
        assert c.set(k, "v")
    after = scrape(m0)
    assert after["ringcache_forwarded_requests_total"] >= before + len(keys), (before, after)
    assert sum(after[k] for k in after if k.startswith("ringcache_forward_errors_total")) == 0
    assert after["ringcache_keys"] >= 0
    # Per-command families (node/cmd's statistics): the SETs above, counted
    # where the client sent them, each in the duration histogram.
    calls = after['ringcache_command_calls_total{cmd="set"}']
    assert calls >= before_sets + len(keys), (before_sets, calls)
    assert after['ringcache_command_duration_seconds_count{cmd="set"}'] == calls
    assert after['ringcache_command_duration_seconds_bucket{cmd="set",le="+Inf"}'] == calls
    edges = sorted((float(k.split('le="')[1].rstrip('"}')), v) for k, v in after.items()
                   if k.startswith('ringcache_command_duration_seconds_bucket{cmd="set"')
                   and "+Inf" not in k)
    assert len(edges) >= 10 and all(a[1] <= b[1] for a, b in zip(edges, edges[1:])), edges
    assert after['ringcache_command_duration_seconds_sum{cmd="set"}'] > 0
    assert after['ringcache_command_errors_total{cmd="set",kind="failed"}'] == 0

    # A fourth node joins: the slots it takes over arrive with their keys.
    pipe = c.pipeline(transaction=False)
    for i in range(300):
        pipe.set("h:%d" % i, "x" * 100)
    pipe.execute()
    fourth, m3 = metric_node(t, join=first)
    nodes.append(fourth)
    mports.append(m3)
    rccluster.wait_agree(nodes, timeout=30 * rctest.timeout_scale())
    v3 = scrape(m3)
    assert v3["ringcache_handoff_keys_received_total"] > 0, v3
    assert v3["ringcache_handoff_bytes_received_total"] > 0, v3
    assert v3["ringcache_handoff_slots_received_total"] > 0, v3
    assert v3["ringcache_slots_served"] > 0
    sent = sum(scrape(mp)["ringcache_handoff_keys_sent_total"] for mp in mports[:3])
    assert sent >= v3["ringcache_handoff_keys_received_total"], (sent, v3)

    # kill -9 of one node: the survivors suspect it, ask its removal, and
    # end up with 3 members.
    victim = nodes[2]
    survivors = [(s, mp) for s, mp in zip(nodes, mports) if s is not victim]
    base = {mp: scrape(mp)["ringcache_fd_suspicions_total"] for _, mp in survivors}
    t.adopt(victim, expect_dead=True)
    rctest.kill_node(victim)

    def removed():
        vs = [scrape(mp) for _, mp in survivors]
        return all(v["ringcache_cluster_members"] == 3 and v["ringcache_slots_unserved"] == 0
                   for v in vs) and vs

    vs = wait_for(removed, timeout=30, interval=0.1, what="the killed node removed")
    # A survivor may install the removal before its own detector got to
    # suspect the dead node (the others were quicker): some of them did.
    grew = [v["ringcache_fd_suspicions_total"] - base[mp] for (_, mp), v in zip(survivors, vs)]
    assert all(g >= 0 for g in grew) and sum(grew) >= 1, grew
    assert sum(v["ringcache_fd_removals_requested_total"] for v in vs) >= 1
    # The node goes on serving data while it is scraped.
    assert first.client().ping()


def raw_http(port, data, timeout=10.0):
    """Sends 'data', returns everything the server sends until it closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return got
            got += chunk
    finally:
        s.close()


def status_of(reply):
    line = reply.split(b"\r\n", 1)[0].decode()
    m = re.match(r"HTTP/1\.1 (\d{3}) ", line)
    assert m, "no status line in %r" % reply[:200]
    return int(m.group(1))


@test
def test_endpoint_bad_requests(t):
    srv, mp = metric_node(t)
    ok = raw_http(mp, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(ok) == 200 and b"ringcache_cluster_members 1\n" in ok
    cases = [
        (b"garbage\r\n\r\n", 400),
        (b"\x00\x01\x02\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 405),
        (b"DELETE / HTTP/1.1\r\n\r\n", 405),
        (b"GET /nope HTTP/1.1\r\n\r\n", 404),
        (b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    ]
    for data, want in cases:
        got = raw_http(mp, data)
        assert status_of(got) == want, (data[:40], got[:200])
    head = raw_http(mp, b"HEAD /metrics HTTP/1.1\r\n\r\n")
    assert status_of(head) == 200 and head.endswith(b"\r\n\r\n"), head
    assert b"Content-Length: " in head
    status, _, body = scrape_raw(mp, "/")
    assert status == 200 and "/metrics" in body
    try:
        scrape_raw(mp, "/metrics", method="POST")
        raise AssertionError("POST answered 2xx")
    except urllib.error.HTTPError as e:
        assert e.code == 405

    # A client that sends nothing is closed by the deadline (5 s).
    s = socket.create_connection(("127.0.0.1", mp), timeout=30)
    t0 = time.monotonic()
    assert s.recv(100) == b""
    waited = time.monotonic() - t0
    s.close()
    assert 3.0 <= waited <= 5.0 * rctest.timeout_scale() + 3, waited

    # Past 16 connections at once, new ones are closed at accept; the data
    # path is not affected, and scrapes work again once they go.
    idle = [socket.create_connection(("127.0.0.1", mp), timeout=10) for _ in range(16)]
    wait_for(lambda: scrape_after_idle(srv), timeout=5, what="data path up")
    extra = socket.create_connection(("127.0.0.1", mp), timeout=10)
    t0 = time.monotonic()
    try:
        assert extra.recv(100) == b""
    except ConnectionResetError:
        pass
    assert time.monotonic() - t0 < 3.0
    extra.close()
    for s in idle:
        s.close()
    wait_for(lambda: scrape(mp)["ringcache_cluster_members"] == 1, timeout=10,
             what="scrapes after the idle connections closed")
    assert srv.client().ping()


def scrape_after_idle(srv):
    return srv.client().set("k", "v") and srv.client().get("k") == b"v"


def listening_ports(pid):
    """TCP ports the process 'pid' listens on (IPv4 and IPv6)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    ports = set()
    for table in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and f[9] in inodes:  # LISTEN
                ports.add(int(f[1].rsplit(":", 1)[1], 16))
    return ports


@test
def test_endpoint_off_by_default(t):
    srv = rccluster._start_one(t, extra=["--metrics-port", "0"])
    assert listening_ports(srv.pid) == {srv.port, srv.port + rccluster.BUS_OFFSET}
    on, mp = metric_node(t)
    assert listening_ports(on.pid) == {on.port, on.port + rccluster.BUS_OFFSET, mp}
    cfg = on.client(decode_responses=True).config_get("metrics-port")
    assert cfg == {"metrics-port": str(mp)}, cfg


@test
def test_endpoint_port_in_use_fails_startup(t):
    """A metrics port that cannot be bound stops the node with exit code 1
    and says why, as a client port in use does."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    d = t.mkdtemp()
    try:
        p = subprocess.run([rctest.ringcached_path(), "--port", str(rctest.free_port()),
                            "--metrics-port", str(taken.getsockname()[1]), "--dir", d],
                           capture_output=True, timeout=30 * rctest.timeout_scale(), cwd=d)
    finally:
        taken.close()
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 1, (p.returncode, out[-2000:])
    assert "Cannot start the metrics endpoint" in out, out[-2000:]
    assert "ERROR: AddressSanitizer" not in out and "runtime error" not in out, out[-4000:]


@test
def test_alert_rules(t):
    d = os.path.join(ROOT, "deploy", "prometheus")
    for argv in ([PROMTOOL, "check", "rules", os.path.join(d, "alerts.yaml")],
                 [PROMTOOL, "check", "config", os.path.join(d, "prometheus.yml")],
                 [PROMTOOL, "test", "rules", "alerts_test.yaml"]):
        p = subprocess.run(argv, capture_output=True, timeout=60, cwd=d)
        out = (p.stdout + p.stderr).decode()
        assert p.returncode == 0, "%s: rc %d\n%s" % (" ".join(argv), p.returncode, out)
        assert "FAILED" not in out, out
    # Every alert of alerts.yaml has a test case that fires it.
    alerts = set(re.findall(r"^\s*- alert: (\w+)", open(os.path.join(d, "alerts.yaml")).read(), re.M))
    tested = set(re.findall(r"alertname: (\w+)", open(os.path.join(d, "alerts_test.yaml")).read()))
    assert alerts and alerts <= tested, alerts - tested


if __name__ == "__main__":
    rctest.run()
