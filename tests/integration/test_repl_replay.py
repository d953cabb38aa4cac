#!/usr/bin/python3
"""Replicated writes to collections (issue 14): at R=1 a write to a list,
hash, set or sorted set (or an APPEND to a big string) goes to the slot's
replica as its command, not as the key's whole value, so a push onto a
list of 20,000 elements costs its own bytes on the data link, not the
list's. The replica's copy stays equal to the primary's: after kill -9 of
the primary, the replica serves every key with exactly the value the
primary had acknowledged. Harness: rccluster.py on top of rctest.py;
ringcache only (it reads ringcache's INFO fields)."""

import rccluster
import rctest
from rctest import test

TAG = "{replay}"  # every key in one slot: one primary, one replica
BIG = 20000


def total(nodes, field):
    return sum(int(s.info().get(field, 0)) for s in nodes)


def snapshot(r, keys):
    """Each key's value as clients read it."""
    lst, hsh, st, zs, txt = keys
    return {
        lst: r.lrange(lst, 0, -1),
        hsh: r.hgetall(hsh),
        st: r.smembers(st),
        zs: r.zrange(zs, 0, -1, withscores=True),
        txt: r.get(txt),
    }


def primary_port(srv, key):
    slot = rccluster.keyslot(key)
    for lo, hi, nodes in rccluster._slots(srv):
        if lo <= slot <= hi:
            return nodes[0][1]
    raise AssertionError("slot %d is not in CLUSTER SLOTS" % slot)


@test
def test_collection_writes_replay_and_the_replica_serves_them_after_a_kill(t):
    nodes = rccluster.start_cluster(t, 3)
    assert all(s.info().get("repl_replicas") == "1" for s in nodes), "R=1 is the default"
    keys = [TAG + name for name in ("list", "hash", "set", "zset", "text")]
    lst, hsh, st, zs, txt = keys
    r = nodes[0].client()  # any node: writes to the slot are forwarded

    pipe = r.pipeline(transaction=False)
    for i in range(0, BIG, 1000):
        pipe.rpush(lst, *("e%d" % j for j in range(i, i + 1000)))
        pipe.hset(hsh, mapping={"f%d" % j: "v%d" % j for j in range(i // 4, i // 4 + 250)})
        pipe.sadd(st, *("m%d" % j for j in range(i // 4, i // 4 + 250)))
        pipe.zadd(zs, {"z%d" % j: j % 97 for j in range(i // 4, i // 4 + 250)})
    pipe.set(txt, "t" * 65536)
    pipe.execute()
    sent0 = total(nodes, "migration_bytes_sent")
    replayed0 = total(nodes, "repl_writes_replayed")

    # 400 writes of every replayed kind; the list alone is about 200 KB, so
    # sending the whole value each time would be 80 MB on the link.
    for i in range(50):
        pipe = r.pipeline(transaction=False)
        pipe.lpush(lst, "head%d" % i)
        pipe.rpush(lst, "tail%d" % i)
        pipe.lset(lst, 5 + i, "set%d" % i)
        pipe.lpop(lst, 2)
        pipe.hset(hsh, "f%d" % i, "new%d" % i)
        pipe.hincrby(hsh, "n", i)
        pipe.hdel(hsh, "f%d" % (100 + i))
        pipe.sadd(st, "x%d" % i)
        pipe.srem(st, "m%d" % (200 + i))
        pipe.zadd(zs, {"z%d" % i: 1000 + i})
        pipe.zincrby(zs, 0.5, "z%d" % (300 + i))
        pipe.zpopmin(zs)
        pipe.append(txt, "a%d" % i)
        pipe.setrange(txt, i * 10, "r%d" % i)
        pipe.execute()
    r.ltrim(lst, 1, -2)
    r.lrem(lst, 0, "e77")
    r.spop(st)  # by chance: its effect goes whole, not replayed
    replayed = total(nodes, "repl_writes_replayed") - replayed0
    sent = total(nodes, "migration_bytes_sent") - sent0
    print("  %d writes replayed, %d bytes sent on the data links" % (replayed, sent))
    assert replayed >= 50 * 14 + 2, replayed
    assert sent < 2 * 1024 * 1024, "the writes sent %d bytes: whole values, not commands" % sent
    rctest.wait_for(lambda: total(nodes, "repl_replays_applied") == total(nodes, "repl_writes_replayed"),
                    what="every replayed write applied")
    assert total(nodes, "repl_replays_refused") == 0

    want = snapshot(r, keys)
    assert len(want[lst]) == BIG + 50 * 2 - 50 * 2 - 2 - 1, len(want[lst])
    victim = next(s for s in nodes if s.port == primary_port(nodes[0], lst))
    live = [s for s in nodes if s is not victim]
    print("  kill -9 of %d, the primary of %s" % (victim.port, TAG))
    rccluster.kill(victim)
    rccluster.wait_agree(live, timeout=20 * rctest.timeout_scale())
    rctest.wait_for(lambda: primary_port(live[0], lst) != victim.port, what="a new primary")
    r2 = live[0].client()
    got = rctest.wait_for(lambda: snapshot(r2, keys), timeout=10, what="the slot served again")
    for k in keys:
        assert got[k] == want[k], "%s differs on the replica that took over" % k
    r.close()
    r2.close()


if __name__ == "__main__":
    rctest.run()
