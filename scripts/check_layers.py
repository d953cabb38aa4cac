#!/usr/bin/env python3
"""scripts/check_layers.py: the include graph between folders has no cycle,
and every folder includes only the folders it is allowed to depend on.

Each folder of the source tree (common, resp, ring, paxos, member, client,
node/<room>) is a node of the graph; an edge A -> B is an #include "B/..."
line in a file of A. The allowed edges are the layering of DESIGN.md
("Layout"), below in ALLOWED: a folder may include itself and what it is
allowed, transitively. Exit 0 when the tree keeps it, 1 with every offending
include (file:line) otherwise. Usage: scripts/check_layers.py [ROOT]
"""
import os
import re
import sys

# Direct dependencies; the check allows their transitive closure.
ALLOWED = {
    "common": [],
    "resp": ["common"],
    "ring": ["common"],
    "paxos": ["common"],
    "member": ["common", "ring", "paxos"],
    "client": ["common", "resp", "ring"],
    "node/core": ["common", "resp", "paxos"],
    "node/data": ["node/core", "ring"],
    "node/net": ["node/data"],
    "node/bus": ["node/net"],
    "node/cluster": ["node/bus", "paxos", "ring", "member"],
    "node/fwd": ["node/cluster"],
    "node/repl": ["node/fwd"],
    "node/migrate": ["node/fwd", "node/repl"],
    "node/cmd": ["node/fwd", "node/repl", "node/migrate"],
    # The Prometheus endpoint reads every room; node/cmd for the per-command
    # statistics.
    "node/metrics": ["node/cmd"],
    "node": ["node/cmd", "node/metrics"],  # node/main.c
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder_of(path):
    """'node/net/node_conn.c' -> 'node/net'; 'node/main.c' -> 'node'."""
    parts = path.split("/")
    if parts[0] == "node" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0]


def closure():
    out = {}
    for name in ALLOWED:
        seen, todo = set(), [name]
        while todo:
            cur = todo.pop()
            for dep in ALLOWED.get(cur, []):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        out[name] = seen | {name}
    return out


def has_cycle(edges):
    state = {}

    def visit(n, stack):
        state[n] = 1
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack + [n, m]
            if state.get(m) is None:
                found = visit(m, stack + [n])
                if found:
                    return found
        state[n] = 2
        return None

    for n in sorted(edges):
        if state.get(n) is None:
            found = visit(n, [])
            if found:
                return found
    return None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    root = os.path.abspath(root)
    allowed = closure()
    edges, bad = {}, []
    for top in sorted(ALLOWED):
        base = os.path.join(root, top)
        if not os.path.isdir(base):
            continue
        for dirpath, _, files in os.walk(base):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                src = folder_of(rel)
                if src != top:
                    continue  # node/<room> files are checked under their room
                with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as fp:
                    for lineno, line in enumerate(fp, 1):
                        m = INCLUDE.match(line)
                        if not m or "/" not in m.group(1):
                            continue
                        dst = folder_of(m.group(1))
                        if dst == src:
                            continue
                        edges.setdefault(src, set()).add(dst)
                        if dst not in allowed.get(src, {src}):
                            bad.append("%s:%d: %s may not include %s" % (rel, lineno, src, m.group(1)))
    cycle = has_cycle(edges)
    for line in bad:
        print(line)
    if cycle:
        print("include cycle between folders: " + " -> ".join(cycle))
    for src in sorted(edges):
        print("%-14s -> %s" % (src, " ".join(sorted(edges[src]))))
    if bad or cycle:
        print("check_layers: FAILED (%d bad include(s)%s)" % (len(bad), ", a cycle" if cycle else ""))
        return 1
    print("check_layers: ok, %d folders, no cycle" % len(edges))
    return 0


if __name__ == "__main__":
    sys.exit(main())
