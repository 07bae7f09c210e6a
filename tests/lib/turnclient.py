# SPDX-License-Identifier: MIT
"""A TURN client (RFC 8656, RFC 8489 long-term credentials) for the integration tests.

Built on tests/lib/stunpy.py, standard library only, every wait bounded.

    c = TurnClient(("127.0.0.1", port), "udp", username="alice", password="pw")
    m = c.allocate()                       # 401 dance done inside, raises TurnError on error
    c.create_permission(("127.0.0.1", p))
    c.send_indication(("127.0.0.1", p), b"hi")
    ev = c.recv_data()                     # DataEvent(kind, peer, channel, data)

``request()`` returns the decoded final response (success or error) so tests
can assert codes and attributes; the helpers raise ``TurnError`` on an error
response unless called with ``check=False``. Every response to an
authenticated request is checked for MESSAGE-INTEGRITY(-SHA256) with the
client's key: a wrong one raises ``IntegrityError``, a missing one on a
response that RFC 8489 §9.2.4 says must be signed raises too.
"""

import base64
import hashlib
import hmac
import ipaddress
import os
import random
import socket
import ssl
import time

import netns
import sockio
import stunpy as S

DEFAULT_TIMEOUT = 2.0
PROTO_UDP = 17
PROTO_TCP = 6

# Error responses that come before (or instead of) authentication, so unsigned.
# 420: kturn checks unknown attributes before authentication; test_turn_auth
# asserts the RFC 8489 §6.3 order (420 after authentication, signed) on its own.
UNSIGNED_ERRORS = (400, 401, 420, 438)


class TurnError(Exception):
    """An error response where the caller expected success."""

    def __init__(self, msg, what=""):
        self.msg = msg
        self.code, self.reason = msg.error()
        super().__init__("%s: error %d %r; attrs %s" % (what, self.code, self.reason,
                                                         [hex(t) for t in msg.types]))


class IntegrityError(AssertionError):
    """A response's MESSAGE-INTEGRITY(-SHA256) is wrong or missing."""


