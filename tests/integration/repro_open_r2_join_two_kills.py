#!/usr/bin/python3
"""Reproduction of an OPEN hole (node/repl/README.md, "Known limits": seed
19006 of the R=2 soak with the move fault). Not in CI: it fails on the
tree as it is, and is run by hand until the fix lands, then moves into
test_replication.py as a scenario:

    RINGCACHED=build/rel/node/ringcached /usr/bin/python3 \\
        tests/integration/repro_open_r2_join_two_kills.py

R=2 on 5 nodes. A 6th node J joins; iptables drops every RCMIGRATE DONE
that P sends, P being the node that hands J the most recorded keys. Once
every other node has installed the switch (J serves P's slots, awaiting
P's DONEs, which never come), P and J get kill -9 at once: two failures.
Each slot J took from P has a third copy A that followed P to the end
(a synchronous replica: neither P nor J could acknowledge a write
without it), so the history checker must find nothing lost and INFO
repl_slots_lost must stay 0. On the tree of 2026-12-07 A loses the mark
of its copy at the next configuration and takes the slot over empty."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import handoff_load as hl  # noqa: E402
import rccluster  # noqa: E402
import rctest  # noqa: E402
import test_replication as tr  # noqa: E402
from rctest import test  # noqa: E402


@test
def test_r2_joiner_and_its_source_killed_before_the_switch_took_hold(t):
    if rccluster.iptables_usable() is not None:
        raise AssertionError(rccluster.iptables_usable())
    with tr.Scenario(t, "R=2 joiner and its source killed", nodes=5, replicas=2) as c:
        c.phase("before the join")
        before = c.table()
        j = rccluster.join_node(t, c.live, extra=c.extra, wait=True)
        c.live.append(j)

        def moving():
            # the transition: J is the target of slots some node still serves
            m = hl.migration(j) or {}
            return int(m.get(hl.M_SLOTS_IN, "0") or 0) > 0

        rctest.wait_for(moving, timeout=20, interval=0.005, what="%d being filled" % j.port)
        c.expect_rejoin(j)  # its member id, now that it is one
        # P: the node that serves the most recorded keys (it hands J some)
        p = c.pick_primary(before, exclude=[j])
        rccluster.drop_sent(p, ["$4\r\nDONE\r\n"])

        def switched():
            table = hl.slot_copies(next(s for s in c.live if s not in (p, j)))
            mine = [sl for sl in range(16384) if table[sl][:1] == (j.port,) and
                    before[sl][:1] == (p.port,)]
            return (table, mine) if mine else None

        during, mine = rctest.wait_for(switched, timeout=30, interval=0.005,
                                       what="the switch: %d serves slots of %d" % (j.port, p.port))
        print("  %d serves %d slots %d served before the switch" % (j.port, len(mine), p.port))
        f = c.note("kill -9 %d and %d at once (P's DONEs dropped)" % (p.port, j.port), p, during)
        c.kill(j, fault=f)
        c.kill(p, fault=f)
        c.agree()
        c.finish(need=("primary",))


if __name__ == "__main__":
    rctest.run()
