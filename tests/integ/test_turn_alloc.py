# SPDX-License-Identifier: MIT
"""TURN Allocate and Refresh against a real kturnd (RFC 8656 §7, §8).

Every check is on decoded bytes: relayed address and port range, LIFETIME
values, error codes, the attributes that must (not) be present.
"""

import socket
import ssl
import struct
import time

import pytest

import kturnd as K
import sockio
import stunpy as S
import turnclient as T

LO4 = "127.0.0.1"
LO6 = "::1"
DEFAULT_LIFETIME = 600


# --- success ------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_allocate_success_attributes(turn, transport):
    e = turn()
    c = e.client("alice", transport)
    m = c.allocate()
    assert m.method == S.ALLOCATE and m.cls == S.SUCCESS
    assert m.types.count(S.XOR_RELAYED_ADDRESS) == 1, m
    ip, port = c.relay
    assert ip == LO4
    assert e.in_range(port), "relayed port %d outside %s" % (port, e.port_range)
    assert S.parse_u32(m.require(S.LIFETIME)) == DEFAULT_LIFETIME
    assert m.xor_mapped() == c.addr
    assert m.software().startswith("kturn")
    # signed with MESSAGE-INTEGRITY (the request used it), nothing that identifies the user
    assert S.MESSAGE_INTEGRITY in m.types and S.MESSAGE_INTEGRITY_SHA256 not in m.types
    assert m.integrity_ok(S.long_term_key("alice", T.REALM, "alice-pw"))
    for t in (S.USERNAME, S.NONCE, S.REALM, S.USERHASH):
        assert t not in m.types, "success response carries %#06x: %r" % (t, m)


def test_allocate_over_tls(turn, cert_pair):
    cert, key = cert_pair
    tls_port = K.pick_port([LO4])
    e = turn(tls=True, extra=["--tls-listening-port", str(tls_port), "--cert", str(cert),
                    "--pkey", str(key)])
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    c = T.TurnClient((LO4, tls_port), "tls", username="alice", password="alice-pw",
                     ssl_context=ctx)
    try:
        m = c.allocate()
        assert e.in_range(c.relay[1]) and c.relay[0] == LO4
        assert m.xor_mapped() == c.addr
        assert c.refresh(0).cls == S.SUCCESS
    finally:
        c.close()


def test_two_clients_get_distinct_relayed_ports(turn):
    e = turn()
    a, b = e.client("alice"), e.client("bob")
    a.allocate()
    b.allocate()
    assert a.relay != b.relay
    assert e.in_range(a.relay[1]) and e.in_range(b.relay[1])


@pytest.mark.parametrize("requested,granted", [
    (None, DEFAULT_LIFETIME),  # absent: default
    (0, DEFAULT_LIFETIME),  # 0 on an Allocate is just "less than the default"
    (30, DEFAULT_LIFETIME),  # below the default: the default
    (1200, 1200),  # between default and max: as asked
    (3600, 3600),  # the max itself
    (100000, 3600),  # above the max: the max
    (0xFFFFFFFF, 3600),
])
def test_allocate_lifetime_rule(turn, requested, granted):
    e = turn(extra=["--max-allocate-lifetime", "3600"])
    c = e.client()
    m = c.allocate(lifetime=requested)
    assert S.parse_u32(m.require(S.LIFETIME)) == granted


def test_allocate_with_fingerprint_signs_then_fingerprints(turn):
    e = turn()
    c = e.client(fingerprint=True)
    m = c.allocate()
    assert m.types[-1] == S.FINGERPRINT and m.fingerprint_ok()
    assert m.types[-2] == S.MESSAGE_INTEGRITY


def test_fingerprint_option_adds_fingerprint_to_turn_responses(turn):
    e = turn(extra=["--fingerprint"])
    c = e.client(fingerprint=False)
    m = c.allocate()
    assert m.types[-1] == S.FINGERPRINT and m.fingerprint_ok()


def test_dont_fragment_accepted(turn):
    e = turn()
    c = e.client()
    m = c.allocate(dont_fragment=True)
    assert e.in_range(c.relay[1]) and m.get(S.LIFETIME) is not None


# --- Allocate errors ------------------------------------------------------------------


def test_allocate_without_requested_transport_400(turn):
    e = turn()
    c = e.client()
    assert T.error_of(c.allocate(proto=None, check=False)) == 400


@pytest.mark.parametrize("proto", [1, 132, 255])
def test_allocate_unsupported_transport_442(turn, proto):
    e = turn()
    c = e.client()
    assert T.error_of(c.allocate(proto=proto, check=False)) == 442


