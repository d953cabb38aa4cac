"""deploy/k8s/start.sh, the pods' start command, run on loopback against real
ringcached nodes. A "pod" is start.sh with the downward-API variables set
and its own loopback address (127.0.0.2); the headless Service's name is
127.0.0.1, where a peer member may run. Checks: a pod 0 that finds a member
serving joins it (instead of founding a second cluster), keys then flow
between the two with AUTH; one that finds a peer that answers but does not
serve waits RINGCACHE_BOOTSTRAP_WAIT and then founds; placeholder and
unsafe secrets are refused; the secrets are not on the node's command line;
a stale state file is removed."""
import os
import signal
import subprocess
import sys
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration"))
import rctest  # noqa: E402
from rctest import test  # noqa: E402

START = os.path.join(HERE, "..", "..", "..", "deploy", "k8s", "start.sh")
SECRET = "k8s-test-secret-0123456789"
PASSWORD = "pw-0123456789"
POD_IP = "127.0.0.2"


class Pod:
    """start.sh as pod 'name' on POD_IP:port; stopped by PID."""

    def __init__(self, t, port, name="ringcache-0", secret=SECRET, password=PASSWORD, wait_s=None):
        self.t = t
        self.port = port
        self.base = t.mkdtemp()
        self.dir = os.path.join(self.base, "data")
        self.secrets = os.path.join(self.base, "secret")
        os.makedirs(self.dir)
        os.makedirs(self.secrets)
        with open(os.path.join(self.secrets, "cluster-secret"), "w") as f:
            f.write(secret)
        self.conf = os.path.join(self.base, "ringcached.conf")
        with open(self.conf, "w") as f:
            f.write("bind %s\nprotected-mode yes\ndir %s\nloglevel notice\n" % (POD_IP, self.dir))
        self.env = dict(os.environ, RINGCACHED=rctest.ringcached_path(), RINGCACHE_CONF=self.conf,
                        RINGCACHE_SECRETS=self.secrets, RINGCACHE_DIR=self.dir,
                        RINGCACHE_PORT=str(port), RINGCACHE_SERVICE="127.0.0.1", POD_IP=POD_IP,
                        POD_NAME=name, POD_NAMESPACE="test", RINGCACHE_PASSWORD=password)
        if wait_s is not None:
            self.env["RINGCACHE_BOOTSTRAP_WAIT"] = str(wait_s)
        self.log_path = os.path.join(self.base, "console.log")
        self.proc = None

    def start(self):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["/bin/sh", START], env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def run(self, timeout=20):
        """Runs start.sh to its exit (a refusal): returns (code, output)."""
        self.start()
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self.stop()
        return code, self.log()

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def info(self):
        c = redis.Redis(host=POD_IP, port=self.port, password=PASSWORD, socket_timeout=2)
        return c.info("cluster"), c

    def serving(self):
        try:
            info, _ = self.info()
        except Exception:  # noqa: BLE001
            return False
        return info.get("cluster_state") == "ok" and info.get("cluster_my_role") == "serving"

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def peer(t, args=()):
    return t.server(args=["--cluster-secret", SECRET, "--requirepass", PASSWORD] + list(args))


def serving_peer(t):
    p = peer(t)
    c = p.client(password=PASSWORD)
    rctest.wait_for(lambda: c.info("cluster").get("cluster_my_role") == "serving", 10,
                    what="the peer serves")
    return p


@test
def test_pod0_joins_a_serving_member_instead_of_founding(t):
    p = serving_peer(t)
    pod = Pod(t, p.port)
    # A state file from an earlier life: start.sh removes it.
    stale = os.path.join(pod.dir, "ringcache-%d.state" % p.port)
    with open(stale, "wb") as f:
        f.write(b"stale")
    pod.start()
    try:
        rctest.wait_for(pod.serving, 20, what="pod 0 serves")
        log = pod.log()
        assert "joins through 127.0.0.1:%d" % p.port in log, log
        assert "founded" not in log, log
        info, pc = pod.info()
        assert int(info["cluster_members"]) == 2, info
        c = p.client(password=PASSWORD)
        assert int(c.info("cluster")["cluster_members"]) == 2
        for i in range(50):
            pc.set("k8s:%d" % i, str(i))
        assert [c.get("k8s:%d" % i) for i in range(50)] == [str(i).encode() for i in range(50)]
        # The node replaced the shell (exec) and its command line holds no secret.
        with open("/proc/%d/cmdline" % pod.proc.pid, "rb") as f:
            argv = f.read().split(b"\0")
        assert argv[0].endswith(b"ringcached") and argv[1] == b"-", argv
        assert SECRET.encode() not in b" ".join(argv) and PASSWORD.encode() not in b" ".join(argv), argv
        assert not os.path.exists(stale) or open(stale, "rb").read() != b"stale"
    finally:
        pod.stop()
    assert pod.proc.returncode == 0, pod.log()


@test
def test_pod0_waits_for_a_peer_that_does_not_serve_then_founds(t):
    # A peer that answers PING but never serves: it joins a seed that is down.
    dead = rctest.free_port()
    p = peer(t, ["--join", "127.0.0.1:%d" % dead])
    pod = Pod(t, p.port, wait_s=4)
    t0 = time.monotonic()
    pod.start()
    try:
        rctest.wait_for(pod.serving, 30, what="pod 0 serves")
        took = time.monotonic() - t0
        log = pod.log()
        assert "peers answer but none serves yet" in log, log
        assert "founds a new cluster" in log, log
        assert took >= 4, took
        info, _ = pod.info()
        assert int(info["cluster_members"]) == 1, info
    finally:
        pod.stop()


@test
def test_pod0_founds_when_no_peer_answers(t):
    # No peer at all: pod 0 founds at once.
    port = rctest.free_port()
    pod = Pod(t, port)
    pod.start()
    try:
        rctest.wait_for(pod.serving, 20, what="pod 0 serves")
        assert "founds a new cluster" in pod.log(), pod.log()
    finally:
        pod.stop()


@test
def test_placeholder_and_unsafe_secrets_are_refused(t):
    port = rctest.free_port()
    for secret, password, what in (("change-me", PASSWORD, "cluster-secret is 'change-me'"),
                                   (SECRET, "change-me", "requirepass is 'change-me'"),
                                   ("", PASSWORD, "cluster-secret is ''"),
                                   ("two words", PASSWORD, "may hold only"),
                                   (SECRET, 'a"b', "may hold only")):
        code, out = Pod(t, port, secret=secret, password=password).run()
        assert code == 1 and what in out, (secret, password, code, out)


if __name__ == "__main__":
    rctest.run()