def rest_credentials(secret, name="user", ttl=3600, now=None, expiry=None):
    """TURN REST API credentials: (f"{expiry}:{name}", base64(HMAC-SHA1(secret, username)))."""
    if expiry is None:
        expiry = int(now if now is not None else time.time()) + ttl
    username = "%d:%s" % (expiry, name) if name else "%d" % expiry
    sec = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(sec, username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(mac).decode()


def method_name(m):
    return {S.ALLOCATE: "Allocate", S.REFRESH: "Refresh", S.CREATE_PERMISSION: "CreatePermission",
            S.CHANNEL_BIND: "ChannelBind", S.BINDING: "Binding"}.get(m, "%#x" % m)


class DataEvent:
    """Something the server relayed to us: a Data indication or ChannelData."""

    def __init__(self, kind, data, peer=None, channel=None, raw=None):
        self.kind = kind  # "indication" or "channel"
        self.data = data
        self.peer = peer
        self.channel = channel
        self.raw = raw

    def __repr__(self):
        return "DataEvent(%s, peer=%s, channel=%s, %r)" % (
            self.kind, self.peer, None if self.channel is None else hex(self.channel), self.data)


class TurnClient:
    """One client 5-tuple (UDP socket, TCP connection or TLS session) to one server.

    Credentials: username/password (key derived per ``alg``: "md5" or
    "sha256"), or ``key`` (a precomputed key for ``alg``). ``integrity``
    chooses the request's integrity attribute: "sha1" (MESSAGE-INTEGRITY) or
    "sha256" (MESSAGE-INTEGRITY-SHA256); default: sha1 for md5, sha256 for
    sha256. ``userhash``: send USERHASH instead of USERNAME. ``alg`` "sha256"
    (or ``send_algorithms``) echoes PASSWORD-ALGORITHMS exactly as received and
    adds PASSWORD-ALGORITHM. ``fingerprint``: add FINGERPRINT to requests.
    """

    def __init__(self, server, transport="udp", username=None, password=None, key=None,
                 alg="md5", integrity=None, userhash=False, send_algorithms=None,
                 fingerprint=False, ns=None, local_ip=None, ssl_context=None,
                 server_hostname="kturn-test", software="kturn-tests", timeout=DEFAULT_TIMEOUT,
                 strict_signing=True):
        self.server = (server[0], server[1])
        self.transport = transport
        self.username = username
        self.password = password
        self.fixed_key = key
        self.alg = alg
        self.integrity = integrity or ("sha256" if alg == "sha256" else "sha1")
        self.userhash = userhash
        self.send_algorithms = (alg != "md5") if send_algorithms is None else send_algorithms
        self.fingerprint = fingerprint
        self.software = software
        self.timeout = timeout
        self.strict_signing = strict_signing
        self.realm = None
        self.nonce = None
        self.algorithms_raw = None  # PASSWORD-ALGORITHMS value as received
        self.events = []  # DataEvents received while waiting for responses
        self.stray = []  # other messages received while waiting
        self.last_challenge = None
        self.relayed = []  # [(ip, port)] from the last successful Allocate
        self.mapped = None
        self.lifetime = None
        self.reservation_token = None
        self.allocate_response = None
        self.buf = b""
        self.last_raw = None
        fam = sockio.family_of(self.server[0])
        if transport == "udp":
            self.sock = netns.socket_in(ns, fam, socket.SOCK_DGRAM)
            self.sock.bind((local_ip or self._default_local(), 0))
        elif transport in ("tcp", "tls"):
            raw = netns.socket_in(ns, fam, socket.SOCK_STREAM)
            if local_ip:
                raw.bind((local_ip, 0))
            raw.settimeout(timeout)
            raw.connect(self.server)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if transport == "tls":
                ctx = ssl_context
                if ctx is None:
                    ctx = ssl.create_default_context()
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                raw = ctx.wrap_socket(raw, server_hostname=server_hostname)
            self.sock = raw
        else:
            raise ValueError("transport %r" % transport)

    def _default_local(self):
        return self.server[0]

    # --- plumbing ---------------------------------------------------------------

    @property
    def stream(self):
        return self.transport != "udp"

    @property
    def addr(self):
        return sockio.sockaddr(self.sock)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        if self.stream:
            self.sock.sendall(data)
        else:
            self.sock.sendto(data, self.server)

    def _pending_tls(self):
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0

    def recv_frame(self, timeout=None):
        """One STUN message or ChannelData frame from the server (bounded)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            if self.stream:
                n = S.frame_length(self.buf)
                if n is not None and n <= len(self.buf):
                    frame, self.buf = self.buf[:n], self.buf[n:]
                    return frame
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("nothing from the server %s/%s within %.1fs (have %r)"
                                   % (self.server, self.transport, timeout, self.buf))
            if not self._pending_tls():
                r = sockio.readable(self.sock, left)
                if not r:
                    continue
            if self.stream:
                try:
                    chunk = self.sock.recv(65536)
                except ssl.SSLWantReadError:
                    continue
                if not chunk:
                    raise ConnectionError("server closed the connection (have %r)" % self.buf)
                self.buf += chunk
            else:
                data, src = self.sock.recvfrom(65535)
                if (src[0], src[1]) != self.server:
                    raise AssertionError("datagram from %s, expected the server %s"
                                         % (src, self.server))
                return data

    def _classify(self, frame):
        """-> Message or DataEvent (queued by callers)."""
        if 0x40 <= frame[0] <= 0x4F:
            ch, data = S.parse_channel_data(frame, padded=self.stream)
            return DataEvent("channel", data, channel=ch, raw=frame)
        m = S.decode(frame)
        if m.method == S.DATA_M and m.cls == S.INDICATION:
            peer = S.parse_xor_address(m.require(S.XOR_PEER_ADDRESS), m.tid)
            return DataEvent("indication", m.require(S.DATA), peer=peer, raw=frame)
        return m

    def recv_response(self, tid, timeout=None):
        """The response with ``tid``; Data/ChannelData received meanwhile is queued."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no response to transaction %s within %.1fs"
                                   % (tid.hex(), timeout))
            item = self._classify(self.recv_frame(left))
            if isinstance(item, DataEvent):
                self.events.append(item)
            elif item.tid == tid and item.cls in (S.SUCCESS, S.ERROR):
                return item
            else:
                self.stray.append(item)

    # --- building requests -------------------------------------------------------

    def key(self):
        if self.fixed_key is not None:
            return self.fixed_key
        if self.alg == "sha256":
            return S.long_term_key_sha256(self.username, self.realm, self.password)
        return S.long_term_key(self.username, self.realm, self.password)

    def auth_attrs(self, omit=(), override=None):
        """USERNAME/USERHASH, REALM, NONCE, PASSWORD-ALGORITHM(S) for the current challenge."""
        override = override or {}
        out = []
        if self.userhash:
            out.append((S.USERHASH, S.userhash(self.username, self.realm)))
        else:
            out.append((S.USERNAME, self.username))
        out.append((S.REALM, self.realm))
        out.append((S.NONCE, self.nonce))
        if self.send_algorithms and self.algorithms_raw is not None:
            out.append((S.PASSWORD_ALGORITHMS, self.algorithms_raw))
            code = S.PASSWORD_ALG_SHA256 if self.alg == "sha256" else S.PASSWORD_ALG_MD5
            out.append((S.PASSWORD_ALGORITHM, S.password_algorithm(code)))
        res = []
        seen = set()
        for t, v in out:
            seen.add(t)
            if t in omit:
                continue
            res.append((t, override.get(t, v)))
        for t, v in override.items():
            if t not in seen and t not in omit:
                res.append((t, v))
        return res

    def encode(self, method, attrs=(), tid=None, auth=True, omit=(), override=None,
               integrity=None, fingerprint=None, key=None, cls=S.REQUEST):
        """Wire bytes of a request (or indication with cls); auth only once challenged."""
        tid = tid or S.new_tid()
        attrs = list(attrs)
        if self.software:
            attrs.append((S.SOFTWARE, self.software))
        kw = {}
        if auth and self.nonce is not None:
            attrs += self.auth_attrs(omit, override)
            k = key if key is not None else self.key()
            kind = integrity or self.integrity
            if kind == "sha1" and S.MESSAGE_INTEGRITY not in omit:
                kw["integrity_key"] = k
            elif kind == "sha256" and S.MESSAGE_INTEGRITY_SHA256 not in omit:
                kw["integrity_sha256_key"] = k
            elif kind == "both":
                kw["integrity_key"] = k
                kw["integrity_sha256_key"] = k
        fp = self.fingerprint if fingerprint is None else fingerprint
        return S.encode(method, cls, tid, attrs, fingerprint=fp, **kw), tid

    def _learn_challenge(self, m):
        realm = m.get(S.REALM)
        nonce = m.get(S.NONCE)
        if realm is None or nonce is None:
            raise AssertionError("%d challenge without REALM/NONCE: %r" % (m.error()[0], m))
        self.realm = realm.decode("utf-8")
        self.nonce = nonce
        algs = m.get(S.PASSWORD_ALGORITHMS)
        if algs is not None:
            self.algorithms_raw = algs
        self.last_challenge = m

    def verify(self, m, key=None):
        """Check the integrity of a response to an authenticated request."""
        k = key if key is not None else self.key()
        has_mi = S.MESSAGE_INTEGRITY in m.types
        has_256 = S.MESSAGE_INTEGRITY_SHA256 in m.types
        if has_mi and not m.integrity_ok(k, sha256=False):
            raise IntegrityError("MESSAGE-INTEGRITY mismatch in %r" % m)
        if has_256 and not m.integrity_ok(k, sha256=True):
            raise IntegrityError("MESSAGE-INTEGRITY-SHA256 mismatch in %r" % m)
        if not (has_mi or has_256) and self.strict_signing:
            if m.cls == S.SUCCESS or m.error()[0] not in UNSIGNED_ERRORS:
                raise IntegrityError("response to an authenticated %s is not signed: %r"
                                     % (method_name(m.method), m))
        return has_mi or has_256

    def request(self, method, attrs=(), auth=True, tid=None, retry_stale=True, omit=(),
                override=None, integrity=None, fingerprint=None, key=None, timeout=None):
        """Send a request (doing the 401 dance and one 438 retry) and return the response.

        The 401 dance: without a nonce the request goes out unauthenticated; a
        401 (or 438) with REALM/NONCE is learnt and the same request is sent
        again (new transaction id) with credentials. ``attrs`` may be a
        function of the transaction id (for XOR-PEER-ADDRESS of IPv6 peers). ``auth=False`` sends it
        without credentials and returns whatever comes back. ``tid`` is used
        for the first transmission (for retransmission tests).
        """
        send_auth = auth and self.username is not None
        first_tid = tid
        m = None
        for attempt in range(3):
            t = (first_tid if attempt == 0 else None) or S.new_tid()
            body = attrs(t) if callable(attrs) else attrs
            raw, t = self.encode(method, body, tid=t, auth=send_auth, omit=omit, override=override,
                                 integrity=integrity, fingerprint=fingerprint, key=key)
            self.send_raw(raw)
            self.last_raw = raw
            m = self.recv_response(t, timeout)
            authed = send_auth and self.nonce is not None
            if m.cls == S.SUCCESS and not authed:
                return m
            code = m.error()[0] if m.cls == S.ERROR else None
            if not send_auth:
                return m
            if not authed:
                if code in (401, 438) and m.get(S.NONCE) is not None:
                    self._learn_challenge(m)
                    continue
                return m
            if code == 438 and retry_stale and attempt < 2 and m.get(S.NONCE) is not None:
                self._learn_challenge(m)
                retry_stale = False
                continue
            if code == 401 and m.get(S.NONCE) is not None:
                self.last_challenge = m
            if code not in (401, 438):
                self.verify(m, key=key)
            return m
        return m

    def _check(self, m, check, what):
        if check and m.cls != S.SUCCESS:
            raise TurnError(m, what)
        return m

    # --- TURN methods ----------------------------------------------------------

    def allocate(self, lifetime=None, proto=PROTO_UDP, even_port=None, token=None,
                 family=None, additional_family=None, dont_fragment=False, extra=(),
                 check=True, **kw):
        """Allocate; on success records relayed addresses, lifetime, mapped, token."""
        attrs = []
        if proto is not None:
            attrs.append((S.REQUESTED_TRANSPORT, S.requested_transport(proto)))
        if lifetime is not None:
            attrs.append((S.LIFETIME, S.u32(lifetime)))
        if even_port is not None:
            attrs.append((S.EVEN_PORT, S.even_port(even_port)))
        if token is not None:
            attrs.append((S.RESERVATION_TOKEN, token))
        if family is not None:
            attrs.append((S.REQUESTED_ADDRESS_FAMILY, S.address_family(family)))
        if additional_family is not None:
            attrs.append((S.ADDITIONAL_ADDRESS_FAMILY, S.address_family(additional_family)))
        if dont_fragment:
            attrs.append((S.DONT_FRAGMENT, b""))
        attrs += list(extra)
        m = self.request(S.ALLOCATE, attrs, **kw)
        if m.cls == S.SUCCESS:
            self.allocate_response = m
            self.relayed = [S.parse_xor_address(v, m.tid) for v in m.get_all(S.XOR_RELAYED_ADDRESS)]
            if m.get(S.LIFETIME) is not None:
                self.lifetime = S.parse_u32(m.get(S.LIFETIME))
            if m.get(S.XOR_MAPPED_ADDRESS) is not None:
                self.mapped = m.xor_mapped()
            self.reservation_token = m.get(S.RESERVATION_TOKEN)
        return self._check(m, check, "Allocate")

    @property
    def relay(self):
        """The first relayed transport address."""
        return self.relayed[0]

    def relay_for(self, family):
        for r in self.relayed:
            if sockio.family_of(r[0]) == family:
                return r
        raise AssertionError("no relayed address of family %s in %s" % (family, self.relayed))

    def refresh(self, lifetime=None, extra=(), check=True, **kw):
        attrs = [] if lifetime is None else [(S.LIFETIME, S.u32(lifetime))]
        m = self.request(S.REFRESH, attrs + list(extra), **kw)
        if m.cls == S.SUCCESS and m.get(S.LIFETIME) is not None:
            self.lifetime = S.parse_u32(m.get(S.LIFETIME))
        return self._check(m, check, "Refresh")

    def create_permission(self, *peers, extra=(), check=True, **kw):
        attrs = [(S.XOR_PEER_ADDRESS, None, p) for p in peers]
        m = self._request_with_peers(S.CREATE_PERMISSION, attrs, list(extra), kw)
        return self._check(m, check, "CreatePermission")

    def channel_bind(self, channel, peer, extra=(), check=True, **kw):
        attrs = []
        if channel is not None:
            attrs.append((S.CHANNEL_NUMBER, S.channel_number(channel)))
        peers = [] if peer is None else [(S.XOR_PEER_ADDRESS, None, peer)]
        m = self._request_with_peers(S.CHANNEL_BIND, peers, attrs + list(extra), kw)
        return self._check(m, check, "ChannelBind")

    def _request_with_peers(self, method, peer_attrs, attrs, kw):
        # XOR-PEER-ADDRESS of IPv6 peers depends on the transaction id, which
        # changes on each transmission of the 401 dance: encode per transmission.
        peers = [p for (_, _, p) in peer_attrs]

        def build(tid):
            return [(S.XOR_PEER_ADDRESS, S.xor_address(p[0], p[1], tid)) for p in peers] + attrs

        return self.request(method, build, **kw)

    def send_indication(self, peer, data, extra=()):
        tid = S.new_tid()
        attrs = [(S.XOR_PEER_ADDRESS, S.xor_address(peer[0], peer[1], tid)), (S.DATA, data)]
        raw, _ = self.encode(S.SEND, attrs + list(extra), tid=tid, auth=False,
                             cls=S.INDICATION)
        self.send_raw(raw)

    def send_channel_data(self, channel, data):
        self.send_raw(S.channel_data(channel, data, pad=self.stream))

    def recv_data(self, timeout=None):
        """The next DataEvent (queued ones first); other messages are kept in .stray."""
        if self.events:
            return self.events.pop(0)
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no Data indication / ChannelData within %.1fs" % timeout)
            item = self._classify(self.recv_frame(left))
            if isinstance(item, DataEvent):
                return item
            self.stray.append(item)

    def no_data(self, wait=0.3):
        """Return None if nothing is relayed to us within ``wait``, else the event."""
        try:
            return self.recv_data(wait)
        except TimeoutError:
            return None


