# SPDX-License-Identifier: MIT
"""The seed topology in network namespaces, on both data planes.

    [bridge] --veth-- [edge: kturnd] --veth-- [remote peer]

The bridge (TURN client, e.g. a video bridge) reaches kturnd on the first
link; kturnd relays on its address on the second link, where the remote
peer lives. Nothing is on loopback and no loopback peers are allowed: this
is the production shape. Every stream is checked by content (SHA-256 of a
sequence-numbered pattern), never by length alone.
"""

import hashlib
import json
import os
import resource
import socket
import struct
import subprocess
import threading
import time

import pytest

import netns
import stunpy as S
from tcpturn import (Control, PASSWORD, REALM, USER, attempt, bind, read_exact, read_until_eof,
                     xor_peer)

MiB = 1 << 20
BULK = 64 * MiB


@pytest.fixture(params=["sockmap", "splice"])
def plane(request):
    return request.param


class Seed:
    def __init__(self, topology, kturnd_factory, plane, extra=()):
        self.bridge = topology.add_ns("br")
        edge = topology.add_ns("edge")
        self.remote = topology.add_ns("rp")
        l1 = topology.link(self.bridge, edge)  # a: bridge, b: edge
        l2 = topology.link(edge, self.remote)  # a: edge, b: remote
        self.relay_ip, self.remote_ip = l2["a4"], l2["b4"]
        self.plane = plane
        self.k = kturnd_factory(ips=[l1["b4"]], ns=edge, extra=[
            "--realm", REALM, "--user", "%s:%s" % (USER, PASSWORD),
            "--relay-ip", self.relay_ip, "--min-port", "20000", "--max-port", "20999",
            "--kturn-data-plane", plane] + list(extra))
        self.server = (l1["b4"], self.k.port)

    def control(self):
        ctl = Control(self.server, ns=self.bridge)
        r = ctl.allocate()
        assert r.cls == S.SUCCESS, r
        assert ctl.relay[0] == self.relay_ip
        ctl.permit(self.remote_ip)
        return ctl

    def peer_connect(self, ctl):
        s = netns.socket_in(self.remote, socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(ctl.relay)
        return s

    def pair(self, ctl, early=b""):
        """Peer-initiated: peer connects, ConnectionAttempt, ConnectionBind."""
        peer = self.peer_connect(ctl)
        if early:
            peer.sendall(early)
        data, r = bind(ctl, attempt(ctl, peer))
        assert r.cls == S.SUCCESS, r
        data.settimeout(30)
        return peer, data

    def listener(self):
        lsn = netns.socket_in(self.remote, socket.AF_INET, socket.SOCK_STREAM)
        lsn.bind((self.remote_ip, 0))
        lsn.listen(64)
        lsn.settimeout(10)
        return lsn

    def assert_plane(self, pairs=1):
        deadline = time.monotonic() + 5
        while True:
            binds = [l for l in self.k.log().splitlines() if " turn bind " in l]
            if len(binds) >= pairs or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(binds) >= pairs, binds
        assert all(l.endswith("plane=" + self.plane) for l in binds), binds[:3]


@pytest.fixture
def seed(topology, kturnd_factory, plane):
    return Seed(topology, kturnd_factory, plane)


def pattern(tag, total, chunk=MiB):
    """`total` bytes in chunks; each chunk starts with its index and the tag."""
    block = hashlib.sha256(tag).digest() * (chunk // 32)
    for i in range(total // chunk):
        yield struct.pack("!Q", i) + tag[:8].ljust(8, b".") + block[16:]


def expected_hash(tag, total):
    h = hashlib.sha256()
    for c in pattern(tag, total):
        h.update(c)
    return h.hexdigest()


class Sender(threading.Thread):
    def __init__(self, sock, tag, total):
        super().__init__(daemon=True)
        self.sock, self.tag, self.total, self.error = sock, tag, total, None
        self.sent = 0
        self.start()

    def run(self):
        try:
            for c in pattern(self.tag, self.total):
                self.sock.sendall(c)
                self.sent += len(c)
        except Exception as e:  # reported by the test
            self.error = e


class Receiver(threading.Thread):
    def __init__(self, sock, total):
        super().__init__(daemon=True)
        self.sock, self.total, self.error, self.got = sock, total, None, 0
        self.h = hashlib.sha256()
        self.start()

    def run(self):
        buf = bytearray(MiB)
        try:
            while self.got < self.total:
                n = self.sock.recv_into(buf, min(MiB, self.total - self.got))
                if not n:
                    raise ConnectionError("EOF after %d of %d bytes" % (self.got, self.total))
                self.h.update(memoryview(buf)[:n])
                self.got += n
        except Exception as e:
            self.error = e


def both_ways(a, b, total, timeout=120):
    """Stream `total` bytes a->b and b->a at once; assert both arrive intact."""
    up_r, down_r = Receiver(b, total), Receiver(a, total)
    up_s, down_s = Sender(a, b"up", total), Sender(b, b"down", total)
    for t in (up_s, down_s, up_r, down_r):
        t.join(timeout)
        assert not t.is_alive(), "stream stuck (%s)" % t
        assert t.error is None, t.error
    assert up_r.h.hexdigest() == expected_hash(b"up", total)
    assert down_r.h.hexdigest() == expected_hash(b"down", total)


def test_peer_initiated_flow_64mib_both_ways(seed):
    ctl = seed.control()
    early = b"remote peer talks before the bind;" * 3000  # 102 kB waits in the kernel
    peer, data = seed.pair(ctl, early=early)
    assert read_exact(data, len(early)) == early
    both_ways(data, peer, BULK)
    seed.assert_plane()


def test_client_initiated_flow_64mib_both_ways(seed):
    ctl = seed.control()
    lsn = seed.listener()
    r = ctl.request(S.CONNECT, [xor_peer(*lsn.getsockname())])
    assert r.cls == S.SUCCESS, r
    peer, src = lsn.accept()
    assert src == ctl.relay
    data, b = bind(ctl, struct.unpack("!I", r.get(0x002A))[0])
    assert b.cls == S.SUCCESS, b
    data.settimeout(30)
    peer.settimeout(30)
    both_ways(data, peer, BULK)
    seed.assert_plane()


@pytest.mark.parametrize("first", ["peer", "bridge"])
def test_half_close_each_direction(seed, first):
    ctl = seed.control()
    peer, data = seed.pair(ctl)
    closer, other = (peer, data) if first == "peer" else (data, peer)
    closer.sendall(b"x" * 300000)
    closer.shutdown(socket.SHUT_WR)
    got, how = read_until_eof(other, 10)
    assert (len(got), how) == (300000, "eof") and got == b"x" * 300000
    other.sendall(b"still flowing the other way")  # the half-closed side still reads
    assert read_exact(closer, 27) == b"still flowing the other way"
    other.shutdown(socket.SHUT_WR)
    assert read_until_eof(closer, 10) == (b"", "eof")


@pytest.mark.parametrize("first", ["peer", "bridge"])
def test_rst_each_direction(seed, first):
    ctl = seed.control()
    peer, data = seed.pair(ctl)
    data.sendall(b"before")
    assert read_exact(peer, 6) == b"before"
    resetter, other = (peer, data) if first == "peer" else (data, peer)
    resetter.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    resetter.close()
    assert read_until_eof(other, 10)[1] == "reset"


def test_stalled_reader_then_resumed_no_loss(seed):
    """The peer stops reading for 10 s while the bridge keeps sending: TCP flow
    control must stop the bridge (the relay buffers a bounded amount, not
    everything: without the verdict's high-water mark the kernel took 512 MiB
    in 4 s). Then the peer reads everything: nothing lost, nothing reordered."""
    ctl = seed.control()
    peer, data = seed.pair(ctl)
    total = 32 * MiB
    sender = Sender(data, b"stall", total)
    time.sleep(10)
    assert sender.error is None, sender.error
    assert sender.is_alive() and sender.sent < 24 * MiB, \
        "the relay absorbed %d MiB for a stalled reader" % (sender.sent // MiB)
    if seed.plane == "sockmap":
        counters = bpftool_counters(seed.k)
        assert sum(c["pauses"] for c in counters) >= 1, counters
    recv = Receiver(peer, total)
    for t in (sender, recv):
        t.join(60)
        assert not t.is_alive() and t.error is None, (t, t.error)
    assert recv.h.hexdigest() == expected_hash(b"stall", total)


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= n


def test_1000_concurrent_pairs_each_verified(seed):
    if not raise_nofile(4000):
        pytest.skip("cannot raise the open file limit to 4000")
    # 10 allocations of 100 pairs: kturnd holds at most 128 peer connections per allocation
    ctls = [seed.control() for _ in range(10)]
    pairs = []
    try:
        for i in range(1000):
            pairs.append(seed.pair(ctls[i // 100]))
        for i, (peer, data) in enumerate(pairs):  # every pair, both ways, its own bytes
            data.sendall(b"up %04d" % i)
            peer.sendall(b"down %04d" % i)
        for i, (peer, data) in enumerate(pairs):
            assert read_exact(peer, 7, 10) == b"up %04d" % i
            assert read_exact(data, 9, 10) == b"down %04d" % i
        seed.assert_plane(1000)
    finally:
        for peer, data in pairs:
            peer.close()
            data.close()


def test_allocation_expiry_tears_pairs_down(topology, kturnd_factory, plane):
    s = Seed(topology, kturnd_factory, plane,
             extra=["--max-allocate-lifetime", "2", "--kturn-default-allocate-lifetime", "2"])
    ctl = s.control()
    peer, data = s.pair(ctl)
    data.sendall(b"alive")
    assert read_exact(peer, 5) == b"alive"
    for sock in (peer, data):
        got, how = read_until_eof(sock, 6)
        assert got == b"" and how in ("eof", "reset")
    assert "reason=expired" in s.k.log()


def bpftool_counters(k, name="kturn_sock_cnt"):
    """`bpftool map dump` of the pinned counters, seen from kturnd's mount
    namespace: `ip netns exec` gives kturnd a /sys (and bpffs) of its own."""
    out = subprocess.run(["nsenter", "-t", str(k.pid), "-m", "--", "bpftool", "-j", "map", "dump",
                          "pinned", os.path.join(k.pin_dir, name)],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    return [e["formatted"]["value"] if "formatted" in e else e["value"] for e in json.loads(out)]


@pytest.mark.parametrize("plane", ["sockmap"])
def test_bpftool_counters_equal_the_bytes_sent(seed):
    ctl = seed.control()
    peer, data = seed.pair(ctl)
    data.sendall(b"u" * 1000000)
    assert read_exact(peer, 1000000, 10) == b"u" * 1000000
    peer.sendall(b"d" * 123457)
    assert read_exact(data, 123457, 10) == b"d" * 123457
    counters = bpftool_counters(seed.k)
    assert sorted(c["fwd_bytes"] for c in counters) == [123457, 1000000], counters
    assert all(c["redirect_fail"] == 0 for c in counters), counters
    # the allocation's own entry: up = bridge -> peer, down = peer -> bridge
    [alloc] = bpftool_counters(seed.k, "kturn_alloc_cnt")
    assert (alloc["up_bytes"], alloc["down_bytes"]) == (1000000, 123457), alloc
    assert alloc["up_packets"] > 0 and alloc["down_packets"] > 0 and alloc["pauses"] == 0
    # a second pair of the same allocation adds to the same entry
    peer2, data2 = seed.pair(ctl)
    peer2.sendall(b"p" * 1000)
    assert read_exact(data2, 1000, 10) == b"p" * 1000
    [alloc] = bpftool_counters(seed.k, "kturn_alloc_cnt")
    assert alloc["down_bytes"] == 124457, alloc
    # deallocation removes it
    assert ctl.request(S.REFRESH, [(S.LIFETIME, S.u32(0))]).cls == S.SUCCESS
    deadline = time.monotonic() + 3
    while bpftool_counters(seed.k, "kturn_alloc_cnt") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bpftool_counters(seed.k, "kturn_alloc_cnt") == []
