# SPDX-License-Identifier: MIT
"""The UDP relay: permissions, Send/Data indications, channels (RFC 8656 §9-§12).

Peers are plain UDP sockets on loopback (kturnd runs with
--allow-loopback-peers). Every relayed payload is compared byte for byte, and
so are the source address the peer sees and the XOR-PEER-ADDRESS the client
gets.
"""

import socket
import ssl
import time

import pytest

import kturnd as K
import sockio
import stunpy as S
import turnclient as T

LO4 = "127.0.0.1"
LO4_OTHER = "127.0.0.2"  # a second loopback address: a peer without permission
LO6 = "::1"
SILENCE = 0.3


@pytest.fixture(params=["udp", "tcp", "tls"])
def any_transport_client(request, turn, cert_pair):
    """(env, allocated client) over each client transport."""
    if request.param == "tls":
        cert, key = cert_pair
        tls_port = K.pick_port([LO4])
        e = turn(tls=True, extra=["--tls-listening-port", str(tls_port), "--cert", str(cert),
                        "--pkey", str(key)])
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        c = T.TurnClient((LO4, tls_port), "tls", username="alice", password="alice-pw",
                         ssl_context=ctx)
        e._made.append(c)
    else:
        e = turn()
        c = e.client("alice", request.param)
    c.allocate()
    return e, c


def expect_at_peer(p, relay, data):
    got, src = p.recv(1.0)
    assert got == data
    assert T.same_addr(src, relay), "peer got it from %s, expected the relay %s" % (src, relay)


def expect_indication(c, peer, data):
    ev = c.recv_data(1.0)
    assert ev.kind == "indication", ev
    assert T.same_addr(ev.peer, peer), ev
    assert ev.data == data
    return ev


def expect_channel(c, channel, data):
    ev = c.recv_data(1.0)
    assert ev.kind == "channel", ev
    assert ev.channel == channel and ev.data == data, ev
    return ev


# --- permissions and indications --------------------------------------------------------


def test_send_indication_needs_permission(turn):
    e = turn()
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.send_indication(p.addr, b"no permission yet")
    assert p.silent(SILENCE) is None, "relayed without a permission"
    c.create_permission(p.addr)
    c.send_indication(p.addr, b"now allowed")
    expect_at_peer(p, c.relay, b"now allowed")


def test_relay_both_directions(any_transport_client):
    e, c = any_transport_client
    p = e.peer(LO4)
    m = c.create_permission(p.addr)
    assert m.cls == S.SUCCESS and m.integrity_ok(c.key())
    for payload in (b"x", b"odd-length!", bytes(range(256)) * 4):
        c.send_indication(p.addr, payload)
        expect_at_peer(p, c.relay, payload)
        p.send(c.relay, payload[::-1])
        ev = expect_indication(c, p.addr, payload[::-1])
        assert S.decode(ev.raw).cls == S.INDICATION


def test_data_indication_exact_attributes(turn):
    e = turn()
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.create_permission(p.addr)
    p.send(c.relay, b"abc")
    ev = c.recv_data(1.0)
    m = S.decode(ev.raw, method=S.DATA_M, cls=S.INDICATION)
    assert S.parse_xor_address(m.require(S.XOR_PEER_ADDRESS), m.tid) == p.addr
    assert m.require(S.DATA) == b"abc"
    assert S.MESSAGE_INTEGRITY not in m.types and S.MESSAGE_INTEGRITY_SHA256 not in m.types


def test_permission_covers_every_port_of_the_peer_ip(turn):
    e = turn()
    c = e.client()
    c.allocate()
    p1, p2 = e.peer(LO4), e.peer(LO4)
    c.create_permission(p1.addr)
    p2.send(c.relay, b"from another port")
    expect_indication(c, p2.addr, b"from another port")
    c.send_indication(p2.addr, b"to another port")
    expect_at_peer(p2, c.relay, b"to another port")


def test_data_from_peer_without_permission_dropped(turn):
    e = turn()
    c = e.client()
    c.allocate()
    allowed, other = e.peer(LO4), e.peer(LO4_OTHER)
    c.create_permission(allowed.addr)
    other.send(c.relay, b"not permitted")
    assert c.no_data(SILENCE) is None
    allowed.send(c.relay, b"permitted")
    expect_indication(c, allowed.addr, b"permitted")


