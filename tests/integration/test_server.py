#!/usr/bin/python3
"""The daemon as a process: config file and command-line flags, bad options
stopping startup with a message naming them, bind / protected-mode,
requirepass, maxclients, idle timeout, logfile, pidfile, SHUTDOWN, SIGTERM
and SIGINT.

Run: RINGCACHED=build/node/ringcached python3 test_server.py [--target redis] [-k name]
"""

import os
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rctest  # noqa: E402
from rctest import encode_command, free_port, is_redis, test, timeout_scale, wait_for  # noqa: E402


def run_expect_startup_failure(t, args, config=None, must_name=None):
    """Starts the server with bad settings: it must exit non-zero by itself
    and its output must name the bad option."""
    srv = rctest.start_server(args=args, config=config, wait=False)
    t.adopt(srv, expect_dead=True)
    code = srv.wait_exit(10)
    assert code != 0, "server with %r exited 0" % (args,)
    log = srv.log()
    if must_name:
        assert must_name in log, "startup failure message does not name %r: %r" % (must_name, log[-1000:])
    return log


@test
def test_config_file_and_flags(t):
    cfg = ("# a comment\n"
           "\n"
           "maxmemory 10mb\n"
           "maxmemory-policy allkeys-lru\n"
           "timeout 7\n"
           "   tcp-keepalive 42   \n"
           'requirepass "pass word"\n'
           "loglevel warning\n"
           "MAXCLIENTS 77\n")
    srv = t.server(["--timeout", "9", "--hz", "20"], config=cfg)
    r = srv.client(password="pass word")
    got = {k: v for name in ("maxmemory", "maxmemory-policy", "timeout", "tcp-keepalive", "maxclients",
                             "loglevel", "hz", "port") for k, v in r.config_get(name).items()}
    assert got == {"maxmemory": str(10 * 1024 * 1024), "maxmemory-policy": "allkeys-lru",
                   "timeout": "9",  # the command line comes after the file: it wins
                   "tcp-keepalive": "42", "maxclients": "77", "loglevel": "warning", "hz": "20",
                   "port": str(srv.port)}, got
    assert srv.raw().call("PING").startswith(b"-NOAUTH")
    assert r.info("memory")["maxmemory"] == 10 * 1024 * 1024


@test
def test_one_version_everywhere(t):
    """The version is written once (CMake's project()): --version and INFO
    show it; RC_VERSION and RC_REDIS_COMPAT_VERSION come from CMake too."""
    if is_redis():
        print("[skip] ringcached's own version")
        return
    want = os.environ.get("RC_VERSION")
    assert want, "RC_VERSION is not set (CMake passes project()'s version)"
    out = subprocess.run([rctest.ringcached_path(), "--version"], capture_output=True,
                         text=True, timeout=10 * timeout_scale()).stdout
    assert out.startswith("ringcached server v=%s " % want), out
    srv = t.server([])
    info = srv.info("server")
    assert info["ringcached_version"] == want, info
    assert info["redis_version"] == os.environ.get("RC_REDIS_COMPAT_VERSION"), info


@test
def test_memory_units(t):
    srv = t.server(["--maxmemory", "1gb", "--proto-max-bulk-len", "64mb", "--client-query-buffer-limit", "2GB"])
    r = srv.client()
    assert r.config_get("maxmemory") == {"maxmemory": str(1 << 30)}
    assert r.config_get("proto-max-bulk-len") == {"proto-max-bulk-len": str(64 << 20)}
    assert r.config_get("client-query-buffer-limit") == {"client-query-buffer-limit": str(2 << 30)}
    r.config_set("maxmemory", "1k")
    assert r.config_get("maxmemory") == {"maxmemory": "1000"}
    r.config_set("maxmemory", "0")


@test
def test_bad_options_stop_startup(t):
    run_expect_startup_failure(t, ["--nosuchoption", "1"], must_name="nosuchoption")
    run_expect_startup_failure(t, ["--maxmemory", "lots"], must_name="maxmemory")
    run_expect_startup_failure(t, ["--maxmemory-policy", "bogus"], must_name="maxmemory-policy")
    run_expect_startup_failure(t, ["--maxclients", "-3"], must_name="maxclients")
    run_expect_startup_failure(t, ["--timeout", "abc"], must_name="timeout")
    run_expect_startup_failure(t, ["--loglevel", "loud"], must_name="loglevel")
    run_expect_startup_failure(t, ["--protected-mode", "maybe"], must_name="protected-mode")
    run_expect_startup_failure(t, ["--proto-max-bulk-len", "x"], must_name="proto-max-bulk-len")
    run_expect_startup_failure(t, [], config="maxmemory 10mb\nbogus-directive yes\n", must_name="bogus-directive")
    run_expect_startup_failure(t, [], config="maxmemory-policy nope\n", must_name="maxmemory-policy")


