# SPDX-License-Identifier: MIT
"""RFC 6062 TCP relay against a real kturnd: the seed's flow and its error paths.

The client side is written here from RFC 6062 with tests/lib/stunpy.py: a
control connection that allocates a TCP relay, peers that connect to the
relayed address (ConnectionAttempt) or are connected to (Connect), and data
connections that bind with ConnectionBind and then carry raw bytes. Every
byte is checked: content, order, and what each side sees at the end (EOF,
reset).
"""

import hashlib
import os
import socket
import struct
import time

import pytest

import kturnd as K
import sockio
import stunpy as S
from tcpturn import (CONNECTION_ID, Control, attempt, bind, read_exact, read_stun,
                     read_until_eof, xor_peer)

from tcpturn import KEY, PASSWORD, REALM, USER

LO = "127.0.0.1"


PLANES = ["sockmap", "splice"]


@pytest.fixture(params=PLANES)
def plane(request):
    """Every data-path test runs on both planes (kturn-data-plane)."""
    return request.param


def start(kturnd_factory, workers=1, extra=(), plane="splice"):
    base = 21000 + (os.getpid() * 37 + int(time.monotonic() * 1000)) % 8000
    argv = ["--realm", REALM, "--user", "%s:%s" % (USER, PASSWORD), "--allow-loopback-peers",
            "--min-port", str(base), "--max-port", str(base + 99),
            "--kturn-workers", str(workers), "--kturn-data-plane", plane] + list(extra)
    return kturnd_factory(extra=argv)


def assert_plane(k, plane, pairs=1):
    """The log names the plane of every bind: the test ran where it says."""
    deadline = time.monotonic() + 3
    while True:  # the line is written just after the response is sent
        binds = [l for l in k.log().splitlines() if " turn bind " in l]
        if len(binds) >= pairs or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(binds) >= pairs, binds
    assert all(l.endswith("plane=%s" % plane) for l in binds), binds


def seed_pair(k, behind=b"", early=b""):
    """Control + allocation + permission + peer connect + bind -> (ctl, peer, data)."""
    ctl = Control((LO, k.port))
    assert ctl.allocate().cls == S.SUCCESS
    ctl.permit(LO)
    peer = sockio.tcp_connect(ctl.relay)
    if early:
        peer.sendall(early)
    cid = attempt(ctl, peer)
    data, r = bind(ctl, cid, behind)
    assert r.cls == S.SUCCESS, r
    assert r.integrity_ok(KEY)
    return ctl, peer, data


def test_allocate_tcp_relay_is_a_listening_socket(kturnd_factory):
    k = start(kturnd_factory)
    ctl = Control((LO, k.port))
    r = ctl.allocate()
    assert r.cls == S.SUCCESS, r
    assert S.parse_xor_address(r.get(S.XOR_MAPPED_ADDRESS), r.tid) == ctl.sock.getsockname()
    assert struct.unpack("!I", r.get(S.LIFETIME))[0] == 600
    ip, port = ctl.relay
    assert ip == LO
    s = socket.create_connection(ctl.relay, timeout=2)  # accepted by the kernel backlog
    s.close()


def test_seed_flow_bytes_early_behind_and_both_ways(kturnd_factory, plane):
    k = start(kturnd_factory, plane=plane)
    early = b"peer spoke first;" * 1000  # 17 kB before the bind: kept, delivered first
    ctl, peer, data = seed_pair(k, early=early)
    assert_plane(k, plane)
    assert read_exact(data, len(early)) == early
    up = os.urandom(3 << 20)
    down = os.urandom(2 << 20)
    data.sendall(up[:1 << 20])
    peer.sendall(down[:1 << 20])
    assert read_exact(peer, 1 << 20, 10) == up[:1 << 20]
    assert read_exact(data, 1 << 20, 10) == down[:1 << 20]
    # then bulk, both directions at once, checked by hash
    data.sendall(up[1 << 20:])
    peer.sendall(down[1 << 20:])
    assert hashlib.sha256(read_exact(peer, 2 << 20, 20)).digest() == \
        hashlib.sha256(up[1 << 20:]).digest()
    assert read_exact(data, 1 << 20, 20) == down[1 << 20:]


