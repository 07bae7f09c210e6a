#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Seed corpus for fuzz_server: whole TURN flows in its operation bytecode.

    tests/fuzz/gen_server_seeds.py build/fuzz/fuzz_server [OUTDIR]

Messages are built with tests/lib/stunpy.py. Requests that need
authentication go through OP_*_SIGN: the harness replaces the credentials
with USERNAME/REALM/NONCE of the server (its nonce is an HMAC under a key it
made, and depends on the fake clock) and a correct MESSAGE-INTEGRITY, so the
seeds carry no MAC at all and stay valid whatever the fuzzer does to the
clock. The one thing the harness cannot fill in is a CONNECTION-ID (RFC
6062): it is chosen by the server (deterministically: the fake kernel's PRNG
restarts per input), so the generator runs the target with
FUZZ_SERVER_TRACE=1, reads the ids the server announced and writes them in,
until the seed is stable. Each seed is checked against the trace: the
responses it was written to produce must all be there.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import stunpy as S  # noqa: E402

(OP_UDP, OP_UDP_SIGN, OP_TCP_OPEN, OP_TCP, OP_TCP_SIGN, OP_CLOCK, OP_PEER_UDP, OP_CLOSE,
 OP_PEER_TCP, OP_CONNECTED, OP_BLOCK) = range(11)
F_FINGERPRINT, F_QUOTA, F_MAX_BPS, F_RFC5766, F_RELAY6, F_TWO_WORKERS = 1, 2, 4, 8, 16, 32

# The fake world's addresses (fuzz_server.c client_addr/peer_addr).
PEER = [("198.51.100.1", 5000), ("198.51.100.1", 5001), ("198.51.100.2", 5002),
        ("198.51.100.2", 5003)]
CID_PLACEHOLDER = 0xC1D0C1D0


def blob(b):
    return struct.pack("!H", len(b)) + b


def udp(c, msg, sign=False):
    return bytes([OP_UDP_SIGN if sign else OP_UDP, c]) + blob(msg)


def tcp_open(c):
    return bytes([OP_TCP_OPEN, c])


def tcp(k, data, sign=False):
    return bytes([OP_TCP_SIGN if sign else OP_TCP, k]) + blob(data)


def clock(ms=0, s=0):
    v = (s << 1 | 1) if s else (ms << 1)
    return bytes([OP_CLOCK]) + struct.pack("!H", v)


def peer_udp(r, p, data):
    return bytes([OP_PEER_UDP, r, p]) + blob(data)


def close(k, rst=False):
    return bytes([OP_CLOSE, k, 1 if rst else 0])


def peer_tcp(r, p):
    return bytes([OP_PEER_TCP, r, p])


def connected(k, ok=True):
    return bytes([OP_CONNECTED, k, 1 if ok else 0])


def block(k):
    return bytes([OP_BLOCK, k])


_n = 0


def tid():
    global _n
    _n += 1
    return struct.pack("!4sQ", b"fuzz", _n)


def req(method, attrs=(), fingerprint=False):
    t = tid()
    return S.encode(method, S.REQUEST, t, [a(t) if callable(a) else a for a in attrs],
                    fingerprint=fingerprint)


def ind(method, attrs=()):
    t = tid()
    return S.encode(method, S.INDICATION, t, [a(t) if callable(a) else a for a in attrs])


def peer_attr(p):
    ip, port = PEER[p]
    return lambda t: (S.XOR_PEER_ADDRESS, S.xor_address(ip, port, t))


def transport(proto):
    return (S.REQUESTED_TRANSPORT, S.requested_transport(proto))


def lifetime(s):
    return (S.LIFETIME, S.u32(s))


def chdata(ch, data):
    """ChannelData without stunpy's RFC 8656 range check (0x5000-0x7FFF is RFC 5766's)."""
    return struct.pack("!HH", ch, len(data)) + data


def cid(v):
    return (S.CONNECTION_ID, S.u32(v))


