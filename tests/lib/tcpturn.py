# SPDX-License-Identifier: MIT
"""An RFC 6062 client for the tests, written from the RFC with stunpy.

Control: a control connection with a TCP allocation (long-term credentials).
bind(): a new data connection sending ConnectionBind. attempt(): read a
ConnectionAttempt and check it. Sockets can live in a network namespace
(ns=...), so the same code drives the loopback and the netns topologies.
"""

import struct
import time

import sockio
import stunpy as S

USER, PASSWORD, REALM = "bridge", "s3cret", "edge.test"


def _pending(sock):
    """Bytes an ssl.SSLSocket already decrypted (poll() cannot see them)."""
    return hasattr(sock, "pending") and sock.pending() > 0
KEY = S.long_term_key(USER, REALM, PASSWORD)
CONNECTION_ID = 0x002A


def read_exact(sock, n, timeout=3.0):
    buf = b""
    deadline = time.monotonic() + timeout
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not (_pending(sock) or sockio.readable(sock, left)):
            raise TimeoutError("have %d of %d bytes: %r" % (len(buf), n, buf[:64]))
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("EOF after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_stun(sock, timeout=3.0):
    """Exactly one STUN message from a stream, nothing more (data may follow)."""
    head = read_exact(sock, S.HEADER_LEN, timeout)
    (length,) = struct.unpack_from("!H", head, 2)
    return S.decode(head + read_exact(sock, length, timeout))


def read_until_eof(sock, timeout=5.0):
    """All bytes until EOF -> (bytes, "eof" | "reset")."""
    buf = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not (_pending(sock) or sockio.readable(sock, left)):
            raise TimeoutError("no EOF within %.1fs after %d bytes" % (timeout, len(buf)))
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return buf, "reset"
        if not chunk:
            return buf, "eof"
        buf += chunk


class Control:
    """A bridge's control connection with a TCP allocation."""

    def __init__(self, server, user=USER, password=PASSWORD, ns=None):
        self.server = server
        self.ns = ns
        self.sock = sockio.tcp_connect(server, ns=ns)
        self.framer = sockio.TcpFramer(self.sock)
        self.key = S.long_term_key(user, REALM, password)
        r = self.request(S.ALLOCATE, [(S.REQUESTED_TRANSPORT, S.requested_transport(6))],
                         auth=False)
        assert r.error()[0] == 401, r
        self.auth = [(S.USERNAME, user), (S.REALM, r.get(S.REALM)), (S.NONCE, r.get(S.NONCE))]

    def request(self, method, attrs, auth=True):
        tid = S.new_tid()
        msg = S.encode(method, S.REQUEST, tid, list(attrs) + (self.auth if auth else []),
                       integrity_key=self.key if auth else None)
        self.sock.sendall(msg)
        r = S.decode(self.framer.read_frame(), tid=tid, method=method)
        if auth:
            assert r.integrity_ok(self.key), "response not signed with our key: %r" % r
        return r

    def allocate(self, attrs=()):
        r = self.request(S.ALLOCATE, [(S.REQUESTED_TRANSPORT, S.requested_transport(6))] +
                         list(attrs))
        if r.cls == S.SUCCESS:
            self.relay = S.parse_xor_address(r.get(S.XOR_RELAYED_ADDRESS), r.tid)
        return r

    def permit(self, ip):
        r = self.request(S.CREATE_PERMISSION, [(S.XOR_PEER_ADDRESS, S.xor_address(ip, 0, b""))])
        assert r.cls == S.SUCCESS, r

    def indication(self, timeout=3.0):
        m = S.decode(self.framer.read_frame(timeout))
        assert m.cls == S.INDICATION, m
        return m


def xor_peer(ip, port):
    return (S.XOR_PEER_ADDRESS, S.xor_address(ip, port, b""))


def bind(ctl, cid, behind=b"", tls=None):
    """A new data connection sending ConnectionBind (plus `behind` in the same write).

    tls: (ssl.SSLContext, (ip, port)) to bind over TURN-over-TLS instead.
    """
    if tls:
        ctx, addr = tls
        d = ctx.wrap_socket(sockio.tcp_connect(addr, ns=ctl.ns), server_hostname="kturn-test")
    else:
        d = sockio.tcp_connect(ctl.server, ns=ctl.ns)
    tid = S.new_tid()
    d.sendall(S.encode(S.CONNECTION_BIND, S.REQUEST, tid,
                       [(CONNECTION_ID, struct.pack("!I", cid))] + ctl.auth,
                       integrity_key=ctl.key) + behind)
    r = read_stun(d)
    assert r.tid == tid and r.method == S.CONNECTION_BIND, r
    return d, r


def attempt(ctl, peer_sock):
    """The ConnectionAttempt for peer_sock -> CONNECTION-ID, checked byte by byte."""
    m = ctl.indication()
    assert m.method == S.CONNECTION_ATTEMPT, m
    value = m.get(CONNECTION_ID)
    assert value is not None and len(value) == 4, m
    assert S.parse_xor_address(m.get(S.XOR_PEER_ADDRESS), m.tid) == peer_sock.getsockname()
    return struct.unpack("!I", value)[0]
