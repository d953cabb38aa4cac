#!/usr/bin/python3
"""The wire: pipelining, inline commands, binary safety, and bad input
(malformed RESP, oversized bulks and counts, query-buffer limits, huge inline
lines, a seeded random-garbage soak). After every bad-input case the server
must still be alive, answer PING on a fresh connection, and keep its memory
small.

Run: RINGCACHED=build/node/ringcached python3 test_protocol.py [--target redis] [-k name]
"""

import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rctest  # noqa: E402
from rctest import encode_command, is_sanitized, test, wait_for  # noqa: E402

MB = 1 << 20


def mem_bound(base_mb):
    """An RSS bound in bytes, generous for sanitizer builds (shadow memory,
    quarantine)."""
    return int(base_mb * MB * (6 if is_sanitized() else 1))


def assert_healthy(srv, max_used_mb=64, max_rss_mb=128):
    assert srv.alive(), "server died"
    assert srv.ping_fresh(), "fresh connection does not PING"
    info = srv.info("memory")
    used = int(info["used_memory"])
    assert used < max_used_mb * MB, "used_memory %d above %d MB" % (used, max_used_mb)
    rss = srv.rss_bytes()
    assert rss < mem_bound(max_rss_mb), "RSS %d above %d MB" % (rss, max_rss_mb)


