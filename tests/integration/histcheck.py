#!/usr/bin/python3
"""histcheck: records what clients did to a set of keys and checks the
history against register semantics (one register per key).

Recording. Every operation is kept with its start and end time
(time.monotonic(), taken before the request is sent and after the reply is
read), its kind (write, read, delete), key, value and outcome: "ok", an error
text, or TIMEOUT (indeterminate). Writes carry values unique in the whole
history (Recorder.value() makes "<client>-<seq>"), so a read names the write
it saw. One Recorder per thread: appending needs no lock.

Checking, per key, in O(n log n). A write or delete that did not succeed
(timeout, connection error, error reply) "maybe" took effect, at any time
after its start: it may explain a later read but is never required. An
acknowledged operation X "supersedes" an operation W when X started after W
ended; a read that started after X ended must not see W's effect any more.
So a read R that returned:

  - the value of write W is fine unless some acknowledged write or delete
    that ended before R started also started after W ended: then it is a
    STALE read (R saw a value already overwritten before it began);
  - nil is fine if the initial state (no value) or some delete that started
    before R ended is not superseded in that sense; otherwise it is a MISS
    (a stale read of "no value": an acknowledged write was lost to R);
  - a value no write of this key ever wrote is a PHANTOM (so is a value of a
    write that started only after R ended).

Concurrency is therefore handled by the intervals alone: a read overlapping
a write may return the old or the new value.

After the run every key is read through every node ("final reads"): a final
read that fails the rules above means the key is LOST (its last acknowledged
value, or a later or concurrent one, is gone); final reads of one key
through different nodes that disagree are DIVERGENT. A LOSS event
(History.loss: a node that held the keys died and there are no replicas)
acts as a delete that maybe happened at any time after it (or, with an
'until' bound, at some time in [t, until]: an acknowledged write that
started after 'until' must survive it): a miss or a lost key that only it
explains is counted as allowed, never as stale; it never excuses an old
value.

Usage:
    h = History()
    rec = h.recorder("c1")          # one per thread
    v = rec.value(); t0 = time.monotonic(); r.set(k, v)
    rec.add(WRITE, k, v, t0, time.monotonic(), OK)
    ...
    h.final_read("127.0.0.1:7001", k, value, t0, t1)
    report = check(h)
    print(report.summary()); assert report.clean(), report.details()

    python3 histcheck.py --self-test     synthetic histories, each anomaly
    python3 histcheck.py FILE            checks a history saved by save()
"""

import argparse
import bisect
import collections
import json
import random
import re
import sys
import threading
import time

READ, WRITE, DELETE = "read", "write", "delete"
OK = "ok"
TIMEOUT = "timeout"  # the reply never came: indeterminate
INF = float("inf")
NINF = float("-inf")

# how many examples of each anomaly a report keeps for printing
EXAMPLES = 8


class Recorder:
    """The operations of one client (one thread). add() appends; value()
    returns a value unique in the history."""

    __slots__ = ("name", "ops", "seq")

    def __init__(self, name):
        self.name = name
        self.ops = []
        self.seq = 0

    def value(self):
        self.seq += 1
        return "%s-%d" % (self.name, self.seq)

    def add(self, op, key, value, start, end, outcome=OK, via=None):
        """'value': what a write wrote, what a read returned (None: nil);
        ignored for deletes and for reads that did not succeed. 'via': the
        node (its port) the client sent it to, when it knows (reports name
        it; the checker's verdicts do not depend on it)."""
        self.ops.append((op, key, value, start, end, outcome, self.name, via))

    def __len__(self):
        return len(self.ops)


