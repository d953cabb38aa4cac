#!/usr/bin/python3
"""Differential test: one seeded random stream of supported commands goes to
ringcached and to a real redis-server; every raw RESP reply must match
byte for byte, except for the documented differences below.

    differential.py [--count N] [--seed S] [--batch B] [--verbose]
    differential.py --seed S --count N     # replays a failing run exactly

The stream draws keys from a small pool so commands interact, mixes strings
and hashes, TTL commands (long TTLs, already-past times that delete, and tiny
1-3 ms TTLs), binary-safe keys/values, and error-producing commands (wrong
types, bad integers/floats, syntax errors, wrong arity, unknown commands,
out-of-range offsets, overflowing increments).

Documented differences (handled here, never silently):
  D1 TTL replies (TTL, PTTL) drift with the moment each server ran the
     command: TTL values may differ by 1 s, PTTL values by up to 250 ms
     (scaled for sanitizer builds); -1/-2 must match exactly.
  D2 Order of unordered replies: KEYS, HKEYS, HVALS are compared as sorted
     multisets, HGETALL as a sorted list of (field, value) pairs.
  D3 RANDOMKEY: both must be nil, or both a key of the pool (the keys
     returned may differ).
  D4 SCAN: cursors are implementation details; a full SCAN iteration (with the
     same MATCH/COUNT/TYPE) is run on each server and the sets of keys
     compared. Each SCAN reply must be a 2-element array of a bulk cursor and
     an array of bulk keys.
  D5 Tiny TTLs (1-3 ms) would race with the two servers' clocks: before any
     command names a key that got a tiny TTL, the stream waits until that TTL
     has passed on both servers (so both see it expired). Before KEYS, SCAN,
     RANDOMKEY and DBSIZE it waits for all of them. DBSIZE counts expired
     keys not yet reclaimed (as Redis does), which depends on the active
     expiry cycle's timing, so the stream first touches every such key
     (EXISTS, compared too) to make both servers reclaim it.
  D7 SLOWLOG LEN is compared as "an integer" (a command slower than 10 ms
     is logged by one server and not the other); LATENCY runs with the
     monitor off on both; INFO commandstats is compared as the calls,
     rejected_calls and failed_calls of the data commands (containers such
     as CONFIG are counted per subcommand by Redis, and the harness's own
     commands are left out), every line's shape checked.
  D6 Not sent at all: INFO (except INFO commandstats, D7), TIME, CLIENT, CONFIG, COMMAND, HELLO (except the
     initial HELLO 3 of --resp3, whose reply is only checked to be a map),
     AUTH, SHUTDOWN, QUIT, RESET (covered by the integration tests with
     ringcached-specific checks); SELECT with an index other than 0
     (ringcached has db 0 only).
  One command in ten is sent as an inline command (quoted, \\xHH escapes)
  instead of RESP; the replies are compared the same way.
  With --resp3 both connections speak RESP3: HGETALL's map is compared as
  sorted pairs (D2), everything else byte for byte.
"""

import argparse
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rctest  # noqa: E402
from rctest import RawConn, encode_command, parse_reply, timeout_scale  # noqa: E402

KEYS = [b"k0", b"k1", b"k2", b"k3", b"k4", b"k5", b"k6", b"k7", b"n0", b"n1", b"n2", b"f0", b"f1",
        b"h0", b"h1", b"h2", b"h3", b"bin\x00\r\nkey", b"\xff\xfe", b"k:{tag}", b"long" * 20]
STRING_KEYS = [k for k in KEYS if not k.startswith(b"h")]
HASH_KEYS = [b"h0", b"h1", b"h2", b"h3", b"k7", b"bin\x00\r\nkey"]
FIELDS = [b"f0", b"f1", b"f2", b"f3", b"f4", b"\x00\r\n", b"num", b"flt", b""]
INTS = [b"0", b"1", b"-1", b"7", b"100", b"-42", b"9223372036854775807", b"-9223372036854775808",
        b"9223372036854775806", b"-9223372036854775807", b"4611686018427387904", b"123456789"]
BAD_INTS = [b"abc", b"1.5", b" 1", b"1 ", b"", b"99999999999999999999", b"0x10", b"+1", b"1e3", b"--1",
            b"\x00", b"12a", b"007", b"-0", b"9223372036854775808", b"-9223372036854775809", b"1\x00"]
FLOATS = [b"0", b"1.5", b"-0.25", b"3", b"1e2", b"2.5e-3", b"0.1", b"-7", b"1e20", b"5.0e3", b"-1e-5",
          b"3.14159265358979323846", b"10.50", b"1.0", b"-0", b"  1.5", b"1.5  ", b"+2", b".5", b"5.",
          b"0x1p3", b"1e400", b"1e-400", b"-1e308", b"1.7976931348623157e308", b"4.9e-324", b"00.5",
          b"0.000001", b"1e17", b"123456789012345678901234567890"]