def seed_udp(cids):
    """Allocate (401 first), permission, channel, Send, ChannelData both ways, refresh, expiry."""
    return bytes([0]) + b"".join([
        udp(0, req(S.BINDING)),
        udp(0, req(S.ALLOCATE, [transport(17)])),  # 401 with a nonce
        udp(0, req(S.ALLOCATE, [transport(17)]), sign=True),
        udp(0, req(S.CREATE_PERMISSION, [peer_attr(0)]), sign=True),
        udp(0, req(S.CHANNEL_BIND, [(S.CHANNEL_NUMBER, S.channel_number(0x4000)),
                                    peer_attr(1)]), sign=True),
        udp(0, ind(S.SEND, [peer_attr(0), (S.DATA, b"to peer 0 by Send")])),
        udp(0, S.channel_data(0x4000, b"to peer 1 by ChannelData")),
        peer_udp(0, 0, b"from peer 0: a Data indication"),
        peer_udp(0, 1, b"from peer 1: ChannelData"),
        peer_udp(0, 3, b"from peer 3: no permission, dropped"),
        udp(0, req(S.REFRESH, [lifetime(900)]), sign=True),
        clock(s=301),  # the permission (300 s) is gone, the channel (600 s) not
        peer_udp(0, 0, b"dropped"),
        udp(0, S.channel_data(0x4000, b"channel still bound")),
        clock(s=1000),  # the allocation expires
        udp(0, S.channel_data(0x4000, b"no allocation")),
        udp(1, req(S.ALLOCATE, [transport(17), (S.EVEN_PORT, S.even_port(True))]), sign=True),
        udp(1, req(S.REFRESH, [lifetime(0)]), sign=True),  # delete
    ])


def seed_udp_fp(cids):
    """FINGERPRINT everywhere, an RFC 5766 channel range, a quota of one, max-bps."""
    return bytes([F_FINGERPRINT | F_QUOTA | F_MAX_BPS | F_RFC5766]) + b"".join([
        udp(2, req(S.ALLOCATE, [transport(17)], fingerprint=True), sign=True),
        udp(3, req(S.ALLOCATE, [transport(17)], fingerprint=True), sign=True),  # quota: 486
        udp(2, req(S.CHANNEL_BIND, [(S.CHANNEL_NUMBER, S.channel_number(0x7FFE)),
                                    peer_attr(2)], fingerprint=True), sign=True),
        udp(2, chdata(0x7FFE, b"x" * 600)),
        udp(2, chdata(0x7FFE, b"y" * 600)),  # over 1000 B/s
        clock(ms=1500),
        udp(2, chdata(0x7FFE, b"z" * 100)),
        peer_udp(0, 2, b"p" * 1100),
        udp(2, req(S.ALLOCATE, [transport(17)], fingerprint=True), sign=True),  # 437
        udp(2, req(S.REFRESH, [lifetime(0)]), sign=True),
    ])


def seed_tcp(cids, flags=0):
    """RFC 6062: TCP allocation, Connect + ConnectionBind, a peer connecting in, data, closes."""
    c0, c1 = (cids + [CID_PLACEHOLDER, CID_PLACEHOLDER])[:2]
    # TCP connections (fake sockets in slot order): 0 control, 1 connect to peer 2,
    # 2 data for it, then 3 the peer that connects in, 4 its data connection.
    return bytes([flags]) + b"".join([
        tcp_open(0),
        tcp(0, req(S.ALLOCATE, [transport(17)])),  # 401 over TCP
        tcp(0, req(S.ALLOCATE, [transport(6)]), sign=True),
        tcp(0, req(S.CREATE_PERMISSION, [peer_attr(2)]), sign=True),
        tcp(0, req(S.CONNECT, [peer_attr(2)]), sign=True),
        connected(0, ok=True),
        tcp_open(0),
        tcp(2, req(S.CONNECTION_BIND, [cid(c0)]) + b"early bytes for peer 2", sign=True),
        tcp(2, b"client to peer 2"),
        tcp(1, b"peer 2 to client"),
        peer_tcp(0, 3),  # peer 3 (same IP as 2: permitted) connects to the relayed address
        tcp_open(1),
        tcp(4, req(S.CONNECTION_BIND, [cid(c1)]), sign=True),
        tcp(4, b"client to peer 3"),
        tcp(3, b"peer 3 to client"),
        block(2),
        tcp(1, b"more from peer 2 while the client does not read" * 20),
        block(2),
        close(1),  # peer 2 FIN
        close(4, rst=True),  # client resets the data connection to peer 3
        tcp(0, req(S.REFRESH, [lifetime(600)]), sign=True),
        tcp(0, req(S.CONNECT, [peer_attr(0)]), sign=True),  # no answer: 447 after 30 s
        clock(s=31),
        close(0),  # the control connection goes: the allocation with it
    ])


