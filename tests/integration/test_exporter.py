#!/usr/bin/python3
"""prometheus-redis-exporter (Debian's package, unchanged) against a real
three-node ringcache cluster (issue 15): started with -is-cluster on the
first node and a free port, its /metrics must show the node up with no
scrape error, the metrics that come from INFO (clients, memory, keyspace),
CLUSTER INFO (state, known nodes, slots), INFO commandstats (SET calls grow
as SETs run), SLOWLOG (length) and LATENCY LATEST (a spike), and its
cluster client (CLUSTER SLOTS, redisc) must reach all three nodes: the
keys it checks live on the other two, and their owners count its reads.

The exporter sends, per scrape (found with -debug; against redis-server
MONITOR shows the same): CLIENT SETNAME, CONFIG GET *, INFO ALL, CLUSTER
INFO (cluster_enabled:1), SLOWLOG LEN, SLOWLOG GET 1, LATENCY LATEST and,
for checked keys, TYPE, GET/STRLEN and PFCOUNT (HyperLogLog: not a
ringcache type, answered as an unknown command, which the exporter skips).

Run: RINGCACHED=build/release/node/ringcached python3 test_exporter.py
"""

import os
import re
import shutil
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rccluster  # noqa: E402
import rctest  # noqa: E402
from rctest import is_redis, parse_info, parse_reply, test, wait_for  # noqa: E402

EXPORTER = shutil.which("prometheus-redis-exporter") or "/usr/bin/prometheus-redis-exporter"


def value(conn, *args):
    return parse_reply(conn.call(*args))


class Exporter:
    """One prometheus-redis-exporter process on a free port, stopped by PID."""

    def __init__(self, t, addr, extra):
        assert os.path.exists(EXPORTER), "%s is missing: run scripts/setup.sh" % EXPORTER
        self.port = rctest.free_port()
        self.logpath = os.path.join(t.mkdtemp(), "exporter.log")
        self.log = open(self.logpath, "w")
        argv = [EXPORTER, "-redis.addr", addr, "-web.listen-address", "127.0.0.1:%d" % self.port,
                "-redis-only-metrics"] + list(extra) + (["-debug"] if os.environ.get("RC_EXPORTER_DEBUG") else [])
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def scrape(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port, timeout=20) as r:
            return r.read().decode()

    def try_scrape(self):
        try:
            return self.scrape()
        except OSError:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        with open(self.logpath) as f:
            return f.read()


def metric(text, name, labels=None):
    """The value of one sample ('name{labels}' exactly, or 'name' with no
    labels), or None."""
    key = name if labels is None else "%s{%s}" % (name, labels)
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        k, _, v = line.rpartition(" ")
        if k == key:
            return float(v)
    return None


def owner_keys(nodes, n_per_node=2):
    """Keys owned by each node, by CLUSTER SLOTS: {node index: [keys]}."""
    c = nodes[0].raw()
    slots = value(c, "CLUSTER", "SLOTS")
    port_of = {}
    for rng in slots:
        for s in range(rng[0], rng[1] + 1):
            port_of[s] = rng[2][1]
    out = {i: [] for i in range(len(nodes))}
    index = {srv.port: i for i, srv in enumerate(nodes)}
    i = 0
    while any(len(v) < n_per_node for v in out.values()):
        k = "exp:%d" % i
        i += 1
        owner = index[port_of[rccluster.keyslot(k)]]
        if len(out[owner]) < n_per_node:
            out[owner].append(k)
    return out


def calls(srv, cmd):
    line = parse_info(value(srv.raw(), "INFO", "commandstats")).get("cmdstat_" + cmd, "")
    m = re.search(r"calls=(\d+)", line)
    return int(m.group(1)) if m else 0