class Peer:
    """A plain UDP peer socket (loopback or inside a namespace)."""

    def __init__(self, ip="127.0.0.1", ns=None, port=0):
        self.sock = netns.socket_in(ns, sockio.family_of(ip), socket.SOCK_DGRAM)
        self.sock.bind((ip, port))

    @property
    def addr(self):
        return sockio.sockaddr(self.sock)

    def send(self, dest, data):
        self.sock.sendto(data, (dest[0], dest[1]))

    def recv(self, timeout=DEFAULT_TIMEOUT):
        """-> (data, (ip, port)) of the next datagram (bounded)."""
        r = sockio.readable(self.sock, timeout)
        if not r:
            raise TimeoutError("peer %s: nothing within %.1fs" % (self.addr, timeout))
        data, src = self.sock.recvfrom(65535)
        return data, (src[0], src[1])

    def silent(self, wait=0.3):
        """None if nothing arrives within ``wait``, else (data, src)."""
        r = sockio.readable(self.sock, wait)
        if r:
            data, src = self.sock.recvfrom(65535)
            return data, (src[0], src[1])
        return None

    def close(self):
        self.sock.close()


def same_addr(a, b):
    """(ip, port) equality across textual forms of the same address."""
    return (ipaddress.ip_address(a[0]), a[1]) == (ipaddress.ip_address(b[0]), b[1])



