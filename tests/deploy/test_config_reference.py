"""deploy/README.md's configuration reference against a running node: every
option CONFIG GET * lists has a row (and no row names an option that does
not exist), each row's default is what a node started with no config file
reports, and its "run time" column says whether CONFIG SET takes it. So the
operations guide cannot go stale when an option is added or changed."""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import rctest  # noqa: E402
from rctest import test  # noqa: E402

GUIDE = os.path.join(HERE, "..", "..", "deploy", "README.md")
# Set by the harness (port) or by where the node runs (dir: its working dir).
NOT_COMPARED = {"port", "dir"}


def guide_rows():
    """name -> (default, runtime) from the table under "## Configuration reference"."""
    text = open(GUIDE, encoding="utf-8").read()
    m = re.search(r"^## Configuration reference\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, "deploy/README.md has no '## Configuration reference' section"
    rows = {}
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not cells[0].startswith("`"):
            continue
        name = cells[0].strip("`")
        assert name not in rows, "option %s has two rows" % name
        code = re.search(r"`([^`]*)`", cells[2])
        default = code.group(1) if code else ""
        if default == '""':
            default = ""
        runtime = cells[3].lower()
        assert runtime in ("yes", "no"), "option %s: run-time column is '%s', not yes/no" % (name, cells[3])
        rows[name] = (default, runtime == "yes")
    return rows


@test
def test_guide_lists_every_option_with_its_default_and_mutability(t):
    rows = guide_rows()
    srv = t.server()
    c = srv.client()
    flat = c.execute_command("CONFIG", "GET", "*")
    live = {}
    if isinstance(flat, dict):
        live = {k.decode() if isinstance(k, bytes) else k: (v.decode() if isinstance(v, bytes) else v)
                for k, v in flat.items()}
    else:
        for i in range(0, len(flat), 2):
            k, v = flat[i], flat[i + 1]
            live[k.decode() if isinstance(k, bytes) else k] = v.decode() if isinstance(v, bytes) else v
    assert len(live) >= 30, live
    missing = sorted(set(live) - set(rows))
    extra = sorted(set(rows) - set(live))
    assert not missing, "deploy/README.md misses options: %s" % missing
    assert not extra, "deploy/README.md lists options the node does not have: %s" % extra
    wrong = []
    for name, (default, runtime) in sorted(rows.items()):
        if name not in NOT_COMPARED and live[name] != default:
            wrong.append("%s: guide says default `%s`, the node reports `%s`" % (name, default, live[name]))
        # Setting the current value changes nothing but shows mutability.
        try:
            c.execute_command("CONFIG", "SET", name, live[name])
            settable = True
        except Exception as e:  # redis.ResponseError
            assert "immutable" in str(e) or "not supported" in str(e), (name, str(e))
            settable = False
        if settable != runtime:
            wrong.append("%s: guide says run time %s, CONFIG SET %s" % (
                name, "yes" if runtime else "no", "takes it" if settable else "refuses it"))
    assert not wrong, "\n".join(wrong)
    print("%d options, each with its default and run-time column checked" % len(rows))


if __name__ == "__main__":
    rctest.run()
