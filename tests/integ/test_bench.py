# SPDX-License-Identifier: MIT
"""kturn-bench's TURN workloads against a real kturnd (and --direct, no relay).

Only correctness and counts are asserted, never timings or rates: exact byte
and message counts, zero content errors, exit status 0; and the other way
round, that a corrupted byte is caught (exit 1, content errors counted).
"""

import json
import os
import socket
import subprocess
import threading

import pytest

import kturnd as K

LO4 = "127.0.0.1"
MiB = 1 << 20


def bench_path():
    return os.path.join(os.path.dirname(K.binary()), "kturn-bench")


def bench(args, rc=0, timeout=60):
    """Run kturn-bench with --json -q; assert the exit status; return the JSON object."""
    r = subprocess.run([bench_path()] + list(args) + ["--json", "-q"], capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == rc, "exit %d (want %d) for %s\nstdout: %s\nstderr: %s" % (
        r.returncode, rc, args, r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    assert len(lines) == 1, "want exactly one JSON line, got %r" % r.stdout
    return json.loads(lines[0])


@pytest.fixture
def env(turn):
    """kturnd with TURN on loopback (a TurnEnv)."""
    return turn(ports=200, extra=["--kturn-rfc5766-channels"])


@pytest.fixture
def srv(env):
    """The common server/credential arguments for ``env``."""
    return ["-s", LO4, "-p", str(env.port), "-u", "alice", "-w", env.users["alice"]]


def assert_bulk_exact(res, pairs, mib, dirs):
    per = mib * MiB
    assert res["mode"] == "bulk"
    assert res["pairs"] == pairs and res["bytes_per_pair"] == per
    assert res["bytes_sent"] == res["bytes_received"] == pairs * len(dirs) * per
    assert res["content_errors"] == 0 and res["errors"] == 0 and res["failed_pairs"] == 0
    assert len(res["per_pair"]) == pairs
    for p in res["per_pair"]:
        assert sorted(k for k in p if k != "pair") == sorted(dirs)
        for d in dirs:
            assert p[d]["sent"] == p[d]["received"] == per, p
            assert p[d]["content_errors"] == 0 and p[d]["error"] == "", p


# --- bulk ----------------------------------------------------------------------


@pytest.mark.parametrize("flow", ["peer", "client"])
def test_bulk_both_directions_exact_bytes(srv, flow):
    res = bench(["bulk"] + srv + ["-P", "2", "-n", "8", "--dir", "both", "--flow", flow])
    assert res["direct"] is False and res["flow"] == flow and res["dir"] == "both"
    assert_bulk_exact(res, 2, 8, ["up", "down"])


@pytest.mark.parametrize("direction", ["up", "down"])
def test_bulk_one_direction(srv, direction):
    res = bench(["bulk"] + srv + ["-P", "1", "-n", "4", "--dir", direction])
    assert_bulk_exact(res, 1, 4, [direction])


# kturnd runs its default plane (splice). These two tests found the opt-in
# sockmap plane delivering a parked skb twice under sustained load (README,
# "Data planes"); they are not run against it until that is fixed, since
# they would fail only some of the time.
@pytest.mark.parametrize("where", ["relay", "direct"])
def test_bulk_by_duration_receives_everything_sent(srv, where):
    target = srv if where == "relay" else ["--direct"]
    res = bench(["bulk"] + target + ["-P", "2", "-d", "0.5", "--dir", "both"])
    assert res["bytes_sent"] == res["bytes_received"] > 0
    assert res["content_errors"] == 0 and res["errors"] == 0
    for p in res["per_pair"]:
        for d in ("up", "down"):
            assert p[d]["sent"] == p[d]["received"] > 0


def test_bulk_sustained_single_pair_no_duplicate(srv):
    """2 s of one pair at full speed: the receiver gets exactly the sender's bytes."""
    res = bench(["bulk"] + srv + ["-P", "1", "-d", "2", "--dir", "up"])
    up = res["per_pair"][0]["up"]
    assert up["received"] == up["sent"] and up["first_error_shift"] is None, up


def test_bulk_direct_needs_no_server():
    res = bench(["bulk", "--direct", "-P", "2", "-n", "8", "--dir", "both"])
    assert res["direct"] is True and res["server"] == "direct"
    assert_bulk_exact(res, 2, 8, ["up", "down"])


@pytest.mark.parametrize("where", ["relay", "direct"])
def test_bulk_detects_a_corrupted_byte(srv, where):
    """Each sender changes exactly one byte: the receivers must count exactly one per stream."""
    target = srv if where == "relay" else ["--direct"]
    res = bench(["bulk"] + target + ["-P", "2", "-n", "2", "--dir", "both",
                                     "--inject-corruption"], rc=1)
    assert res["content_errors"] == 4
    for p in res["per_pair"]:
        assert p["up"]["content_errors"] == p["down"]["content_errors"] == 1
        assert p["up"]["received"] == p["down"]["received"] == 2 * MiB


class CorruptingProxy:
    """A TCP forwarder in front of kturnd that flips one byte of each connection's
    client-to-server stream once more than ``after`` bytes went through: control
    connections stay intact, every bridged data connection gets exactly one bad byte."""

    def __init__(self, target, after=64 * 1024):
        self.target, self.after = target, after
        self.lsock = socket.create_server((LO4, 0))
        self.port = self.lsock.getsockname()[1]
        self.flipped = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            s = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(c, s, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, False), daemon=True).start()

    def _pump(self, src, dst, corrupt):
        seen, done = 0, False
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if corrupt and not done and seen + len(data) > self.after:
                    i = max(0, self.after - seen)
                    data = data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1:]
                    done = True
                    with self.lock:
                        self.flipped += 1
                seen += len(data)
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.lsock.close()


