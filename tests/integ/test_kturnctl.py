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
ABI_VERSION = 4  # KTURN_BPF_ABI_VERSION


# struct kturn_sock_counters {fwd_bytes, fwd_packets, pass_bytes, pass_packets, redirect_fail,
#   pauses, pause_seq, partner_base, base_set, repeats, repeated_bytes, cuts, cut_lost,
#   cut_at[KTURN_CUTS], cut_len[KTURN_CUTS], next_seq, seq_set}
KTURN_CUTS = 8
COUNTERS = struct.Struct("<7QII4Q%dQ%dQII" % (KTURN_CUTS, KTURN_CUTS))


def counters(*first7, repeated_bytes=0):
    return COUNTERS.pack(*first7, 0, 0, 1 if repeated_bytes else 0, repeated_bytes,
                         *([0] * (2 + 2 * KTURN_CUTS)), 0, 0)


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
    make_map(pin_dir / "kturn_sock_cnt", "hash", 8, COUNTERS.size, "kturn_sock_cnt")
    # struct kturn_info {abi_version, owner_pid, owner_start, max_socks, _pad}
    update(pin_dir / "kturn_info", struct.pack("<I", 0),
           struct.pack("<IIQII", ABI_VERSION, os.getpid(), 12345, 4096, 0))
    # Two sockets of one pair: cookie 1001 (client side) <-> 1002 (peer side).
    # struct kturn_sock_link {partner_cookie, alloc_id, pair_id, flags, _pad}
    update(pin_dir / "kturn_link", struct.pack("<Q", 1001), struct.pack("<QIIII", 1002, 7, 0xabcdef, 0, 0))
    update(pin_dir / "kturn_link", struct.pack("<Q", 1002), struct.pack("<QIIII", 1001, 7, 0xabcdef, 1, 0))
    update(pin_dir / "kturn_sock_cnt", struct.pack("<Q", 1001), counters(1 << 33, 900, 5, 1, 0, 3, 3, repeated_bytes=65483))
    update(pin_dir / "kturn_sock_cnt", struct.pack("<Q", 1002), counters(777, 3, 0, 0, 2, 0, 0))

    info = json.loads(run(KTURNCTL, "--pin-dir", str(pin_dir), "--json", "info").stdout)
    assert info == {"pin_dir": str(pin_dir), "abi_version": ABI_VERSION, "owner_pid": os.getpid(),
                    "owner_alive": True, "max_socks": 4096}

    rows = json.loads(run(KTURNCTL, "--pin-dir", str(pin_dir), "--json", "pairs").stdout)
    by_cookie = {r["cookie"]: r for r in rows}
    assert set(by_cookie) == {1001, 1002}
    assert by_cookie[1001] == {"cookie": 1001, "partner": 1002, "alloc_id": 7, "pair_id": 0xabcdef,
                               "side": "client", "fwd_bytes": 1 << 33, "fwd_packets": 900,
                               "pass_bytes": 5, "redirect_fail": 0, "pauses": 3,
                               "repeated_bytes": 65483}
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


# --- against a running kturnd, over its control socket ------------------------------------

import signal
import stat
import time

import kturnd as KD
import stunpy as S
import turnclient as T
from opsenv import (LO, TcpPair, UdpFlow, kturnctl, kturnctl_json, kturnd_argv, pattern)
from tcpturn import read_until_eof

UP, DOWN = 300_000, 70_001  # bytes through the bridged pair, each way


def addr(a):
    return "%s:%d" % (a[0], a[1])


@pytest.fixture
def live(kturnd_factory):
    """kturnd (sockmap plane) with a UDP allocation and a TCP allocation with a bridged pair."""
    k = kturnd_factory(extra=kturnd_argv("sockmap"))
    udp = UdpFlow(k, up=[b"x" * 100, b"y" * 1000, b"z" * 7], down=[b"d" * 555, b"e" * 3])
    tcp = TcpPair(k, pattern(UP), pattern(DOWN, 3))
    yield k, udp, tcp
    udp.close()
    tcp.close()