def seed_tcp_channel(cids):
    """UDP allocation over TCP: ChannelData on the stream, padded; IPv6 relay offered."""
    return bytes([F_RELAY6]) + b"".join([
        tcp_open(1),
        tcp(0, req(S.ALLOCATE, [transport(17), (S.REQUESTED_ADDRESS_FAMILY,
                                                S.address_family(S.FAMILY_IPV6))]), sign=True),
        tcp(0, req(S.ALLOCATE, [transport(17)]), sign=True),  # 437: already one
        tcp(0, req(S.REFRESH, [lifetime(0)]), sign=True),
        tcp(0, req(S.ALLOCATE, [transport(17)]), sign=True),
        tcp(0, req(S.CHANNEL_BIND, [(S.CHANNEL_NUMBER, S.channel_number(0x4001)),
                                    peer_attr(0)]), sign=True),
        tcp(0, S.channel_data(0x4001, b"odd", pad=True) + S.channel_data(0x4001, b"", pad=True)),
        peer_udp(0, 0, b"back over the stream"),
        tcp(0, ind(S.SEND, [peer_attr(0), (S.DATA, b"send indication on TCP")])),
        tcp(0, req(S.CONNECT, [peer_attr(0)]), sign=True),  # 400: UDP allocation
        clock(s=40),  # idle timers do not apply: the allocation keeps the connection
        close(0),
    ])


SEEDS = {"udp_allocate_permission_channel_expiry": seed_udp,
         "udp_fingerprint_quota_maxbps_rfc5766": seed_udp_fp,
         "tcp_rfc6062_connect_bind_attempt": seed_tcp,
         "tcp_rfc6062_two_workers_handoff": lambda cids: seed_tcp(cids, F_TWO_WORKERS),
         "tcp_udp_allocation_channeldata_ipv6": seed_tcp_channel}

# What the trace must show for each seed (method, class) and error codes seen.
EXPECT = {
    "udp_allocate_permission_channel_expiry":
        [("0x003", 3, 401), ("0x003", 2, 0), ("0x008", 2, 0), ("0x009", 2, 0), ("0x004", 2, 0)],
    "udp_fingerprint_quota_maxbps_rfc5766": [("0x003", 2, 0), ("0x003", 3, 486),
                                             ("0x009", 2, 0), ("0x003", 3, 437)],
    "tcp_rfc6062_connect_bind_attempt": [("0x003", 3, 401), ("0x003", 2, 0), ("0x00a", 2, 0),
                                         ("0x00b", 2, 0), ("0x00c", 1, 0), ("0x00a", 3, 447)],
    "tcp_rfc6062_two_workers_handoff": [("0x003", 3, 401), ("0x003", 2, 0), ("0x00a", 2, 0),
                                        ("0x00b", 2, 0), ("0x00c", 1, 0), ("0x00a", 3, 447)],
    "tcp_udp_allocation_channeldata_ipv6": [("0x003", 2, 0), ("0x003", 3, 437),
                                            ("0x009", 2, 0), ("0x00a", 3, 400)],
}

TRACE = re.compile(r"stun method=(0x[0-9a-f]+) class=(\d) len=\d+ cid=(\d+) error=(\d+)")


def run(binary, data):
    with tempfile.NamedTemporaryFile(suffix=".seed") as f:
        f.write(data)
        f.flush()
        r = subprocess.run([binary, f.name], capture_output=True, text=True,
                           env=dict(os.environ, FUZZ_SERVER_TRACE="1"))
    if r.returncode:
        sys.exit(f"{binary} failed on a seed:\n{r.stderr[-3000:]}")
    return [(m, int(c), int(i), int(e)) for m, c, i, e in TRACE.findall(r.stderr)], r.stderr


def main():
    binary = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_server")
    os.makedirs(out, exist_ok=True)
    for name, make in SEEDS.items():
        cids = []
        for _ in range(4):
            data = make(cids)
            trace, log = run(binary, data)
            got = [i for m, c, i, e in trace if i and m in ("0x00a", "0x00c") and c in (1, 2)]
            if got == cids:
                break
            cids = got
        seen = {(m, c, e) for m, c, i, e in trace}
        missing = [x for x in EXPECT[name] if x not in seen]
        if "handoff" in name and "tcp handoff" not in log:
            missing.append("a ConnectionBind handed to the other worker")
        if missing:
            sys.exit(f"{name}: expected responses missing {missing}\n{log}")
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes, {len(trace)} STUN messages from the server")


if __name__ == "__main__":
    main()