def test_create_permission_several_peers(turn):
    e = turn()
    c = e.client()
    c.allocate()
    p1, p2 = e.peer(LO4), e.peer(LO4_OTHER)
    c.create_permission(p1.addr, p2.addr)
    for p in (p1, p2):
        c.send_indication(p.addr, b"hello %d" % p.addr[1])
        expect_at_peer(p, c.relay, b"hello %d" % p.addr[1])
        p.send(c.relay, b"back")
        expect_indication(c, p.addr, b"back")


def test_create_permission_without_peer_400(turn):
    e = turn()
    c = e.client()
    c.allocate()
    assert T.error_of(c.create_permission(check=False)) == 400


def test_create_permission_family_mismatch_443(turn):
    sockio.need_ipv6()
    e = turn(ips=[LO4, LO6])
    c = e.client()
    c.allocate()  # IPv4 relay only
    assert T.error_of(c.create_permission((LO6, 5000), check=False)) == 443
    assert T.error_of(c.channel_bind(0x4000, (LO6, 5000), check=False)) == 443


def test_permission_expires(turn):
    e = turn(extra=["--permission-lifetime", "1"])
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.create_permission(p.addr)
    p.send(c.relay, b"fresh")
    expect_indication(c, p.addr, b"fresh")
    time.sleep(1.6)
    p.send(c.relay, b"expired")
    assert c.no_data(SILENCE) is None, "data after the permission expired"
    c.send_indication(p.addr, b"expired too")
    assert p.silent(SILENCE) is None
    c.create_permission(p.addr)  # re-installing works
    p.send(c.relay, b"again")
    expect_indication(c, p.addr, b"again")


def test_create_permission_refreshes(turn):
    e = turn(extra=["--permission-lifetime", "1"])
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.create_permission(p.addr)
    for _ in range(3):
        time.sleep(0.6)
        c.create_permission(p.addr)
    p.send(c.relay, b"still permitted")
    expect_indication(c, p.addr, b"still permitted")


# --- channels -------------------------------------------------------------------------


def test_channel_data_both_directions(any_transport_client):
    e, c = any_transport_client
    p = e.peer(LO4)
    m = c.channel_bind(0x4001, p.addr)
    assert m.cls == S.SUCCESS and m.integrity_ok(c.key())
    for payload in (b"a", b"abcde", bytes(range(200)) * 3):
        c.send_channel_data(0x4001, payload)
        expect_at_peer(p, c.relay, payload)
        p.send(c.relay, payload)
        ev = expect_channel(c, 0x4001, payload)
        if c.stream:  # padded to 4 bytes on TCP/TLS
            assert len(ev.raw) == 4 + S.pad4(len(payload))
        else:
            assert len(ev.raw) == 4 + len(payload)


def test_channel_bind_installs_permission(turn):
    e = turn()
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.channel_bind(0x4000, p.addr)
    c.send_indication(p.addr, b"indication works too")
    expect_at_peer(p, c.relay, b"indication works too")


def test_other_port_of_bound_ip_gets_data_indication(turn):
    e = turn()
    c = e.client()
    c.allocate()
    bound, other_port = e.peer(LO4), e.peer(LO4)
    c.channel_bind(0x4002, bound.addr)
    other_port.send(c.relay, b"same ip, other port")
    expect_indication(c, other_port.addr, b"same ip, other port")


def test_padded_channel_data_over_udp(turn):
    """Over UDP the client may pad ChannelData (RFC 8656 §12.5); the length field rules."""
    e = turn()
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.channel_bind(0x4000, p.addr)
    c.send_raw(S.channel_data(0x4000, b"abcde", pad=True))
    expect_at_peer(p, c.relay, b"abcde")


def test_coalesced_frames_over_tcp(turn):
    """ChannelData, a Send indication and a Refresh in one TCP write are all handled."""
    e = turn()
    c = e.client(transport="tcp")
    c.allocate()
    p = e.peer(LO4)
    c.channel_bind(0x4000, p.addr)
    tid = S.new_tid()
    send = S.encode(S.SEND, S.INDICATION, tid, [
        (S.XOR_PEER_ADDRESS, S.xor_address(p.addr[0], p.addr[1], tid)), (S.DATA, b"second")])
    refresh, rtid = c.encode(S.REFRESH, [])
    c.send_raw(S.channel_data(0x4000, b"first", pad=True) + send
               + S.channel_data(0x4000, b"third!", pad=True) + refresh)
    for want in (b"first", b"second", b"third!"):
        expect_at_peer(p, c.relay, want)
    m = c.recv_response(rtid)
    assert m.cls == S.SUCCESS and m.integrity_ok(c.key())