def test_bulk_catches_a_relay_that_corrupts(srv):
    """A server path that changes one byte per data connection: caught, counted, exit 1."""
    port = int(srv[srv.index("-p") + 1])
    proxy = CorruptingProxy((LO4, port))
    try:
        args = list(srv)
        args[args.index("-p") + 1] = str(proxy.port)
        res = bench(["bulk"] + args + ["-P", "2", "-n", "2", "--dir", "up"], rc=1)
    finally:
        proxy.close()
    assert proxy.flipped == 2
    assert res["content_errors"] == 2 and res["bytes_received"] == 2 * 2 * MiB
    for p in res["per_pair"]:
        assert p["up"]["content_errors"] == 1
        # the ConnectionBind request took the first bytes of the data connection
        assert 0 < p["up"]["first_error_offset"] < 64 * 1024


def test_bulk_bad_password_fails(srv):
    args = list(srv)
    args[args.index("-w") + 1] = "wrong"
    r = subprocess.run([bench_path(), "bulk"] + args + ["-n", "1", "-q"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and r.stdout == ""
    assert "kturn-bench bulk" in r.stderr


# --- pingpong ------------------------------------------------------------------


@pytest.mark.parametrize("variant", [[], ["--flow", "client"], ["-T", "udp"],
                                     ["-T", "udp", "--send-indication"], ["--direct"],
                                     ["-T", "udp", "--direct"]],
                         ids=["tcp", "tcp-client-flow", "udp-channel", "udp-indication",
                              "tcp-direct", "udp-direct"])
def test_pingpong_counts(srv, variant):
    res = bench(["pingpong"] + srv + ["-n", "500", "-l", "100"] + variant)
    assert res["mode"] == "pingpong" and res["length"] == 100
    assert res["round_trips"] == 500 and res["bytes"] == 500 * 2 * 100
    assert res["content_errors"] == 0 and res["lost"] == 0 and res["errors"] == 0
    assert 0 < res["p50_us"] <= res["p90_us"] <= res["p99_us"]
    assert res["transport"] == ("udp" if "udp" in variant else "tcp")


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_pingpong_detects_corruption(srv, transport):
    res = bench(["pingpong"] + srv + ["-n", "50", "-T", transport, "--inject-corruption"], rc=1)
    assert res["content_errors"] >= 1


# --- connections ---------------------------------------------------------------


@pytest.mark.parametrize("flow", ["peer", "client"])
def test_connections_300_pairs(srv, flow):
    res = bench(["connections"] + srv + ["-k", "300", "--hold", "0.3", "--flow", flow])
    assert res["pairs"] == 300 and res["established"] == 300
    assert res["allocations"] == 3 and res["pairs_per_alloc"] == 100
    assert res["setup_failures"] == res["echo_failures"] == res["content_errors"] == 0
    assert res["errors"] == 0


def test_connections_direct():
    res = bench(["connections", "--direct", "-k", "50", "--hold", "0"])
    assert res["established"] == 50 and res["errors"] == 0


def test_connections_detect_corruption(srv):
    res = bench(["connections"] + srv + ["-k", "20", "--hold", "0", "--inject-corruption"],
                rc=1)
    assert res["established"] == 20
    assert res["content_errors"] >= 1 and res["echo_failures"] == 1


# --- allocs --------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_allocs_count(srv, transport):
    res = bench(["allocs"] + srv + ["-n", "60", "-c", "3", "-T", transport])
    assert res["mode"] == "allocs" and res["transport"] == transport
    assert res["allocations"] == 60 and res["failed"] == 0 and res["errors"] == 0
    assert 0 < res["p50_us"] <= res["p90_us"] <= res["p99_us"]


def test_allocs_wrong_password_counts_failures(srv):
    args = list(srv)
    args[args.index("-w") + 1] = "wrong"
    res = bench(["allocs"] + args + ["-n", "5"], rc=1)
    assert res["allocations"] == 0 and res["failed"] == 5
    assert res["first_error"] == "error response 401 to Allocate"


# --- udp -----------------------------------------------------------------------


@pytest.mark.parametrize("variant", [[], ["--send-indication"], ["--direct"]],
                         ids=["channeldata", "indication", "direct"])
def test_udp_echo_counts(srv, variant):
    # paced so that loopback loses nothing; loss is still not asserted to be 0
    res = bench(["udp"] + srv + ["-n", "2000", "-b", "20000", "-l", "200", "--echo"] + variant)
    assert res["mode"] == "udp" and res["sent"] == 2000 and res["length"] == 200
    assert 0 < res["peer_received"] <= 2000
    assert res["lost"] == 2000 - res["peer_received"]
    assert res["echoed"] == res["peer_received"]
    assert 0 < res["client_received"] <= res["echoed"]
    assert res["content_errors"] == 0 and res["errors"] == 0


@pytest.mark.parametrize("mode", [["udp", "-n", "100"], ["pingpong", "-T", "udp", "-n", "10"]])
def test_udp_allocation_released_on_exit(env, srv, mode):
    """Over UDP only Refresh(0) ends an allocation: kturn-bench sends it before exiting."""
    bench(mode + srv)
    lines = [ln for ln in env.k.log().splitlines() if "deallocate" in ln]
    assert len(lines) == 1 and "lifetime 0" in lines[0], lines


def test_udp_detects_corruption(srv):
    res = bench(["udp"] + srv + ["-n", "200", "-b", "20000", "--inject-corruption"], rc=1)
    assert res["content_errors"] == 1


# --- command line --------------------------------------------------------------


def test_version_and_help():
    r = subprocess.run([bench_path(), "--version"], capture_output=True, text=True, timeout=10)
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "VERSION")) as f:
        assert r.returncode == 0 and r.stdout == "kturn-bench %s\n" % f.read().strip()
    r = subprocess.run([bench_path(), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    for word in ("binding", "bulk", "pingpong", "connections", "allocs", "udp", "--direct",
                 "--flow", "--dir", "--pairs-per-alloc", "--send-indication", "--hold"):
        assert word in r.stdout, word


@pytest.mark.parametrize("args", [["bulk", "--dir", "sideways"], ["bulk", "--flow", "x"],
                                  ["nosuchmode"], ["bulk", "-P", "0"], ["udp", "-l", "4"],
                                  ["bulk", "-T", "udp"], ["connections", "-T", "udp"]])
def test_bad_usage_exits_2(args):
    r = subprocess.run([bench_path()] + args, capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