class History:
    """Every client's operations, the final reads and the loss events."""

    def __init__(self):
        self._lock = threading.Lock()
        self._recorders = {}
        self.finals = []  # (node, key, value, start, end, outcome)
        self.losses = {}  # key -> (earliest, latest) time it may have been lost

    def recorder(self, name):
        with self._lock:
            if name in self._recorders:
                raise ValueError("recorder %r exists" % name)
            rec = Recorder(name)
            self._recorders[name] = rec
            return rec

    def ops(self):
        with self._lock:
            recs = list(self._recorders.values())
        out = []
        for r in recs:
            out.extend(r.ops)
        return out

    def count(self):
        with self._lock:
            return sum(len(r.ops) for r in self._recorders.values())

    def final_read(self, node, key, value, start, end, outcome=OK):
        self.finals.append((str(node), key, value, start, end, outcome))

    def loss(self, keys, t, until=None):
        """The keys in 'keys' may be gone from time 't' on (their node died,
        R=0), or at some time in [t, 'until'] when the loss is known to be
        over by then (every copy of their slot was removed, and the slot
        restarted empty before 'until'): see the module comment."""
        until = INF if until is None else until
        for k in keys:
            old = self.losses.get(k)
            self.losses[k] = (t, until) if old is None else (min(old[0], t), max(old[1], until))

    def save(self, path):
        """One JSON object per line (times are floats, INF as null)."""
        with open(path, "w") as f:
            for o in self.ops():
                f.write(json.dumps({"op": o[0], "key": o[1], "value": o[2], "start": o[3],
                                    "end": o[4], "outcome": o[5], "client": o[6],
                                    "via": o[7]}) + "\n")
            for fr in self.finals:
                f.write(json.dumps({"final": fr[0], "key": fr[1], "value": fr[2], "start": fr[3],
                                    "end": fr[4], "outcome": fr[5]}) + "\n")
            for k, (t, until) in self.losses.items():
                f.write(json.dumps({"loss": k, "t": t,
                                    "until": None if until == INF else until}) + "\n")

    @classmethod
    def load(cls, path):
        h = cls()
        recs = {}
        with open(path) as f:
            for line in f:
                d = json.loads(line)
                if "final" in d:
                    h.final_read(d["final"], d["key"], d["value"], d["start"], d["end"],
                                 d["outcome"])
                elif "loss" in d:
                    h.loss([d["loss"]], d["t"], d.get("until"))
                else:
                    rec = recs.get(d["client"]) or recs.setdefault(d["client"],
                                                                   h.recorder(d["client"]))
                    rec.add(d["op"], d["key"], d["value"], d["start"], d["end"], d["outcome"],
                            d.get("via"))
        return h


def error_class(outcome):
    """An error text with its numbers blanked, so messages group."""
    return re.sub(r"\d+", "N", str(outcome))[:80]


class Report:
    """Counts, and a few examples, of each kind of anomaly."""

    KINDS = ("stale", "miss", "phantom", "lost", "divergent")

    def __init__(self):
        self.ops = self.reads = self.writes = self.deletes = self.final_reads = 0
        self.counts = {k: 0 for k in self.KINDS}
        self.examples = {k: [] for k in self.KINDS}
        self.keys = {k: set() for k in self.KINDS}
        self.allowed_misses = 0  # misses explained only by a loss event
        self.allowed_lost = 0  # lost keys explained only by a loss event
        self.errors = collections.Counter()  # error class -> count
        self.seconds = 0.0

    def add(self, kind, key, text):
        self.counts[kind] += 1
        self.keys[kind].add(key)
        if len(self.examples[kind]) < EXAMPLES:
            self.examples[kind].append(text)

    @property
    def stale(self):
        """Stale reads of a value plus stale reads of nil (misses)."""
        return self.counts["stale"] + self.counts["miss"]

    @property
    def lost(self):
        return self.counts["lost"]

    @property
    def divergent(self):
        return self.counts["divergent"]

    @property
    def phantom(self):
        return self.counts["phantom"]

    @property
    def error_count(self):
        return sum(self.errors.values())

    def clean(self, errors=True):
        """No anomaly (and, with 'errors', no error either)."""
        bad = sum(self.counts.values())
        return bad == 0 and (not errors or self.error_count == 0)

    def summary(self):
        errs = ", ".join("%s: %d" % kv for kv in self.errors.most_common(4))
        return ("ops=%d reads=%d writes=%d deletes=%d final_reads=%d | lost=%d (allowed %d) "
                "stale=%d (values %d, misses %d, allowed misses %d) divergent=%d phantom=%d "
                "errors=%d%s | checked in %.2fs" % (
                    self.ops, self.reads, self.writes, self.deletes, self.final_reads,
                    self.lost, self.allowed_lost, self.stale, self.counts["stale"],
                    self.counts["miss"], self.allowed_misses, self.divergent, self.phantom,
                    self.error_count, " {%s}" % errs if errs else "", self.seconds))

    def details(self):
        lines = [self.summary()]
        for kind in self.KINDS:
            if self.counts[kind]:
                lines.append("%s: %d (%d keys), e.g.:" % (kind, self.counts[kind],
                                                         len(self.keys[kind])))
                lines += ["  " + e for e in self.examples[kind]]
        if self.errors:
            lines.append("errors by message:")
            lines += ["  %6d  %s" % (n, m) for m, n in self.errors.most_common(10)]
        return "\n".join(lines)