@pytest.mark.parametrize("case", ["length-beyond-datagram", "short-header", "zero-length"])
def test_malformed_channel_data_over_udp(turn, case):
    e = turn()
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.channel_bind(0x4000, p.addr)
    raw = {"length-beyond-datagram": b"\x40\x00\x00\x64" + b"0123456789",
           "short-header": b"\x40\x00\x00",
           "zero-length": b"\x40\x00\x00\x00"}[case]
    c.send_raw(raw)
    got = p.silent(SILENCE)
    if case == "zero-length":  # well-formed: an empty datagram to the peer, or nothing
        assert got is None or got == (b"", c.relay), got
    else:
        assert got is None, got
    c.send_channel_data(0x4000, b"still works")
    expect_at_peer(p, c.relay, b"still works")


def test_channel_data_split_byte_by_byte_over_tcp(turn):
    e = turn()
    c = e.client(transport="tcp")
    c.allocate()
    p = e.peer(LO4)
    c.channel_bind(0x4000, p.addr)
    frame = S.channel_data(0x4000, b"slowly", pad=True)
    for i in range(len(frame)):
        c.send_raw(frame[i:i + 1])
        time.sleep(0.005)
    expect_at_peer(p, c.relay, b"slowly")


@pytest.mark.parametrize("case", ["no-data", "no-peer", "unknown-required-attribute"])
def test_malformed_send_indication_dropped(turn, case):
    """Send without DATA or XOR-PEER-ADDRESS is dropped (RFC 8656 §11.2); so is any
    indication with an unknown comprehension-required attribute (RFC 8489 §6.3.2)."""
    e = turn()
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.create_permission(p.addr)
    tid = S.new_tid()
    xpeer = (S.XOR_PEER_ADDRESS, S.xor_address(p.addr[0], p.addr[1], tid))
    attrs = {"no-data": [xpeer],
             "no-peer": [(S.DATA, b"no peer")],
             "unknown-required-attribute": [xpeer, (S.DATA, b"x"), (0x0031, b"??")]}[case]
    c.send_raw(S.encode(S.SEND, S.INDICATION, tid, attrs))
    assert p.silent(SILENCE) is None
    assert c.no_data(0.05) is None and not c.stray, c.stray  # indications get no answer
    c.send_indication(p.addr, b"well-formed")
    expect_at_peer(p, c.relay, b"well-formed")


def test_channel_data_on_unbound_channel_dropped(turn):
    e = turn()
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.channel_bind(0x4000, p.addr)
    c.send_channel_data(0x4001, b"unbound")
    assert p.silent(SILENCE) is None
    c.send_channel_data(0x4000, b"bound")
    expect_at_peer(p, c.relay, b"bound")


@pytest.mark.parametrize("channel", [0x0000, 0x3FFF, 0x5000, 0x7FFF, 0xFFFF])
def test_channel_number_out_of_range_400(turn, channel):
    e = turn()
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    assert T.error_of(c.channel_bind(channel, p.addr, check=False)) == 400


@pytest.mark.parametrize("channel", [0x4000, 0x4FFF])
def test_channel_number_range_ends(turn, channel):
    e = turn()
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.channel_bind(channel, p.addr)
    p.send(c.relay, b"edge")
    expect_channel(c, channel, b"edge")


def test_channel_bind_missing_attributes_400(turn):
    e = turn()
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    assert T.error_of(c.channel_bind(0x4000, None, check=False)) == 400
    assert T.error_of(c.channel_bind(None, p.addr, check=False)) == 400


def test_channel_already_bound_to_other_peer_400(turn):
    e = turn()
    c = e.client()
    c.allocate()
    p1, p2 = e.peer(LO4), e.peer(LO4)
    c.channel_bind(0x4000, p1.addr)
    assert T.error_of(c.channel_bind(0x4000, p2.addr, check=False)) == 400
    p1.send(c.relay, b"binding unchanged")
    expect_channel(c, 0x4000, b"binding unchanged")


def test_peer_already_bound_to_other_channel_400(turn):
    e = turn()
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.channel_bind(0x4000, p.addr)
    assert T.error_of(c.channel_bind(0x4001, p.addr, check=False)) == 400