def test_control_socket_is_private(live):
    k, _, _ = live
    st = os.stat(k.ctl_socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()


def test_status(live):
    k, _, _ = live
    s = kturnctl_json(k, "status")
    assert s["version"] == run(KTURNCTL, "--version").stdout.split()[1]
    assert s["pid"] == k.pid
    assert s["workers"] == 2
    assert s["data_plane"] == "sockmap" and s["pin_dir"] == k.pin_dir
    assert s["allocations"] == 2
    assert s["allocations_by_relay"] == {"udp": 1, "tcp": 1}
    assert s["pairs"] == 1 and s["pairs_by_plane"] == {"sockmap": 1, "splice": 0, "tls": 0}
    assert s["peers_waiting"] == 0
    assert s["uptime_s"] >= 0 and s["node"]
    text = kturnctl(k, "status").stdout
    assert "data plane    sockmap" in text and "allocations   2" in text


def test_allocations(live):
    k, udp, tcp = live
    rows = kturnctl_json(k, "allocations")
    assert len(rows) == 2
    by_user = {r["user"]: r for r in rows}
    u, t = by_user["alice"], by_user["bridge"]

    assert u["transport"] == "udp" and u["relay_transport"] == "udp"
    assert u["client"] == addr(udp.client.addr) and u["server"] == addr((LO, k.port))
    assert u["relayed"] == [addr(udp.client.relay)]
    assert u["permissions"] == 1 and u["channels"] == 0 and u["pairs"] == 0
    assert u["permitted"] == [udp.peer.addr[0]]
    assert u["bytes_to_peer"] == udp.up_bytes and u["bytes_to_client"] == udp.down_bytes
    assert u["packets_to_peer"] == udp.up_pkts and u["packets_to_client"] == udp.down_pkts
    assert 0 < u["lifetime_left_s"] <= 600
    assert u["bpf"] is None

    assert t["transport"] == "tcp" and t["relay_transport"] == "tcp"
    assert t["client"] == addr(tcp.ctl.sock.getsockname())
    assert t["relayed"] == [addr(tcp.ctl.relay)]
    assert t["peers"] == 1 and t["pairs"] == 1 and t["permissions"] == 1
    assert t["permitted"] == [LO]
    assert t["bytes_to_peer"] == UP and t["bytes_to_client"] == DOWN
    # the kernel counted the same bytes in kturn_alloc_cnt
    assert t["bpf"]["up_bytes"] == UP and t["bpf"]["down_bytes"] == DOWN
    assert t["bpf"]["up_packets"] >= 1 and t["bpf"]["down_packets"] >= 1
    assert t["id"] != u["id"]

    table = kturnctl(k, "allocations").stdout.splitlines()
    assert table[0].split()[:3] == ["id", "user", "tr"]
    line = [l for l in table[1:] if l.split()[1] == "bridge"][0].split()
    assert line[0] == str(t["id"]) and str(UP) in line and str(DOWN) in line


def test_pairs_merges_daemon_and_pins(live):
    k, _, tcp = live
    rows = kturnctl_json(k, "pairs")
    assert len(rows) == 1
    p = rows[0]
    assert p["pair_id"] == tcp.cid and p["plane"] == "sockmap"
    assert p["client"] == addr(tcp.data.getsockname())
    assert p["peer"] == addr(tcp.peer.getsockname())
    assert p["bytes_to_peer"] == UP and p["bytes_to_client"] == DOWN
    assert 1 <= p["packets_to_peer"] <= UP and 1 <= p["packets_to_client"] <= DOWN
    # the same sockets, by cookie, in the pinned maps (what kturnctl reads when kturnd is gone)
    pinned = {r["cookie"]: r for r in json.loads(
        run(KTURNCTL, "--pin-dir", k.pin_dir, "--socket", "/nonexistent", "--json", "pairs").stdout)}
    assert pinned[p["cookie_client"]]["fwd_bytes"] == UP
    assert pinned[p["cookie_peer"]]["fwd_bytes"] == DOWN
    assert pinned[p["cookie_client"]]["pair_id"] == tcp.cid
    assert pinned[p["cookie_client"]]["partner"] == p["cookie_peer"]


def test_kill(live):
    k, udp, tcp = live
    rows = {r["user"]: r for r in kturnctl_json(k, "allocations")}

    assert kturnctl_json(k, "kill", str(rows["alice"]["id"])) == {"killed": rows["alice"]["id"]}
    m = udp.client.refresh(600, check=False)
    assert T.error_of(m) == 437

    r = kturnctl(k, "kill", str(rows["bridge"]["id"]))
    assert r.stdout.strip() == "allocation %d deleted" % rows["bridge"]["id"]
    # the pair's sockets are closed: both ends see the end of their stream
    assert read_until_eof(tcp.peer)[0] == b""
    assert read_until_eof(tcp.data)[0] == b""
    m = tcp.ctl.request(S.REFRESH, [(S.LIFETIME, S.u32(600))])
    assert m.cls == S.ERROR and m.error()[0] == 437
    assert kturnctl_json(k, "allocations") == []
    assert kturnctl_json(k, "pairs") == []

    again = kturnctl(k, "kill", str(rows["bridge"]["id"]), check=False)
    assert again.returncode == 1 and "no such allocation" in again.stderr


def test_users_reload(kturnd_factory):
    k = kturnd_factory(extra=kturnd_argv("splice", workers=1),
                       config=[("user", "erin:erin-pw")])
    c = T.TurnClient((LO, k.port), "udp", username="dave", password="dave-pw")
    assert T.error_of(c.allocate(check=False)) == 401
    c.close()
    KD.write_config(k.config_path, [("user", "erin:erin-pw"), ("user", "dave:dave-pw")])
    assert kturnctl_json(k, "users", "reload") == {"reloaded": True}
    c = T.TurnClient((LO, k.port), "udp", username="dave", password="dave-pw")
    c.allocate()
    assert [r["user"] for r in kturnctl_json(k, "allocations")] == ["dave"]
    c.close()


def test_usage_and_version():
    r = run(KTURNCTL, "--version")
    assert r.stdout.startswith("kturnctl ") and len(r.stdout.split()) == 2
    h = run(KTURNCTL, "--help").stdout
    for word in ("status", "allocations", "pairs", "kill ID", "users reload", "--json",
                 "--socket", "--pin-dir", "Exit status"):
        assert word in h
    assert run(KTURNCTL, "frobnicate", check=False).returncode == 2
    assert run(KTURNCTL, "kill", "x", check=False).returncode == 2


def test_kturnd_gone(tmp_path):
    """After SIGKILL: kturnctl says kturnd is unreachable; the pins still show the pair."""
    if os.geteuid() != 0:
        pytest.skip("needs root for the sockmap plane")
    k = KD.Kturnd(tmp_path / "k", extra=kturnd_argv("sockmap"))
    k.start()
    try:
        tcp = TcpPair(k, pattern(5000), pattern(777))
        p = kturnctl_json(k, "pairs")[0]
        alloc_id = p["alloc_id"]
        k.kill()
        tcp.close()

        r = kturnctl(k, "status", check=False)
        assert r.returncode == 3
        assert "kturnd is not reachable at %s" % k.ctl_socket in r.stderr
        assert "owner pid    %d (gone)" % k.pid in r.stdout

        r = kturnctl(k, "--json", "pairs", check=False)
        assert r.returncode == 0 and "not reachable" in r.stderr
        pinned = {row["cookie"]: row for row in json.loads(r.stdout)}
        assert pinned[p["cookie_client"]]["fwd_bytes"] == 5000
        assert pinned[p["cookie_peer"]]["fwd_bytes"] == 777

        r = kturnctl(k, "--json", "allocations", check=False)
        assert r.returncode == 3
        rows = {row["alloc_id"]: row for row in json.loads(r.stdout)}
        assert rows[alloc_id]["up_bytes"] == 5000 and rows[alloc_id]["down_bytes"] == 777

        for cmd in (["kill", str(alloc_id)], ["users", "reload"]):
            r = kturnctl(k, *cmd, check=False)
            assert r.returncode == 3 and "not reachable" in r.stderr
    finally:
        k.kill()
        for name in os.listdir(k.pin_dir) if os.path.isdir(k.pin_dir) else []:
            os.unlink(os.path.join(k.pin_dir, name))
        k.remove_pin_dir()