# --- test environment helpers ------------------------------------------------------

_range_counter = [0]


def free_port_range(n, ips=("127.0.0.1",), ns=None, lo=20000, hi=30000, attempts=200):
    """(first, last): ``n`` consecutive ports (first even) free for UDP on every ip.

    Ranges stay inside [lo, hi), outside the kernel's ephemeral range
    32768-60999, starting at an offset derived from the pid and a counter so
    parallel test processes rarely probe the same block.
    """
    rnd = random.Random(os.getpid() * 7919 + _range_counter[0])
    _range_counter[0] += 1
    for _ in range(attempts):
        first = rnd.randrange(lo, hi - n) & ~1
        held = []
        ok = True
        try:
            for port in range(first, first + n):
                for ip in ips:
                    s = netns.socket_in(ns, sockio.family_of(ip), socket.SOCK_DGRAM)
                    held.append(s)
                    try:
                        s.bind((ip, port))
                    except OSError:
                        ok = False
                        break
                if not ok:
                    break
        finally:
            for s in held:
                s.close()
        if ok:
            return first, first + n - 1
    raise RuntimeError("no %d free consecutive UDP ports in %d-%d" % (n, lo, hi))


REALM = "kturn.test"
USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}


class TurnEnv:
    """A running kturnd configured for TURN plus client/peer factories (closed at the end)."""

    def __init__(self, k, realm, users, port_range, ips, ns=None):
        self.k = k
        self.realm = realm
        self.users = dict(users)
        self.port_range = port_range
        self.ips = list(ips)
        self.ns = ns
        self._made = []

    @property
    def port(self):
        return self.k.port

    def server(self, ip=None):
        return (ip or self.ips[0], self.k.port)

    def client(self, user="alice", transport="udp", password=None, ip=None, **kw):
        if user is not None and password is None:
            password = self.users.get(user, "no-such-password")
        c = TurnClient(self.server(ip), transport, username=user, password=password,
                       ns=kw.pop("ns", self.ns), **kw)
        self._made.append(c)
        return c

    def peer(self, ip="127.0.0.1", ns=None):
        p = Peer(ip, ns=ns)
        self._made.append(p)
        return p

    def in_range(self, port):
        return self.port_range[0] <= port <= self.port_range[1]

    def close(self):
        for x in self._made:
            x.close()
        self._made = []


