# SPDX-License-Identifier: MIT
"""Debian coturn's turnutils_stunclient against kturnd.

turnutils_stunclient sends one plain Binding request (no attributes) from an
ephemeral UDP port and prints, on success, a line such as

    0: : IPv4. UDP reflexive addr: 127.0.0.1:55784

(the line may appear more than once: its logger writes to stdout twice). On
an error response it prints "The response is an error <code> (<reason>)" and
still exits 0, and with no response it blocks forever, so we parse the output
strictly and bound the run.
"""

import re
import shutil
import subprocess

import pytest

STUNCLIENT = shutil.which("turnutils_stunclient") or "/usr/bin/turnutils_stunclient"
REFLEXIVE = re.compile(r"UDP reflexive addr: ?(\S+):(\d+)\s*$")
FAILURE = re.compile(r"error|not a|Cannot|Wrong", re.IGNORECASE)


def ephemeral_range():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = (int(x) for x in f.read().split())
    return lo, hi


def run_stunclient(args, cwd, timeout=10):
    try:
        r = subprocess.run([STUNCLIENT] + args, capture_output=True, text=True, timeout=timeout,
                           cwd=str(cwd), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail("turnutils_stunclient %s got no answer within %ds (output: %r)"
                    % (" ".join(args), timeout, e.stdout), pytrace=False)
    return r


@pytest.fixture(scope="module")
def stunclient_available():
    if not shutil.which("turnutils_stunclient") and not shutil.which(STUNCLIENT):
        pytest.skip("turnutils_stunclient not installed (apt-get install coturn)")


@pytest.mark.parametrize("local", [None, "127.0.0.1"], ids=["default", "L-127.0.0.1"])
def test_stunclient_reflexive_address(stunclient_available, kturnd, tmp_path, local):
    args = ["-p", str(kturnd.port)] + (["-L", local] if local else []) + ["127.0.0.1"]
    r = run_stunclient(args, tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, "exit %d\n%s" % (r.returncode, out)
    bad = [ln for ln in out.splitlines() if FAILURE.search(ln)]
    assert not bad, "stunclient reported a failure:\n%s" % out
    found = [REFLEXIVE.search(ln) for ln in out.splitlines()]
    found = [(m.group(1), int(m.group(2))) for m in found if m]
    assert found, "no 'UDP reflexive addr' line in:\n%s" % out
    assert len(set(found)) == 1, "conflicting reflexive addresses: %s" % found
    ip, port = found[0]
    assert ip == "127.0.0.1"
    lo, hi = ephemeral_range()
    assert lo <= port <= hi, "reflexive port %d outside the ephemeral range %d-%d" % (port, lo, hi)
    assert port != kturnd.port