class _Prefix:
    """Points (x, y, tag) sorted by x; best(t) = the largest y, with its
    tag, among the points with x < t."""

    def __init__(self, points):
        points.sort(key=lambda p: p[0])
        self.xs = [p[0] for p in points]
        self.best_y = []
        self.best_tag = []
        y, tag = NINF, None
        for p in points:
            if p[1] > y:
                y, tag = p[1], p[2]
            self.best_y.append(y)
            self.best_tag.append(tag)

    def best(self, t):
        i = bisect.bisect_left(self.xs, t)
        if i == 0:
            return NINF, None
        return self.best_y[i - 1], self.best_tag[i - 1]


def _fmt_t(t, t0):
    if t == INF:
        return "never"
    if t == NINF:
        return "-inf"
    return "%.4f" % (t - t0)


def check(history, ancient=None):
    """Checks 'history' (a History); returns a Report. 'ancient', if given,
    says which values were written before the history began (an earlier
    segment of a long run): each counts as a write acknowledged before
    anything in the history, rather than as a phantom."""
    t_check = time.monotonic()
    rep = Report()
    ops = history.ops()
    t0 = min((o[3] for o in ops), default=0.0)
    by_key = collections.defaultdict(list)
    value_key = {}
    for o in ops:
        kind, key, value, start, end, outcome, client, _via = o
        rep.ops += 1
        if kind == READ:
            rep.reads += 1
        elif kind == WRITE:
            rep.writes += 1
            value_key[value] = key
        else:
            rep.deletes += 1
        if outcome != OK:
            rep.errors[error_class(outcome)] += 1
        by_key[key].append(o)
    finals = collections.defaultdict(list)
    for fr in history.finals:
        rep.final_reads += 1
        if fr[5] != OK:
            rep.errors["final read: " + error_class(fr[5])] += 1
            continue
        finals[fr[1]].append(fr)
        by_key.setdefault(fr[1], [])
    for key, kops in by_key.items():
        _check_key(rep, key, kops, finals.get(key, ()), history.losses.get(key), value_key, t0,
                   ancient)
    rep.seconds = time.monotonic() - t_check
    return rep


def _check_key(rep, key, kops, finals, loss, value_key, t0, ancient):
    writes = {}  # value -> (start, effective end, client)
    acked = []  # (end, start, description): acknowledged writes and deletes
    nils = [(NINF, NINF, "the initial state")]  # (start, effective end, description)
    for kind, _key, value, start, end, outcome, client, _via in kops:
        if kind == READ:
            continue
        eff_end = end if outcome == OK else INF
        if kind == WRITE:
            writes[value] = (start, eff_end, client)
            what = "write %r by %s" % (value, client)
        else:
            what = "delete by %s" % client
            nils.append((start, eff_end, what))
        if outcome == OK:
            acked.append((end, start, "%s [%s..%s]" % (what, _fmt_t(start, t0), _fmt_t(end, t0))))
    latest_ack = _Prefix([(e, s, d) for e, s, d in acked])  # by end: max start
    nil_best = _Prefix(nils)  # by start: max effective end
    losses = _Prefix([(loss[0], loss[1], "loss")] if loss is not None else [])

    def judge(value, start, end):
        """None if the read is fine, 'allowed' if only a loss explains it,
        else (kind, why) with kind in stale, miss, phantom."""
        m, sup = latest_ack.best(start)
        if value is None:
            if nil_best.best(end)[0] >= m:
                return None
            if losses.best(end)[0] >= m:
                return "allowed"
            return ("miss", "nil, but %s had been acknowledged" % sup)
        w = writes.get(value)
        if w is None and ancient is not None and value_key.get(value) is None and ancient(value):
            w = (NINF, NINF, "an earlier history")
        if w is None:
            other = value_key.get(value)
            why = "never written" if other is None else "written to key %r" % (other,)
            return ("phantom", "%r (%s)" % (value, why))
        if w[0] > end:
            return ("phantom", "%r, written only after the read ended (at %s)"
                    % (value, _fmt_t(w[0], t0)))
        if m > w[1]:
            return ("stale", "%r (written [%s..%s] by %s), superseded by %s"
                    % (value, _fmt_t(w[0], t0), _fmt_t(w[1], t0), w[2], sup))
        return None

    for kind, _key, value, start, end, outcome, client, via in kops:
        if kind != READ or outcome != OK:
            continue
        verdict = judge(value, start, end)
        if verdict is None:
            continue
        if verdict == "allowed":
            rep.allowed_misses += 1
            continue
        rep.add(verdict[0], key, "key %r: read by %s%s [%s..%s] returned %s" % (
            key, client, "" if via is None else " from %s" % via, _fmt_t(start, t0),
            _fmt_t(end, t0), verdict[1]))
    seen = {}
    lost = False
    for node, _key, value, start, end, _outcome in finals:
        seen.setdefault(value, []).append(node)
        verdict = judge(value, start, end)
        if verdict is None:
            continue
        if verdict == "allowed":
            rep.allowed_lost += 1
            continue
        if verdict[0] == "phantom":
            rep.add("phantom", key, "key %r: final read through %s returned %s"
                    % (key, node, verdict[1]))
        elif not lost:  # one lost key, however many nodes show it
            lost = True
            rep.add("lost", key, "key %r: final read through %s returned %s"
                    % (key, node, verdict[1]))
    if len(seen) > 1:
        rep.add("divergent", key, "key %r: final reads disagree: %s" % (
            key, "; ".join("%r through %s" % (v, ",".join(n)) for v, n in seen.items())))