def test_allocate_tcp_transport_over_udp_400(turn):
    e = turn()
    c = e.client(transport="udp")
    assert T.error_of(c.allocate(proto=T.PROTO_TCP, check=False)) == 400


def test_second_allocate_on_same_5tuple_437(turn):
    e = turn()
    c = e.client()
    c.allocate()
    first = c.relay
    m = c.allocate(check=False)  # new transaction id
    assert T.error_of(m) == 437
    assert c.refresh().cls == S.SUCCESS  # the first allocation is intact
    assert c.relayed == [first]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_allocate_retransmission_gets_same_success(turn, transport):
    e = turn()
    c = e.client(transport=transport)
    m1 = c.allocate()
    raw = c.last_raw  # the authenticated request that succeeded, byte for byte
    c.send_raw(raw)
    m2 = c.recv_response(m1.tid)
    assert m2.cls == S.SUCCESS, m2
    assert m2.tid == m1.tid
    assert [S.parse_xor_address(v, m2.tid) for v in m2.get_all(S.XOR_RELAYED_ADDRESS)] \
        == c.relayed
    assert m2.get(S.LIFETIME) == m1.get(S.LIFETIME)
    assert m2.integrity_ok(c.key())


@pytest.mark.parametrize("method", ["refresh", "create_permission", "channel_bind"])
def test_request_without_allocation_437(turn, method):
    e = turn()
    c = e.client()
    p = ("127.0.0.1", 9)
    call = {"refresh": lambda: c.refresh(check=False),
            "create_permission": lambda: c.create_permission(p, check=False),
            "channel_bind": lambda: c.channel_bind(0x4000, p, check=False)}[method]
    m = call()
    assert T.error_of(m) == 437
    assert m.integrity_ok(c.key()), "437 after authentication must be signed"


def test_other_user_on_allocation_441(turn):
    e = turn()
    c = e.client("alice")
    c.allocate()
    c.username, c.password = "bob", "bob-pw"  # same 5-tuple, other valid credentials
    m = c.refresh(check=False)
    assert T.error_of(m) == 441
    c.username, c.password = "alice", "alice-pw"
    assert c.refresh().cls == S.SUCCESS


# --- EVEN-PORT and RESERVATION-TOKEN ------------------------------------------------


def test_even_port(turn):
    e = turn(ports=40)
    for user in ("alice", "bob", "carol"):
        c = e.client(user)
        m = c.allocate(even_port=False)
        assert c.relay[1] % 2 == 0, c.relay
        assert m.get(S.RESERVATION_TOKEN) is None


def test_even_port_reservation_token_gives_next_port(turn):
    e = turn(ports=40)
    a = e.client("alice")
    m = a.allocate(even_port=True)
    token = m.require(S.RESERVATION_TOKEN)
    assert len(token) == 8
    assert a.relay[1] % 2 == 0
    b = e.client("bob")
    b.allocate(token=token)
    assert b.relay == (a.relay[0], a.relay[1] + 1)
    # the token is used up
    c = e.client("carol")
    assert T.error_of(c.allocate(token=token, check=False)) == 508


def test_reserved_port_not_given_to_others(turn):
    """The port after an R-bit EVEN-PORT allocation is held for the token alone."""
    e = turn(ports=2)
    a = e.client("alice")
    token = a.allocate(even_port=True).require(S.RESERVATION_TOKEN)
    assert a.relay[1] == e.port_range[0]
    assert T.error_of(e.client("carol").allocate(check=False)) == 508
    b = e.client("bob")
    b.allocate(token=token)
    assert b.relay[1] == e.port_range[1]


def test_reservation_token_with_even_port_400(turn):
    e = turn()
    a = e.client("alice")
    token = a.allocate(even_port=True).require(S.RESERVATION_TOKEN)
    b = e.client("bob")
    assert T.error_of(b.allocate(even_port=False, token=token, check=False)) == 400


def test_reservation_token_with_requested_family_400(turn):
    """RFC 8656 §7.2 (from RFC 6156): the two attributes are mutually exclusive."""
    e = turn()
    a = e.client("alice")
    token = a.allocate(even_port=True).require(S.RESERVATION_TOKEN)
    b = e.client("bob")
    assert T.error_of(b.allocate(token=token, family=S.FAMILY_IPV4, check=False)) == 400


def test_unknown_reservation_token_508(turn):
    e = turn()
    c = e.client()
    assert T.error_of(c.allocate(token=b"\x01\x02\x03\x04\x05\x06\x07\x08", check=False)) == 508


# --- address families (RFC 8656 §7.2) ---------------------------------------------------


