"""Helpers of the hand-off tests (issue 13): recorded load on a real
cluster, the live-node set clients pick from, preload and ballast loaders,
final reads through every node, and the waits on the `# Migration` INFO
section of the hand-off and the `# Replication` section (issue 14).

Every client operation is recorded in a histcheck.History. Plain clients
(redis.Redis to a random live node, pipelined GET/SET/DEL) and one
redis.cluster.RedisCluster client run in threads until stop(); the scenario
changes the membership meanwhile and waits with timeouts, never fixed
sleeps (progress is "the history grew by N operations")."""

import binascii
import logging
import random
import socket
import threading
import time

import redis
import redis.cluster

import histcheck
import rccluster
import rctest
from histcheck import DELETE, OK, READ, TIMEOUT, WRITE

# RedisCluster logs every connection error it retries (log.exception) and,
# with no handler configured, Python prints them all: what reaches the test
# is in the history instead.
logging.getLogger("redis.cluster").addHandler(logging.NullHandler())
logging.getLogger("redis.cluster").propagate = False


class _RedisCluster(redis.cluster.RedisCluster):
    """redis-py 4.3's NodesManager.initialize() deep-copies its connection
    arguments, which hold a bound method of the client (and so its locks):
    TypeError once a known node is gone (redis/redis-py#2480). The client is
    shared, not copied."""

    def __deepcopy__(self, memo):
        return self

# -- the `# Migration` INFO section ------------------------------------------
# The hand-off's progress as the nodes report it. The names are tentative
# (issue 13): adjust them here, and only here, when the section lands.
MIGRATION_SECTION = "migration"
M_STATE = "migration_state"  # idle | filling | serving
M_IDLE = "idle"
M_SLOTS_IN = "migration_slots_incoming"
M_SLOTS_OUT = "migration_slots_outgoing"
M_KEYS_SENT = "migration_keys_sent"
M_KEYS_RECEIVED = "migration_keys_received"
M_BYTES_SENT = "migration_bytes_sent"
M_BYTES_RECEIVED = "migration_bytes_received"
M_FILLS = "migration_fills_active"


def migration(srv, timeout=None):
    """The node's `# Migration` fields (str -> str), or None when its INFO
    has no such section (a build without the hand-off)."""
    c = rctest.RawConn(srv.host, srv.port, timeout=timeout or 5 * rctest.timeout_scale())
    try:
        text = rctest.parse_reply(c.call("INFO", MIGRATION_SECTION))
    finally:
        c.close()
    if isinstance(text, Exception):
        raise AssertionError("INFO %s: %s" % (MIGRATION_SECTION, text))
    fields = {k: v for k, v in rctest.parse_info(text).items() if k.startswith("migration_")}
    return fields or None


def _n(m, name):
    return int(m.get(name, "0") or 0)


def migration_settled(m):
    """True when 'm' (migration()) says no slot is moving in or out."""
    return (m.get(M_STATE, M_IDLE) == M_IDLE and _n(m, M_SLOTS_IN) == 0
            and _n(m, M_SLOTS_OUT) == 0 and _n(m, M_FILLS) == 0)


def transfer_started(m, role):
    """'m' shows keys moving: as the target ('in': slots incoming and keys
    received) or as a source ('out': slots outgoing and keys sent)."""
    if role == "in":
        return (_n(m, M_SLOTS_IN) > 0 or m.get(M_STATE, M_IDLE) != M_IDLE) and \
            _n(m, M_KEYS_RECEIVED) > 0
    return _n(m, M_SLOTS_OUT) > 0 and _n(m, M_KEYS_SENT) > 0


