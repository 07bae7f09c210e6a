# SPDX-License-Identifier: MIT
"""Hostile input against a real kturnd: every case gets the RFC's answer (or
silence / a close where the RFC says so), leaves a line in kturnd's log, and a
normal client is served right after (``assert_served``: authenticated
Allocates over UDP and TCP succeed).

Cases covered elsewhere, not repeated here:
  - malformed Binding datagrams dropped, junk on TCP closes only that
    connection, 420 for Binding, idle timeout of a silent client:
    test_binding.py (test_malformed_datagram_dropped,
    test_tcp_junk_closes_only_that_connection,
    test_unknown_comprehension_required_gives_420,
    test_tcp_idle_timeout_closes_only_silent_clients)
  - wrong password / unknown user / wrong realm / bad MESSAGE-INTEGRITY (401),
    missing USERNAME/REALM/NONCE (400), forged nonce (438), 420 after
    authentication, signed: test_turn_auth.py
  - ConnectionBind with an unknown or already bound CONNECTION-ID, not as the
    first message (400), another user's CONNECTION-ID (441), an expired one
    (400 after kturn-connection-timeout), TCP allocation over UDP (400), peer
    without permission refused: test_rfc6062.py
  - Send indication without permission, ChannelData on an unbound channel,
    malformed ChannelData and Send indications (UDP): test_turn_relay.py
  - quotas (486), relay ports exhausted (508): test_turn_alloc.py;
    descriptors, unbound peer connections: test_exhaustion.py

What this file adds: the malformed-message family against the TURN server on
both UDP and TCP (parametrized), duplicate attributes, attributes after
MESSAGE-INTEGRITY, oversized USERNAME/REALM/NONCE, the failed-credential
rate limit, ConnectionBind/Connect on the wrong transport or connection,
ChannelData before any allocation, the relay-path drop counters, slowloris
and many connections that never send anything.
"""

import socket
import struct
import time

import pytest

import sockio
import stunpy as S
import turnclient as T

LO = "127.0.0.1"
LO_OTHER = "127.0.0.2"  # a second source address on loopback
IDLE = 2  # kturn-tcp-idle-timeout for this file's servers (s)
SILENCE = 0.3


def hostile(turn, *extra, debug=False):
    """A TURN server with a short idle timeout (debug: also log dropped junk datagrams)."""
    argv = ["--kturn-tcp-idle-timeout", str(IDLE)] + (["--Verbose"] if debug else [])
    return turn(extra=argv + list(extra))