def test_rebind_same_pair_refreshes(turn):
    e = turn(extra=["--channel-lifetime", "1", "--permission-lifetime", "1"])
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.channel_bind(0x4000, p.addr)
    for _ in range(3):
        time.sleep(0.6)
        c.channel_bind(0x4000, p.addr)
    p.send(c.relay, b"still bound")
    expect_channel(c, 0x4000, b"still bound")


def test_channel_expires(turn):
    e = turn(extra=["--channel-lifetime", "1", "--permission-lifetime", "60"])
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.channel_bind(0x4000, p.addr)
    p.send(c.relay, b"bound")
    expect_channel(c, 0x4000, b"bound")
    time.sleep(1.6)
    # the permission (60 s) outlives the channel: peer data now comes as an indication
    p.send(c.relay, b"unbound now")
    expect_indication(c, p.addr, b"unbound now")
    c.send_channel_data(0x4000, b"dead channel")
    assert p.silent(SILENCE) is None
    # binding the same pair again is always allowed (RFC 8656 §12)
    c.channel_bind(0x4000, p.addr)
    c.send_channel_data(0x4000, b"bound again")
    expect_at_peer(p, c.relay, b"bound again")


def test_two_allocations_are_isolated(turn):
    e = turn()
    a, b = e.client("alice"), e.client("bob")
    a.allocate()
    b.allocate()
    p = e.peer(LO4)
    a.create_permission(p.addr)
    p.send(b.relay, b"to bob's relay")
    assert b.no_data(SILENCE) is None and a.no_data(0.05) is None
    p.send(a.relay, b"to alice's relay")
    expect_indication(a, p.addr, b"to alice's relay")
    assert b.no_data(0.1) is None


# --- IPv6 relay ------------------------------------------------------------------------


def test_ipv6_relay(turn):
    sockio.need_ipv6()
    e = turn(ips=[LO4, LO6])
    c = e.client()
    c.allocate(family=S.FAMILY_IPV6)
    assert c.relay[0] == LO6
    p = e.peer(LO6)
    c.create_permission(p.addr)
    c.send_indication(p.addr, b"over v6")
    expect_at_peer(p, c.relay, b"over v6")
    p.send(c.relay, b"back over v6")
    expect_indication(c, p.addr, b"back over v6")
    c.channel_bind(0x4321, p.addr)
    c.send_channel_data(0x4321, b"v6 channel")
    expect_at_peer(p, c.relay, b"v6 channel")


def test_dual_stack_allocation_relays_each_family(turn):
    sockio.need_ipv6()
    e = turn(ips=[LO4, LO6])
    c = e.client()
    c.allocate(additional_family=S.FAMILY_IPV6)
    p4, p6 = e.peer(LO4), e.peer(LO6)
    c.create_permission(p4.addr, p6.addr)
    c.send_indication(p4.addr, b"v4")
    expect_at_peer(p4, c.relay_for(socket.AF_INET), b"v4")
    c.send_indication(p6.addr, b"v6")
    expect_at_peer(p6, c.relay_for(socket.AF_INET6), b"v6")


# --- deleted allocation -------------------------------------------------------------------


def test_deleted_allocation_stops_relaying(turn):
    e = turn()
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.channel_bind(0x4000, p.addr)
    relay = c.relay
    c.refresh(0)
    p.send(relay, b"after delete")
    assert c.no_data(SILENCE) is None
    c.send_channel_data(0x4000, b"after delete")
    c.send_indication(p.addr, b"after delete")
    assert p.silent(SILENCE) is None


def test_max_bps_limits_each_allocation(turn):
    """max-bps=2000: a burst of 20 x 500 bytes gets through only about one
    second's worth (the token bucket holds 2000 bytes); the rest is dropped,
    and the drops are counted in the allocation's log line."""
    e = turn(extra=["--max-bps", "2000"])
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    c.create_permission(p.addr)
    for i in range(20):
        c.send_indication(p.addr, bytes([i]) * 500)
    got = []
    while True:
        r = p.silent(SILENCE)
        if r is None:
            break
        got.append(r[0])
    total = sum(len(d) for d in got)
    assert 500 <= total <= 2500, "relayed %d bytes of 10000 under a 2000 B/s limit" % total
    # what did get through is whole and in order
    assert [d[0] for d in got] == sorted(d[0] for d in got)
    assert all(d == bytes([d[0]]) * 500 for d in got)
    c.refresh(lifetime=0)
    assert "dropped=%d reason=refresh with lifetime 0" % (20 - len(got)) in e.k.log()
