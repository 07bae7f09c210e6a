# SPDX-License-Identifier: MIT
"""Running kturnd as one node of a fleet: alternate servers and external-ip.

- kturn-alternate-max-allocations + alternate-server: once this node holds N
  allocations (counted over all workers), or with kturn-alternate-max-bps
  while it relays that many bits per second or more (all workers, sampled
  once a second), Allocate gets 300 Try Alternate with
  ALTERNATE-SERVER (RFC 8489 §10, §14.15), round robin over the servers of the
  client's address family, signed like every TURN error after authentication.
  TCP clients get tcp-alternate-server when it is given, TLS clients
  tls-alternate-server (port 5349 by default), else the TCP list.
- external-ip PUBLIC/PRIVATE: the relay binds PRIVATE, XOR-RELAYED-ADDRESS
  says PUBLIC (same port), data still flows through the bound address, and
  the public address is refused as a peer like the server's own addresses.

Every check is on bytes: the ALTERNATE-SERVER value, the MAC, the data.
"""

import socket
import struct
import time

import pytest

import kturnd as K
import stunpy as S
import turnclient as T
from tcpturn import Control, attempt, bind, read_exact

from tcpturn import KEY as TCP_KEY, PASSWORD as TCP_PASSWORD, REALM as TCP_REALM, USER as TCP_USER

LO4 = "127.0.0.1"
PUBLIC = "203.0.113.7"  # documentation prefix: advertised only, never a traffic target

ALT1 = "192.0.2.10:3478"
ALT_V6 = "[2001:db8::5]:5000"  # never offered to IPv4 clients
ALT2 = "192.0.2.11"  # no port: 3478
TCP_ALT = "198.51.100.20:443"

# ALTERNATE-SERVER values as RFC 8489 §14.15 / §14.1 lay them out: 0, family 1, port, IPv4
ALT1_BYTES = bytes([0x00, 0x01, 0x0D, 0x96, 192, 0, 2, 10])
ALT2_BYTES = bytes([0x00, 0x01, 0x0D, 0x96, 192, 0, 2, 11])
TCP_ALT_BYTES = bytes([0x00, 0x01, 0x01, 0xBB, 198, 51, 100, 20])


def fleet_node(turn, *args, **kw):
    return turn(extra=["--kturn-alternate-max-allocations", "1"] + list(args), **kw)


def alternate_of(c, m):
    """The 300's ALTERNATE-SERVER value, after checking the response is a signed 300."""
    assert T.error_of(m) == 300, m
    assert m.error()[1] == "Try Alternate", m
    assert m.get_all(S.ALTERNATE_SERVER) and len(m.get_all(S.ALTERNATE_SERVER)) == 1, m
    assert S.XOR_RELAYED_ADDRESS not in m.types and S.LIFETIME not in m.types, m
    assert S.MESSAGE_INTEGRITY in m.types, "300 after authentication must be signed: %r" % m
    assert m.integrity_ok(c.key()), m
    return m.get(S.ALTERNATE_SERVER)


def test_ceiling_redirects_round_robin_signed(turn):
    e = fleet_node(turn, "--alternate-server", ALT1, "--alternate-server", ALT_V6,
                   "--alternate-server", ALT2)
    first = e.client("alice")
    assert first.allocate().cls == S.SUCCESS
    got = []
    for user in ("alice", "bob", "alice", "bob"):
        c = e.client(user)
        got.append(alternate_of(c, c.allocate(check=False)))
    assert got == [ALT1_BYTES, ALT2_BYTES, ALT1_BYTES, ALT2_BYTES]
    assert "turn redirect " in e.k.log() and "alternate=192.0.2.11:3478" in e.k.log()
    # the redirected clients hold nothing: freeing the one allocation reopens the node
    assert first.refresh(0).cls == S.SUCCESS
    again = e.client("bob")
    assert again.allocate().cls == S.SUCCESS
    assert e.in_range(again.relay[1])
    c = e.client("alice")
    assert alternate_of(c, c.allocate(check=False)) == ALT1_BYTES