def test_requested_family_ipv6(turn):
    sockio.need_ipv6()
    e = turn(ips=[LO4, LO6])
    c = e.client()
    m = c.allocate(family=S.FAMILY_IPV6)
    assert m.types.count(S.XOR_RELAYED_ADDRESS) == 1
    assert m.require(S.XOR_RELAYED_ADDRESS)[1] == S.FAMILY_IPV6
    assert c.relay[0] == LO6 and e.in_range(c.relay[1])


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_ipv6_client_gets_ipv4_relay_by_default(turn, transport):
    """No REQUESTED-ADDRESS-FAMILY: an IPv4 relayed address, whatever the client's
    own family (RFC 8656 §7.2)."""
    sockio.need_ipv6()
    e = turn(ips=[LO4, LO6])
    c = e.client(transport=transport, ip=LO6)
    m = c.allocate()
    assert m.types.count(S.XOR_RELAYED_ADDRESS) == 1
    assert c.relay[0] == LO4
    assert m.require(S.XOR_MAPPED_ADDRESS)[1] == S.FAMILY_IPV6
    assert T.same_addr(m.xor_mapped(), c.addr)


def test_requested_family_ipv6_without_ipv6_relay_440(turn):
    e = turn(ips=[LO4])
    c = e.client()
    assert T.error_of(c.allocate(family=S.FAMILY_IPV6, check=False)) == 440


def test_requested_family_ipv4_explicit(turn):
    e = turn()
    c = e.client()
    c.allocate(family=S.FAMILY_IPV4)
    assert c.relay[0] == LO4


def test_additional_family_ipv6_gives_two_relayed_addresses(turn):
    sockio.need_ipv6()
    e = turn(ips=[LO4, LO6])
    c = e.client()
    m = c.allocate(additional_family=S.FAMILY_IPV6)
    fams = sorted(v[1] for v in m.get_all(S.XOR_RELAYED_ADDRESS))
    assert fams == [S.FAMILY_IPV4, S.FAMILY_IPV6], m
    assert c.relay_for(socket.AF_INET)[0] == LO4
    assert c.relay_for(socket.AF_INET6)[0] == LO6
    assert m.get(S.ADDRESS_ERROR_CODE) is None


def test_additional_family_without_ipv6_relay_address_error(turn):
    e = turn(ips=[LO4])
    c = e.client()
    m = c.allocate(additional_family=S.FAMILY_IPV6)
    assert m.types.count(S.XOR_RELAYED_ADDRESS) == 1
    assert c.relay[0] == LO4
    family, code, _ = S.parse_address_error_code(m.require(S.ADDRESS_ERROR_CODE))
    assert (family, code) == (S.FAMILY_IPV6, 440)


def test_requested_and_additional_family_400(turn):
    e = turn()
    c = e.client()
    m = c.allocate(family=S.FAMILY_IPV4, additional_family=S.FAMILY_IPV6, check=False)
    assert T.error_of(m) == 400


def test_additional_family_ipv4_400(turn):
    e = turn()
    c = e.client()
    assert T.error_of(c.allocate(additional_family=S.FAMILY_IPV4, check=False)) == 400


# --- Refresh and expiry ---------------------------------------------------------------


@pytest.mark.parametrize("requested,granted", [
    (None, DEFAULT_LIFETIME), (30, DEFAULT_LIFETIME), (2000, 2000), (99999, 3600)])
def test_refresh_lifetime_rule(turn, requested, granted):
    e = turn(extra=["--max-allocate-lifetime", "3600"])
    c = e.client()
    c.allocate()
    m = c.refresh(requested)
    assert S.parse_u32(m.require(S.LIFETIME)) == granted
    assert m.integrity_ok(c.key())


def test_refresh_requested_family_mismatch_443(turn):
    """RFC 8656 §7.3: REQUESTED-ADDRESS-FAMILY in a Refresh must match the allocation."""
    e = turn()
    c = e.client()
    c.allocate()
    m = c.refresh(check=False, extra=[(S.REQUESTED_ADDRESS_FAMILY,
                                       S.address_family(S.FAMILY_IPV6))])
    assert T.error_of(m) == 443
    assert c.refresh(extra=[(S.REQUESTED_ADDRESS_FAMILY,
                             S.address_family(S.FAMILY_IPV4))]).cls == S.SUCCESS


def test_refresh_zero_deletes_allocation(turn):
    e = turn()
    c = e.client()
    c.allocate()
    m = c.refresh(0)
    assert S.parse_u32(m.require(S.LIFETIME)) == 0
    assert T.error_of(c.refresh(check=False)) == 437
    assert T.error_of(c.create_permission((LO4, 9), check=False)) == 437
    # the 5-tuple is free again: a new Allocate succeeds
    c.allocate()
    assert e.in_range(c.relay[1])