# ---------------------------------------------------------------------------
# Self-test: synthetic histories
# ---------------------------------------------------------------------------


def _hist(*ops, finals=(), losses=()):
    """ops: (client, kind, key, value, start, end[, outcome])."""
    h = History()
    recs = {}
    for o in ops:
        client, kind, key, value, start, end = o[:6]
        outcome = o[6] if len(o) > 6 else OK
        if client not in recs:
            recs[client] = h.recorder(client)
        recs[client].add(kind, key, value, start, end, outcome)
    for node, key, value, start, end in finals:
        h.final_read(node, key, value, start, end)
    for keys, t in losses:
        h.loss(keys, t)
    return h


def _expect(name, h, **want):
    """Checks 'h' and compares the counts named in 'want' (stale, miss,
    phantom, lost, divergent, allowed_misses, allowed_lost, errors);
    the unnamed ones must be 0."""
    rep = check(h)
    got = dict(rep.counts)
    got["allowed_misses"] = rep.allowed_misses
    got["allowed_lost"] = rep.allowed_lost
    got["errors"] = rep.error_count
    exp = {k: 0 for k in got}
    exp.update(want)
    if got != exp:
        raise AssertionError("%s: expected %r, got %r\n%s" % (name, exp, got, rep.details()))
    return rep