def test_ceiling_counts_allocations_of_every_worker(turn):
    e = fleet_node(turn, "--alternate-server", ALT1, "--kturn-workers", "2")
    assert e.client("alice").allocate().cls == S.SUCCESS
    # new 5-tuples (UDP and TCP, fresh source ports): SO_REUSEPORT spreads them over
    # both workers, and each is redirected because of the other worker's allocation too
    for i in range(6):
        c = e.client("bob", transport="tcp" if i % 2 else "udp")
        assert alternate_of(c, c.allocate(check=False)) == ALT1_BYTES


@pytest.mark.parametrize("tcp_alt", [True, False])
def test_tcp_clients_use_tcp_alternate_server(turn, tcp_alt):
    args = ["--alternate-server", ALT1] + (["--tcp-alternate-server", TCP_ALT] if tcp_alt else [])
    e = fleet_node(turn, *args)
    assert e.client("alice").allocate().cls == S.SUCCESS
    want = TCP_ALT_BYTES if tcp_alt else ALT1_BYTES
    c = e.client("bob", transport="tcp")  # UDP relay over a TCP control connection
    assert alternate_of(c, c.allocate(check=False)) == want
    c = e.client("bob", transport="tcp")  # RFC 6062 TCP allocation
    assert alternate_of(c, c.allocate(proto=T.PROTO_TCP, check=False)) == want
    c = e.client("bob")  # UDP keeps alternate-server
    assert alternate_of(c, c.allocate(check=False)) == ALT1_BYTES


@pytest.mark.parametrize("tls_alt", [True, False])
def test_tls_clients_use_tls_alternate_server(turn, cert_pair, tls_alt):
    cert, key = cert_pair
    tls_port = K.pick_port([LO4])
    args = ["--tls-listening-port", str(tls_port), "--cert", str(cert), "--pkey", str(key),
            "--alternate-server", ALT1, "--tcp-alternate-server", TCP_ALT]
    if tls_alt:
        args += ["--tls-alternate-server", "192.0.2.30"]  # no port: 5349
    e = fleet_node(turn, *args, tls=True)
    assert e.client("alice").allocate().cls == S.SUCCESS
    c = T.TurnClient((LO4, tls_port), "tls", username="bob", password="bob-pw")
    try:
        want = bytes([0x00, 0x01, 0x14, 0xE5, 192, 0, 2, 30]) if tls_alt else TCP_ALT_BYTES
        assert alternate_of(c, c.allocate(check=False)) == want
    finally:
        c.close()


def test_without_ceiling_every_allocate_is_redirected_as_in_coturn(turn):
    e = turn(extra=["--alternate-server", ALT1])
    c = e.client("alice")
    assert alternate_of(c, c.allocate(check=False)) == ALT1_BYTES


def test_no_alternate_of_the_client_family_means_no_redirect(turn):
    e = fleet_node(turn, "--alternate-server", ALT_V6)
    for user in ("alice", "bob"):
        assert e.client(user).allocate().cls == S.SUCCESS


def allocate_until(e, user, want_cls, traffic=None, seconds=10.0):
    """Allocate with fresh clients until one gets want_cls (bounded); the rate is sampled
    once a second, so the answer changes some time after the traffic does. traffic():
    called before each try (keeps the node busy). Returns (client, response)."""
    deadline = time.monotonic() + seconds
    while True:
        if traffic:
            traffic()
        c = e.client(user)
        m = c.allocate(check=False)
        if m.cls == want_cls or time.monotonic() > deadline:
            return c, m
        time.sleep(0.05)