def expect_protocol_error_and_close(srv, payload, expected=None):
    """Sends payload; the server must reply -ERR Protocol error... (exactly
    `expected` when given) and close the connection."""
    c = srv.raw()
    try:
        c.send(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = c.read_until_closed()
    assert data.startswith(b"-ERR Protocol error"), "no protocol error for %r: got %r" % (payload[:60], data[:200])
    if expected is not None:
        assert data == expected, "for %r expected %r got %r" % (payload[:60], expected, data[:200])
    c.close()
    assert_healthy(srv)


# ---------------------------------------------------------------- pipelining


@test
def test_pipeline_10k_redis_py(t):
    srv = t.server()
    r = srv.client()
    pipe = r.pipeline(transaction=False)
    for i in range(10000):
        pipe.set("k:%d" % i, "v%d" % i)
    assert pipe.execute() == [True] * 10000
    pipe = r.pipeline(transaction=False)
    for i in range(10000):
        pipe.get("k:%d" % i)
    assert pipe.execute() == [b"v%d" % i for i in range(10000)]
    pipe = r.pipeline(transaction=False)
    for i in range(10000):
        pipe.incr("counter")
    assert pipe.execute() == list(range(1, 10001))


@test
def test_pipeline_raw_one_send(t):
    """20k commands (mixed, with errors in between) in one send; replies in
    order, nothing lost."""
    srv = t.server()
    c = srv.raw()
    parts = []
    expected = []
    for i in range(5000):
        parts.append(encode_command("SET", "p:%d" % i, "x" * (i % 50)))
        expected.append(b"+OK\r\n")
        parts.append(encode_command("GET", "p:%d" % i))
        v = b"x" * (i % 50)
        expected.append(b"$%d\r\n%s\r\n" % (len(v), v))
        parts.append(encode_command("INCR", "p:%d" % i))
        expected.append(b"-ERR value is not an integer or out of range\r\n")
        parts.append(b"PING\r\n")  # inline, mixed with RESP
        expected.append(b"+PONG\r\n")
    c.send(b"".join(parts))
    for i, e in enumerate(expected):
        got = c.read_reply()
        assert got == e, "reply %d: expected %r got %r" % (i, e, got)
    assert c.call("DBSIZE") == b":5000\r\n"


@test
def test_command_split_at_every_byte(t):
    srv = t.server()
    c = srv.raw()
    cmd = encode_command("SET", "split", "a\r\nb") + b"GET split\r\n" + encode_command("HSET", "h", "f", "v")
    for i in range(len(cmd)):
        c.send(cmd[i:i + 1])
    assert c.read_reply() == b"+OK\r\n"
    assert c.read_reply() == b"$4\r\na\r\nb\r\n"
    assert c.read_reply() == b":1\r\n"


@test
def test_many_clients_interleaved(t):
    srv = t.server()
    conns = [srv.raw() for _ in range(50)]
    for round_ in range(20):
        for i, c in enumerate(conns):
            c.send(encode_command("INCR", "c:%d" % i) + encode_command("INCR", "total"))
        for i, c in enumerate(conns):
            assert c.read_reply() == b":%d\r\n" % (round_ + 1)
            c.read_reply()
    assert conns[0].call("GET", "total") == b"$4\r\n1000\r\n"
    info = srv.info("clients")
    assert int(info["connected_clients"]) >= 50


def _strace(pid, syscalls):
    """Attaches strace to pid; returns (proc, outfile) once attached, or None
    when strace is missing or ptrace is not permitted."""
    import shutil
    import subprocess
    import tempfile
    exe = shutil.which("strace")
    if not exe:
        return None
    out = tempfile.NamedTemporaryFile(prefix="rctest-strace-", delete=False)
    out.close()
    p = subprocess.Popen([exe, "-qq", "-f", "-e", "trace=" + syscalls, "-o", out.name, "-p", str(pid)],
                         stderr=subprocess.PIPE)
    # strace -p prints nothing when attached with -qq: wait until a probe syscall shows up
    return p, out.name


def _strace_log(path):
    with open(path, errors="replace") as f:
        return f.read()


@test
def test_gathered_writes_and_tcp_nodelay(t):
    """Replies produced by one read leave in a few writes, not one per reply;
    client sockets get TCP_NODELAY (checked with strace on the server)."""
    srv = t.server()
    st = _strace(srv.pid, "write,writev,sendmsg,sendto,setsockopt")
    if st is None:
        raise AssertionError("strace is needed for this test (apt-get install strace)")
    proc, path = st
    try:
        probe = srv.raw()

        def attached():
            probe.call("PING")
            return "write" in _strace_log(path) or "send" in _strace_log(path)

        wait_for(attached, 20, what="strace to attach")
        c = srv.raw()  # accepted while traced: its setsockopt calls are visible
        assert c.call("PING") == b"+PONG\r\n"
        base = _strace_log(path).count("\n")
        c.send(encode_command("PING") * 200 + encode_command("SET", "k", "v") * 100)
        for _ in range(300):
            c.read_reply()
        assert c.call("ECHO", "end") == b"$3\r\nend\r\n"
        log = _strace_log(path)
    finally:
        proc.terminate()
        proc.wait()
    os.unlink(path)
    assert "TCP_NODELAY, [1]" in log, "no setsockopt(TCP_NODELAY) seen:\n" + log[-3000:]
    writes = [ln for ln in log.split("\n")[base:] if ln and ("write" in ln or "send" in ln) and "= " in ln]
    # 300 replies + ECHO: a handful of gathered writes, not ~300
    print("  %d write calls for 301 replies" % len(writes))
    assert 1 <= len(writes) <= 20, "%d write calls for 301 replies:\n%s" % (len(writes), "\n".join(writes[:40]))


@test
def test_tcp_keepalive_applied_to_clients(t):
    import subprocess
    srv = t.server(["--tcp-keepalive", "60"])
    c = srv.raw()
    c.call("PING")

    def timer():
        out = subprocess.run(["ss", "-tnoH", "state", "established", "( sport = :%d )" % srv.port],
                             capture_output=True, text=True).stdout
        return out if "keepalive" in out else None

    out = wait_for(timer, 10, what="a keepalive timer on the server's client socket")
    secs = [int(x) for x in __import__("re").findall(r"keepalive,(\d+)(?:min|sec)", out)]
    assert "keepalive,1min" in out or (secs and max(secs) <= 60), out
    srv2 = t.server(["--tcp-keepalive", "0"])
    c2 = srv2.raw()
    c2.call("PING")
    out = subprocess.run(["ss", "-tnoH", "state", "established", "( sport = :%d )" % srv2.port],
                         capture_output=True, text=True).stdout
    assert out.strip() and "keepalive" not in out, out


@test
def test_many_connections_and_churn(t):
    """600 simultaneous clients, then 3000 connect/command/close cycles: every
    client is served, connected_clients returns to its base, memory stays
    flat."""
    srv = t.server()
    conns = [srv.raw() for _ in range(600)]
    for i, c in enumerate(conns):
        c.send(encode_command("SET", "c:%d" % i, i))
    for c in conns:
        assert c.read_reply() == b"+OK\r\n"
    assert int(srv.info("clients")["connected_clients"]) >= 601
    for c in conns:
        c.close()
    wait_for(lambda: int(srv.info("clients")["connected_clients"]) <= 2, 10, what="clients to be freed")
    used0 = int(srv.info("memory")["used_memory"])
    for i in range(3000):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(encode_command("INCR", "churn") if i % 2 else b"PING\r\n")
        s.recv(100)
        s.close()
    assert srv.client().get("churn") == b"1500"
    wait_for(lambda: int(srv.info("clients")["connected_clients"]) <= 2, 10, what="clients to be freed")
    used1 = int(srv.info("memory")["used_memory"])
    assert used1 - used0 < 1 * MB, "used_memory grew by %d over 3000 connections" % (used1 - used0)
    assert int(srv.info("stats")["total_connections_received"]) >= 3600


# ---------------------------------------------------------------- inline


@test
def test_inline_commands(t):
    srv = t.server()
    c = srv.raw()
    c.send(b"PING\r\n")
    assert c.read_reply() == b"+PONG\r\n"
    c.send(b"SET a b\r\n")
    assert c.read_reply() == b"+OK\r\n"
    c.send(b"get a\r\n")
    assert c.read_reply() == b"$1\r\nb\r\n"
    c.send(b"SET \"key with space\" \"v\\x41\\n\"\r\n")
    assert c.read_reply() == b"+OK\r\n"
    assert c.call("GET", "key with space") == b"$3\r\nvA\n\r\n"
    c.send(b"SET 'single q' 'it''s'\r\n")  # '...' quotes: no escapes
    reply = c.read_reply()
    assert reply.startswith(b"-ERR Protocol error: unbalanced quotes") or reply == b"+OK\r\n", reply
    if reply.startswith(b"-"):
        assert c.read_until_closed() == b""
        c = srv.raw()
    c.send(b"SET 'single q' 'a b'\r\n")
    assert c.read_reply() == b"+OK\r\n"
    assert c.call("GET", "single q") == b"$3\r\na b\r\n"
    # bare \n terminator, extra spaces, empty lines ignored
    c.send(b"ECHO  hello\n")
    assert c.read_reply() == b"$5\r\nhello\r\n"
    c.send(b"\r\n\r\n   \r\nPING\r\n")
    assert c.read_reply() == b"+PONG\r\n"
    # several inline commands in one send, mixed with RESP
    c.send(b"INCR n\r\nINCR n\r\n" + encode_command("INCR", "n") + b"GET n\r\n")
    assert [c.read_reply() for _ in range(4)] == [b":1\r\n", b":2\r\n", b":3\r\n", b"$1\r\n3\r\n"]
    c.send(b"NOSUCHCMD x\r\n")
    assert c.read_reply() == b"-ERR unknown command 'NOSUCHCMD', with args beginning with: 'x' \r\n"
    # unbalanced quotes: protocol error and close
    c.send(b"SET \"abc\r\n")
    assert c.read_until_closed() == b"-ERR Protocol error: unbalanced quotes in request\r\n"
    assert srv.ping_fresh()


@test
def test_redis_cli_every_command_group(t):
    """The real redis-cli binary, one invocation per command."""
    srv = t.server()
    cases = [
        (["PING"], "PONG"), (["ECHO", "hi"], "hi"), (["SET", "k", "v"], "OK"), (["GET", "k"], "v"),
        (["GET", "nokey"], ""), (["SET", "k", "v2", "EX", "100", "GET"], "v"), (["TTL", "k"], "100"),
        (["PERSIST", "k"], "1"), (["PTTL", "k"], "-1"), (["EXPIRE", "k", "50"], "1"),
        (["PEXPIRE", "k", "50000"], "1"), (["EXPIREAT", "k", str(int(time.time()) + 3600)], "1"),
        (["PEXPIREAT", "k", str(int(time.time() * 1000) + 3600000)], "1"),
        (["SETNX", "k", "x"], "0"), (["SETEX", "se", "100", "v"], "OK"), (["PSETEX", "pe", "100000", "v"], "OK"),
        (["GETSET", "k", "v3"], "v2"), (["GETEX", "k", "PERSIST"], "v3"), (["GETDEL", "se"], "v"),
        (["MSET", "a", "1", "b", "2"], "OK"), (["MGET", "a", "b", "nokey"], "1\n2\n"),
        (["MSETNX", "a", "9", "c", "3"], "0"), (["INCR", "a"], "2"), (["INCRBY", "a", "10"], "12"),
        (["DECR", "a"], "11"), (["DECRBY", "a", "5"], "6"), (["INCRBYFLOAT", "a", "0.5"], "6.5"),
        (["APPEND", "b", "xyz"], "4"), (["STRLEN", "b"], "4"), (["GETRANGE", "b", "1", "2"], "xy"),
        (["SETRANGE", "b", "0", "Q"], "4"), (["GET", "b"], "Qxyz"),
        (["HSET", "h", "f1", "v1", "f2", "2"], "2"), (["HSETNX", "h", "f1", "x"], "0"), (["HGET", "h", "f1"], "v1"),
        (["HMGET", "h", "f1", "nof"], "v1\n"), (["HMSET", "h", "f3", "v3"], "OK"), (["HLEN", "h"], "3"),
        (["HEXISTS", "h", "f3"], "1"), (["HINCRBY", "h", "f2", "3"], "5"), (["HINCRBYFLOAT", "h", "f2", "1.5"], "6.5"),
        (["HSTRLEN", "h", "f1"], "2"), (["HDEL", "h", "f3"], "1"),
        (["EXISTS", "k", "h", "nokey"], "2"), (["TOUCH", "k", "h"], "2"), (["TYPE", "h"], "hash"),
        (["TYPE", "k"], "string"), (["DEL", "k"], "1"), (["UNLINK", "pe"], "1"),
        (["DBSIZE"], "3"), (["SELECT", "0"], "OK"), (["CLIENT", "SETNAME", "x"], "OK"),
        (["CLIENT", "GETNAME"], ""), (["CONFIG", "SET", "timeout", "0"], "OK"),
        (["CONFIG", "GET", "timeout"], "timeout\n0"), (["CONFIG", "RESETSTAT"], "OK"),
        (["GET", "h"], "WRONGTYPE Operation against a key holding the wrong kind of value\n"),
        (["NOSUCH"], "ERR unknown command 'NOSUCH', with args beginning with: \n"),
        (["GET"], "ERR wrong number of arguments for 'get' command\n"),
        (["FLUSHDB"], "OK"), (["DBSIZE"], "0"), (["FLUSHALL"], "OK"), (["RANDOMKEY"], ""),
    ]
    for args, want in cases:
        got = srv.cli(*args)
        assert got == want, "redis-cli %s: expected %r got %r" % (" ".join(args), want, got)
    # multi-line / aggregate outputs
    srv.cli("SET", "k1", "v")
    srv.cli("HSET", "hh", "a", "1")
    assert sorted(srv.cli("KEYS", "*").split("\n")) == ["hh", "k1"]
    assert sorted(srv.cli("SCAN", "0", "COUNT", "100").split("\n")[1:]) == ["hh", "k1"]
    assert srv.cli("SCAN", "0", "TYPE", "hash").split("\n")[1:] == ["hh"]
    assert srv.cli("SCAN", "0", "MATCH", "k*").split("\n")[1:] == ["k1"]
    assert srv.cli("HGETALL", "hh") == "a\n1"
    assert srv.cli("HKEYS", "hh") == "a" and srv.cli("HVALS", "hh") == "1"
    assert srv.cli("RANDOMKEY") in ("hh", "k1")
    assert int(srv.cli("COMMAND", "COUNT")) > 50
    assert srv.cli("COMMAND", "GETKEYS", "SET", "a", "b") == "a"
    assert srv.cli("COMMAND", "INFO", "get").split("\n")[:2] == ["get", "2"]
    assert "summary" in srv.cli("COMMAND", "DOCS", "get")
    assert int(srv.cli("CLIENT", "ID")) > 0
    assert "addr=" in srv.cli("CLIENT", "INFO") and "addr=" in srv.cli("CLIENT", "LIST")
    assert srv.cli("CLIENT", "KILL", "ID", "987654") == "0"
    assert "# Server" in srv.cli("INFO") and "used_memory:" in srv.cli("INFO", "memory")
    assert len(srv.cli("TIME").split("\n")) == 2
    assert srv.cli("HELLO", "2").split("\n")[0] == "server"
    hello3 = srv.cli("-3", "HELLO", "3")
    assert hello3.startswith("server") or "NOPROTO" in hello3, hello3
    assert srv.cli("AUTH", "x").startswith("ERR AUTH <password> called without any password")
    assert srv.cli("RESET") == "RESET"
    assert srv.cli("QUIT") == "OK"
    # commands from stdin (redis-cli reads one per line)
    out = srv.cli(input=b"SET in1 a\nGET in1\nINCR cnt\n")
    assert out == "OK\na\n1", out
    # --pipe mass insertion (RESP on stdin)
    data = b"".join(encode_command("SET", "pipe:%d" % i, "v") for i in range(5000))
    out = srv.cli(input=data, extra=["--pipe"])
    assert "errors: 0, replies: 5000" in out, out
    assert srv.cli("EXISTS", "pipe:4999") == "1"


# ---------------------------------------------------------------- binary safety


@test
def test_binary_safe_keys_and_values(t):
    srv = t.server()
    r = srv.client()
    allbytes = bytes(range(256))
    assert r.set(allbytes, allbytes)
    assert r.get(allbytes) == allbytes
    for b in range(256):
        k = b"k" + bytes([b])
        r.set(k, bytes([b]) * 3 + b"\r\n" + bytes([b]))
    for b in range(256):
        assert r.get(b"k" + bytes([b])) == bytes([b]) * 3 + b"\r\n" + bytes([b])
    assert r.hset(b"h\x00\r\n", allbytes, b"\r\n\x00") == 1
    assert r.hget(b"h\x00\r\n", allbytes) == b"\r\n\x00"
    assert r.hgetall(b"h\x00\r\n") == {allbytes: b"\r\n\x00"}
    assert r.set("crlf", "$3\r\nabc\r\n*1\r\n")
    assert r.get("crlf") == b"$3\r\nabc\r\n*1\r\n"
    assert r.append("crlf", b"\r\n") == 15
    assert r.set("empty", b"") and r.get("empty") == b"" and r.strlen("empty") == 0
    assert r.set(b"", b"emptykey") and r.get(b"") == b"emptykey"
    big = random.Random(1).randbytes(3 * MB)
    assert r.set("big", big)
    assert r.get("big") == big
    assert r.strlen("big") == len(big)
    assert r.getrange("big", 1000, 1999) == big[1000:2000]
    assert sorted(r.keys(b"k\x00")) == [b"k\x00"]
    assert r.exists(allbytes) == 1 and r.delete(allbytes) == 1


# ---------------------------------------------------------------- bad input


@test
def test_malformed_resp_is_protocol_error_and_close(t):
    srv = t.server()
    cases = [
        (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$abc\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$-1\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\nPING\r\n", b"-ERR Protocol error: expected '$', got 'P'\r\n"),
        (b"*2\r\n$4\r\nECHO\r\n:5\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n"),
        (b"*3000000000\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*2147483648\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$9999999999999\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$1x\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1x\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*2\r\n$3\r\nGET\r\nxyz\r\n", b"-ERR Protocol error: expected '$', got 'x'\r\n"),
    ]
    for payload, expected in cases:
        expect_protocol_error_and_close(srv, payload, expected)
    # a valid command before the bad one is answered first
    c = srv.raw()
    c.send(encode_command("SET", "a", "1") + b"*x\r\n")
    data = c.read_until_closed()
    assert data == b"+OK\r\n-ERR Protocol error: invalid multibulk length\r\n", data
    assert srv.client().get("a") == b"1"
    # *0 and *-1 are ignored (no reply), the connection stays usable
    c = srv.raw()
    c.send(b"*0\r\n*-1\r\n" + encode_command("PING"))
    assert c.read_reply() == b"+PONG\r\n"


@test
def test_bulk_over_proto_max_bulk_len_refused_before_payload(t):
    srv = t.server(["--proto-max-bulk-len", "1mb"])
    c = srv.raw()
    # only the header: the refusal must come without the payload being sent
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n")
    data = c.read_until_closed()
    assert data == b"-ERR Protocol error: invalid bulk length\r\n", data
    assert_healthy(srv)
    # at the limit it is accepted
    r = srv.client()
    assert r.set("k", b"x" * MB) and r.strlen("k") == MB
    # also through CONFIG SET
    r.config_set("proto-max-bulk-len", "2mb")
    c = srv.raw()
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n")
    assert c.read_until_closed().startswith(b"-ERR Protocol error: invalid bulk length")
    # SETRANGE / APPEND past the limit are refused (string exceeds maximum allowed size)
    reply = srv.raw().call("SETRANGE", "k", str(3 * MB), "x")
    assert reply == b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n", reply
    assert_healthy(srv)


@test
def test_absurd_multibulk_count_not_allocated(t):
    srv = t.server()
    before = srv.rss_bytes()
    conns = []
    for _ in range(20):
        c = srv.raw()
        try:
            c.send(b"*2147483647\r\n$3\r\nSET\r\n")
        except OSError:
            pass
        conns.append(c)
    # either refused (error + close) or pending; memory must not follow the count
    assert srv.ping_fresh()
    rss = srv.rss_bytes()
    assert rss - before < mem_bound(32), "RSS grew by %d bytes" % (rss - before)
    assert int(srv.info("memory")["used_memory"]) < 32 * MB
    for c in conns:
        got = c.read_available(0.05)
        if got:
            assert got.startswith(b"-ERR Protocol error"), got
        c.close()
    # a large but legitimate argument count still works
    r = srv.client()
    args = []
    for i in range(100000):
        args += ["k%d" % i, "v"]
    assert r.mset(dict(zip(args[0::2], args[1::2])))
    assert r.dbsize() == 100000
    assert_healthy(srv, max_used_mb=200, max_rss_mb=400)


@test
def test_query_buffer_limit_closes_client(t):
    srv = t.server(["--client-query-buffer-limit", "1mb"])
    c = srv.raw()
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5000000\r\n")
    closed = False
    sent = 0
    chunk = b"x" * 65536
    try:
        while sent < 5000000:
            c.send(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    if not closed:
        data = c.read_until_closed()
        assert data == b"" or data.startswith(b"-ERR"), data
    assert srv.client().exists("k") == 0
    assert_healthy(srv)
    # pipelined small commands past the limit in one go are fine (processed as they arrive)
    c = srv.raw()
    c.send(encode_command("SET", "a", "b") * 100000)
    for _ in range(100000):
        assert c.read_reply() == b"+OK\r\n"
    assert_healthy(srv)


@test
def test_huge_inline_line_refused(t):
    srv = t.server()
    c = srv.raw()
    try:
        for _ in range(64):  # 4 MB without a newline
            c.send(b"a" * 65536)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = c.read_until_closed()
    assert data == b"" or data.startswith(b"-ERR Protocol error: too big inline request"), data[:200]
    assert_healthy(srv)
    # a long but reasonable inline command still works
    c = srv.raw()
    c.send(b"SET longinline " + b"v" * 30000 + b"\r\n")
    assert c.read_reply() == b"+OK\r\n"
    assert c.call("STRLEN", "longinline") == b":30000\r\n"


@test
def test_client_disconnects_mid_reply(t):
    srv = t.server()
    r = srv.client()
    r.set("big", b"x" * 200000)
    for _ in range(5):
        c = srv.raw()
        c.send(encode_command("GET", "big") * 500)
        c.read_available(0.01)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()  # RST with 100 MB of replies pending
    assert_healthy(srv, max_used_mb=200, max_rss_mb=400)
    wait_for(lambda: int(srv.info("clients")["connected_clients"]) <= 2, 10, what="dead clients to be freed")


@test
def test_slow_reader_output_is_bounded_and_ordered(t):
    """A client that pipelines ~40 MB of replies and does not read must not
    make the server buffer them all (ringcached pauses it past 4 MB of
    pending output); other clients are served meanwhile, and once the slow
    client reads, every reply arrives complete and in order."""
    if rctest.is_redis():
        return  # redis-server buffers a normal client's whole output (no limit by default)
    srv = t.server()
    r = srv.client()
    values = [bytes([65 + i]) * 100000 for i in range(8)]
    for i, v in enumerate(values):
        r.set("big%d" % i, v)
    base = int(srv.info("memory")["used_memory"])
    slow = srv.raw(timeout=30 * rctest.timeout_scale())
    n = 400  # 400 x 100 kB = 40 MB of replies
    slow.send(b"".join(encode_command("GET", "big%d" % (i % 8)) for i in range(n)))
    # The server has read the requests and filled what it may before pausing.
    wait_for(lambda: int(srv.info("memory")["used_memory"]) > base + 1 * MB, 10,
             what="the slow client's output to build up")
    peak = 0
    other = srv.client()
    for i in range(50):  # the server keeps serving others, memory stays flat
        assert other.get("big%d" % (i % 8)) == values[i % 8]
        peak = max(peak, int(srv.info("memory")["used_memory"]) - base)
    assert peak < 16 * MB, "pending output of a non-reading client grew to %d bytes" % peak
    for i in range(n):
        reply = slow.read_reply()
        want = b"$%d\r\n%s\r\n" % (len(values[i % 8]), values[i % 8])
        assert reply == want, "reply %d out of order or damaged: %r" % (i, reply[:40])
    slow.close()
    assert_healthy(srv)


def _garbage(rng):
    kind = rng.randrange(6)
    if kind == 0:  # random bytes
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300)))
    if kind == 1:  # random bytes after a RESP array header
        return b"*" + bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 100)))
    if kind == 2:  # random numbers in headers
        n = rng.choice([0, 1, 2, -1, -2, 2 ** 31 - 1, 2 ** 31, 2 ** 63, 10 ** 20, rng.randrange(1 << 40)])
        m = rng.choice([0, 1, 3, -1, 2 ** 31, 512 * MB + 1, rng.randrange(1 << 20)])
        return b"*%d\r\n$%d\r\n" % (n, m) + bytes(rng.getrandbits(8) for _ in range(rng.randrange(20)))
    # mutations of valid commands (never admin commands)
    cmd = rng.choice([("SET", "k", "v"), ("GET", "k"), ("HSET", "h", "f", "v"), ("INCR", "n"),
                      ("MSET", "a", "1", "b", "2"), ("EXPIRE", "k", "100"), ("APPEND", "k", "xyz"),
                      ("HGETALL", "h"), ("SCAN", "0"), ("ECHO", "hello")])
    data = bytearray(encode_command(*cmd) * rng.randrange(1, 4))
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(4)
        pos = rng.randrange(len(data))
        if op == 0:
            data[pos] = rng.getrandbits(8)
        elif op == 1:
            del data[pos:pos + rng.randrange(1, 5)]
        elif op == 2:
            data[pos:pos] = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 5)))
        else:
            data = data[:pos]
        if not data:
            data = bytearray(b"*")
    return bytes(data)