def wait_settled(servers, timeout=20.0):
    """Waits until 'servers' agree on the membership and slot table
    (rccluster.wait_agree) and, when the build reports it, no slot is moving
    on any of them. Returns True if the `# Migration` section was there."""
    rccluster.wait_agree(servers, timeout=timeout * rctest.timeout_scale())
    if all(migration(s) is None for s in servers):
        return False
    state = {}

    def settled():
        for s in servers:
            state[s.port] = migration(s)
        return all(m is not None and migration_settled(m) for m in state.values())

    try:
        rctest.wait_for(settled, timeout=timeout, interval=0.02, what="hand-off settled")
    except AssertionError as e:
        raise AssertionError("%s: %r" % (e, state))
    rccluster.wait_agree(servers, timeout=timeout * rctest.timeout_scale())
    return True


def wait_transfer(srv, role, timeout=20.0):
    """Waits until 'srv' is mid-transfer in 'role' ('in' or 'out', see
    transfer_started); returns its migration fields. Returns None at once
    when the build has no `# Migration` section. Raises if the transfer
    finished (or never began) before it was seen: more ballast is needed."""
    if migration(srv) is None:
        return None
    # A steady 2 ms poll on one connection (wait_for backs off to 50 ms, and
    # a transfer may not last much longer than that).
    c = rctest.RawConn(srv.host, srv.port)
    deadline = time.monotonic() + timeout * rctest.timeout_scale()
    m = None
    try:
        while time.monotonic() < deadline:
            text = rctest.parse_reply(c.call("INFO", MIGRATION_SECTION))
            m = {k: v for k, v in rctest.parse_info(text).items() if k.startswith("migration_")}
            if transfer_started(m, role):
                return m
            time.sleep(0.002)
    finally:
        c.close()
    raise AssertionError("no transfer in progress (%s) seen on %d within %.0fs; last fields %r "
                         "(if it ended before it was seen, raise the ballast)"
                         % (role, srv.port, timeout * rctest.timeout_scale(), m))


# -- the `# Replication` INFO section (issue 14) ----------------------------
REPLICATION_SECTION = "replication"
R_DEGRADED = "repl_slots_degraded"  # slots this node serves with fewer than R+1 copies
R_LOST = "repl_slots_lost"  # slots taken over with no complete copy left
R_FAILOVERS = "repl_failovers"


def replication(srv, timeout=None):
    """The node's `repl_` fields of INFO replication (str -> str); empty
    when the build does not replicate."""
    c = rctest.RawConn(srv.host, srv.port, timeout=timeout or 5 * rctest.timeout_scale())
    try:
        text = rctest.parse_reply(c.call("INFO", REPLICATION_SECTION))
    finally:
        c.close()
    if isinstance(text, Exception):
        raise AssertionError("INFO %s: %s" % (REPLICATION_SECTION, text))
    return {k: v for k, v in rctest.parse_info(text).items() if k.startswith("repl_")}


def wait_replicated(servers, timeout=30.0, what="cluster settled"):
    """Waits until 'servers' agree on the membership and slot table
    (rccluster.agreed), no slot is moving on any of them and none serves a
    slot with fewer copies than it wants (repl_slots_degraded:0): the state
    in which one more failure is survivable. Returns {port: replication
    fields} as last seen. Raises with every node's state if that does not
    happen within 'timeout' seconds (scaled)."""
    state = {}

    def settled():
        state.clear()
        ok = rccluster.agreed(servers)
        for s in servers:
            try:
                state[s.port] = (migration(s) or {}, replication(s), rccluster.view(s)[:2])
            except Exception as e:  # noqa: BLE001 - a dying or frozen node
                state[s.port] = e
                ok = False
                continue
            m, r, _ = state[s.port]
            ok = ok and migration_settled(m) and _n(r, R_DEGRADED) == 0
        return ok

    try:
        rctest.wait_for(settled, timeout=timeout, interval=0.02, what=what)
    except AssertionError as e:
        desc = []
        for port, st in sorted(state.items()):
            if isinstance(st, Exception):
                desc.append("%d: %r" % (port, st))
                continue
            m, r, (epoch, known) = st
            desc.append("%d: epoch %s, %s members, migration %s in %s out %s fills %s, "
                        "degraded %s" % (port, epoch, known, m.get(M_STATE), m.get(M_SLOTS_IN),
                                         m.get(M_SLOTS_OUT), m.get(M_FILLS), r.get(R_DEGRADED)))
        raise AssertionError("%s (%d nodes): %s" % (e, len(servers), "; ".join(desc)))
    return {port: st[1] for port, st in state.items()}