def test_half_close_each_way_keeps_the_other_direction(kturnd_factory, plane):
    k = start(kturnd_factory, plane=plane)
    ctl, peer, data = seed_pair(k)
    assert_plane(k, plane)
    peer.sendall(b"last words")
    peer.shutdown(socket.SHUT_WR)
    assert read_until_eof(data) == (b"last words", "eof")
    data.sendall(b"reply after the peer's FIN")
    assert read_exact(peer, 26) == b"reply after the peer's FIN"
    data.shutdown(socket.SHUT_WR)
    assert read_until_eof(peer) == (b"", "eof")


def test_reset_by_peer_closes_the_data_connection(kturnd_factory, plane):
    k = start(kturnd_factory, plane=plane)
    ctl, peer, data = seed_pair(k)
    assert_plane(k, plane)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()
    _, how = read_until_eof(data)
    assert how == "reset"


def test_connect_flow_and_446(kturnd_factory, plane):
    k = start(kturnd_factory, plane=plane)
    ctl = Control((LO, k.port))
    assert ctl.allocate().cls == S.SUCCESS
    lsn = socket.socket()
    lsn.bind((LO, 0))
    lsn.listen()
    r = ctl.request(S.CONNECT, [xor_peer(*lsn.getsockname())])
    assert r.cls == S.SUCCESS, r
    cid = struct.unpack("!I", r.get(CONNECTION_ID))[0]
    lsn.settimeout(3)
    peer, src = lsn.accept()
    assert src == ctl.relay, "server must connect from the relayed address"
    again = ctl.request(S.CONNECT, [xor_peer(*lsn.getsockname())])
    assert again.error()[0] == 446, again
    data, b = bind(ctl, cid)
    assert b.cls == S.SUCCESS, b
    assert_plane(k, plane)
    data.sendall(b"hello")
    assert read_exact(peer, 5) == b"hello"
    peer.sendall(b"world")
    assert read_exact(data, 5) == b"world"


def test_connect_refused_is_447(kturnd_factory):
    k = start(kturnd_factory)
    ctl = Control((LO, k.port))
    assert ctl.allocate().cls == S.SUCCESS
    closed = socket.socket()
    closed.bind((LO, 0))
    port = closed.getsockname()[1]
    closed.close()  # nobody listens there: RST
    r = ctl.request(S.CONNECT, [xor_peer(LO, port)])
    assert r.error()[0] == 447, r
    assert r.integrity_ok(KEY)


def test_peer_without_permission_is_refused_silently(kturnd_factory):
    k = start(kturnd_factory)
    ctl = Control((LO, k.port))
    assert ctl.allocate().cls == S.SUCCESS
    peer = sockio.tcp_connect(ctl.relay)
    assert sockio.wait_closed(peer, 3) in ("eof", "reset")
    with pytest.raises(TimeoutError):
        ctl.framer.read_frame(0.3)  # no ConnectionAttempt
    assert "no permission" in k.log()


def test_connection_bind_errors(kturnd_factory):
    k = start(kturnd_factory)
    ctl = Control((LO, k.port))
    assert ctl.allocate().cls == S.SUCCESS
    d, r = bind(ctl, 0x12345678)
    assert r.error()[0] == 400 and r.integrity_ok(KEY), r  # unknown CONNECTION-ID
    # not the first message on its connection
    ctl.permit(LO)
    peer = sockio.tcp_connect(ctl.relay)
    cid = attempt(ctl, peer)
    d2 = sockio.tcp_connect(ctl.server)
    d2.sendall(S.binding_request())
    assert read_stun(d2).cls == S.SUCCESS
    d2.sendall(S.encode(S.CONNECTION_BIND, S.REQUEST, None,
                        [(CONNECTION_ID, struct.pack("!I", cid))] + ctl.auth, integrity_key=KEY))
    assert read_stun(d2).error()[0] == 400
    # the id is still good for a proper bind
    d3, r3 = bind(ctl, cid)
    assert r3.cls == S.SUCCESS, r3
    # and bound once only
    d4, r4 = bind(ctl, cid)
    assert r4.error()[0] == 400, r4