BAD_FLOATS = [b"abc", b"inf", b"-inf", b"nan", b"1.5x", b"", b"1e", b"\x00", b"infinity", b"1,5"]
PATTERNS = [b"*", b"k*", b"h?", b"*0*", b"[kh]1", b"n[0-1]", b"*\x00*", b"\\*", b"k[^0-3]", b"nomatch*",
            b"*}", b"[", b"f?", b"[a-", b"[z-a]*", b"k\\", b"*[", b"?*?", b"[\\]]*", b"h[^0-1]", b"[]k]*",
            b"\\k*", b"*\\*", b"[k-]*", b"**0", b"n[2-0]", b"?", b"??", b"*{tag}", b"[\x00-\xff]*"]
TINY_TTL_KEYS = {b"k5", b"k6", b"h3", b"n2", b"\xff\xfe"}  # the only keys that get 1-3 ms TTLs
UNKNOWN = [b"FOO", b"GETT", b"hsett", b"xyzzy", b"SETT", b"getx", b"set_", b"MGETT"]


class Gen:
    """The command stream. next() returns (args, norm, keys, tiny) where keys
    are the pool keys the command names and tiny is True when it may set a
    tiny TTL on them."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.last_key = None
        self.exclude = set()
        r = self.rng
        self.table = []
        for fn, w in ((self.c_set, 10), (self.c_get, 8), (self.c_set_opts, 8), (self.c_setnx_ex, 3),
                      (self.c_getset_del_ex, 4), (self.c_mget_mset, 4), (self.c_incr, 8),
                      (self.c_incrbyfloat, 3), (self.c_append_range, 5), (self.c_strlen, 2),
                      (self.c_hset, 8), (self.c_hget, 6), (self.c_hincr, 4), (self.c_hmisc, 6),
                      (self.c_del, 3), (self.c_exists, 3), (self.c_type, 2), (self.c_expire, 8),
                      (self.c_ttl, 5), (self.c_persist, 2), (self.c_keys, 1), (self.c_randomkey, 1),
                      (self.c_dbsize, 1), (self.c_scan, 1), (self.c_echo_ping, 1), (self.c_errors, 5),
                      (self.c_flush, 0.05), (self.c_many, 0.3), (self.c_observe, 0.1)):
            self.table += [fn] * int(w * 20)
        r.shuffle(self.table)

    # -- helpers ----------------------------------------------------------
    def key(self, kind=None):
        k = self._key(kind)
        self.last_key = k
        return k

    def _key(self, kind=None):
        r = self.rng
        if kind == "s" and r.random() < 0.85:
            return r.choice(STRING_KEYS)
        if kind == "h" and r.random() < 0.85:
            return r.choice(HASH_KEYS)
        return r.choice(KEYS)

    def value(self):
        r = self.rng
        x = r.random()
        if x < 0.25:
            return r.choice(INTS)
        if x < 0.35:
            return r.choice(FLOATS)
        if x < 0.40:
            return r.choice(BAD_INTS)
        if x < 0.60:
            return bytes(r.getrandbits(8) for _ in range(r.randrange(0, 12)))
        if x < 0.995:
            return r.choice([b"v", b"hello", b"world", b"a\r\nb", b"", b"x" * 30, b"\x00\x01\x02"])
        return r.randbytes(r.randrange(1000, 100000))

    def cmd(self, name):
        """Random capitalisation of a command name."""
        r = self.rng
        x = r.random()
        if x < 0.6:
            return name.upper()
        if x < 0.9:
            return name.lower()
        return bytes(c ^ 0x20 if r.random() < 0.5 and chr(c).isalpha() else c for c in name)

    def num(self, good=0.9):
        return self.rng.choice(INTS) if self.rng.random() < good else self.rng.choice(BAD_INTS)

    def ttl_s(self):
        """EX / EXPIRE seconds: long, or <= 0 (delete/invalid), or huge (overflow)."""
        r = self.rng
        x = r.random()
        if x < 0.8:
            return b"%d" % r.randrange(100, 100000)
        if x < 0.9:
            return b"%d" % r.randrange(-5, 1)
        return r.choice([b"9223372036854775807", b"9223372036854775", b"abc", b"-9223372036854775808", b"1.5"])

    def ttl_ms(self):
        """PX / PEXPIRE ms: long, tiny (1-3 ms: marks the key), <= 0, huge."""
        r = self.rng
        x = r.random()
        if x < 0.6:
            return b"%d" % r.randrange(100000, 100000000), False
        if x < 0.7 and self.last_key in TINY_TTL_KEYS:
            return b"%d" % r.randrange(1, 4), True
        if x < 0.7:
            return b"%d" % r.randrange(100000, 100000000), False
        if x < 0.9:
            return b"%d" % r.randrange(-5, 1), False
        return r.choice([b"9223372036854775807", b"abc", b"-9223372036854775808"]), False

    def abs_s(self):
        r = self.rng
        now = int(time.time())
        x = r.random()
        if x < 0.7:
            return b"%d" % (now + r.randrange(100, 100000)), False
        if x < 0.9:  # in the past: SET keeps such a key until it is reclaimed (D5)
            return b"%d" % r.choice([1, now - 100, now - 86400]), "past"
        return r.choice([b"0", b"-1", b"abc", b"9223372036854775807"]), False

    def abs_ms(self):
        r = self.rng
        now = int(time.time() * 1000)
        x = r.random()
        if x < 0.6:
            return b"%d" % (now + r.randrange(100000, 100000000)), False
        if x < 0.75 and self.last_key in TINY_TTL_KEYS:
            return b"%d" % (now + r.randrange(1, 4)), True
        if x < 0.75:
            return b"%d" % (now + r.randrange(100000, 100000000)), False
        if x < 0.9:
            return b"%d" % r.choice([1, now - 100000]), "past"
        return r.choice([b"0", b"-1", b"abc", b"9223372036854775807"]), False

    # -- strings ----------------------------------------------------------
    def c_set(self):
        k = self.key("s")
        return [self.cmd(b"set"), k, self.value()], None, [k], False

    def c_get(self):
        k = self.key("s")
        return [self.cmd(b"get"), k], None, [k], False

    def c_set_opts(self):
        r = self.rng
        k = self.key("s")
        args = [self.cmd(b"set"), k, self.value()]
        tiny = False
        opts = []
        x = r.random()
        if x < 0.2:
            opts += [b"EX", self.ttl_s()]
        elif x < 0.4:
            v, tiny = self.ttl_ms()
            opts += [b"PX", v]
        elif x < 0.5:
            v, tiny = self.abs_s()
            opts += [b"EXAT", v]
        elif x < 0.6:
            v, tiny = self.abs_ms()
            opts += [b"PXAT", v]
        elif x < 0.7:
            opts += [b"KEEPTTL"]
        if r.random() < 0.3:
            opts.append(r.choice([b"NX", b"XX"]))
        if r.random() < 0.3:
            opts.append(b"GET")
        if r.random() < 0.05:  # syntax errors: duplicates / conflicts / junk
            opts.append(r.choice([b"NX", b"XX", b"EX", b"PX", b"BOGUS", b"KEEPTTL", b"GET", b"EX 10"]))
        r.shuffle(opts) if r.random() < 0.1 else None
        opts = [self.cmd(o) if o.isalpha() else o for o in opts]
        return args + opts, None, [k], tiny

    def c_setnx_ex(self):
        r = self.rng
        k = self.key("s")
        x = r.random()
        if x < 0.4:
            return [self.cmd(b"setnx"), k, self.value()], None, [k], False
        if x < 0.7:
            return [self.cmd(b"setex"), k, self.ttl_s(), self.value()], None, [k], False
        v, tiny = self.ttl_ms()
        return [self.cmd(b"psetex"), k, v, self.value()], None, [k], tiny

    def c_getset_del_ex(self):
        r = self.rng
        k = self.key("s")
        x = r.random()
        if x < 0.3:
            return [self.cmd(b"getset"), k, self.value()], None, [k], False
        if x < 0.5:
            return [self.cmd(b"getdel"), k], None, [k], False
        opts = []
        tiny = False
        y = r.random()
        if y < 0.2:
            opts = [b"EX", self.ttl_s()]
        elif y < 0.4:
            v, tiny = self.ttl_ms()
            opts = [b"PX", v]
        elif y < 0.5:
            v, tiny = self.abs_s()
            opts = [b"EXAT", v]
        elif y < 0.6:
            v, tiny = self.abs_ms()
            opts = [b"PXAT", v]
        elif y < 0.75:
            opts = [b"PERSIST"]
        elif y < 0.8:
            opts = [r.choice([b"EX", b"PERSIST", b"BOGUS", b"KEEPTTL"]), b"10", b"PERSIST"][:r.randrange(1, 4)]
        return [self.cmd(b"getex"), k] + opts, None, [k], tiny

    def c_mget_mset(self):
        r = self.rng
        ks = [self.key("s") for _ in range(r.randrange(1, 5))]
        x = r.random()
        if x < 0.4:
            return [self.cmd(b"mget")] + ks, None, ks, False
        args = []
        for k in ks:
            args += [k, self.value()]
        if r.random() < 0.05:
            args = args[:-1]  # odd count: wrong arity
        return [self.cmd(b"mset" if x < 0.75 else b"msetnx")] + args, None, ks, False

    def c_incr(self):
        r = self.rng
        k = r.choice([b"n0", b"n1", b"n2"]) if r.random() < 0.6 else self.key("s")
        x = r.random()
        if x < 0.3:
            return [self.cmd(b"incr"), k], None, [k], False
        if x < 0.5:
            return [self.cmd(b"decr"), k], None, [k], False
        return [self.cmd(b"incrby" if x < 0.75 else b"decrby"), k, self.num()], None, [k], False

    def c_incrbyfloat(self):
        r = self.rng
        k = r.choice([b"f0", b"f1", b"n0"]) if r.random() < 0.6 else self.key("s")
        inc = r.choice(FLOATS) if r.random() < 0.85 else r.choice(BAD_FLOATS)
        return [self.cmd(b"incrbyfloat"), k, inc], None, [k], False

    def c_append_range(self):
        r = self.rng
        k = self.key("s")
        x = r.random()
        if x < 0.35:
            return [self.cmd(b"append"), k, self.value()[:64]], None, [k], False
        if x < 0.7:
            a = r.choice([b"0", b"1", b"-1", b"-3", b"5", b"100", b"-100", b"9223372036854775807",
                          b"-9223372036854775808", b"x"])
            b = r.choice([b"0", b"2", b"-1", b"-2", b"10", b"1000", b"-1000", b"9223372036854775807", b"y"])
            return [self.cmd(b"getrange"), k, a, b], None, [k], False
        off = r.choice([b"0", b"1", b"3", b"10", b"50", b"-1", b"536870912", b"536870911", b"x",
                        b"9223372036854775807"])
        val = self.value()[:20] if r.random() < 0.9 else b""
        if off in (b"536870911",) and val:
            val = b"ab"  # offset + len past 512 MB: error, never a 512 MB allocation
        return [self.cmd(b"setrange"), k, off, val], None, [k], False

    def c_strlen(self):
        k = self.key("s")
        return [self.cmd(b"strlen"), k], None, [k], False

    # -- hashes -----------------------------------------------------------
    def fv(self, n):
        out = []
        for _ in range(n):
            out += [self.rng.choice(FIELDS), self.value()]
        return out

    def c_hset(self):
        r = self.rng
        k = self.key("h")
        x = r.random()
        if x < 0.5:
            return [self.cmd(b"hset"), k] + self.fv(r.randrange(1, 4)), None, [k], False
        if x < 0.75:
            return [self.cmd(b"hmset"), k] + self.fv(r.randrange(1, 3)), None, [k], False
        return [self.cmd(b"hsetnx"), k, r.choice(FIELDS), self.value()], None, [k], False

    def c_hget(self):
        r = self.rng
        k = self.key("h")
        x = r.random()
        if x < 0.4:
            return [self.cmd(b"hget"), k, r.choice(FIELDS)], None, [k], False
        if x < 0.7:
            return [self.cmd(b"hmget"), k] + [r.choice(FIELDS) for _ in range(r.randrange(1, 4))], None, [k], False
        return [self.cmd(b"hgetall"), k], "pairs", [k], False

    def c_hincr(self):
        r = self.rng
        k = self.key("h")
        f = r.choice([b"num", b"flt", b"f0"]) if r.random() < 0.7 else r.choice(FIELDS)
        if r.random() < 0.6:
            return [self.cmd(b"hincrby"), k, f, self.num()], None, [k], False
        inc = r.choice(FLOATS) if r.random() < 0.85 else r.choice(BAD_FLOATS)
        return [self.cmd(b"hincrbyfloat"), k, f, inc], None, [k], False

    def c_hmisc(self):
        r = self.rng
        k = self.key("h")
        x = r.random()
        if x < 0.2:
            return [self.cmd(b"hdel"), k] + [r.choice(FIELDS) for _ in range(r.randrange(1, 3))], None, [k], False
        if x < 0.35:
            return [self.cmd(b"hexists"), k, r.choice(FIELDS)], None, [k], False
        if x < 0.5:
            return [self.cmd(b"hlen"), k], None, [k], False
        if x < 0.65:
            return [self.cmd(b"hkeys"), k], "multiset", [k], False
        if x < 0.8:
            return [self.cmd(b"hvals"), k], "multiset", [k], False
        return [self.cmd(b"hstrlen"), k, r.choice(FIELDS)], None, [k], False

    # -- keys -------------------------------------------------------------
    def c_del(self):
        r = self.rng
        ks = [self.key() for _ in range(r.randrange(1, 4))]
        return [self.cmd(r.choice([b"del", b"unlink"]))] + ks, None, ks, False

    def c_exists(self):
        r = self.rng
        ks = [self.key() for _ in range(r.randrange(1, 4))]
        return [self.cmd(r.choice([b"exists", b"touch"]))] + ks, None, ks, False

    def c_type(self):
        k = self.key()
        return [self.cmd(b"type"), k], None, [k], False

    def c_expire(self):
        r = self.rng
        k = self.key()
        x = r.random()
        tiny = False
        if x < 0.3:
            args = [self.cmd(b"expire"), k, self.ttl_s()]
        elif x < 0.55:
            v, tiny = self.ttl_ms()
            args = [self.cmd(b"pexpire"), k, v]
        elif x < 0.75:
            v, tiny = self.abs_s()
            args = [self.cmd(b"expireat"), k, v]
        else:
            v, tiny = self.abs_ms()
            args = [self.cmd(b"pexpireat"), k, v]
        if r.random() < 0.25:
            args.append(r.choice([b"NX", b"XX", b"GT", b"LT", b"nx", b"BOGUS"]))
            if r.random() < 0.1:
                args.append(r.choice([b"NX", b"XX", b"GT", b"LT"]))
        return args, None, [k], tiny

    def c_ttl(self):
        r = self.rng
        k = self.key()
        if r.random() < 0.5:
            return [self.cmd(b"ttl"), k], "ttl", [k], False
        return [self.cmd(b"pttl"), k], "pttl", [k], False

    def c_persist(self):
        k = self.key()
        return [self.cmd(b"persist"), k], None, [k], False

    def c_keys(self):
        return [self.cmd(b"keys"), self.rng.choice(PATTERNS)], "multiset", "all", False

    def c_randomkey(self):
        return [self.cmd(b"randomkey")], "randomkey", "all", False

    def c_dbsize(self):
        return [self.cmd(b"dbsize")], None, "dbsize", False

    def c_scan(self):
        r = self.rng
        opts = []
        if r.random() < 0.5:
            opts += [b"MATCH", r.choice(PATTERNS)]
        if r.random() < 0.5:
            opts += [b"COUNT", r.choice([b"1", b"3", b"10", b"1000"])]
        if r.random() < 0.4:
            opts += [b"TYPE", r.choice([b"string", b"hash", b"list", b"bogus"])]
        return [b"SCAN", b"0"] + opts, "scan", "all", False

    def c_echo_ping(self):
        r = self.rng
        x = r.random()
        if x < 0.3:
            return [self.cmd(b"ping")], None, [], False
        if x < 0.5:
            return [self.cmd(b"ping"), self.value()], None, [], False
        if x < 0.9:
            return [self.cmd(b"echo"), self.value()], None, [], False
        return [self.cmd(b"select"), r.choice([b"0", b"abc", b"-1", b"99999999999"])], None, [], False

    def c_errors(self):
        """Wrong arity and unknown commands."""
        r = self.rng
        x = r.random()
        if x < 0.4:
            name = r.choice(UNKNOWN)
            args = [bytes(r.choice(b"abcxyz01 ") for _ in range(r.randrange(0, 8))) for _ in range(r.randrange(0, 4))]
            if r.random() < 0.1:
                args.append(b"q" * r.randrange(100, 300))
            return [name] + args, None, [], False
        fixed = {b"get": 2, b"strlen": 2, b"getdel": 2, b"incr": 2, b"decr": 2, b"incrby": 3, b"decrby": 3,
                 b"incrbyfloat": 3, b"append": 3, b"getset": 3, b"setnx": 3, b"setex": 4, b"psetex": 4,
                 b"getrange": 4, b"setrange": 4, b"hget": 3, b"hsetnx": 4, b"hexists": 3, b"hincrby": 4,
                 b"hincrbyfloat": 4, b"hlen": 2, b"hkeys": 2, b"hvals": 2, b"hstrlen": 3, b"hgetall": 2,
                 b"type": 2, b"ttl": 2, b"pttl": 2, b"persist": 2, b"expire": 3, b"pexpire": 3, b"dbsize": 1,
                 b"randomkey": 1, b"keys": 2, b"echo": 2}
        atleast = {b"set": 3, b"mget": 2, b"mset": 3, b"msetnx": 3, b"hset": 4, b"hmset": 4, b"hmget": 3,
                   b"hdel": 3, b"del": 2, b"unlink": 2, b"exists": 2, b"touch": 2, b"getex": 2, b"scan": 2}
        if r.random() < 0.6:
            name, n = r.choice(sorted(fixed.items()))
            argc = r.choice([c for c in range(0, n + 3) if c != n and c >= 1])
        else:
            name, n = r.choice(sorted(atleast.items()))
            argc = r.randrange(1, n)
        args = [self.cmd(name)] + [r.choice(KEYS) for _ in range(argc - 1)]
        ks = [a for a in args[1:] if a in KEYS]
        return args, None, ks, False

    def c_many(self):
        """Commands with many arguments (keys repeat: the pool is small)."""
        r = self.rng
        n = r.randrange(20, 300)
        x = r.random()
        if x < 0.25:
            ks = [self.key("s") for _ in range(n)]
            args = []
            for k in ks:
                args += [k, self.value()[:50]]
            return [self.cmd(b"mset")] + args, None, ks, False
        if x < 0.5:
            ks = [self.key() for _ in range(n)]
            return [self.cmd(r.choice([b"mget", b"exists", b"touch", b"del"]))] + ks, None, ks, False
        k = self.key("h")
        args = []
        for _ in range(n):
            args += [b"f%d" % r.randrange(400) if r.random() < 0.8 else r.choice(FIELDS), self.value()[:30]]
        if x < 0.8:
            return [self.cmd(r.choice([b"hset", b"hmset"])), k] + args, None, [k], False
        return [self.cmd(r.choice([b"hmget", b"hdel"])), k] + args[0::2], None, [k], False

    def c_observe(self):
        """SLOWLOG, LATENCY (threshold 0: no events) and INFO commandstats
        (D7)."""
        r = self.rng
        x = r.random()
        if x < 0.3:
            return [self.cmd(b"slowlog"), self.cmd(b"reset")], None, [], False
        if x < 0.4:
            return [self.cmd(b"slowlog"), self.cmd(b"len")], "int", [], False
        if x < 0.6:
            bad = r.choice([[b"get", r.choice(BAD_INTS + [b"-2", b"-100"])], [b"get", b"1", b"2"],
                            [b"len", b"x"], [b"reset", b"x"], [r.choice(UNKNOWN)], [b"get", b"0"]])
            return [self.cmd(b"slowlog")] + bad, None, [], False
        if x < 0.8:
            sub = r.choice([[b"latest"], [b"reset"], [b"history", b"command"], [b"reset", b"command"],
                            [b"latest", b"x"], [b"history"], [r.choice(UNKNOWN)]])
            return [self.cmd(b"latency")] + sub, None, [], False
        return [self.cmd(b"info"), self.cmd(b"commandstats")], "cmdstats", [], False

    def c_flush(self):
        return [self.cmd(self.rng.choice([b"flushdb", b"flushall"]))], None, "flush", False

    def next(self):
        while True:
            c = self.rng.choice(self.table)()
            if not self.exclude or c[0][0].lower() not in self.exclude:
                return c


_INLINE_SAFE = set(range(0x21, 0x7f)) - {ord('"'), ord("\\"), ord("'")}


def encode_inline(args):
    """An inline command (as typed in telnet): every argument in double
    quotes, bytes outside printable ASCII as \\xHH escapes."""
    out = []
    for a in args:
        q = bytearray(b'"')
        for ch in a:
            if ch in _INLINE_SAFE or ch == 0x20:
                q.append(ch)
            else:
                q += b"\\x%02x" % ch
        q += b'"'
        out.append(bytes(q))
    return b" ".join(out) + b"\r\n"


def normalize(raw, norm):
    """Returns the comparable form of a raw reply (D1-D3)."""
    if norm is None or raw.startswith(b"-"):
        return raw
    v = parse_reply(raw)
    if norm == "multiset":
        if not isinstance(v, list):
            return raw
        return ("multiset", tuple(sorted(v)))
    if norm == "pairs":
        if isinstance(v, dict):  # RESP3 map
            return ("pairs", tuple(sorted(v.items())))
        if not isinstance(v, list) or len(v) % 2:
            return raw
        return ("pairs", tuple(sorted(zip(v[0::2], v[1::2]))))
    if norm == "int":
        return ("int",) if raw.startswith(b":") else raw
    if norm == "cmdstats":
        return cmdstats_shape(v)
    if norm == "randomkey":
        if v is None:
            return raw
        if raw.startswith(b"$") and v in KEYS:
            return ("some pool key",)
        return raw
    return raw


# D7: commands counted differently by design (Redis counts the subcommands
# of containers apart; the harness's own commands; SCAN, whose iterations
# take as many calls as each server's cursors need, D4).
CMDSTAT_SKIP = {"info", "hello", "client", "config", "command", "slowlog", "latency", "auth", "scan"}


def cmdstats_shape(v):
    """INFO commandstats -> sorted (name, calls, rejected_calls,
    failed_calls) of the data commands, every field's shape checked."""
    if not isinstance(v, bytes):
        return ("not text", v)
    text = v.decode("utf-8", "replace")
    if text.startswith("txt:"):
        text = text[4:]
    out = []
    for line in text.split("\r\n"):
        if not line or line == "# Commandstats":
            continue
        m = re.fullmatch(r"cmdstat_([a-z|_-]+):calls=(\d+),usec=\d+,usec_per_call=\d+\.\d\d,"
                         r"rejected_calls=(\d+),failed_calls=(\d+)", line)
        if m is None:
            return ("bad line", line)
        if "|" in m.group(1) or m.group(1) in CMDSTAT_SKIP:
            continue
        out.append((m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))))
    return ("cmdstats", tuple(sorted(out)))