@test(slow=True)
def test_random_garbage_soak(t):
    seed = int(os.environ.get("RC_SOAK_SEED", "20261128"))
    count = int(os.environ.get("RC_SOAK_COUNT", "3000"))
    print("  soak seed %d, %d cases" % (seed, count))
    rng = random.Random(seed)
    srv = t.server()
    rss0 = srv.rss_bytes()
    for i in range(count):
        payload = _garbage(rng)
        try:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        except OSError as e:
            raise AssertionError("case %d: connect failed: %s" % (i, e))
        try:
            s.sendall(payload)
            if i % 10 == 0:  # sometimes wait for the reaction
                s.settimeout(0.02)
                try:
                    s.recv(65536)
                except OSError:
                    pass
        except OSError:
            pass
        finally:
            s.close()
        if i % 250 == 249:
            assert srv.alive(), "server died at case %d (seed %d): payload %r" % (i, seed, payload)
            assert srv.ping_fresh(), "no PING at case %d (seed %d)" % (i, seed)
    assert_healthy(srv)
    rss = srv.rss_bytes()
    assert rss - rss0 < mem_bound(64), "RSS grew from %d to %d" % (rss0, rss)
    wait_for(lambda: int(srv.info("clients")["connected_clients"]) <= 2, 10, what="garbage clients to be freed")


if __name__ == "__main__":
    rctest.run()
