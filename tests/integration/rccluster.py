"""Cluster helpers on top of rctest (issue 5): start an N-node cluster on
free ports (bus = port + 10000), join/leave/kill nodes, wait until every node
agrees on the membership, and iptables partitions on loopback.

With --target redis the same helpers build a Redis Cluster (cluster-enabled
redis-servers + `redis-cli --cluster create`), so the tests that make sense
there are checked against the real thing."""

import atexit
import os
import re
import shutil
import subprocess
import time

import rctest

BUS_OFFSET = 10000


def node_args(port, join=None, secret=None, extra=()):
    args = ["--cluster-port", str(port + BUS_OFFSET)]
    if join is not None:
        args += ["--join", "%s:%d" % (join.host, join.port)]
    if secret is not None:
        args += ["--cluster-secret", secret]
    # RC_NODE_ARGS (e.g. "--loglevel verbose") goes to every node: for
    # replaying a failure with more detail.
    return args + list(extra) + os.environ.get("RC_NODE_ARGS", "").split()


def _start_one(t, join=None, secret=None, extra=(), wait=True):
    """One ringcached node with its own dir, retrying on port collisions."""
    last = None
    for _ in range(5):
        port = rctest.free_port()
        d = t.mkdtemp()
        args = node_args(port, join, secret, extra) + ["--dir", d]
        try:
            return t.server(args=args, port=port, wait=wait)
        except AssertionError as e:
            last = e
            if "in use" not in str(e).lower():
                raise
    raise AssertionError("could not start a node: %s" % last)


def _crc16(data):
    """CRC16-XMODEM, as Redis Cluster's key slot."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def keyslot(key):
    """Redis Cluster's slot of 'key' (hash tags included), computed here."""
    if isinstance(key, str):
        key = key.encode()
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return _crc16(key) % 16384


def cluster_info(srv):
    raw = srv.client().execute_command("CLUSTER", "INFO")
    if isinstance(raw, bytes):
        raw = raw.decode()
    if isinstance(raw, dict):
        return {k: str(v) for k, v in raw.items()}
    out = {}
    for line in raw.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def _slots(srv):
    c = rctest.RawConn(srv.host, srv.port, timeout=5)
    try:
        r = rctest.parse_reply(c.call("CLUSTER", "SLOTS"))
    finally:
        c.close()
    rows = []
    for row in r:
        rows.append((row[0], row[1], tuple((n[0].decode(), n[1]) for n in row[2:])))
    return sorted(rows)


def view(srv):
    """(epoch, known nodes, slot table) as this node sees them."""
    info = cluster_info(srv)
    return (info.get("cluster_current_epoch"), info.get("cluster_known_nodes"), _slots(srv))


def slots_covered(table):
    covered = set()
    for lo, hi, _ in table:
        covered.update(range(lo, hi + 1))
    return len(covered)


def agreed(servers):
    try:
        views = [view(s) for s in servers]
    except Exception:
        return False
    if any(v != views[0] for v in views):
        return False
    if rctest.is_redis():
        return True
    if views[0][1] != str(len(servers)) or slots_covered(views[0][2]) != 16384:
        return False
    # Agreed means settled too: no slot is still being handed off, neither
    # in the configuration nor in the data (a hand-over's DONE waits for a
    # takeover's lease bound, so it can end after the transition did).
    try:
        return all(cluster_info(s).get("cluster_in_transition", "0") == "0" and
                   not handing_over(s) for s in servers)
    except Exception:
        return False


def handing_over(srv):
    """True while INFO migration shows a slot that 'srv' awaits from its
    previous server, or hands over to its next one."""
    info = srv.client().execute_command("INFO", "migration")
    if not isinstance(info, dict):  # redis-py parses INFO into a dict
        info = rctest.parse_info(info)
    return any(int(info.get(k, 0) or 0) > 0
               for k in ("migration_slots_awaiting", "migration_slots_outgoing"))


def wait_agree(servers, timeout=10.0):
    """Waits until every node reports the same epoch, member count (= the
    number of servers) and identical CLUSTER SLOTS covering 16384 slots,
    with no hand-off in progress; returns the seconds it took."""
    t0 = time.monotonic()

    def ok():
        return agreed(servers)

    try:
        rctest.wait_for(ok, timeout=timeout, interval=0.02, what="cluster agreement")
    except Exception:
        desc = []
        for s in servers:
            try:
                desc.append("%d: %r" % (s.port, view(s)[:2]))
            except Exception as e:
                desc.append("%d: %s" % (s.port, e))
        raise AssertionError("nodes did not agree within %.1fs: %s" % (timeout, "; ".join(desc)))
    return time.monotonic() - t0


def start_cluster(t, n, secret=None, extra=(), timeout=20.0):
    """Starts an n-node cluster; returns the list of Servers once all agree."""
    if rctest.is_redis():
        return _start_redis_cluster(t, n)
    first = _start_one(t, secret=secret, extra=extra)
    nodes = [first]
    for _ in range(n - 1):
        nodes.append(_start_one(t, join=first, secret=secret, extra=extra))
    wait_agree(nodes, timeout=timeout * rctest.timeout_scale())
    return nodes


