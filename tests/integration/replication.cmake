# Replication (issue 14): kill -9 of a primary, a replica, the coordinator;
# SIGSTOP past the lease; iptables isolation of a primary, and of a primary
# with its replica (5 nodes: the slots of both copies are lost on purpose,
# judged apart); R=2 with two kills, apart and at once; a kill right after
# a join; a leave during a failover; a restart with an empty dir; the
# data links between two live nodes cut three times (ss -K: the replica
# keeps its copy and resyncs, nothing dropped); each
# under recorded load judged by histcheck.py (zero lost acknowledged
# writes, zero stale reads, zero divergent keys). About 90 s in the release
# build (1.5 s load phases), 2-3 minutes under ASan; each scenario prints a
# "replication <case>: ops=... lost=... stale=..." summary line.
if(TARGET ringcached)
    # QUIET: it counts a membership change it did not make as more failures
    # than planned, so no busy cluster test runs beside it (the lighter
    # single-node tests do: it ran alone until 2026-12-06, 86 s of a
    # 290 s release stage). iptables: the isolation scenarios.
    rc_integration_test(replication SCRIPT test_replication.py TIMEOUT 600 QUIET LOCKS iptables)
    # Writes to collections go to the replica as their commands (a push
    # onto a 20,000-element list costs its own bytes on the link), and the
    # replica that takes over after kill -9 of the primary serves every key
    # as acknowledged. About 2 s.
    rc_integration_test(repl_replay SCRIPT test_repl_replay.py TIMEOUT 300 BUSY)
    # Memory per key (issue 14: R=1 at most 2x R=0): a replica's copy of
    # 100,000 keys costs what the primary's copy costs, within 1.5 B a key;
    # and a quiet cluster gives back the buffers a burst of writes grew.
    # About 10 s. It measures glibc's allocations (the holes freed reply
    # segments left between keys), so it runs in the release build only:
    # ASan's allocator sizes and reuses memory its own way, and at its pace
    # the link buffers a burst grew are still held when it measures (79.6 B
    # against 72.8 B in the sanitize stage of a CI run).
    if(NOT RC_SANITIZE)
        rc_integration_test(repl_memory SCRIPT test_repl_memory.py TIMEOUT 300 BUSY)
    endif()
endif()