@test
def test_bad_port_and_missing_config_file(t):
    srv = rctest.Server("redis" if is_redis() else "ringcached", free_port(), t.mkdtemp(), [], None)
    srv.args = ["--port", "99999"]
    srv.spawn()
    t.adopt(srv, expect_dead=True)
    assert srv.wait_exit(10) != 0
    assert "port" in srv.log().lower()
    exe = rctest.REDIS_SERVER if is_redis() else rctest.ringcached_path()
    r = subprocess.run([exe, "/nonexistent/dir/ringcached.conf", "--port", str(free_port())],
                       capture_output=True, timeout=10 * timeout_scale())
    assert r.returncode != 0
    assert b"/nonexistent/dir/ringcached.conf" in r.stdout + r.stderr, r


@test
def test_port_in_use_fails(t):
    a = t.server()
    b = rctest.start_server(port=a.port, wait=False)
    t.adopt(b, expect_dead=True)
    assert b.wait_exit(10) != 0
    assert "in use" in b.log().lower(), b.log()
    assert a.ping_fresh()


@test
def test_bind_any_and_protected_mode(t):
    # bind 0.0.0.0 (traffic still only through loopback): loopback clients
    # are always allowed; without a password protected mode is on.
    srv = t.server(["--bind", "0.0.0.0"])
    r = srv.client()
    assert r.ping()
    assert r.config_get("protected-mode") == {"protected-mode": "yes"}
    assert r.config_get("bind") == {"bind": "0.0.0.0"}
    if not is_redis():
        assert "protected mode" in srv.log(), "no protected-mode warning in the log"
    srv2 = t.server(["--bind", "0.0.0.0", "--protected-mode", "no"])
    assert srv2.client().config_get("protected-mode") == {"protected-mode": "no"}
    if not is_redis():
        assert "protected mode is on" not in srv2.log()
    # bind to loopback explicitly, two addresses
    srv3 = t.server(["--bind", "127.0.0.1", "::1"] if socket.has_ipv6 and _ipv6_loopback() else
                    ["--bind", "127.0.0.1"])
    assert srv3.client().ping()
    # protected mode can be switched off at run time
    assert r.config_set("protected-mode", "no")
    assert r.config_get("protected-mode") == {"protected-mode": "no"}


