#!/usr/bin/python3
"""Issues 5 and 14: seeded chaos runs judged by histcheck. Five nodes
(cluster-replicas 1, the default) take faults drawn at random from
RC_CHAOS_SEED while recorded clients (handoff_load.Load: plain pipelines of
GET/SET/DEL through random live nodes and a RedisCluster client) work on
2,000 keys: 1,000 strings and 1,000 fields of 40 hashes (HGET/HSET/HDEL,
writes a replica replays as commands):

  - test_chaos_one_fault_at_a_time_under_recorded_load (30 s): kill -9,
    SIGSTOP/SIGCONT and iptables partitions of one node (short, or until
    the others removed the node), graceful leaves (SIGTERM), fresh joins,
    and moves (a join or a leave with a kill -9 or a restart while its
    slots move), 3 to 6 members;
  - test_chaos_restart_with_dir_under_recorded_load (15 s): kill -9 then a
    restart with the node's dir (it must come back as a new incarnation),
    and joins;
  - test_chaos_two_faults_at_r2_under_recorded_load (20 s): the same mix,
    and restarts, on a cluster founded with cluster-replicas 2 (a partition
    may cut two nodes off together), where a step may be two
    failures that overlap: a kill -9, a restart with the dir or a SIGSTOP,
    then a kill -9 or a restart of another node before the cluster has
    re-replicated (at once, when the next configuration is installed, or
    just after, while the new copies fill; a stopped node is continued
    then; the first may be a move), 5 to 7 members.

With one replica only one failure at a time is survivable, so a fault (or,
at R=2, a pair of overlapping failures) is injected only once the cluster is
settled: every live node agrees on the
membership and slot table, no slot is moving and none is served with fewer
than two copies (handoff_load.wait_replicated), and that still holds, at the
same epoch, QUIET seconds later. The run fails, naming every node's state,
if that takes longer than 30 s. A stopped node is a failure until it is
continued and the cluster has settled again.

The promise checked (histcheck.py), with no loss event allowed: no
acknowledged write lost (final reads of every key through every node), no
stale read, no divergent key, no phantom value; besides, no node reports a
slot taken over with no complete copy after the first fault
(repl_slots_lost), no request hangs
(a client timeout is allowed only while a node is stopped or cut off), no node
crashes or trips a sanitizer (teardown), and every node serves every key
afterwards. One line per fault says what happened (@ seconds since the
preload, histcheck's time base) and how long the cluster took to settle.

Replay a failure with the printed line: RC_CHAOS_SEED (the fault schedule
replays alike; timings do not), RC_CHAOS_SECONDS, RC_CHAOS_FAULTS (a comma
list of kill,pause,restart,leave,join,cut,partition,move overriding the
test's mix; partition cuts one node, or at R=2 sometimes two, off the rest;
cut, ss -K of every connection between two live nodes, is in no test's mix:
soaks add it; move is a join or a leave and, while its slots move, a kill
-9 or a restart of one node, the joiner or the leaver among them). With
RC_CHAOS_SAVE=<dir> a failed run's history is saved there (python3
histcheck.py FILE re-checks it); RC_KEEP_TMP=1 keeps the node logs and
RC_NODE_ARGS="--loglevel verbose" makes them detailed. chaos_soak.sh runs
this for many seeds."""

import os
import random
import time

import handoff_load as hl
import histcheck
import rccluster
import rctest
from rctest import test

KEYS = 2000
MIN_NODES = 3  # never fail a node of a 3-member cluster
MAX_NODES = 6
# R=2: two overlapping failures need 5 members (a majority of 5 is 3 and
# every slot keeps one of its 3 copies); the cluster grows up to 7.
MIN_NODES_TWO = 5
MAX_NODES_R2 = 7
FAULTS = ("kill", "pause", "restart", "leave", "join", "cut", "partition", "move")
SETTLE = 30.0  # seconds (scaled) the cluster may take to settle after a fault
QUIET = 0.5  # seconds (scaled) a settled state must last, at one epoch
LEAVE_PROMPT = 20.0  # seconds (scaled) a leaver may take to exit after the fault; its
# cluster-leave-timeout is the default 60 s, so one that lingers fails the run