def test_connection_bind_wrong_user_is_441(kturnd_factory):
    k = start(kturnd_factory, extra=["--user", "other:pw"])
    ctl = Control((LO, k.port))
    assert ctl.allocate().cls == S.SUCCESS
    ctl.permit(LO)
    peer = sockio.tcp_connect(ctl.relay)
    cid = attempt(ctl, peer)
    other = Control((LO, k.port), user="other", password="pw")
    d, r = bind(other, cid)
    assert r.error()[0] == 441, r


def test_unbound_connection_expires(kturnd_factory):
    k = start(kturnd_factory, extra=["--kturn-connection-timeout", "1"])
    ctl = Control((LO, k.port))
    assert ctl.allocate().cls == S.SUCCESS
    ctl.permit(LO)
    peer = sockio.tcp_connect(ctl.relay)
    cid = attempt(ctl, peer)
    assert sockio.wait_closed(peer, 4) in ("eof", "reset")
    d, r = bind(ctl, cid)
    assert r.error()[0] == 400, r


def test_tcp_allocation_rules(kturnd_factory):
    k = start(kturnd_factory)
    udp = sockio.udp_socket(LO)
    tid = S.new_tid()
    udp.sendto(S.encode(S.ALLOCATE, S.REQUEST, tid,
                        [(S.REQUESTED_TRANSPORT, S.requested_transport(6))]), (LO, k.port))
    r = S.decode(sockio.udp_recv(udp, (LO, k.port)))
    assert r.error()[0] == 401  # auth comes first
    ctl = Control((LO, k.port))
    assert ctl.allocate([(S.EVEN_PORT, b"\x00\x00\x00\x00")]).error()[0] == 400
    assert ctl.allocate([(S.DONT_FRAGMENT, b"")]).error()[0] == 400
    assert ctl.allocate().cls == S.SUCCESS
    r = ctl.request(S.CHANNEL_BIND, [(S.CHANNEL_NUMBER, b"\x40\x00\x00\x00"), xor_peer(LO, 9)])
    assert r.error()[0] == 400, r


def test_tcp_allocation_over_udp_is_400(kturnd_factory):
    k = start(kturnd_factory)
    udp = sockio.udp_socket(LO)
    dest = (LO, k.port)
    tid = S.new_tid()
    udp.sendto(S.encode(S.ALLOCATE, S.REQUEST, tid,
                        [(S.REQUESTED_TRANSPORT, S.requested_transport(6))]), dest)
    r = S.decode(sockio.udp_recv(udp, dest))
    auth = [(S.USERNAME, USER), (S.REALM, r.get(S.REALM)), (S.NONCE, r.get(S.NONCE))]
    udp.sendto(S.encode(S.ALLOCATE, S.REQUEST, tid,
                        [(S.REQUESTED_TRANSPORT, S.requested_transport(6))] + auth,
                        integrity_key=KEY), dest)
    r = S.decode(sockio.udp_recv(udp, dest))
    assert r.error()[0] == 400, r


def test_refresh_zero_closes_pairs(kturnd_factory, plane):
    k = start(kturnd_factory, plane=plane)
    ctl, peer, data = seed_pair(k)
    r = ctl.request(S.REFRESH, [(S.LIFETIME, S.u32(0))])
    assert r.cls == S.SUCCESS
    assert sockio.wait_closed(peer, 3) in ("eof", "reset")
    assert sockio.wait_closed(data, 3) in ("eof", "reset")


def test_control_connection_close_closes_pairs(kturnd_factory, plane):
    k = start(kturnd_factory, plane=plane)
    ctl, peer, data = seed_pair(k)
    ctl.sock.close()
    assert sockio.wait_closed(peer, 3) in ("eof", "reset")
    assert sockio.wait_closed(data, 3) in ("eof", "reset")