@test
def test_protected_mode_denies_non_loopback_peer(t):
    """With no password and protected mode on, a peer that is not 127.0.0.1
    or ::1 gets -DENIED and is closed. The peer here is 127.0.0.2, still
    loopback traffic: Redis 7.0 treats only 127.0.0.1 and ::1 as local."""
    srv = t.server(["--bind", "0.0.0.0"])

    def from_127_0_0_2():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10 * timeout_scale())
        s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", srv.port))
        return s

    s = from_127_0_0_2()
    s.sendall(b"PING\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"-DENIED Redis is running in protected mode"), data[:200]
    assert srv.ping_fresh()  # 127.0.0.1 still allowed
    # with a password, or protected-mode no, the same peer is served
    r = srv.client()
    r.config_set("protected-mode", "no")
    s = from_127_0_0_2()
    s.sendall(b"PING\r\n")
    assert s.recv(100) == b"+PONG\r\n"
    s.close()
    r.config_set("protected-mode", "yes")
    r.config_set("requirepass", "pw")
    s = from_127_0_0_2()
    s.sendall(b"PING\r\n")
    assert s.recv(100).startswith(b"-NOAUTH")
    s.close()


def _ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@test
def test_maxclients(t):
    srv = t.server(["--maxclients", "5"])
    conns = [srv.raw() for _ in range(5)]
    for c in conns:
        assert c.call("PING") == b"+PONG\r\n"
    extra = srv.raw()
    data = extra.read_until_closed()
    assert data == b"-ERR max number of clients reached\r\n", data
    conns[0].close()
    def slot_free():
        c = srv.raw()
        try:
            return c.call("PING") == b"+PONG\r\n"
        finally:
            c.close()

    wait_for(slot_free, 10, what="a slot to free up")
    stats = rctest.parse_info(rctest.parse_reply(conns[1].call("INFO", "stats")))
    assert int(stats["rejected_connections"]) >= 1, stats


@test
def test_idle_timeout(t):
    srv = t.server(["--timeout", "1"])
    idle = srv.raw()
    assert idle.call("PING") == b"+PONG\r\n"
    # an idle client is closed after about a second (the check runs periodically)
    assert idle.read_until_closed(timeout=15) == b""
    # CONFIG SET timeout 0 disables it
    c = srv.raw()
    assert c.call("CONFIG", "SET", "timeout", "0") == b"+OK\r\n"
    assert c.read_available(2.5) is None, "client closed though timeout is 0"
    assert c.call("PING") == b"+PONG\r\n"


@test
def test_logfile_and_loglevel(t):
    d = t.mkdtemp()
    logfile = os.path.join(d, "node.log")
    srv = t.server(["--logfile", logfile, "--loglevel", "verbose"])
    assert srv.client().ping()
    wait_for(lambda: os.path.exists(logfile) and os.path.getsize(logfile) > 0, 10, what="log file")
    assert srv.client().config_get("logfile") == {"logfile": logfile}
    assert srv.client().config_get("loglevel") == {"loglevel": "verbose"}
    srv.client().config_set("loglevel", "notice")
    assert srv.client().config_get("loglevel") == {"loglevel": "notice"}


@test
def test_sigterm_exits_0_and_removes_pidfile(t):
    d = t.mkdtemp()
    pidfile = os.path.join(d, "node.pid")
    srv = t.server(["--pidfile", pidfile])
    wait_for(lambda: os.path.exists(pidfile), 10, what="pidfile")
    with open(pidfile) as f:
        assert int(f.read().strip()) == srv.pid
    srv.client().set("k", "v")
    code = srv.stop(sig=signal.SIGTERM)
    assert code == 0, code
    assert not os.path.exists(pidfile), "pidfile left behind"


@test
def test_sigterm_under_load_exits_0(t):
    """SIGTERM while 50 clients pipeline writes and others hold half-sent
    commands and unread replies: a clean exit 0 (in the ASan build this
    also checks that nothing leaks at exit)."""
    srv = t.server()
    r = srv.client()
    r.set("big", b"x" * 100000)
    half = srv.raw()
    half.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc")  # incomplete command
    unread = srv.raw()
    unread.send(encode_command("GET", "big") * 200)  # 20 MB of replies nobody reads
    bench = subprocess.Popen([rctest.REDIS_BENCHMARK, "-p", str(srv.port), "-t", "set,get", "-n", "10000000",
                              "-c", "50", "-P", "16", "-r", "100000", "-q"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: int(srv.info("stats")["total_commands_processed"]) > 100000, 30, what="load")
        code = srv.stop(sig=signal.SIGTERM, timeout=20)
    finally:
        bench.kill()
        bench.wait()
    assert code == 0, code


@test
def test_crash_writes_a_report_with_the_stack(t):
    """A fatal signal (SIGSEGV here) leaves a report in the log, as Redis's
    crash report does: the signal and the stack, then the process dies of
    that signal."""
    if is_redis():
        print("[skip] ringcached's crash report")
        return
    srv = t.server([])
    t.adopt(srv, expect_dead=True)
    srv.client().set("k", "v")
    os.kill(srv.pid, signal.SIGSEGV)
    code = srv.wait_exit(10)
    log = srv.log()
    assert "=== RINGCACHED CRASHED === signal 11, stack:" in log, \
        "no crash report in the log: %r" % log[-1500:]
    assert code == -signal.SIGSEGV, "exit %r: not killed by the signal" % (code,)
    stack = log.split("=== RINGCACHED CRASHED ===", 1)[1].splitlines()[1:]
    assert any("ringcached" in line for line in stack), stack[:10]
    assert any("uv_run" in line or "main" in line for line in stack), stack[:10]


@test
def test_sigint_exits_0(t):
    srv = t.server()
    c = srv.raw()
    c.call("PING")
    assert srv.stop(sig=signal.SIGINT) == 0


@test
def test_shutdown_command(t):
    d = t.mkdtemp()
    pidfile = os.path.join(d, "node.pid")
    srv = t.server(["--pidfile", pidfile])
    wait_for(lambda: os.path.exists(pidfile), 10, what="pidfile")
    other = srv.raw()
    assert other.call("PING") == b"+PONG\r\n"
    c = srv.raw()
    c.send(encode_command("SHUTDOWN"))
    data = c.read_until_closed()
    assert data == b"", data  # success: no reply, connection closed
    assert srv.wait_exit(10) == 0
    assert not os.path.exists(pidfile)
    assert other.read_until_closed() == b""


@test
def test_shutdown_nosave_and_errors(t):
    srv = t.server()
    c = srv.raw()
    assert c.call("SHUTDOWN", "BOGUS") == b"-ERR syntax error\r\n"
    assert c.call("PING") == b"+PONG\r\n"
    out = srv.cli("SHUTDOWN", "NOSAVE", check=False)
    assert "ERR" not in out, out
    assert srv.wait_exit(10) == 0


@test
def test_shutdown_needs_auth(t):
    srv = t.server(["--requirepass", "pw"])
    c = srv.raw()
    assert c.call("SHUTDOWN").startswith(b"-NOAUTH")
    assert srv.alive()
    assert c.call("AUTH", "pw") == b"+OK\r\n"
    c.send(encode_command("SHUTDOWN"))
    assert c.read_until_closed() == b""
    assert srv.wait_exit(10) == 0


@test
def test_info_counts_connections(t):
    srv = t.server()
    base = int(srv.info("stats")["total_connections_received"])
    conns = [srv.raw() for _ in range(10)]
    for c in conns:
        c.call("PING")
    wait_for(lambda: int(srv.info("clients")["connected_clients"]) >= 11, 10, what="clients counted")
    for c in conns:
        c.close()
    wait_for(lambda: int(srv.info("clients")["connected_clients"]) == 1, 10, what="clients gone")
    assert int(srv.info("stats")["total_connections_received"]) >= base + 10


if __name__ == "__main__":
    rctest.run()