# -- slots -------------------------------------------------------------------


def slot_of(key):
    """Redis Cluster's slot of a key without a hash tag (CRC16-XMODEM)."""
    return binascii.crc_hqx(key.encode(), 0) % 16384


def slot_owners(srv):
    """A list of 16384 client ports: the owner of each slot as 'srv' sees it."""
    owners = [None] * 16384
    for lo, hi, nodes in rccluster._slots(srv):
        for s in range(lo, hi + 1):
            owners[s] = nodes[0][1]
    return owners


def slot_copies(srv):
    """A list of 16384 tuples of client ports: each slot's copies as 'srv'
    sees them in CLUSTER SLOTS, the primary first, then its replicas."""
    copies = [()] * 16384
    for lo, hi, nodes in rccluster._slots(srv):
        ports = tuple(n[1] for n in nodes)
        for s in range(lo, hi + 1):
            copies[s] = ports
    return copies


def keys_owned_by(keys, owners, port):
    return [k for k in keys if owners[slot_of(k)] == port]


def wait_owner(servers, port, timeout=20.0):
    """Waits until the slot table of servers[0] gives slots to 'port';
    returns that table."""
    def table():
        o = slot_owners(servers[0])
        return o if port in o else None

    return rctest.wait_for(table, timeout=timeout, interval=0.01,
                           what="slots owned by %d in the table" % port)


# -- the nodes clients talk to -------------------------------------------------


class Targets:
    """The live nodes plain clients pick from. retire() takes a node out and
    waits until no client is in the middle of a batch on it, so a graceful
    leave is not blamed for connections the test itself would break."""

    def __init__(self, servers):
        self._cond = threading.Condition()
        self.live = list(servers)
        self._busy = {}

    def acquire(self, rnd):
        with self._cond:
            srv = rnd.choice(self.live)
            self._busy[srv.port] = self._busy.get(srv.port, 0) + 1
            return srv

    def release(self, srv):
        with self._cond:
            self._busy[srv.port] -= 1
            self._cond.notify_all()

    def ports(self):
        with self._cond:
            return {s.port for s in self.live}

    def add(self, srv):
        with self._cond:
            self.live.append(srv)

    def drop(self, srv):
        """Out at once (a crash: clients on it see errors)."""
        with self._cond:
            if srv in self.live:
                self.live.remove(srv)

    def retire(self, srv, timeout=10.0):
        """Out, once no batch is running on it."""
        deadline = time.monotonic() + timeout * rctest.timeout_scale()
        with self._cond:
            self.live.remove(srv)
            while self._busy.get(srv.port, 0) > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("clients still busy on %d" % srv.port)
                self._cond.wait(left)


# -- recorded load -------------------------------------------------------------


def _text(v):
    return v.decode("latin-1") if isinstance(v, bytes) else v


def _err(e):
    return "%s: %s" % (type(e).__name__, e)


def hash_field(key):
    """A recorded key 'H#F' is the field F of the hash H: written with HSET,
    read with HGET, deleted with HDEL, judged as a register all the same
    (a replica replays such writes rather than taking the hash whole);
    (None, None) for a string key."""
    h, sep, f = key.partition("#")
    return (h, f) if sep else (None, None)


def queue_op(p, kind, key, value):
    """Queues (on a pipeline) or runs (on a client) the READ, WRITE or DELETE
    of recorded 'key', a string or a hash field."""
    h, f = hash_field(key)
    if kind == READ:
        return p.get(key) if h is None else p.hget(h, f)
    if kind == WRITE:
        return p.set(key, value) if h is None else p.hset(h, f, value)
    return p.delete(key) if h is None else p.hdel(h, f)