def join_node(t, cluster, secret=None, extra=(), wait=True):
    srv = _start_one(t, join=cluster[0], secret=secret, extra=extra, wait=wait)
    return srv


def _start_redis_cluster(t, n):
    nodes = []
    for _ in range(n):
        for _attempt in range(5):
            port = rctest.free_port()
            try:
                srv = t.redis_server(args=["--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
                                           "--cluster-config-file", "nodes-%d.conf" % port],
                                     port=port)
                break
            except AssertionError:
                continue
        nodes.append(srv)
    subprocess.run(["redis-cli", "--cluster", "create"] + ["127.0.0.1:%d" % s.port for s in nodes]
                   + ["--cluster-replicas", "0", "--cluster-yes"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def ok():
        try:
            return all(cluster_info(s).get("cluster_state") == "ok" for s in nodes) and agreed(nodes)
        except Exception:
            return False

    rctest.wait_for(ok, timeout=30, interval=0.05, what="redis cluster ok")
    return nodes


def node_ids(srv, client=None):
    """The names CLUSTER NODES of 'srv' lists, this node's among them
    ('client': a connection to 'srv' to reuse)."""
    text = (client or srv.client()).execute_command("CLUSTER", "NODES")
    text = text.decode() if isinstance(text, bytes) else text
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def wait_reborn(servers, node, old, timeout=20.0):
    """Waits until 'node', restarted with its dir, is a member again as a
    new incarnation: its name is not 'old', every node of 'servers' lists
    it, and none still lists 'old'. Returns the new name.
    A name that differs is not enough: a restarted node is joining, with a
    name of its own, while it and the others still agree on the epoch the
    old incarnation was a member of (wait_agree passes there, and the new
    member's admission then changes the epoch under the test)."""

    def reborn():
        name = node.client().execute_command("CLUSTER", "MYID")
        name = name.decode() if isinstance(name, bytes) else name
        if name == old:
            return None
        views = [node_ids(s) for s in servers]
        return name if all(name in v and old not in v for v in views) else None

    return rctest.wait_for(reborn, timeout=timeout,
                           what="%d back as a member under a new name, %s gone" % (node.port, old))


def leave(srv, timeout=10.0):
    """Graceful leave by SIGTERM; returns the exit code."""
    return srv.stop(timeout=timeout)


def kill(srv):
    rctest.kill_node(srv)


# -- iptables partitions -----------------------------------------------------
_RULES = []
KEEP_COMMENT = "rccluster-keep"  # partition_group()'s ACCEPT rules
OUT_COMMENT = "rccluster-out"  # partition(both_ways=True)'s drops of what a node sends


def iptables_usable():
    """None when usable, else why not (the partition test then fails)."""
    if os.geteuid() != 0:
        return "not root: iptables partition tests need root"
    if shutil.which("iptables") is None:
        return "iptables is not installed"
    r = subprocess.run(["iptables", "-w", "-L", "INPUT", "-n"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        return "iptables does not work here: %s" % r.stderr.decode(errors="replace").strip()
    # partition(both_ways=True) matches what a node sends by its group id
    probe = ["OUTPUT", "-o", "lo", "-m", "owner", "--gid-owner", str(rctest.node_gid(0)),
             "-m", "comment", "--comment", "rccluster-probe", "-j", "ACCEPT"]
    r = subprocess.run(["iptables", "-w", "-I"] + probe, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        return "iptables' owner match does not work here: %s" % (
            r.stderr.decode(errors="replace").strip())
    subprocess.run(["iptables", "-w", "-D"] + probe, check=True)
    return None


def _rule(port, direction):
    flag = "--dport" if direction == "d" else "--sport"
    return ["INPUT", "-i", "lo", "-p", "tcp", flag, str(port), "-j", "DROP"]


def _insert(rule):
    subprocess.run(["iptables", "-w", "-I"] + rule, check=True)
    _RULES.append(rule)


def partition(srv, client=True, both_ways=False):
    """Drops all loopback TCP to and from srv's bus port, and its client
    port too unless 'client' is False (clients can still talk to it; every
    node-to-node message goes to the receiver's bus port, so it is cut off
    from the cluster either way).

    That cut is one way: what the node sends over the connections it opened
    itself (its control link, its data links: replication, hand-off,
    forwarding) still gets through, and so do the replies to it. With
    'both_ways' every packet the node sends is dropped too (iptables' owner
    match on its group id, rctest.node_gid), but for its replies to clients
    when 'client' is False: it can neither reach the others nor hear them."""
    for port in ((srv.port, srv.port + BUS_OFFSET) if client else (srv.port + BUS_OFFSET,)):
        for d in ("d", "s"):
            _insert(_rule(port, d))
    if both_ways:
        rule = ["OUTPUT", "-o", "lo", "-p", "tcp", "-m", "owner", "--gid-owner",
                str(rctest.node_gid(srv.port))]
        if not client:
            rule += ["!", "--sport", str(srv.port)]
        _insert(rule + ["-m", "comment", "--comment", OUT_COMMENT, "-j", "DROP"])


def _established(pids):
    """(local port, peer port) of the established loopback TCP connections
    owned by the processes 'pids' (ss -tnp: pids need root)."""
    out = subprocess.run(["ss", "-tnpH", "state", "established"], check=True,
                         stdout=subprocess.PIPE).stdout.decode(errors="replace")
    conns = []
    for line in out.splitlines():
        f = line.split()
        if len(f) < 5:
            continue
        owners = {int(p) for p in re.findall(r"pid=(\d+)", " ".join(f[4:]))}
        if owners & set(pids):
            conns.append((int(f[2].rsplit(":", 1)[1]), int(f[3].rsplit(":", 1)[1])))
    return conns


def partition_group(servers, client=False, both_ways=False):
    """A minority partition of 'servers': partition() of each (the other
    nodes' messages to them are dropped, and with 'both_ways' theirs to the
    others), except that the bus connections already established between
    two of them stay up (ACCEPT rules for their exact ports, ahead of the
    drops), so the group still talks inside itself; a connection between
    them opened later is dropped like the rest. Returns the kept connections
    as (port, port) pairs; kept_packets() counts what crossed them since."""
    bus = {s.port + BUS_OFFSET for s in servers}
    keep = sorted({(lp, pp) for lp, pp in _established([s.proc.pid for s in servers])
                   if pp in bus})
    for s in servers:
        partition(s, client=client, both_ways=both_ways)
    for lp, pp in keep:
        for a, b in ((lp, pp), (pp, lp)):
            _insert(["INPUT", "-i", "lo", "-p", "tcp", "--sport", str(a), "--dport", str(b),
                     "-m", "comment", "--comment", KEEP_COMMENT, "-j", "ACCEPT"])
            if both_ways:
                _insert(["OUTPUT", "-o", "lo", "-p", "tcp", "--sport", str(a), "--dport",
                         str(b), "-j", "ACCEPT"])
    return keep


def drop_sent(srv, strings, to=None):
    """Drops every loopback TCP packet that node 'srv' sends (iptables'
    owner match on its group id, rctest.node_gid) carrying any of
    'strings' (iptables' string match), or only those to node 'to''s bus
    port: requests of one kind, say RCMIGRATE KEEP, never arrive, while
    the rest of its traffic flows. sent_dropped() counts the drops; heal()
    removes the rules."""
    dst = ["--dport", str(to.port + BUS_OFFSET)] if to is not None else []
    for text in strings:
        _insert(["OUTPUT", "-o", "lo", "-p", "tcp"] + dst +
                ["-m", "owner", "--gid-owner", str(rctest.node_gid(srv.port)), "-m", "string",
                 "--algo", "bm", "--string", text, "-m", "comment", "--comment", OUT_COMMENT,
                 "-j", "DROP"])


def drop_received(port, hex_string):
    """Drops every loopback TCP packet to the bus port of the node on
    client port 'port' (it may not run yet) that carries the bytes
    'hex_string' (iptables' --hex-string form, "|0a0b|"). Returns the rule,
    for lift(); heal() removes it too."""
    rule = ["INPUT", "-i", "lo", "-p", "tcp", "--dport", str(port + BUS_OFFSET), "-m", "string",
            "--algo", "bm", "--hex-string", hex_string, "-j", "DROP"]
    _insert(rule)
    return rule


def lift(rule):
    """Removes one rule _insert() put in place (heal() removes them all)."""
    subprocess.run(["iptables", "-w", "-D"] + rule, check=True)
    _RULES.remove(rule)


def _counted(chain, comment):
    out = subprocess.run(["iptables", "-w", "-L", chain, "-n", "-v", "-x"], check=True,
                         stdout=subprocess.PIPE).stdout.decode(errors="replace")
    return sum(int(line.split()[0]) for line in out.splitlines() if comment in line)


def kept_packets():
    """Packets accepted by partition_group()'s rules still in place (on
    this machine: any run's)."""
    return _counted("INPUT", KEEP_COMMENT)


def sent_dropped():
    """Packets that cut-off nodes sent and partition(both_ways=True)'s
    rules still in place dropped (on this machine: any run's)."""
    return _counted("OUTPUT", OUT_COMMENT)


def heal():
    while _RULES:
        rule = _RULES.pop()
        subprocess.run(["iptables", "-w", "-D"] + rule, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


atexit.register(heal)


def cut_links(src, dst):
    """Aborts (ss -K: a reset to the peer) every TCP connection node 'src'
    opened to node 'dst''s bus port: its data links (replication stream,
    forwarding) and its control link. Returns how many it cut."""
    bus = "%s:%d" % (dst.host, dst.port + BUS_OFFSET)
    out = subprocess.run(["ss", "-tnpH", "state", "established", "dst", bus],
                         capture_output=True, text=True, check=True).stdout
    ports = [int(line.split()[2].rsplit(":", 1)[1]) for line in out.splitlines()
             if "pid=%d," % src.pid in line]
    for sport in ports:
        subprocess.run(["ss", "-K", "-tn", "state", "established", "src",
                        "%s:%d" % (src.host, sport), "dst", bus],
                       capture_output=True, check=True)
    return len(ports)