def test_allocation_expires_after_lifetime(turn):
    e = turn(extra=["--kturn-default-allocate-lifetime", "1", "--max-allocate-lifetime", "1"])
    c = e.client()
    p = e.peer(LO4)
    c.allocate()
    assert c.lifetime == 1
    c.create_permission(p.addr)
    p.send(c.relay, b"before expiry")
    assert c.recv_data(1.0).data == b"before expiry"
    time.sleep(1.8)
    p.send(c.relay, b"after expiry")
    assert c.no_data(0.3) is None, "expired relay still forwards"
    assert T.error_of(c.refresh(check=False)) == 437


def test_expired_relay_port_is_reused(turn):
    e = turn(ports=1, extra=["--kturn-default-allocate-lifetime", "1",
                             "--max-allocate-lifetime", "1"])
    a = e.client("alice")
    a.allocate()
    assert a.relay[1] == e.port_range[0]
    b = e.client("bob")
    assert T.error_of(b.allocate(check=False)) == 508  # range exhausted
    time.sleep(1.8)
    b.allocate()
    assert b.relay[1] == e.port_range[0]


def test_deleted_relay_port_is_reused(turn):
    e = turn(ports=1)
    a = e.client("alice")
    a.allocate()
    b = e.client("bob")
    assert T.error_of(b.allocate(check=False)) == 508
    a.refresh(0)
    b.allocate()
    assert b.relay == a.relay


@pytest.mark.parametrize("close", ["fin", "rst"])
def test_tcp_close_deletes_allocation(turn, close):
    """The allocation lives and dies with its TCP connection (RFC 8656 §3.1, §7)."""
    e = turn(ports=1)
    a = e.client("alice", transport="tcp")
    a.allocate()
    b = e.client("bob")
    assert T.error_of(b.allocate(check=False)) == 508
    if close == "rst":
        a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    a.close()
    deadline = time.monotonic() + 1.5
    while True:
        m = b.allocate(check=False)
        if m.cls == S.SUCCESS or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert m.cls == S.SUCCESS, "relay port still held after the TCP client closed: %r" % m
    assert b.relay[1] == e.port_range[0]


def test_refresh_keeps_allocation_alive(turn):
    e = turn(extra=["--kturn-default-allocate-lifetime", "1", "--max-allocate-lifetime", "1"])
    c = e.client()
    c.allocate()
    for _ in range(4):
        time.sleep(0.5)
        assert S.parse_u32(c.refresh().require(S.LIFETIME)) == 1
    assert c.refresh().cls == S.SUCCESS


# --- quotas and capacity ----------------------------------------------------------------


def test_user_quota_486(turn):
    e = turn(extra=["--user-quota", "2"])
    a1, a2, a3 = e.client("alice"), e.client("alice"), e.client("alice")
    a1.allocate()
    a2.allocate()
    m = a3.allocate(check=False)
    assert T.error_of(m) == 486
    assert m.integrity_ok(a3.key())
    e.client("bob").allocate()  # other users are not affected
    a1.refresh(0)
    a3.allocate()  # a slot is free again


def test_total_quota_486(turn):
    e = turn(extra=["--total-quota", "2"])
    e.client("alice").allocate()
    b = e.client("bob")
    b.allocate()
    assert T.error_of(e.client("carol").allocate(check=False)) == 486
    b.refresh(0)
    e.client("carol").allocate()


def test_port_range_exhausted_508(turn):
    e = turn(ports=2)
    got = set()
    for user in ("alice", "bob"):
        c = e.client(user)
        c.allocate()
        got.add(c.relay[1])
    assert got == {e.port_range[0], e.port_range[1]}
    assert T.error_of(e.client("carol").allocate(check=False)) == 508



def test_tcp_connection_idles_out_after_its_allocation_expires(turn):
    """A TCP client's idle timer is off while it has an allocation and back on
    once the allocation expired: a silent client does not hold a connection
    for ever."""
    e = turn(extra=["--max-allocate-lifetime", "1", "--kturn-default-allocate-lifetime", "1",
                    "--kturn-tcp-idle-timeout", "1"])
    c = e.client("alice", "tcp")
    c.allocate()
    assert sockio.wait_closed(c.sock, 6) in ("eof", "reset")
    log = e.k.log()
    assert "reason=expired" in log and 'reason="idle timeout"' in log
    assert log.index("reason=expired") < log.index('reason="idle timeout"')