def write_ok(key, out):
    """The reply of a WRITE of 'key' that says it took effect: SET's OK,
    HSET's count of new fields."""
    return out is True if "#" not in key else (isinstance(out, int) and not isinstance(out, bool))


def _routed_to(rc, key):
    """The port of the node that RedisCluster client 'rc''s slot map names
    for 'key' (None when it has no map)."""
    try:
        return rc.get_node_from_key(key).port
    except Exception:  # noqa: BLE001 - a map being rebuilt: unknown
        return None


class Load:
    """Recorded load: 'plain' threads of pipelined GET/SET/DEL through random
    live nodes of 'targets', and (with 'cluster') one RedisCluster client of
    single commands. Keys are drawn from 'keys' (a key 'H#F': HGET/HSET/HDEL
    of field F of hash H, hash_field()); 'prefix' keeps recorder names (and
    so the written values) unique in 'history'."""

    def __init__(self, history, targets, keys, seed, plain=4, cluster=True, batch=40,
                 reads=0.5, deletes=0.02, prefix=""):
        self.history = history
        self.targets = targets
        self.keys = list(keys)
        self.seed = seed
        self.batch = batch
        self.reads = reads
        self.deletes = deletes
        self.prefix = prefix
        self.stopping = threading.Event()
        self.failures = []  # unexpected exceptions in a client thread
        self.threads = [threading.Thread(target=self._guard, args=(self._plain, i), daemon=True,
                                         name="plain%d" % i) for i in range(plain)]
        if cluster:
            self.threads.append(threading.Thread(target=self._guard, args=(self._cluster, plain),
                                                 daemon=True, name="cluster"))
        self.timeout = 5 * rctest.timeout_scale()

    def start(self):
        for th in self.threads:
            th.start()
        return self

    def stop(self):
        self.stopping.set()
        for th in self.threads:
            th.join(6 * self.timeout)
        stuck = [th.name for th in self.threads if th.is_alive()]
        assert not stuck, "load threads stuck: %s" % stuck
        assert not self.failures, "load threads failed:\n%s" % "\n".join(self.failures)

    def wait_progress(self, ops, timeout=30.0, what="load progress"):
        """Waits until the history has grown by 'ops' operations."""
        goal = self.history.count() + ops
        rctest.wait_for(lambda: self.history.count() >= goal, timeout=timeout, interval=0.01,
                        what="%s (%d more operations)" % (what, ops))

    def _guard(self, fn, idx):
        try:
            fn(idx)
        except Exception:  # noqa: BLE001
            import traceback
            self.failures.append(traceback.format_exc())

    def _pick(self, rnd, rec):
        key = rnd.choice(self.keys)
        x = rnd.random()
        if x < self.reads:
            return READ, key, None
        if x < self.reads + self.deletes:
            return DELETE, key, None
        return WRITE, key, rec.value()

    def _plain(self, idx):
        rec = self.history.recorder("%sp%d" % (self.prefix, idx))
        rnd = random.Random(self.seed * 1000 + idx)
        conns = {}
        while not self.stopping.is_set():
            srv = self.targets.acquire(rnd)
            try:
                r = conns.get(srv.port)
                if r is None:
                    r = conns[srv.port] = redis.Redis(host=srv.host, port=srv.port,
                                                      socket_timeout=self.timeout,
                                                      socket_connect_timeout=self.timeout)
                self._batch(r, rnd, rec, srv.port)
            finally:
                self.targets.release(srv)
            live = self.targets.ports()
            for port in [p for p in conns if p not in live]:
                conns.pop(port).close()
        for r in conns.values():
            r.close()

    def _batch(self, r, rnd, rec, via):
        ops = [self._pick(rnd, rec) for _ in range(self.batch)]
        p = r.pipeline(transaction=False)
        for kind, key, value in ops:
            queue_op(p, kind, key, value)
        t0 = time.monotonic()
        try:
            res = p.execute(raise_on_error=False)
        except redis.exceptions.TimeoutError:
            t1 = time.monotonic()
            for kind, key, value in ops:
                rec.add(kind, key, value, t0, t1, TIMEOUT, via)
            r.connection_pool.disconnect()
            return
        except (redis.exceptions.ConnectionError, OSError) as e:
            t1 = time.monotonic()
            for kind, key, value in ops:
                rec.add(kind, key, value, t0, t1, _err(e), via)
            r.connection_pool.disconnect()
            return
        t1 = time.monotonic()
        for (kind, key, value), out in zip(ops, res):
            if isinstance(out, Exception):
                rec.add(kind, key, value, t0, t1, str(out), via)
            elif kind == READ:
                rec.add(READ, key, _text(out), t0, t1, OK, via)
            elif kind == WRITE and not write_ok(key, out):
                rec.add(kind, key, value, t0, t1, "unexpected write reply %r" % (out,), via)
            else:
                rec.add(kind, key, value, t0, t1, OK, via)

    def _cluster(self, idx):
        rec = self.history.recorder("%sc%d" % (self.prefix, idx))
        rnd = random.Random(self.seed * 1000 + idx)
        rc = None
        try:
            while not self.stopping.is_set():
                if rc is None:
                    nodes = [redis.cluster.ClusterNode(s.host, s.port) for s in self.targets.live]
                    t0 = time.monotonic()
                    try:
                        rc = _RedisCluster(startup_nodes=nodes, socket_timeout=self.timeout,
                                           socket_connect_timeout=self.timeout)
                    except (redis.exceptions.RedisError, OSError) as e:
                        # recorded as a failed read, so the error is counted
                        rec.add(READ, self.keys[0], None, t0, time.monotonic(), _err(e))
                        continue
                    except Exception as e:  # noqa: BLE001 - its refresh's IndexError (client_bugs())
                        rec.add(READ, self.keys[0], None, t0, time.monotonic(),
                                "client bug: " + _err(e))
                        continue
                kind, key, value = self._pick(rnd, rec)
                via = _routed_to(rc, key)
                t0 = time.monotonic()
                try:
                    out = queue_op(rc, kind, key, value)
                except redis.exceptions.TimeoutError:
                    rec.add(kind, key, value, t0, time.monotonic(), TIMEOUT, via)
                    continue
                except (redis.exceptions.RedisError, OSError) as e:
                    rec.add(kind, key, value, t0, time.monotonic(), _err(e), via)
                    continue
                except Exception as e:  # noqa: BLE001 - a client bug: start afresh
                    rec.add(kind, key, value, t0, time.monotonic(), "client bug: " + _err(e),
                            via)
                    rc.close()
                    rc = None
                    continue
                t1 = time.monotonic()
                after = _routed_to(rc, key)
                if after != via:
                    via = "%s>%s" % (via, after)  # redirected (MOVED) on the way
                if kind == READ:
                    rec.add(READ, key, _text(out), t0, t1, OK, via)
                elif kind == WRITE and not write_ok(key, out):
                    rec.add(kind, key, value, t0, t1, "unexpected write reply %r" % (out,), via)
                else:
                    rec.add(kind, key, value, t0, t1, OK, via)
        finally:
            if rc is not None:
                rc.close()