def _self_tests():
    W, R, D = WRITE, READ, DELETE
    tests = []

    def t(fn):
        tests.append(fn)
        return fn

    @t
    def sequential_history_is_clean():
        _expect("sequential", _hist(
            ("a", W, "k", "a-1", 0, 1), ("a", R, "k", "a-1", 2, 3), ("b", W, "k", "b-1", 4, 5),
            ("b", R, "k", "b-1", 6, 7), ("a", D, "k", None, 8, 9), ("a", R, "k", None, 10, 11),
            finals=[("n1", "k", None, 20, 21), ("n2", "k", None, 20, 21)]))

    @t
    def read_overlapping_a_write_may_return_either_value():
        for seen in ("a-1", "b-1"):
            _expect("overlap " + seen, _hist(
                ("a", W, "k", "a-1", 0, 1), ("b", W, "k", "b-1", 2, 6),
                ("c", R, "k", seen, 3, 4), ("c", R, "k", seen, 5, 7)))

    @t
    def concurrent_writes_either_may_win():
        for last in ("a-1", "b-1"):
            _expect("concurrent writes " + last, _hist(
                ("a", W, "k", "a-1", 0, 5), ("b", W, "k", "b-1", 1, 4),
                ("c", R, "k", last, 6, 7), finals=[("n1", "k", last, 10, 11)]))

    @t
    def superseded_value_is_stale():
        rep = _expect("stale", _hist(
            ("a", W, "k", "a-1", 0, 1), ("b", W, "k", "b-1", 2, 3), ("c", R, "k", "a-1", 4, 5),
            finals=[("n1", "k", "b-1", 10, 11)]), stale=1)
        assert "superseded by write 'b-1'" in rep.examples["stale"][0], rep.examples

    @t
    def value_superseded_by_a_delete_is_stale():
        _expect("stale after delete", _hist(
            ("a", W, "k", "a-1", 0, 1), ("b", D, "k", None, 2, 3), ("c", R, "k", "a-1", 4, 5)),
            stale=1)

    @t
    def nil_after_an_acknowledged_write_is_a_miss():
        _expect("miss", _hist(("a", W, "k", "a-1", 0, 1), ("c", R, "k", None, 2, 3)), miss=1)

    @t
    def nil_is_fine_before_any_write_and_during_the_first():
        _expect("nil before", _hist(("c", R, "k", None, 0, 1), ("a", W, "k", "a-1", 2, 4),
                                    ("c", R, "k", None, 3, 5)))

    @t
    def nil_explained_by_a_concurrent_or_maybe_delete():
        _expect("nil, concurrent delete", _hist(
            ("a", W, "k", "a-1", 0, 1), ("b", D, "k", None, 2, 5), ("c", R, "k", None, 3, 4)))
        _expect("nil, timed-out delete", _hist(
            ("a", W, "k", "a-1", 0, 1), ("b", D, "k", None, 2, 3, TIMEOUT),
            ("c", R, "k", None, 9, 10)), errors=1)
        # ... but not by a delete that an acknowledged write superseded
        _expect("nil, superseded delete", _hist(
            ("b", D, "k", None, 0, 1), ("a", W, "k", "a-1", 2, 3), ("c", R, "k", None, 4, 5)),
            miss=1)

    @t
    def maybe_write_explains_a_read_but_is_never_required():
        _expect("maybe write seen", _hist(
            ("a", W, "k", "a-1", 0, 1), ("b", W, "k", "b-1", 2, 3, TIMEOUT),
            ("c", R, "k", "b-1", 10, 11), ("c", R, "k", "a-1", 12, 13),
            finals=[("n1", "k", "a-1", 20, 21)]), errors=1)
        _expect("error write", _hist(
            ("a", W, "k", "a-1", 0, 1), ("b", W, "k", "b-1", 2, 3, "TRYAGAIN owner died"),
            ("c", R, "k", "b-1", 10, 11), finals=[("n1", "k", "b-1", 20, 21)]), errors=1)

    @t
    def a_maybe_write_does_not_supersede():
        _expect("maybe does not supersede", _hist(
            ("a", W, "k", "a-1", 0, 1), ("b", W, "k", "b-1", 2, 3, TIMEOUT),
            ("c", R, "k", "a-1", 10, 11)), errors=1)

    @t
    def final_read_missing_or_old_is_lost():
        _expect("lost nil", _hist(("a", W, "k", "a-1", 0, 1), finals=[("n1", "k", None, 5, 6)]),
                lost=1)
        _expect("lost old", _hist(
            ("a", W, "k", "a-1", 0, 1), ("a", W, "k", "a-2", 2, 3),
            finals=[("n1", "k", "a-1", 5, 6), ("n2", "k", "a-1", 5, 6)]), lost=1)

    @t
    def final_reads_that_disagree_are_divergent():
        _expect("divergent", _hist(
            ("a", W, "k", "a-1", 0, 1), ("b", W, "k", "b-1", 0.5, 2),
            finals=[("n1", "k", "a-1", 5, 6), ("n2", "k", "b-1", 5, 6)]), divergent=1)

    @t
    def unknown_value_is_a_phantom():
        _expect("phantom", _hist(
            ("a", W, "k", "a-1", 0, 1), ("a", W, "j", "a-2", 0, 1), ("c", R, "k", "zz-1", 2, 3),
            ("c", R, "k", "a-2", 2, 3), ("c", R, "k", "a-1", 2, 3)), phantom=2)
        _expect("future value", _hist(("c", R, "k", "a-1", 0, 1), ("a", W, "k", "a-1", 2, 3)),
                phantom=1)

    @t
    def errors_are_counted_by_message():
        rep = _expect("errors", _hist(
            ("a", W, "k", "a-1", 0, 1, "TRYAGAIN slot 12 moved"),
            ("a", W, "k", "a-2", 0, 1, "TRYAGAIN slot 13 moved"),
            ("a", R, "k", None, 0, 1, TIMEOUT)), errors=3)
        assert rep.errors["TRYAGAIN slot N moved"] == 2 and rep.errors[TIMEOUT] == 1, rep.errors

    @t
    def loss_event_excuses_misses_and_lost_keys_not_old_values():
        losses = [(["k"], 4)]
        _expect("loss: misses", _hist(
            ("a", W, "k", "a-1", 0, 1), ("c", R, "k", None, 5, 6),
            finals=[("n1", "k", None, 9, 10)], losses=losses), allowed_misses=1, allowed_lost=1)
        _expect("loss: a miss before it is still a miss", _hist(
            ("a", W, "k", "a-1", 0, 1), ("c", R, "k", None, 2, 3), losses=losses), miss=1)
        _expect("loss: an old value is still stale", _hist(
            ("a", W, "k", "a-1", 0, 1), ("a", W, "k", "a-2", 2, 3), ("c", R, "k", "a-1", 5, 6),
            losses=losses), stale=1)
        _expect("loss: only the lossy keys", _hist(
            ("a", W, "j", "a-1", 0, 1), ("c", R, "j", None, 5, 6), losses=losses), miss=1)
        # a loss over by 'until': a write that started after it must survive
        h = _hist(("a", W, "k", "a-1", 0, 1), ("a", W, "k", "a-2", 7, 8),
                  ("c", R, "k", None, 9, 10), finals=[("n1", "k", None, 12, 13)])
        h.loss(["k"], 4, until=6)
        _expect("bounded loss: a later write", h, miss=1, lost=1)
        h = _hist(("a", W, "k", "a-1", 0, 1), ("a", W, "k", "a-2", 5, 8),
                  ("c", R, "k", None, 9, 10))
        h.loss(["k"], 4, until=6)
        _expect("bounded loss: a write during it", h, allowed_misses=1)

    @t
    def ancient_values_are_old_writes_not_phantoms():
        h = _hist(("z", D, "k", None, 0, 1), ("a", W, "j", "a-1", 0, 1),
                  ("c", R, "k", "old-1", 2, 3), ("c", R, "j", "old-2", 2, 3),
                  ("c", R, "j", "new-1", 2, 3))
        rep = check(h, ancient=lambda v: v.startswith("old-"))
        assert (rep.counts["stale"], rep.counts["phantom"]) == (2, 1), rep.details()
        _expect("ancient, nothing newer", _hist(("c", R, "k", "old-1", 2, 3)), phantom=1)
        rep = check(_hist(("c", R, "k", "old-1", 2, 3)), ancient=lambda v: True)
        assert rep.clean(), rep.details()

    @t
    def save_and_load_round_trip():
        import os
        import tempfile
        h = _hist(("a", W, "k", "a-1", 0, 1), ("b", W, "k", "b-1", 2, 3),
                  ("c", R, "k", "a-1", 4, 5), ("d", W, "k", "d-1", 6, 7, TIMEOUT),
                  finals=[("n1", "k", "b-1", 10, 11)], losses=[(["k"], 8)])
        h.loss(["j"], 2, until=3)
        fd, path = tempfile.mkstemp(prefix="histcheck-")
        os.close(fd)
        try:
            h.save(path)
            back = History.load(path)
            assert back.losses == {"k": (8, INF), "j": (2, 3)}, back.losses
            _expect("round trip", back, stale=1, errors=1)
        finally:
            os.unlink(path)

    @t
    def random_linearizable_histories_are_clean_and_injections_caught():
        for seed in range(20):
            h, meta = random_history(seed, clients=6, keys=20, ops=2000)
            rep = _expect("random seed %d" % seed, h, errors=meta["errors"])
            assert rep.reads > 0 and rep.writes > 0
            n = inject_stale(h, random.Random(seed))
            assert n > 0, "seed %d: nothing to inject" % seed
            got = check(h)
            assert got.counts["stale"] + got.counts["miss"] == n, (seed, n, got.details())

    @t
    def hundred_thousand_ops_check_in_seconds():
        h, meta = random_history(7, clients=16, keys=5000, ops=100000)
        t0 = time.monotonic()
        rep = _expect("100k ops", h, errors=meta["errors"])
        dt = time.monotonic() - t0
        assert dt < 5.0, "100k ops took %.2fs to check" % dt
        print("    (100k ops + %d final reads checked in %.2fs)" % (rep.final_reads, dt))

    failed = 0
    for fn in tests:
        try:
            fn()
            print("[ok]   %s" % fn.__name__)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("[FAIL] %s: %s" % (fn.__name__, e))
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    return 1 if failed else 0