def wait_log(k, *needles, timeout=3.0):
    """The log lines containing every needle; fails (with the tail) if none come in time."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [l for l in k.log().splitlines() if all(n in l for n in needles)]
        if lines:
            return lines
        if time.monotonic() > deadline:
            raise AssertionError("no kturnd log line with %r\n%s" % (needles, k.tail()))
        time.sleep(0.05)


def assert_served(env, ip=None):
    """A normal client is served at once: authenticated Allocates over UDP and TCP."""
    assert env.k.running(), env.k.tail()
    for transport in ("udp", "tcp"):
        c = env.client("bob", transport, local_ip=ip)
        m = c.allocate()
        assert m.cls == S.SUCCESS and m.integrity_ok(c.key()), m
        c.close()


def challenged(env, transport="udp", user="alice", **kw):
    """A client that holds a fresh REALM/NONCE (the first 401) and no allocation."""
    c = env.client(user, transport, **kw)
    m = c.request(S.ALLOCATE, [(S.REQUESTED_TRANSPORT, S.requested_transport(17))], auth=False)
    assert T.error_of(m) == 401, m
    c._learn_challenge(m)
    return c


def with_length(msg, length):
    return msg[:2] + struct.pack("!H", length) + msg[4:]


def expect_silence(c):
    """No answer at all (UDP: nothing comes back; TCP: nothing, connection still open)."""
    with pytest.raises(TimeoutError):
        c.recv_frame(SILENCE)


# --- the malformed-message family ---------------------------------------------------


def _allocate(tid=None, extra=()):
    return S.encode(S.ALLOCATE, S.REQUEST, tid or S.new_tid(),
                    [(S.REQUESTED_TRANSPORT, S.requested_transport(17)),
                     (S.SOFTWARE, "hostile")] + list(extra))


def _overrun():
    m = _allocate()
    return m[:-12] + struct.pack("!HH", S.SOFTWARE, 200) + m[-8:]  # last TLV claims 200 bytes


def _after_fingerprint():
    m = S.encode(S.ALLOCATE, S.REQUEST, S.new_tid(), [], fingerprint=True)
    extra = S.attr(S.SOFTWARE, "late")
    return with_length(m + extra, len(m) - 20 + len(extra))


def _bad_fingerprint():
    m = S.encode(S.ALLOCATE, S.REQUEST, S.new_tid(),
                 [(S.REQUESTED_TRANSPORT, S.requested_transport(17))], fingerprint=True)
    return m[:-1] + bytes([m[-1] ^ 0xFF])


def _short_integrity():
    return _allocate(extra=[(S.MESSAGE_INTEGRITY, b"\x00" * 16)])


def _response_to_server():
    return S.encode(S.ALLOCATE, S.SUCCESS, S.new_tid(), [])


# name: (bytes, UDP expectation, TCP expectation); an expectation is
# (what, log needles): "silent" = no answer (TCP: the connection stays open),
# "close" = TCP closed at once, "idle" = TCP closed by the idle timeout (a
# stream cannot tell a truncated message from a slow one).
UDP_JUNK = ("silent", ("udp drop", "not STUN"))
MALFORMED = {
    "header-19-bytes": (lambda: _allocate()[:19], UDP_JUNK, ("idle", ("idle timeout",))),
    "truncated-body": (lambda: _allocate()[:-4], UDP_JUNK, ("idle", ("idle timeout",))),
    "length-past-the-end": (lambda: (lambda m: with_length(m, len(m) - 20 + 8))(_allocate()),
                            UDP_JUNK, ("idle", ("idle timeout",))),
    "length-not-multiple-of-4": (lambda: (lambda m: with_length(m + b"\0\0", len(m) - 18))(
        _allocate()), UDP_JUNK, ("close", ("tcp close", "not STUN"))),
    "bad-magic-cookie": (lambda: S.encode(S.ALLOCATE, S.REQUEST, S.new_tid(), [],
                                          cookie=0x2112A443),
                         UDP_JUNK, ("close", ("tcp close", "not STUN"))),
    "attribute-overruns-message": (_overrun, ("silent", ("stun drop", "malformed")),
                                   ("close", ("tcp close", "malformed STUN message"))),
    "attribute-after-fingerprint": (_after_fingerprint, ("silent", ("stun drop", "malformed")),
                                    ("close", ("tcp close", "malformed STUN message"))),
    "message-integrity-wrong-size": (_short_integrity, ("silent", ("stun drop", "malformed")),
                                     ("close", ("tcp close", "malformed STUN message"))),
    "bad-fingerprint": (_bad_fingerprint, ("silent", ("stun drop", "bad FINGERPRINT")),
                        ("silent", ("stun drop", "bad FINGERPRINT"))),
    "response-sent-to-server": (_response_to_server, ("silent", ("stun drop", "response")),
                                ("silent", ("stun drop", "response"))),
}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_message(turn, name, transport):
    """RFC 8489 §6.3: malformed messages are discarded; on a stream the framing
    is lost, so kturnd closes the connection (or lets it idle out)."""
    e = hostile(turn, debug=True)
    make, on_udp, on_tcp = MALFORMED[name]
    what, needles = on_udp if transport == "udp" else on_tcp
    c = e.client("alice", transport)
    c.send_raw(make())
    if what == "silent":
        expect_silence(c)
        if c.stream:  # the connection survived: it still answers
            c.request(S.BINDING, auth=False)
    else:
        wait = SILENCE * 10 if what == "close" else IDLE + 4
        assert sockio.wait_closed(c.sock, wait) in ("eof", "reset")
    wait_log(e.k, *needles)
    assert_served(e)


# --- attribute-level abuse -------------------------------------------------------------


def test_duplicate_attributes_first_one_counts(turn):
    """RFC 8489 §14: only the first occurrence of an attribute is processed."""
    e = hostile(turn)
    c = e.client("alice")
    m = c.allocate(extra=[(S.LIFETIME, S.u32(1200)), (S.LIFETIME, S.u32(0)),
                          (S.REQUESTED_TRANSPORT, S.requested_transport(6))], lifetime=None)
    assert S.parse_u32(m.get(S.LIFETIME)) == 1200
    wait_log(e.k, "turn allocate", "lifetime=1200")
    assert_served(e)


def test_attributes_after_message_integrity_are_ignored(turn):
    """RFC 8489 §14.5: everything after MESSAGE-INTEGRITY but MESSAGE-INTEGRITY-SHA256
    and FINGERPRINT is ignored - here an unknown comprehension-required attribute
    (no 420) and a LIFETIME of 0 (no effect)."""
    e = hostile(turn)
    c = challenged(e)
    raw, tid = c.encode(S.ALLOCATE, [(S.REQUESTED_TRANSPORT, S.requested_transport(17))])
    late = S.attr(0x7FFE, b"late") + S.attr(S.LIFETIME, S.u32(0))
    c.send_raw(with_length(raw + late, len(raw) - 20 + len(late)))
    m = c.recv_response(tid)
    assert m.cls == S.SUCCESS and m.integrity_ok(c.key()), m
    assert S.parse_u32(m.get(S.LIFETIME)) == 600
    wait_log(e.k, "turn allocate", "user=alice")
    assert_served(e)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_unknown_required_attributes_listed_in_420(turn, transport):
    """Two unknown comprehension-required attributes and one optional: the 420's
    UNKNOWN-ATTRIBUTES lists exactly the two, signed (RFC 8489 §7.3.1, §14.9)."""
    e = hostile(turn)
    c = e.client("alice", transport)
    m = c.allocate(check=False, extra=[(0x0031, b"abcd"), (0xC0DE, b"opt!"), (0x7FFF, b"")])
    assert T.error_of(m) == 420
    assert sorted(m.unknown()) == [0x0031, 0x7FFF]
    assert m.integrity_ok(c.key())
    wait_log(e.k, "turn reject", "code=420")
    assert_served(e)


HUGE = {
    # attribute, value, transport, expected: a code, "close" or "silent"
    "username-514": (S.USERNAME, "u" * 514, "udp", 400),
    "realm-764": (S.REALM, "r" * 764, "udp", 400),
    "nonce-764": (S.NONCE, b"n" * 764, "udp", 400),
    "username-60000-over-tcp": (S.USERNAME, "u" * 60000, "tcp", 400),
    "message-over-max-size": (S.SOFTWARE, "s" * 2000, "tcp", "close"),
    "datagram-over-2048": (S.SOFTWARE, "s" * 4000, "udp", "silent"),
}
MAX_SIZE = 1500  # kturn-max-message-size for message-over-max-size


@pytest.mark.parametrize("name", sorted(HUGE))
def test_huge_attributes(turn, name):
    """USERNAME > 513 bytes, REALM/NONCE > 763 characters (RFC 8489 §14.3, §14.9,
    §14.10) are a 400; a stream message above kturn-max-message-size closes the
    connection; a datagram larger than any request is dropped."""
    atype, value, transport, want = HUGE[name]
    size = ["--kturn-max-message-size", str(MAX_SIZE)] if want == "close" else []
    e = hostile(turn, *size, debug=True)
    c = challenged(e, transport)
    attrs = [(S.REQUESTED_TRANSPORT, S.requested_transport(17))]
    if atype == S.SOFTWARE:
        raw, tid = c.encode(S.ALLOCATE, attrs + [(S.SOFTWARE, value)])
    else:
        raw, tid = c.encode(S.ALLOCATE, attrs, override={atype: value})
    c.send_raw(raw)
    if want == "close":
        assert sockio.wait_closed(c.sock, 3) in ("eof", "reset")
        wait_log(e.k, "tcp close", "not STUN")
    elif want == "silent":
        expect_silence(c)
        wait_log(e.k, "udp drop", "larger than")
    else:
        m = c.recv_response(tid)
        assert T.error_of(m) == want, m
        assert not m.integrity_ok(c.key()) and S.MESSAGE_INTEGRITY not in m.types
        wait_log(e.k, "turn reject", "code=400")
    assert_served(e)


# --- credential guessing: the failed-authentication limit --------------------------


def _guess(e, transport="udp", ip=None):
    """One wrong password for alice -> the response."""
    c = challenged(e, transport, local_ip=ip, password="wrong-guess")
    m = c.request(S.ALLOCATE, [(S.REQUESTED_TRANSPORT, S.requested_transport(17))])
    c.close()
    return m


def _refused_while_limited(e, burst, transport):
    """Wrong guesses until the budget is gone, then the right password: refused.

    Guesses are refilled at 1/s: a round that takes longer than a second can
    let the right password through, so a few rounds are allowed (each one
    empties the bucket again) - no timing is asserted."""
    for rounds in range(1, 6):
        for _ in range(burst + 2):
            assert T.error_of(_guess(e)) == 401
        c = challenged(e, transport)
        m = c.allocate(check=False)
        c.close()
        if m.cls == S.ERROR:
            return m, rounds
    raise AssertionError("right credentials never refused after wrong ones\n" + e.k.tail())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_wrong_credentials_repeated_are_rate_limited(turn, transport):
    """Past kturn-auth-fail-burst wrong credentials, a source's authenticated
    requests get the plain 401 challenge without being checked, whichever
    worker or transport they use; other sources are served; the source
    recovers as the budget refills (kturn-auth-fail-rate)."""
    e = hostile(turn, "--kturn-auth-fail-burst", "3", "--kturn-auth-fail-rate", "1",
                "--kturn-workers", "2")
    m, rounds = _refused_while_limited(e, 3, transport)
    assert T.error_of(m) == 401
    assert m.get(S.REALM) is not None and m.get(S.NONCE) is not None  # a normal challenge
    assert S.MESSAGE_INTEGRITY not in m.types and S.MESSAGE_INTEGRITY_SHA256 not in m.types
    lines = wait_log(e.k, "auth rate-limited", "client=127.0.0.1")
    # one line when the source becomes limited (then once a minute), not one per
    # refused request: at most one per time the budget ran out (twice a round)
    assert len(lines) <= 2 * rounds, lines
    assert_served(e, ip=LO_OTHER)  # another source is not punished
    deadline = time.monotonic() + 10  # the budget refills: the right password works again
    while True:
        c = challenged(e, transport)
        if c.allocate(check=False).cls == S.SUCCESS:
            break
        assert time.monotonic() < deadline, "source never recovered\n" + e.k.tail()
        time.sleep(0.5)


def test_challenges_and_limit_zero_never_limit(turn):
    """The bare first request (401 challenge) never counts; burst 0 disables the limit."""
    e = hostile(turn, "--kturn-auth-fail-burst", "1")
    for _ in range(20):
        challenged(e).close()
    assert_served(e, ip=LO)
    off = hostile(turn, "--kturn-auth-fail-burst", "0")
    for _ in range(20):
        assert T.error_of(_guess(off)) == 401
    assert_served(off, ip=LO)
    assert "auth rate-limited" not in off.k.log()


# --- RFC 6062 on the wrong transport or connection ------------------------------------


def _bind_request(c, cid_value):
    attrs = [] if cid_value is None else [(S.CONNECTION_ID, cid_value)]
    return c.request(S.CONNECTION_BIND, attrs)


@pytest.mark.parametrize("case", ["udp", "control-connection", "missing-id", "short-id"])
def test_connection_bind_misuse_400(turn, case):
    """RFC 6062 §5.4: ConnectionBind over UDP, on a connection that already has an
    allocation, or without a well-formed CONNECTION-ID -> 400, signed."""
    e = hostile(turn)
    why = {"udp": "ConnectionBind over UDP",
           "control-connection": "not the connection's first message",
           "missing-id": "CONNECTION-ID", "short-id": "CONNECTION-ID"}[case]
    if case == "udp":
        c = e.client("alice", "udp")
        c.allocate()
    elif case == "control-connection":
        c = e.client("alice", "tcp")
        c.allocate(proto=T.PROTO_TCP)
    else:  # a fresh connection whose first message is the ConnectionBind
        ch = challenged(e)
        c = e.client("alice", "tcp")
        c.realm, c.nonce, c.algorithms_raw = ch.realm, ch.nonce, ch.algorithms_raw
    value = {"missing-id": None, "short-id": b"\x00\x01"}.get(case, struct.pack("!I", 1))
    m = _bind_request(c, value)
    assert T.error_of(m) == 400 and m.integrity_ok(c.key()), m
    wait_log(e.k, "turn reject", "method=connection-bind", why)
    assert_served(e)


@pytest.mark.parametrize("allocated", [False, True])
def test_connect_over_udp(turn, allocated):
    """Connect over UDP: 437 without an allocation, 400 on a UDP allocation (RFC 6062 §5.2)."""
    e = hostile(turn)
    c = e.client("alice", "udp")
    if allocated:
        c.allocate()
    m = c.request(S.CONNECT, lambda t: [(S.XOR_PEER_ADDRESS, S.xor_address(LO, 9, t))])
    assert T.error_of(m) == (400 if allocated else 437), m
    assert m.integrity_ok(c.key())
    wait_log(e.k, "turn reject", "method=connect", "code=%d" % (400 if allocated else 437))
    assert_served(e)


# --- data before authentication, relay-path drops ---------------------------------------


def test_channel_data_before_any_allocation_closes(turn):
    """ChannelData on a TCP connection without an allocation is junk: closed at once."""
    e = hostile(turn)
    c = e.client("alice", "tcp")
    c.send_raw(S.channel_data(0x4000, b"x" * 32, pad=True))
    assert sockio.wait_closed(c.sock, 3) in ("eof", "reset")
    wait_log(e.k, "tcp close", "ChannelData without an allocation")
    assert_served(e)


def test_send_indication_before_any_allocation_is_discarded(turn):
    """RFC 8656 §10.2: a Send indication without an allocation is silently discarded
    (a line at debug level only: indications are cheap to send)."""
    e = hostile(turn, debug=True)
    p = e.peer(LO)
    c = challenged(e, "tcp")
    c.send_indication(p.addr, b"no allocation")
    assert p.silent(SILENCE) is None
    c.request(S.BINDING, auth=False)  # the connection is fine
    wait_log(e.k, "turn drop", "method=send", "no allocation")
    assert_served(e)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_relay_path_drops_are_counted_not_logged_per_packet(turn, transport):
    """Send to a peer without permission and ChannelData on an unbound channel are
    dropped (RFC 8656 §10.2, §12.5); per-packet lines would be a log flood, so
    they are counted and the allocation's closing line carries dropped=N."""
    e = hostile(turn)
    c = e.client("alice", transport)
    c.allocate()
    p = e.peer(LO)
    for i in range(3):
        c.send_indication(p.addr, b"no permission %d" % i)
        c.send_channel_data(0x4001 + i, b"unbound")
    assert p.silent(SILENCE) is None
    c.refresh(lifetime=0)
    wait_log(e.k, "user=alice", "dropped=6")
    assert_served(e)