def turn_args(realm=REALM, users=USERS, port_range=None, loopback=True, auth=True, tls=False):
    """kturnd argv for an authenticated TURN server on loopback (``tls``: keep TLS on)."""
    argv = []
    if auth:
        argv += ["--realm", realm, "--lt-cred-mech"]
        for name, pw in users.items():
            argv += ["--user", "%s:%s" % (name, pw)]
    if port_range:
        argv += ["--min-port", str(port_range[0]), "--max-port", str(port_range[1])]
    if loopback:
        argv.append("--allow-loopback-peers")
    return argv + ([] if tls else ["--no-tls"]) + ["--no-cli"]


def start_turn(kturnd_factory, ips=("127.0.0.1",), ports=40, extra=(), realm=REALM,
               users=USERS, loopback=True, auth=True, relay_ips=None, ns=None, tls=False,
               **kw):
    """Start kturnd with TURN options; returns a TurnEnv (caller closes it)."""
    rng = free_port_range(ports, ips=relay_ips or ips, ns=ns)
    argv = turn_args(realm, users, rng, loopback, auth, tls) + list(extra)
    k = kturnd_factory(ips=list(ips), extra=argv, ns=ns, **kw)
    return TurnEnv(k, realm, users, rng, ips, ns=ns)


def error_of(m):
    """The ERROR-CODE of an error response (asserts it is one)."""
    assert m.cls == S.ERROR, "expected an error response, got %r" % m
    return m.error()[0]