# -- loaders and final reads ---------------------------------------------------


def preload(history, servers, keys, name="pre", batch=500):
    """Writes every key once (recorded), through the nodes in turn."""
    rec = history.recorder(name)
    clients = [redis.Redis(host=s.host, port=s.port, socket_timeout=10 * rctest.timeout_scale())
               for s in servers]
    try:
        for i in range(0, len(keys), batch):
            r = clients[(i // batch) % len(clients)]
            chunk = keys[i:i + batch]
            values = [rec.value() for _ in chunk]
            p = r.pipeline(transaction=False)
            for k, v in zip(chunk, values):
                queue_op(p, WRITE, k, v)
            t0 = time.monotonic()
            res = p.execute(raise_on_error=False)
            t1 = time.monotonic()
            for k, v, out in zip(chunk, values, res):
                assert write_ok(k, out), "preload write of %s: %r" % (k, out)
                rec.add(WRITE, k, v, t0, t1, OK)
    finally:
        for r in clients:
            r.close()


def ballast(servers, count, size=100, prefix="ballast:", chunk=5000):
    """Fills the cluster with 'count' unrecorded keys of 'size' bytes (so a
    hand-off takes a while), each sent straight to its owner by raw
    pipelined RESP. Returns the seconds it took."""
    t0 = time.monotonic()
    owners = slot_owners(servers[0])
    by_port = {s.port: s for s in servers}
    value = b"x" * size
    groups = {}
    for i in range(count):
        k = b"%s%d" % (prefix.encode(), i)
        groups.setdefault(owners[binascii.crc_hqx(k, 0) % 16384], []).append(
            b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, size, value))
    for port, cmds in groups.items():
        srv = by_port[port]
        s = socket.create_connection((srv.host, srv.port), timeout=30 * rctest.timeout_scale())
        try:
            for i in range(0, len(cmds), chunk):
                part = cmds[i:i + chunk]
                s.sendall(b"".join(part))
                got = bytearray()
                while got.count(b"\r\n") < len(part):
                    data = s.recv(1 << 16)
                    if not data:
                        raise AssertionError("ballast: %d closed the connection" % port)
                    got += data
                if got != b"+OK\r\n" * len(part):
                    raise AssertionError("ballast: %d answered %r" % (port, bytes(got[:200])))
        finally:
            s.close()
    return time.monotonic() - t0


def final_reads(history, servers, keys, chunk=1000):
    """Reads every key through every node (MGET, pipelined HGETs for hash
    fields), into the history."""
    for srv in servers:
        r = redis.Redis(host=srv.host, port=srv.port, socket_timeout=10 * rctest.timeout_scale())
        try:
            for i in range(0, len(keys), chunk):
                part = keys[i:i + chunk]
                t0 = time.monotonic()
                try:
                    if any("#" in k for k in part):
                        p = r.pipeline(transaction=False)
                        for k in part:
                            queue_op(p, READ, k, None)
                        vals = p.execute()
                    else:
                        vals = r.mget(part)
                    outcome = OK
                except redis.exceptions.RedisError as e:
                    vals = [None] * len(part)
                    outcome = _err(e)
                t1 = time.monotonic()
                for k, v in zip(part, vals):
                    history.final_read(srv.port, k, _text(v), t0, t1, outcome)
        finally:
            r.close()


def client_bugs(rep):
    """Errors of redis-py itself, not replies from the cluster:
      - redis-py 4.3.4 keeps a node's role from the first CLUSTER SLOTS
        entry it saw it in and demotes a slot's old primary to replica on
        MOVED, so with replicas listed (R >= 1) a refresh can find no
        primary at all and fail with IndexError in
        NodesManager.initialize(); the command was not sent;
      - its cluster client, whose slot map still names a node that left
        gracefully (its port is closed), gives up with "Connection
        refused" after its own retries (the plain clients are retired from
        a leaver before it goes, handoff_load.Targets).
    Both count as maybe-applied in the history; the load then starts a new
    client."""
    return sum(n for msg, n in rep.errors.items()
               if msg.startswith("client bug: IndexError")
               or (msg.startswith("ConnectionError") and "Connection refused" in msg))


def clean(rep):
    """No anomaly, and no error but redis-py's own (client_bugs())."""
    return rep.clean(errors=False) and rep.error_count == client_bugs(rep)


def report(name, history, seed, started, ancient=None):
    """Checks 'history', prints the one-line summary; returns the Report."""
    rep = histcheck.check(history, ancient)
    print("%s: %s | seed %d, %.1fs" % (name, rep.summary(), seed, time.monotonic() - started))
    return rep