def random_history(seed, clients, keys, ops):
    """A history of a correct register per key: each operation takes effect
    at a random point inside its interval, in the order of those points;
    some writes and deletes time out (and take effect or not), some reads
    fail. Final reads through two nodes. Returns (History, {"errors": n})."""
    rnd = random.Random(seed)
    h = History()
    recs = [h.recorder("c%d" % i) for i in range(clients)]
    events = []  # (effect time, op index)
    raw = []
    now = [0.0] * clients
    errors = 0
    for i in range(ops):
        c = rnd.randrange(clients)
        start = now[c] + rnd.random() * 0.01
        end = start + rnd.expovariate(1 / 0.005)
        now[c] = end
        key = "k%d" % rnd.randrange(keys)
        x = rnd.random()
        kind = READ if x < 0.5 else (WRITE if x < 0.95 else DELETE)
        outcome = OK
        if rnd.random() < 0.02:
            outcome = TIMEOUT if rnd.random() < 0.5 else "ERR boom %d" % i
            errors += 1
        value = recs[c].value() if kind == WRITE else None
        applies = outcome == OK or (kind != READ and rnd.random() < 0.5)
        # a failed write may even take effect after its client gave up
        t_eff = rnd.uniform(start, end if outcome == OK else end + 0.05)
        raw.append([c, kind, key, value, start, end, outcome])
        if applies:
            events.append((t_eff, i))
    events.sort()
    state = {}
    for _t, i in events:
        c, kind, key, value = raw[i][:4]
        if kind == WRITE:
            state[key] = value
        elif kind == DELETE:
            state.pop(key, None)
        else:
            raw[i][3] = state.get(key)
    for c, kind, key, value, start, end, outcome in raw:
        recs[c].add(kind, key, value, start, end, outcome)
    t_end = max(now) + 1.0
    for k in range(keys):
        key = "k%d" % k
        for node in ("n1", "n2"):
            h.final_read(node, key, state.get(key), t_end, t_end + 0.001)
    return h, {"errors": errors}