def myid(srv):
    return srv.client().execute_command("CLUSTER", "MYID")


class Chaos:
    """The run's state: the live nodes, the recorded load, the per-fault log."""

    def __init__(self, t, seed, kinds, replicas=1):
        self.t = t
        self.seed = seed
        self.rnd = random.Random(seed)
        self.started = time.monotonic()
        self.replicas = replicas
        self.extra = ["--cluster-replicas", str(replicas)]
        self.max_nodes = MAX_NODES_R2 if replicas >= 2 else MAX_NODES
        self.live = rccluster.start_cluster(t, 5, extra=self.extra)
        # Half string keys, half fields of 40 hashes (their writes are
        # replayed on the replicas, not copied whole).
        self.keys = ["ch:%04d" % i for i in range(KEYS // 2)] + [
            "chh:{%02d}#%04d" % (i % 40, i) for i in range(KEYS // 2, KEYS)]
        self.h = histcheck.History()
        self.t0 = time.monotonic()  # histcheck's times count from the preload
        hl.preload(self.h, self.live, self.keys)
        self.targets = hl.Targets(self.live)
        self.load = hl.Load(self.h, self.targets, self.keys, seed, plain=3, batch=20)
        self.paused = []  # (start, end) of every SIGSTOP or partition window
        self.faults = {}
        self.slots_lost = []  # (fault, port, count) seen at a settle point
        self.nfault = 0
        self.kinds = set(os.environ.get("RC_CHAOS_FAULTS", kinds).split(","))
        assert self.kinds <= set(FAULTS), "RC_CHAOS_FAULTS: pick among %s" % ",".join(FAULTS)
        if "partition" in self.kinds:
            why = rccluster.iptables_usable()
            assert why is None, "the partition fault cannot run: %s" % why
        self.failed_ops = 0
        self.reborn = []  # (node, its id before a restart)
        self.lost_base = None  # repl_slots_lost per port before the first fault
        self.leaving = None  # a leaver move() did not kill, for reap()
        self.move_victim = None
        self.kill_epoch = -1

    def settle(self, what):
        """Waits until one more failure is survivable (wait_replicated), and
        still is QUIET seconds later at the same epoch: a removal decided
        late (a stop close to the node timeout) must not overlap the next
        fault. A node restarted with its dir must have come back as a new
        incarnation first. Returns the seconds it took."""
        t0 = time.monotonic()
        deadline = t0 + SETTLE * rctest.timeout_scale()
        for v, old_id in self.reborn:
            rccluster.wait_reborn(self.live, v, old_id, timeout=SETTLE)
        self.reborn = []
        last = None
        while True:
            left = max(deadline - time.monotonic(), 0.1) / rctest.timeout_scale()
            repl = hl.wait_replicated(self.live, timeout=left, what="%s: cluster settled" % what)
            epoch = rccluster.cluster_info(self.live[0])["cluster_current_epoch"]
            if epoch == last:
                break
            assert time.monotonic() < deadline, "%s: the epoch keeps changing (%s)" % (what, epoch)
            last = epoch
            # a quiet period, not a wait for a condition: nothing to poll for
            time.sleep(QUIET * rctest.timeout_scale())
        for port, r in repl.items():
            n = int(r.get(hl.R_LOST, "0") or 0)
            if self.lost_base is None:
                if n:  # a node removed while the cluster formed, before any data
                    print("  note: %d reports %d slots lost while the cluster formed" % (port, n))
            elif n > self.lost_base.get(port, 0):
                self.slots_lost.append((what, port, n - self.lost_base.get(port, 0)))
        if self.lost_base is None:
            self.lost_base = {port: int(r.get(hl.R_LOST, "0") or 0) for port, r in repl.items()}
        return time.monotonic() - t0

    def _failed(self):
        n = sum(1 for o in self.h.ops() if o[5] != histcheck.OK)
        new, self.failed_ops = n - self.failed_ops, n
        return new

    def wait_removed(self, rest, what):
        """Waits until every node of 'rest' counts exactly 'rest' as the
        members: the others were removed."""
        rctest.wait_for(lambda: all(rccluster.cluster_info(s)["cluster_known_nodes"]
                                    == str(len(rest)) for s in rest),
                        timeout=SETTLE, interval=0.02, what=what)

    # -- faults: each returns a description of what happened ----------------
    def kill(self, v=None):
        v = v or self.rnd.choice(self.live)
        self.targets.drop(v)
        rctest.kill_node(v)
        self.t.expect_dead.add(id(v))
        self.live.remove(v)
        return "kill -9 %d" % v.port

    def pause(self):
        v = self.rnd.choice(self.live)
        long_pause = self.rnd.random() < 0.5
        short = self.rnd.uniform(0.1, 0.6)
        others = [s for s in self.live if s is not v]
        t0 = time.monotonic()
        rctest.pause_node(v)
        try:
            if long_pause:
                self.wait_removed(others, "the others removing stopped %d" % v.port)
            else:
                time.sleep(short)  # the fault itself: a stop shorter than the node timeout
        finally:
            rctest.resume_node(v)
            self.paused.append((t0, time.monotonic()))
        removed = "removed, rejoins" if long_pause else "not waited for removal"
        return "SIGSTOP %d for %.2fs (%s), SIGCONT" % (v.port, time.monotonic() - t0, removed)

    def restart(self, v=None):
        v = v or self.rnd.choice(self.live)
        self.reborn.append((v, myid(v)))
        self.targets.drop(v)
        rctest.kill_node(v)
        v.exitcode = None
        v.spawn()
        v.wait_ready()
        self.targets.add(v)
        return "kill -9 %d, restart with its dir" % v.port

    def cut(self):
        """ss -K aborts every connection between two live nodes, both ways
        (data and control links): nobody fails; streams that had writes in
        flight break and their replicas resync over the copies they keep."""
        a, b = self.rnd.sample(self.live, 2)
        n = rccluster.cut_links(a, b) + rccluster.cut_links(b, a)
        return "cut the links between %d and %d (%d connections)" % (a.port, b.port, n)

    def partition(self):
        """iptables cuts a minority off (rccluster.partition: every message
        to its bus ports is dropped, and half the time every one it sends
        too; clients still reach it, so requests keep going into the
        minority, which must neither acknowledge a write nor serve a stale
        read): one node, or at R=2 with 5 members or more sometimes two,
        which still talk to each other. Held under
        the node timeout (a removal may or may not come), or until the
        majority has removed the minority; then healed, and a removed node
        rejoins. Client timeouts are allowed while it lasts."""
        n = len(self.live)
        size = 2 if self.replicas >= 2 and n >= MIN_NODES_TWO and self.rnd.random() < 0.5 else 1
        group = self.rnd.sample(self.live, size)
        rest = [s for s in self.live if s not in group]
        long_cut = self.rnd.random() < 0.5
        short = self.rnd.uniform(0.1, 0.6)
        both = self.rnd.random() < 0.5
        t0 = time.monotonic()
        if size == 1:
            rccluster.partition(group[0], client=False, both_ways=both)
        else:
            rccluster.partition_group(group, client=False, both_ways=both)
        try:
            if long_cut:
                self.wait_removed(rest, "the majority removing the cut-off %s"
                                  % " ".join(str(s.port) for s in group))
            else:
                time.sleep(short)  # the fault itself: a cut shorter than the node timeout
        finally:
            rccluster.heal()
            self.paused.append((t0, time.monotonic()))
        return "partition %s from the rest %s for %.2fs (%s), healed" % (
            "+".join(str(s.port) for s in group), "both ways" if both else "one way",
            time.monotonic() - t0,
            "removed, rejoins" if long_cut else "not waited for removal")

    def leave(self):
        v = self.rnd.choice(self.live)
        self.targets.retire(v)
        self.live.remove(v)
        code = rccluster.leave(v, timeout=30.0)
        assert code == 0, "%d left with exit code %s" % (v.port, code)
        return "leave %d (SIGTERM)" % v.port

    def join(self):
        via = self.rnd.choice(self.live)
        n = rccluster._start_one(self.t, join=via, extra=self.extra)
        self.live.append(n)
        self.targets.add(n)
        return "join %d through %d" % (n.port, via.port)

    def move(self, more=0):
        """A join or a graceful leave, and while its slots move (once a
        node has installed the configuration it made, and 0-0.4 s later) a
        kill -9 or a restart with the dir of one node: the joiner or the
        leaver itself, or another. The leave and the join are no failures,
        so this is one failure, which R=1 survives with nothing lost. 'more'
        failures follow (R=2: second_failure()), so a leave needs that many
        more members. A leaver not killed must still finish its leave
        (reap(): exit code 0). Sets move_victim and kill_epoch (the
        epoch before the kill)."""
        n = len(self.live)
        epoch = max(self.epoch_seen(s) for s in self.live)
        self.leaving = leaver = None
        left = MIN_NODES_TWO if more else MIN_NODES + 1  # members the leave may leave
        if n - 1 >= left and (n >= self.max_nodes or self.rnd.random() < 0.5):
            leaver = self.rnd.choice(self.live)
            self.targets.retire(leaver)
            self.live.remove(leaver)
            leaver.stop_async()
            did = "leave %d (SIGTERM)" % leaver.port
            mover = leaver
        else:
            via = self.rnd.choice(self.live)
            mover = rccluster._start_one(self.t, join=via, extra=self.extra)
            self.live.append(mover)
            self.targets.add(mover)
            did = "join %d through %d" % (mover.port, via.port)
        rctest.wait_for(lambda: any(self.epoch_seen(s) > epoch for s in self.live),
                        timeout=SETTLE, interval=0.005,
                        what="the configuration of the %s" % ("leave" if leaver else "join"))
        time.sleep(self.rnd.uniform(0.0, 0.4))  # the window: its slots moving
        self.kill_epoch = max(self.epoch_seen(s) for s in self.live)
        victim = mover if self.rnd.random() < 0.35 else self.rnd.choice(
            [s for s in self.live if s is not mover])
        self.move_victim = victim
        if victim is leaver:
            if all(self.members_seen(s) == len(self.live) for s in self.live):
                # It has left the configuration already (its hand-over goes
                # on): its death removes no member, so no configuration
                # follows it for second_failure() to wait for (soak seed
                # 25114 waited 30 s for one).
                self.kill_epoch = None
            rctest.kill_node(leaver)
            self.t.expect_dead.add(id(leaver))
            return did + ", then kill -9 %d (the leaver)" % leaver.port
        self.leaving = leaver
        second = self.kill if self.rnd.random() < 0.7 else self.restart
        return did + ", then %s%s" % (second(victim), " (the joiner)" if victim is mover else "")

    def reap(self):
        """A leaver that move() did not kill has finished its leave (exit
        code 0) promptly, well before cluster-leave-timeout (60 s), even
        when its hand-over target died after the switch: it goes on
        learning the configurations (paxos_node_follow()) and so hears of
        the target's removal. Until 2026-12-07 it lingered until that
        timeout (soak seed 18111). Returns a note on how long it took."""
        leaver, self.leaving = self.leaving, None
        if leaver is None:
            return ""
        t0 = time.monotonic()
        code = leaver.wait_exit(timeout=LEAVE_PROMPT)
        assert code == 0, "%d left with exit code %s" % (leaver.port, code)
        return "; %d exited %.2fs after the kill" % (leaver.port, time.monotonic() - t0)

    def members_seen(self, srv):
        try:
            return int(rccluster.cluster_info(srv)["cluster_known_nodes"])
        except Exception:  # noqa: BLE001 - a node stopped or dying meanwhile
            return -1

    def epoch_seen(self, srv):
        try:
            return int(rccluster.cluster_info(srv)["cluster_current_epoch"])
        except Exception:  # noqa: BLE001 - a node stopped or dying meanwhile
            return -1

    def second_failure(self, first, epoch):
        """R=2: a kill -9 or a restart of a node other than the first
        failure's, before the cluster re-replicated: at once, or once a
        live node has installed the configuration that follows the first
        failure (epoch past 'epoch': the new copies then fill), and a
        little later still. Returns what it did."""
        when = self.rnd.choice(("at once", "at the removal", "after the removal"))
        pick = [s for s in self.live if s is not first]
        if epoch is None:  # the first failure removes no member (move())
            when += " (a leaver out of the configuration: no removal to wait for)"
        elif when != "at once":
            rctest.wait_for(lambda: any(self.epoch_seen(s) > epoch for s in pick),
                            timeout=SETTLE, interval=0.005,
                            what="a new configuration after the first failure")
            if when == "after the removal":
                # the window itself: the second failure lands while the
                # copies the first one took are being made again
                time.sleep(self.rnd.uniform(0.0, 0.3))
        second = self.rnd.choice((self.kill, self.restart))
        return "then, %s: %s" % (when, second(self.rnd.choice(pick)))

    def step(self):
        """Settles, lets the load run, injects one fault drawn from the seed
        (at R=2 sometimes two overlapping failures)."""
        self.load.wait_progress(self.rnd.randint(200, 1500), timeout=SETTLE,
                                what="load between faults")
        n = len(self.live)
        if (self.replicas >= 2 and n >= MIN_NODES_TWO and self.rnd.random() < 0.6
                and self.kinds & {"kill", "restart", "move"}):
            return self.double_step(n)
        menu = [(self.kill, 3, n > MIN_NODES), (self.pause, 3, n > MIN_NODES),
                (self.restart, 2, True), (self.leave, 1, n > MIN_NODES + 1),
                (self.join, 2, n < self.max_nodes), (self.cut, 2, True),
                (self.partition, 3, n > MIN_NODES), (self.move, 2, n > MIN_NODES)]
        menu = [(f, w) for f, w, ok in menu if ok and f.__name__ in self.kinds]
        if not menu:  # RC_CHAOS_FAULTS left nothing possible: grow the cluster
            menu = [(self.join, 1)]
        fault = self.rnd.choices([f for f, _ in menu], weights=[w for _, w in menu])[0]
        self.nfault += 1
        t_fault = time.monotonic() - self.t0
        did = fault()
        did += self.reap()
        self.faults[fault.__name__] = self.faults.get(fault.__name__, 0) + 1
        took = self.settle("after fault %d (%s)" % (self.nfault, did))
        print("  #%d @%.2f %s: %d -> %d members, settled in %.2fs; %d ops so far, %d failed "
              "since the last fault" % (self.nfault, t_fault, did, n, len(self.live), took,
                                        self.h.count(), self._failed()))

    def double_step(self, n):
        """Two overlapping failures (R=2): a kill -9, a restart with the dir,
        a SIGSTOP (continued once the second failure is in: removed by then
        unless it came at once) or a move() (its kill or restart the first
        failure), then second_failure()."""
        first_kind = self.rnd.choice([k for k in ("kill", "restart", "pause", "move")
                                      if k in self.kinds] or ["kill"])
        self.nfault += 1
        t_fault = time.monotonic() - self.t0
        first = self.rnd.choice(self.live)
        epoch = self.epoch_seen(first)
        if first_kind == "move":
            did = self.move(more=1)
            did += "; " + self.second_failure(self.move_victim, self.kill_epoch)
            did += self.reap()
        elif first_kind == "pause":
            t0 = time.monotonic()
            rctest.pause_node(first)
            try:
                did = "SIGSTOP %d" % first.port
                did += "; " + self.second_failure(first, epoch)
            finally:
                rctest.resume_node(first)
                self.paused.append((t0, time.monotonic()))
            did += "; SIGCONT %d after %.2fs" % (first.port, time.monotonic() - t0)
        else:
            did = getattr(self, first_kind)(first)
            did += "; " + self.second_failure(first, epoch)
        self.faults["two at once"] = self.faults.get("two at once", 0) + 1
        took = self.settle("after fault %d (%s)" % (self.nfault, did))
        print("  #%d @%.2f %s: %d -> %d members, settled in %.2fs; %d ops so far, %d failed "
              "since the last fault" % (self.nfault, t_fault, did, n, len(self.live), took,
                                        self.h.count(), self._failed()))

    def hangs(self):
        """Client timeouts outside every SIGSTOP and partition window."""
        out = []
        for o in self.h.ops():
            if o[5] == histcheck.TIMEOUT and not any(o[3] <= p1 and o[4] >= p0
                                                     for p0, p1 in self.paused):
                out.append(o)
        return out


def run_chaos(t, name, kinds, seconds, replicas=1):
    seed = int(os.environ.get("RC_CHAOS_SEED", "20261128"))
    seconds = float(os.environ.get("RC_CHAOS_SECONDS", seconds))
    c = Chaos(t, seed, kinds, replicas)
    print("%s: seed %d, %.0f s, faults %s (replay: RC_CHAOS_SEED=%d RC_CHAOS_SECONDS=%g "
          "RC_CHAOS_FAULTS=%s %s -k %s)" % (name, seed, seconds, ",".join(sorted(c.kinds)), seed,
                                            seconds, ",".join(sorted(c.kinds)),
                                            os.path.basename(__file__), t.name))
    c.load.start()
    try:
        c.settle("before the first fault")
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            c.step()
        c.load.wait_progress(1000, timeout=SETTLE, what="load after the last fault")
    finally:
        c.load.stop()
    hl.final_reads(c.h, c.live, c.keys)
    rep = hl.report(name, c.h, seed, c.started)
    print("%s faults: %d (%s); %d nodes at the end" % (
        name, c.nfault, ", ".join("%s %d" % kv for kv in sorted(c.faults.items())), len(c.live)))
    held = [hl.migration(srv) or {} for srv in c.live]
    print("%s parked requests on the nodes at the end: %d answered TRYAGAIN past the bound, "
          "%d data links dropped unrun (their sender closed them)" % (
              name, sum(int(m.get("migration_held_expired", 0)) for m in held),
              sum(int(m.get("migration_peer_hangups_dropped", 0)) for m in held)))
    failed_finals = [f for f in c.h.finals if f[5] != histcheck.OK]
    # A replica refuses a replayed write only when its copy differs from
    # its primary's (it is then filled again): never, if copies stay equal.
    refused = [line for srv in t.servers for line in srv.log().splitlines()
               if "a replayed write of key" in line]
    replayed = sum(int(srv.info().get("repl_writes_replayed", 0)) for srv in c.live)
    print("%s writes replayed by the live nodes: %d; refused: %d" % (name, replayed, len(refused)))
    hangs = c.hangs()
    bad = rep.lost + rep.stale + rep.divergent + rep.phantom
    if (bad or failed_finals or hangs or c.slots_lost) and os.environ.get("RC_CHAOS_SAVE"):
        path = os.path.join(os.environ["RC_CHAOS_SAVE"], "%s-%d.history" % (t.name, seed))
        c.h.save(path)
        print("history saved to %s" % path)
    assert bad == 0, "seed %d: %s" % (seed, rep.details())
    assert not c.slots_lost, "seed %d: slots taken over with no complete copy: %r" % (
        seed, c.slots_lost)
    assert not failed_finals, "seed %d: final reads failed, e.g. %r" % (seed, failed_finals[:3])
    assert not refused, "seed %d: replicas refused replayed writes, e.g. %r" % (seed, refused[:3])
    assert not hangs, "seed %d: %d client timeouts with no node stopped, e.g. %r" % (
        seed, len(hangs), hangs[:3])
    assert c.nfault > 0, "no fault was injected"


@test
def test_chaos_one_fault_at_a_time_under_recorded_load(t):
    """kill -9, SIGSTOP/SIGCONT, iptables partitions, leave, join, move (30 s)."""
    run_chaos(t, "chaos", "kill,pause,partition,leave,join,move", "30")


@test
def test_chaos_restart_with_dir_under_recorded_load(t):
    """kill -9 then a restart with the node's dir, and joins (15 s)."""
    run_chaos(t, "chaos restart", "restart,join", "15")


@test
def test_chaos_two_faults_at_r2_under_recorded_load(t):
    """cluster-replicas 2: single faults (partitions of one or two nodes
    among them) and pairs of overlapping failures (20 s)."""
    run_chaos(t, "chaos r2", "kill,pause,restart,partition,leave,join,move", "20", replicas=2)


if __name__ == "__main__":
    rctest.run()