def ttl_close(a, b, norm, scale):
    if not (a.startswith(b":") and b.startswith(b":")):
        return a == b
    x, y = int(a[1:-2]), int(b[1:-2])
    if x < 0 or y < 0:
        return x == y
    tol = 1 if norm == "ttl" else int(250 * scale)
    return abs(x - y) <= tol


def full_scan(conn, opts):
    """D4: every key a complete SCAN iteration returns, checking the reply
    shape on the way."""
    cursor = b"0"
    seen = set()
    rounds = 0
    while True:
        raw = conn.call(b"SCAN", cursor, *opts)
        if raw.startswith(b"-"):
            return ("error", raw)
        v = parse_reply(raw)
        if not (raw.startswith(b"*2\r\n$") and isinstance(v, list) and len(v) == 2 and isinstance(v[0], bytes)
                and isinstance(v[1], list) and all(isinstance(k, bytes) for k in v[1])):
            return ("bad shape", raw)
        seen.update(v[1])
        cursor = v[0]
        rounds += 1
        if cursor == b"0" or rounds > 100000:
            break
    return ("keys", tuple(sorted(seen)))


class Diff:
    def __init__(self, a_port, b_port, seed, batch, verbose):
        self.a = RawConn("127.0.0.1", a_port, timeout=60 * timeout_scale())  # ringcached
        self.b = RawConn("127.0.0.1", b_port, timeout=60 * timeout_scale())  # redis-server
        self.seed = seed
        self.batch_max = batch
        self.verbose = verbose
        self.pending = []  # (index, args, norm)
        self.deadline = {}  # key -> absolute deadline (None: in the unsent batch)
        self.unreclaimed = set()  # keys that got a tiny TTL and were not touched by EXISTS since
        self.history = []
        self.index = 0
        self.scale = timeout_scale()
        self.waited = 0.0
        self.stats = {"sent": 0, "errors": 0, "scan": 0, "waits": 0}
        self.mismatches = 0
        self.inline_rng = random.Random(seed ^ 0x5EED)
        self.inline_share = 0.1
        self.max_mismatches = 1
        self.resync = False

    def fail(self, idx, args, ra, rb, note=""):
        print("MISMATCH (seed %d, command #%d)%s" % (self.seed, idx, (": " + note) if note else ""))
        print("  command:    %r" % (args,))
        print("  ringcached: %r" % (ra[:2000],))
        print("  redis:      %r" % (rb[:2000],))
        keys = set(args[1:])
        before = [h for h in self.history if h[0] < idx]
        print("  previous commands:")
        for h in before[-12:]:
            print("    #%d %r" % (h[0], h[1][:8]))
        print("  previous commands naming the same keys:")
        for h in [h for h in before if keys & set(h[1][1:])][-12:]:
            print("    #%d %r" % (h[0], h[1][:8]))
        print("replay: %s --seed %d --count %d" % (sys.argv[0], self.seed, idx + 1))
        self.mismatches += 1
        if self.mismatches >= self.max_mismatches:
            raise SystemExit(1)
        self.resync = True  # exploring: flush both servers and go on

    def flush(self):
        if not self.pending:
            return
        parts = []
        for _, args, _ in self.pending:
            # a share of the commands goes inline (same stream either way)
            if self.inline_share and self.inline_rng.random() < self.inline_share and sum(map(len, args)) < 8000:
                parts.append(encode_inline(args))
            else:
                parts.append(encode_command(*args))
        data = b"".join(parts)
        self.a.send(data)
        self.b.send(data)
        replies_a = [self.a.read_reply() for _ in self.pending]
        replies_b = [self.b.read_reply() for _ in self.pending]
        now = time.time()
        for k, d in list(self.deadline.items()):
            if d is None:
                self.deadline[k] = now + 0.003 + 0.002  # longest tiny TTL + clock margin
        for (idx, args, norm), ra, rb in zip(self.pending, replies_a, replies_b):
            if self.resync:
                break
            if ra.startswith(b"-"):
                self.stats["errors"] += 1
            if norm in ("ttl", "pttl"):
                if not ttl_close(ra, rb, norm, self.scale):
                    self.fail(idx, args, ra, rb, "TTL differs beyond the documented drift (D1)")
            elif normalize(ra, norm) != normalize(rb, norm):
                if norm == "cmdstats":
                    na, nb = normalize(ra, norm), normalize(rb, norm)
                    if na[0] == nb[0] == "cmdstats":
                        print("  cmdstats only in ringcached: %r" % sorted(set(na[1]) - set(nb[1])))
                        print("  cmdstats only in redis:      %r" % sorted(set(nb[1]) - set(na[1])))
                    else:
                        print("  cmdstats: %r / %r" % (na[:2], nb[:2]))
                self.fail(idx, args, ra, rb)
        self.pending = []
        self.do_resync()

    def do_resync(self):
        if self.resync:
            self.a.call(b"FLUSHALL")
            self.b.call(b"FLUSHALL")
            self.deadline.clear()
            self.unreclaimed.clear()
            self.resync = False

    def wait_keys(self, keys):
        """D5: waits until the tiny TTLs of these keys have passed."""
        need = sorted({k for k in keys if k in self.deadline})
        if not need:
            return
        if any(self.deadline[k] is None for k in need):
            self.flush()
            need = [k for k in need if k in self.deadline]  # a resync may have cleared them
            if not need:
                return
        until = max(self.deadline[k] for k in need)
        delay = until - time.time()
        if delay > 0:
            self.stats["waits"] += 1
            self.waited += delay
            time.sleep(delay)
        for k in need:
            del self.deadline[k]

    def add(self, args, norm):
        self.pending.append((self.index, args, norm))
        self.history.append((self.index, args))
        if len(self.history) > 2000:
            del self.history[:1000]
        self.index += 1
        self.stats["sent"] += 1
        if len(self.pending) >= self.batch_max:
            self.flush()

    def run(self, gen, count):
        while self.index < count:
            args, norm, keys, tiny = gen.next()
            if keys == "all" or keys == "dbsize":
                self.wait_keys(list(self.deadline))
            elif keys == "flush":
                self.flush()
                self.deadline.clear()
                self.unreclaimed.clear()
            else:
                self.wait_keys(keys)
            if keys == "dbsize" and self.unreclaimed:
                for k in sorted(self.unreclaimed):
                    self.add([b"EXISTS", k], None)
                self.unreclaimed.clear()
            if norm == "scan":
                self.flush()
                opts = args[2:]
                ra, rb = full_scan(self.a, opts), full_scan(self.b, opts)
                self.history.append((self.index, args))
                if ra != rb:
                    self.fail(self.index, args, repr(ra).encode(), repr(rb).encode(), "full SCAN sets differ (D4)")
                    self.do_resync()
                self.index += 1
                self.stats["scan"] += 1
                continue
            if tiny:  # before add(): add() may flush the batch, which fixes the deadlines
                for k in keys:
                    if tiny != "past":  # a time in the past needs no wait, only reclaiming
                        self.deadline[k] = None
                    self.unreclaimed.add(k)
            self.add(args, norm)
            if self.verbose and self.index % 10000 == 0:
                print("  %d commands" % self.index)
        self.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=None, help="default: $RC_DIFF_SEED or 20261128")
    ap.add_argument("--batch", type=int, default=64, help="commands pipelined per round trip")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--resp3", action="store_true", help="switch both connections to RESP3 (HELLO 3) first")
    ap.add_argument("--exclude", default="", help="comma-separated commands not to send (exploring only)")
    ap.add_argument("--max-mismatches", type=int, default=1,
                    help="explore: after a mismatch flush both servers and go on, up to this many")
    ap.add_argument("--rc-port", type=int, help="use a running ringcached instead of starting one")
    ap.add_argument("--redis-port", type=int, help="use a running redis-server instead of starting one")
    ap.add_argument("--against-redis", action="store_true",
                    help="compare two redis-servers (validates the harness itself)")
    opts = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    seed = opts.seed if opts.seed is not None else int(os.environ.get("RC_DIFF_SEED", "20261128"))
    count = opts.count
    # Sanitizer builds are several times slower: RC_DIFF_SANITIZED_COUNT caps the count there.
    if rctest.is_sanitized() and os.environ.get("RC_DIFF_SANITIZED_COUNT"):
        count = min(count, int(os.environ["RC_DIFF_SANITIZED_COUNT"]))
    servers = []
    ok = False
    try:
        if opts.rc_port:
            a_port = opts.rc_port
        else:
            a = rctest.start_server(kind="redis" if opts.against_redis else "ringcached")
            servers.append(a)
            a_port = a.port
        if opts.redis_port:
            b_port = opts.redis_port
        else:
            b = rctest.start_server(kind="redis")
            servers.append(b)
            b_port = b.port
        for p in (a_port, b_port):
            c = RawConn("127.0.0.1", p)
            c.call(b"FLUSHALL")
            c.close()
        print("differential: seed %d, %d commands, ringcached port %d vs redis-server port %d%s%s"
              % (seed, count, a_port, b_port, " (redis vs redis)" if opts.against_redis else "",
                 ", RESP3" if opts.resp3 else ""))
        t0 = time.monotonic()
        d = Diff(a_port, b_port, seed, opts.batch, opts.verbose)
        d.max_mismatches = opts.max_mismatches
        if opts.resp3:
            for conn in (d.a, d.b):
                hello = conn.call(b"HELLO", b"3")
                if not hello.startswith(b"%"):
                    print("HELLO 3 refused: %r" % hello[:200])
                    raise SystemExit(1)
        try:
            gen = Gen(seed)
            gen.exclude = {x.lower().encode() for x in opts.exclude.split(",") if x}
            d.run(gen, count)
        except (ConnectionError, OSError) as e:
            print("connection failure at command #%d (seed %d): %r" % (d.index, seed, e))
            for h in d.history[-10:]:
                print("    #%d %r" % h)
            raise SystemExit(1)
        dt = time.monotonic() - t0
        if d.mismatches:
            print("%d mismatches" % d.mismatches)
            raise SystemExit(1)
        for s in servers:
            if not s.alive():
                print("server on port %d died" % s.port)
                raise SystemExit(1)
        print("%d commands compared in %.1fs (%d error replies, %d full SCANs, %d TTL waits totalling %.2fs)"
              % (d.index, dt, d.stats["errors"], d.stats["scan"], d.stats["waits"], d.waited))
        ok = True
    finally:
        for s in servers:
            code = s.stop()
            rep = s.sanitizer_report()
            if (code != 0 or rep) and ok:
                print("server %s on port %d exited %s%s" % (s.kind, s.port, code, " with a sanitizer report" if rep else ""))
                ok = False
            if not ok:
                print("--- log of %s on port %d ---" % (s.kind, s.port))
                print(s.log()[-5000:])
    print("%d passed, %d failed" % (1 if ok else 0, 0 if ok else 1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