@test
def test_exporter_is_cluster(t):
    if is_redis():
        return  # written for ringcache: the cluster is three ringcached nodes
    nodes = rccluster.start_cluster(t, 3)
    first = nodes[0]
    c = first.raw()
    keys = owner_keys(nodes)
    for i, ks in keys.items():
        for k in ks:
            assert value(c, "SET", k, "value-of-" + k) == b"OK"
    for i in range(100):
        assert value(c, "SET", "fill:%d" % i, "x") == b"OK"
    assert value(c, "CONFIG", "SET", "slowlog-log-slower-than", "0") == b"OK"
    checked = keys[1] + keys[2]  # owned by the other two nodes
    type_before = [calls(n, "type") for n in nodes]

    exp = Exporter(t, "redis://127.0.0.1:%d" % first.port,
                   ["-is-cluster", "-check-single-keys", ",".join(checked)])
    try:
        text = wait_for(exp.try_scrape, timeout=30, what="the exporter's /metrics")
        assert metric(text, "redis_up") == 1, text[:2000]
        assert metric(text, "redis_exporter_last_scrape_error", 'err=""') == 0, \
            [ln for ln in text.splitlines() if "scrape_error" in ln]
        # INFO.
        assert metric(text, "redis_connected_clients") >= 1
        assert metric(text, "redis_memory_used_bytes") > 0
        assert metric(text, "redis_db_keys", 'db="db0"') == value(c, "DBSIZE")
        assert metric(text, "redis_uptime_in_seconds") is not None
        # CLUSTER INFO.
        assert metric(text, "redis_cluster_state") == 1
        assert metric(text, "redis_cluster_known_nodes") == 3
        assert metric(text, "redis_cluster_size") == 3
        assert metric(text, "redis_cluster_slots_assigned") == 16384
        assert metric(text, "redis_cluster_slots_ok") == 16384
        # SLOWLOG (everything is logged on the first node now).
        assert metric(text, "redis_slowlog_length") >= 1
        assert metric(text, "redis_slowlog_last_id") is not None
        # INFO commandstats: SETs counted, and they grow.
        sets = metric(text, "redis_commands_total", 'cmd="set"')
        assert sets is not None and sets >= 106, sets
        assert metric(text, "redis_commands_duration_seconds_total", 'cmd="set"') > 0
        for i in range(25):
            value(c, "SET", "more:%d" % i, "y")
        text = exp.scrape()
        assert metric(text, "redis_commands_total", 'cmd="set"') == sets + 25
        # INFO latencystats: a summary per command.
        assert metric(text, "redis_latency_percentiles_usec_count", 'cmd="set"') == sets + 25
        p50 = metric(text, "redis_latency_percentiles_usec", 'cmd="set",quantile="50"')
        p999 = metric(text, "redis_latency_percentiles_usec", 'cmd="set",quantile="99.9"')
        assert p50 is not None and 0 < p50 <= p999, (p50, p999)
        # LATENCY LATEST: a 1 ms threshold and a GET of 16 MB.
        assert value(c, "CONFIG", "SET", "latency-monitor-threshold", "1") == b"OK"
        big = keys[0][0]
        r = value(c, "SET", big, "z" * (16 * 1024 * 1024))
        assert r == b"OK", r

        def spike():
            value(c, "GET", big)
            txt = exp.scrape()
            v = metric(txt, "redis_latency_spike_duration_seconds", 'event_name="fast-command"')
            return txt if v is not None and v >= 0.001 else None

        text = wait_for(spike, timeout=60, what="a latency spike in the exporter's metrics")
        assert metric(text, "redis_latency_spike_last", 'event_name="fast-command"') > 1600000000
        # Discovery: the cluster client bound its connection to the owner
        # of the first checked key, found through CLUSTER SLOTS (the node
        # it was given owns none of them): the owner counts the reads as
        # its own clients' (a read forwarded by another node would not).
        assert calls(nodes[1], "type") > type_before[1], calls(nodes[1], "type")
        for k in checked:
            assert metric(text, "redis_key_size", 'db="db0",key="%s"' % k) == len("value-of-" + k), k
        # With redirects on (the Redis Cluster way) it follows MOVED to the
        # third node too: all three nodes serve the exporter.
        before = [calls(n, "type") for n in nodes]
        for n in nodes:
            assert value(n.raw(), "CONFIG", "SET", "cluster-redirects", "yes") == b"OK"
        text = exp.scrape()
        after = [calls(n, "type") for n in nodes]
        assert after[1] > before[1] and after[2] > before[2], (before, after)
        for k in checked:
            assert metric(text, "redis_key_size", 'db="db0",key="%s"' % k) == len("value-of-" + k), k
        assert metric(text, "redis_up") == 1
        assert metric(text, "redis_exporter_last_scrape_error", 'err=""') == 0
    finally:
        log = exp.stop()
        if os.environ.get("RC_EXPORTER_DEBUG"):
            with open(os.environ["RC_EXPORTER_DEBUG"], "w") as f:
                f.write(log)
    errors = [ln for ln in log.splitlines() if "level=error" in ln or "level=fatal" in ln]
    assert not errors, errors[:10]
    for n in nodes:
        assert n.ping_fresh()


if __name__ == "__main__":
    rctest.main()