# --- slow and silent connections --------------------------------------------------------


def test_slowloris_one_byte_at_a_time_is_closed(turn):
    """A client trickling a request a byte at a time never completes a message: the
    idle timeout counts from the last whole message, not the last byte."""
    e = hostile(turn)
    req = S.binding_request(attrs=[(S.SOFTWARE, "s" * 200)])
    s = sockio.tcp_connect(e.server())
    closed = None
    for i in range(len(req) - 1):  # never the last byte
        try:
            s.send(req[i:i + 1])
        except OSError:
            closed = "reset"
            break
        closed = sockio.wait_closed(s, 0.25)
        if closed is not None:
            break
    assert closed in ("eof", "reset"), "still open after %d bytes" % len(req)
    assert i < len(req) - 2, "closed only after the whole trickle"
    wait_log(e.k, "tcp close", "idle timeout")
    assert_served(e)


HALF_OPEN = 300  # connections that never send a byte (scaled down from thousands)


def test_many_silent_connections_are_all_closed(turn):
    """HALF_OPEN connections that connect and never send: kturnd keeps serving
    while they are open, and closes every one of them after the idle timeout."""
    e = hostile(turn)
    socks = []
    try:
        for _ in range(HALF_OPEN):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect(e.server())
            socks.append(s)
        assert_served(e)
        deadline = time.monotonic() + IDLE + 10
        for s in socks:
            left = max(0.1, deadline - time.monotonic())
            assert sockio.wait_closed(s, left) in ("eof", "reset")
    finally:
        for s in socks:
            s.close()
    lines = wait_log(e.k, "tcp close", "idle timeout")
    assert len(lines) >= HALF_OPEN, len(lines)
    assert_served(e)