def test_bind_reaches_the_allocation_from_any_worker(kturnd_factory, plane):
    """With 2 workers a data connection lands on the other worker half the time."""
    k = start(kturnd_factory, workers=2, extra=["-V"], plane=plane)
    ctl = Control((LO, k.port))
    assert ctl.allocate().cls == S.SUCCESS
    ctl.permit(LO)
    for i in range(16):
        peer = sockio.tcp_connect(ctl.relay)
        cid = attempt(ctl, peer)
        data, r = bind(ctl, cid)
        assert r.cls == S.SUCCESS, r
        data.sendall(b"ping %d" % i)
        assert read_exact(peer, len(b"ping %d" % i)) == b"ping %d" % i
        peer.sendall(b"pong")
        assert read_exact(data, 4) == b"pong"
        data.close()
        peer.close()
    assert "tcp handoff" in k.log(), "no bind crossed workers in 16 tries (p = 2^-16)"
    assert_plane(k, plane, pairs=16)


def test_bytes_behind_the_bind_are_data(kturnd_factory, plane):
    """Bytes the bridge sends in the same segment as its ConnectionBind are the
    first data bytes. On the sockmap plane the socket has been read into (the
    request), so that pair is spliced with splice() instead, and says so."""
    k = start(kturnd_factory, plane=plane)
    behind = b"bridge bytes right behind the ConnectionBind;"
    ctl, peer, data = seed_pair(k, behind=behind, early=b"early;")
    assert read_exact(peer, len(behind)) == behind
    assert read_exact(data, 6) == b"early;"
    data.sendall(b"more")
    assert read_exact(peer, 4) == b"more"
    peer.sendall(b"back")
    assert read_exact(data, 4) == b"back"


def test_tls_data_connection(kturnd_factory, cert_pair):
    """A bridge binding over TURN-over-TLS: bytes are decrypted, so the pair is
    copied in userspace (plane=tls); early bytes, both ways, half-close."""
    import ssl

    cert, key = cert_pair
    tls_port = K.pick_port([LO])
    k = start(kturnd_factory, extra=["--tls-listening-port", str(tls_port), "--cert", str(cert),
                                     "--pkey", str(key)])
    ctx = ssl.create_default_context(cafile=str(cert))
    ctl = Control((LO, k.port))
    assert ctl.allocate().cls == S.SUCCESS
    ctl.permit(LO)
    peer = sockio.tcp_connect(ctl.relay)
    peer.sendall(b"early over tls;")
    data, r = bind(ctl, attempt(ctl, peer), behind=b"behind;", tls=(ctx, (LO, tls_port)))
    assert r.cls == S.SUCCESS and r.integrity_ok(KEY), r
    assert_plane(k, "tls")
    assert read_exact(data, 15) == b"early over tls;"
    assert read_exact(peer, 7) == b"behind;"
    up, down = os.urandom(1 << 20), os.urandom(1 << 20)
    data.sendall(up)
    assert read_exact(peer, len(up), 10) == up
    peer.sendall(down)
    assert read_exact(data, len(down), 10) == down
    peer.shutdown(socket.SHUT_WR)
    assert read_until_eof(data)[0] == b""
    data.sendall(b"after the peer's FIN")
    assert read_exact(peer, 20) == b"after the peer's FIN"


def test_kill9_closes_spliced_pairs_and_restart_cleans_pins(kturnd_factory):
    """kill -9 while a pair is spliced: the kernel closes kturnd's sockets, so
    both ends see the connection end (nothing stays spliced through the pinned
    maps); a kturnd started on the same pin directory removes the dead one's
    pins and serves."""
    k = start(kturnd_factory, plane="sockmap")
    ctl, peer, data = seed_pair(k)
    data.sendall(b"before the crash")
    assert read_exact(peer, 16) == b"before the crash"
    dead_pid = k.pid
    k.kill()
    k.proc = None  # killed on purpose: not a failed exit for the fixture
    assert read_until_eof(peer, 5)[0] == b""
    assert read_until_eof(data, 5)[0] == b""
    assert os.path.exists(os.path.join(k.pin_dir, "kturn_sockhash"))  # pins outlive it
    k2 = start(kturnd_factory, plane="sockmap", extra=["--kturn-bpf-pin-dir", k.pin_dir])
    assert "removing stale pins of dead pid %d" % dead_pid in k2.log()
    ctl2, peer2, data2 = seed_pair(k2)
    peer2.sendall(b"after")
    assert read_exact(data2, 5) == b"after"