def test_bandwidth_ceiling_redirects_while_busy(turn):
    e = turn(extra=["--alternate-server", ALT1, "--kturn-alternate-max-bps", "8000"])
    assert "alternate-server bandwidth ceiling: 8000 bits/s relayed" in e.k.log()
    # idle, and no allocation ceiling: the node keeps its clients
    c = e.client("alice")
    assert c.allocate().cls == S.SUCCESS
    peer = e.peer()
    c.create_permission(peer.addr)
    sent = [0]

    def push():  # 32 KB each call, every datagram checked at the peer
        for i in range(32):
            data = bytes([sent[0] & 0xFF]) * 1000
            c.send_indication(peer.addr, data)
            assert peer.recv() == (data, c.relay)
            sent[0] += 1

    r, m = allocate_until(e, "bob", S.ERROR, traffic=push)
    assert alternate_of(r, m) == ALT1_BYTES
    line = [l for l in e.k.log().splitlines() if "turn redirect " in l][0]
    assert "alternate=192.0.2.10:3478" in line
    assert int(line.split("relayed_bps=")[1].split()[0]) >= 8000, line
    # the busy allocation is untouched; once the traffic stops the rate decays
    assert c.refresh(600).cls == S.SUCCESS
    r, m = allocate_until(e, "bob", S.SUCCESS)
    assert m.cls == S.SUCCESS, m
    assert e.in_range(r.relay[1])
    assert sent[0] >= 32


def test_external_ip_advertised_data_through_bound_address(turn):
    e = turn(extra=["--external-ip", "%s/%s" % (PUBLIC, LO4)])
    c = e.client("alice")
    m = c.allocate()
    ip, port = c.relay
    assert (ip, e.in_range(port)) == (PUBLIC, True), m
    # the raw attribute: family 1, port ^ 0x2112, 203.0.113.7 ^ magic cookie
    want = struct.pack("!BBH", 0, 1, port ^ 0x2112) + bytes(
        a ^ b for a, b in zip(socket.inet_aton(PUBLIC), b"\x21\x12\xa4\x42"))
    assert m.get(S.XOR_RELAYED_ADDRESS) == want
    assert "advertised as %s" % PUBLIC in e.k.log()
    peer = e.peer()
    c.create_permission(peer.addr)
    # the peer sends to the bound relay address; the client hears it
    peer.send((LO4, port), b"to the client via 127.0.0.1:%d" % port)
    ev = c.recv_data()
    assert ev.data == b"to the client via 127.0.0.1:%d" % port and ev.peer == peer.addr, ev
    # the client sends; the peer sees it from the bound relay address
    c.send_indication(peer.addr, b"to the peer")
    data, src = peer.recv()
    assert (data, src) == (b"to the peer", (LO4, port))
    # the public address is this server: refused as a peer
    r = c.create_permission((PUBLIC, 9), check=False)
    assert T.error_of(r) == 403, r
    assert "server's own address" in e.k.log()


def test_external_ip_without_private_maps_the_relay_of_its_family(turn):
    e = turn(extra=["--external-ip", PUBLIC])
    c = e.client("alice")
    c.allocate()
    assert c.relay[0] == PUBLIC and e.in_range(c.relay[1])


def test_external_ip_for_another_address_is_ignored_with_a_warning(turn):
    e = turn(extra=["--external-ip", "%s/10.9.8.7" % PUBLIC])
    c = e.client("alice")
    c.allocate()
    assert c.relay[0] == LO4
    assert "external-ip %s/10.9.8.7: 10.9.8.7 is not this server's relay address" % PUBLIC \
        in e.k.log()


def test_external_ip_rfc6062_relay_maps_peer_is_real(turn):
    e = turn(users={TCP_USER: TCP_PASSWORD}, realm=TCP_REALM,
             extra=["--external-ip", "%s/%s" % (PUBLIC, LO4)])
    ctl = Control((LO4, e.port))
    r = ctl.allocate()
    assert r.cls == S.SUCCESS, r
    ip, port = ctl.relay
    assert ip == PUBLIC and e.in_range(port)
    ctl.permit(LO4)
    peer = socket.create_connection((LO4, port), timeout=3)  # the bound address
    cid = attempt(ctl, peer)  # XOR-PEER-ADDRESS is the peer's real address (checked there)
    data, b = bind(ctl, cid)
    assert b.cls == S.SUCCESS and b.integrity_ok(TCP_KEY), b
    peer.sendall(b"peer->client")
    assert read_exact(data, 12) == b"peer->client"
    data.sendall(b"client->peer")
    assert read_exact(peer, 12) == b"client->peer"
    for s in (peer, data):
        s.close()