def inject_stale(h, rnd, count=5):
    """Rewrites up to 'count' successful reads of 'h' so each returns a
    value (or nil) superseded before the read began; returns how many."""
    ops = h.ops()
    by_key = collections.defaultdict(list)
    for o in ops:
        by_key[o[1]].append(o)
    done = 0
    targets = set()
    for key in rnd.sample(sorted(by_key), len(by_key)):
        kops = by_key[key]
        acked_w = [o for o in kops if o[0] == WRITE and o[5] == OK]
        acked_w.sort(key=lambda o: o[4])
        reads = [o for o in kops if o[0] == READ and o[5] == OK]
        for r in reads:
            # an acknowledged write W whose successor W2 (started after W
            # ended) ended before r began: r returning W's value is stale
            old = [w for w in acked_w if any(
                w2[3] > w[4] and w2[4] < r[3] for w2 in acked_w if w2 is not w)]
            if old and r[2] != old[0][2]:
                targets.add((id(r), old[0][2]))
                done += 1
                break
        if done >= count:
            break
    want = dict(targets)
    for rec in h._recorders.values():
        for i, o in enumerate(rec.ops):
            if id(o) in want:
                rec.ops[i] = (o[0], o[1], want[id(o)]) + o[3:]
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--self-test", action="store_true", help="run the synthetic histories")
    ap.add_argument("history", nargs="?", help="a file written by History.save()")
    opts = ap.parse_args(argv)
    if opts.self_test:
        return _self_tests()
    if not opts.history:
        ap.error("give --self-test or a history file")
    rep = check(History.load(opts.history))
    print(rep.details())
    return 0 if rep.clean() else 1


if __name__ == "__main__":
    sys.exit(main())
