#!/usr/bin/python3
"""Issue 13: faults in the middle of a hand-off. A 3-node cluster holds
200,000 ballast keys (so a transfer lasts a while) and 5,000 recorded keys
under recorded load (histcheck.py); a 4th node joins and, once its INFO
`# Migration` section shows keys arriving, one of these happens:

  - the target (the joining node) is killed with SIGKILL;
  - a source (a node handing slots to it) is killed with SIGKILL;
  - the target is stopped (SIGSTOP) until the others remove it, then
    continued (SIGCONT): it comes back as a new incarnation and joins again.

With R=0 a dead or removed node's keys may be lost, but only those: keys of
slots it owned (before or after the join) from the moment of the fault on.
A removal also makes the ring move about 1% of the slots between survivors
(160 of 16384 when one of 3 members dies): those keys must be handed off
too, their old owner is alive.
Whatever happens, no read is ever stale (a value already overwritten, or nil
after an acknowledged write with no loss to explain it), no value is a
phantom, and the nodes agree on every key afterwards. Errors are allowed
(clients talked to a dying node) and printed. Each case prints one
"handoff <case>: ..." summary line.

Without the `# Migration` section (a build without the hand-off) the fault
comes right after the join is agreed, the history is still checked, and the
case fails for not having seen a transfer.

    test_handoff_faults.py [--seed S] [--keys N] [--ballast N] [-k NAME]"""

import argparse
import os
import random
import sys
import time

import handoff_load as hl
import histcheck
import rccluster
import rctest
from rctest import test

OPTS = argparse.Namespace(seed=int(os.environ.get("RC_HANDOFF_SEED", "20261213")), keys=5000,
                          ballast=200000)


class Case:
    """A 3-node cluster with ballast, recorded keys and load running."""

    def __init__(self, t, name):
        self.t = t
        self.name = name
        self.started = time.monotonic()
        self.seed = OPTS.seed
        self.rnd = random.Random(self.seed)
        self.keys = ["h:%05d" % i for i in range(OPTS.keys)]
        self.live = rccluster.start_cluster(t, 3)
        secs = hl.ballast(self.live, OPTS.ballast)
        print("  %d ballast keys loaded in %.2fs" % (OPTS.ballast, secs))
        self.h = histcheck.History()
        hl.preload(self.h, self.live, self.keys)
        self.targets = hl.Targets(self.live)
        self.load = hl.Load(self.h, self.targets, self.keys, self.seed, plain=3).start()
        try:
            self.load.wait_progress(5000)
            self.before = hl.slot_owners(self.live[0])
        except BaseException:
            self.load.stop()
            raise
        self.observed = None

    def join_until_transfer(self):
        """A 4th node joins; returns it once keys are moving to it (or, with
        no `# Migration` section, once the join is agreed), with the slot
        table that gives it slots."""
        d = rccluster.join_node(self.t, self.live)
        self.observed = hl.wait_transfer(d, "in")
        after = hl.wait_owner(self.live, d.port)
        print("  %d joined; %s" % (d.port, "mid-transfer: %r" % self.observed
                                   if self.observed else "no # Migration section: "
                                   "faulting right after the join"))
        return d, after

    def kill(self, srv, owners):
        """SIGKILL; the keys 'srv' owned in any table of 'owners' may be lost."""
        self.targets.drop(srv)
        t_kill = time.monotonic()
        rctest.kill_node(srv)
        self.t.expect_dead.add(id(srv))
        lossy = set()
        for table in owners:
            lossy.update(hl.keys_owned_by(self.keys, table, srv.port))
        self.h.loss(lossy, t_kill)
        print("  kill -9 %d (%d recorded keys may be lost)" % (srv.port, len(lossy)))

    def finish(self, survivors):
        try:
            hl.wait_settled(survivors, timeout=30)
            self.load.wait_progress(20000)
        finally:
            self.load.stop()
        hl.final_reads(self.h, survivors, self.keys)
        rep = hl.report("handoff %s" % self.name, self.h, self.seed, self.started)
        bad = rep.stale + rep.divergent + rep.phantom + rep.lost
        assert bad == 0, rep.details()
        assert self.observed is not None, (
            "no transfer was seen (INFO has no # Migration section): the fault did not come "
            "mid-transfer")
        return rep


@test
def test_kill_target_mid_transfer(t):
    c = Case(t, "kill target")
    try:
        d, after = c.join_until_transfer()
        c.kill(d, [after])
    except BaseException:
        c.load.stop()
        raise
    c.finish(c.live)


@test
def test_kill_source_mid_transfer(t):
    c = Case(t, "kill source")
    try:
        d, after = c.join_until_transfer()
        sources = {c.before[s] for s in range(16384) if after[s] == d.port}
        # live[0] is the seed of joins: keep it
        src = c.rnd.choice([s for s in c.live[1:] if s.port in sources] or
                           [s for s in c.live if s.port in sources])
        c.live.remove(src)
        c.kill(src, [c.before, after])
        c.live.append(d)
    except BaseException:
        c.load.stop()
        raise
    c.finish(c.live)


@test
def test_sigstop_target_mid_transfer(t):
    c = Case(t, "sigstop target")
    try:
        d, after = c.join_until_transfer()
        t_pause = time.monotonic()
        rctest.pause_node(d)
        try:
            rctest.wait_for(lambda: all(rccluster.cluster_info(s)["cluster_known_nodes"] == "3"
                                        for s in c.live),
                            timeout=15, interval=0.02, what="the stopped target removed")
            print("  SIGSTOP %d: removed after %.2fs" % (d.port, time.monotonic() - t_pause))
            c.h.loss(hl.keys_owned_by(c.keys, after, d.port), t_pause)
        finally:
            rctest.resume_node(d)
        c.live.append(d)  # it rejoins as a new incarnation
    except BaseException:
        c.load.stop()
        raise
    c.finish(c.live)


def main():
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--seed", type=int, default=OPTS.seed)
    ap.add_argument("--keys", type=int, default=OPTS.keys)
    ap.add_argument("--ballast", type=int, default=OPTS.ballast)
    opts, rest = ap.parse_known_args()
    OPTS.__dict__.update(vars(opts))
    print("handoff faults seed %d (replay: --seed %d)" % (OPTS.seed, OPTS.seed))
    sys.exit(rctest.main(rest))


if __name__ == "__main__":
    main()
