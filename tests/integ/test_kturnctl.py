# SPDX-License-Identifier: MIT
"""kturnctl against pinned maps laid out as include/kturn/bpf_abi.h says.

The maps are made with bpftool on a private bpffs mount, so the test checks
kturnctl's reading of the ABI (key/value layouts, names) independently of the
loader that normally pins them.
"""

import json
import os
import struct
import subprocess

import pytest

import kturnd as K

KTURNCTL = os.path.join(os.path.dirname(K.binary()), "kturnctl")
ABI_VERSION = 3  # KTURN_BPF_ABI_VERSION


def run(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=check)


def hexbytes(b):
    return ["0x%02x" % x for x in b]


@pytest.fixture
def pin_dir(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount bpffs and create maps")
    d = tmp_path / "bpffs"
    d.mkdir()
    run("mount", "-t", "bpf", "bpf", str(d))
    try:
        yield d
    finally:
        run("umount", str(d), check=False)


def make_map(path, kind, key, value, name):
    run("bpftool", "map", "create", str(path), "type", kind, "key", str(key), "value",
        str(value), "entries", "16", "name", name)


def update(path, key, value):
    run("bpftool", "map", "update", "pinned", str(path), "key", *hexbytes(key), "value",
        *hexbytes(value))


def test_info_and_pairs(pin_dir):
    make_map(pin_dir / "kturn_info", "array", 4, 24, "kturn_info")
    make_map(pin_dir / "kturn_link", "hash", 8, 24, "kturn_link")
    make_map(pin_dir / "kturn_sock_cnt", "hash", 8, 64, "kturn_sock_cnt")
    # struct kturn_info {abi_version, owner_pid, owner_start, max_socks, _pad}
    update(pin_dir / "kturn_info", struct.pack("<I", 0),
           struct.pack("<IIQII", ABI_VERSION, os.getpid(), 12345, 4096, 0))
    # Two sockets of one pair: cookie 1001 (client side) <-> 1002 (peer side).
    # struct kturn_sock_link {partner_cookie, alloc_id, pair_id, flags, _pad}
    update(pin_dir / "kturn_link", struct.pack("<Q", 1001), struct.pack("<QIIII", 1002, 7, 0xabcdef, 0, 0))
    update(pin_dir / "kturn_link", struct.pack("<Q", 1002), struct.pack("<QIIII", 1001, 7, 0xabcdef, 1, 0))
    # struct kturn_sock_counters {fwd_bytes, fwd_packets, pass_bytes, pass_packets, redirect_fail,
    #                             pauses, pause_seq, partner_base, base_set}
    update(pin_dir / "kturn_sock_cnt", struct.pack("<Q", 1001), struct.pack("<QQQQQQQII", 1 << 33, 900, 5, 1, 0, 3, 3, 0, 0))
    update(pin_dir / "kturn_sock_cnt", struct.pack("<Q", 1002), struct.pack("<QQQQQQQII", 777, 3, 0, 0, 2, 0, 0, 0, 0))

    info = json.loads(run(KTURNCTL, "--pin-dir", str(pin_dir), "--json", "info").stdout)
    assert info == {"pin_dir": str(pin_dir), "abi_version": ABI_VERSION, "owner_pid": os.getpid(),
                    "owner_alive": True, "max_socks": 4096}

    rows = json.loads(run(KTURNCTL, "--pin-dir", str(pin_dir), "--json", "pairs").stdout)
    by_cookie = {r["cookie"]: r for r in rows}
    assert set(by_cookie) == {1001, 1002}
    assert by_cookie[1001] == {"cookie": 1001, "partner": 1002, "alloc_id": 7, "pair_id": 0xabcdef,
                               "side": "client", "fwd_bytes": 1 << 33, "fwd_packets": 900,
                               "pass_bytes": 5, "redirect_fail": 0, "pauses": 3}
    assert by_cookie[1002]["side"] == "peer"
    assert by_cookie[1002]["fwd_bytes"] == 777
    assert by_cookie[1002]["redirect_fail"] == 2

    table = run(KTURNCTL, "--pin-dir", str(pin_dir), "pairs").stdout.splitlines()
    assert table[0].split()[:5] == ["cookie", "partner", "alloc", "pair", "side"]
    assert any(line.split()[:6] == ["1001", "1002", "7", str(0xabcdef), "client", str(1 << 33)]
               for line in table[1:])


def test_missing_pins_fail_clearly(tmp_path):
    r = run(KTURNCTL, "--pin-dir", str(tmp_path / "nothing"), "info", check=False)
    assert r.returncode == 1
    assert "kturn_info" in r.stderr and "No such file" in r.stderr
