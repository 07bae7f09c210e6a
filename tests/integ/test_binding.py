# SPDX-License-Identifier: MIT
"""STUN Binding against a real kturnd over real sockets (RFC 8489 §6, §7, §14.8).

Every check is on the bytes: the response is decoded strictly by the
independent tests/lib/stunpy.py and compared with exact values.
"""

import ipaddress
import json
import os
import signal
import socket
import struct
import subprocess
import time

import pytest

import kturnd as K
import sockio
import stunpy as S

LO4 = "127.0.0.1"
LO6 = "::1"
SILENCE = 0.3  # seconds we wait to be sure no response is coming


def addr_eq(a, b):
    return (ipaddress.ip_address(a[0]), a[1]) == (ipaddress.ip_address(b[0]), b[1])


def assert_binding_success(raw, tid, client, fingerprint):
    """Decode ``raw`` strictly and check everything the contract promises."""
    m = S.decode(raw, tid=tid, method=S.BINDING, cls=S.SUCCESS)
    assert m.types.count(S.XOR_MAPPED_ADDRESS) == 1, m
    assert addr_eq(m.xor_mapped(), client), "XOR-MAPPED-ADDRESS %s != our socket %s" % (
        m.xor_mapped(), client)
    assert m.software().startswith("kturn"), m.software()
    if fingerprint:
        assert m.types[-1] == S.FINGERPRINT, "FINGERPRINT must be last: %r" % m
        assert m.fingerprint_ok()
        assert m.types.count(S.FINGERPRINT) == 1
    else:
        assert S.FINGERPRINT not in m.types, "FINGERPRINT not requested but present: %r" % m
    return m


class Client:
    """One client socket (UDP or TCP) talking to one kturnd endpoint."""

    def __init__(self, transport, server, ns=None, local_ip=None):
        self.transport = transport
        self.server = server
        if transport == "udp":
            self.sock = sockio.udp_socket(local_ip or server[0], ns=ns)
        else:
            self.sock = sockio.tcp_connect(server, ns=ns)
            self.framer = sockio.TcpFramer(self.sock)

    @property
    def addr(self):
        return sockio.sockaddr(self.sock)

    def send(self, data):
        if self.transport == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def recv(self, timeout=sockio.DEFAULT_TIMEOUT):
        if self.transport == "udp":
            return sockio.udp_recv(self.sock, self.server, timeout)
        return self.framer.read_frame(timeout)

    def exchange(self, data, timeout=sockio.DEFAULT_TIMEOUT):
        self.send(data)
        return self.recv(timeout)

    def silent(self, wait=SILENCE):
        """Assert nothing arrives within ``wait`` seconds."""
        if self.transport == "udp":
            got = sockio.udp_silence(self.sock, wait)
        else:
            try:
                got = self.framer.read_frame(wait)
            except TimeoutError:
                got = self.framer.pending() or None
        assert got is None, "unexpected response: %r" % (got,)

    def binding(self, fingerprint=False, attrs=()):
        tid = S.new_tid()
        raw = self.exchange(S.binding_request(tid, attrs=attrs, fingerprint=fingerprint))
        return assert_binding_success(raw, tid, self.addr, fingerprint)

    def close(self):
        self.sock.close()


@pytest.fixture
def clients():
    made = []

    def make(*a, **kw):
        c = Client(*a, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


# --- basic Binding ---------------------------------------------------------------


@pytest.mark.parametrize("fingerprint", [False, True], ids=["nofp", "fp"])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_binding(kturnd, clients, transport, fingerprint):
    c = clients(transport, (LO4, kturnd.port))
    m = c.binding(fingerprint=fingerprint)
    assert m.xor_mapped() == (LO4, c.addr[1])
    # a second request on the same socket/connection gets its own answer
    c.binding(fingerprint=not fingerprint)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_binding_exact_header(kturnd, clients, transport):
    """Header bytes: type 0x0101, cookie, echoed tid, length == attribute bytes."""
    c = clients(transport, (LO4, kturnd.port))
    tid = bytes(range(1, 13))
    raw = c.exchange(S.binding_request(tid))
    assert raw[0:2] == b"\x01\x01"
    assert raw[4:8] == b"\x21\x12\xa4\x42"
    assert raw[8:20] == tid
    assert struct.unpack("!H", raw[2:4])[0] == len(raw) - 20
    assert_binding_success(raw, tid, c.addr, False)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_fingerprint_option_always_adds_fingerprint(kturnd_factory, clients, transport):
    k = kturnd_factory(extra=["--fingerprint"])
    c = clients(transport, (LO4, k.port))
    tid = S.new_tid()
    raw = c.exchange(S.binding_request(tid))  # no FINGERPRINT in the request
    assert_binding_success(raw, tid, c.addr, True)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_binding_ipv6_loopback(kturnd_factory, clients, transport):
    sockio.need_ipv6()
    k = kturnd_factory(ips=[LO4, LO6])
    c6 = clients(transport, (LO6, k.port))
    m = c6.binding(fingerprint=True)
    assert m.get(S.XOR_MAPPED_ADDRESS)[1] == S.FAMILY_IPV6
    assert addr_eq(m.xor_mapped(), (LO6, c6.addr[1]))
    c4 = clients(transport, (LO4, k.port))
    m = c4.binding()
    assert m.get(S.XOR_MAPPED_ADDRESS)[1] == S.FAMILY_IPV4


def test_binding_indication_gets_no_response(kturnd, clients):
    c = clients("udp", (LO4, kturnd.port))
    c.send(S.encode(S.BINDING, S.INDICATION, S.new_tid(), fingerprint=True))
    c.silent(SILENCE)
    c.binding()  # and the server is still there


def test_binding_indication_tcp_no_response(kturnd, clients):
    c = clients("tcp", (LO4, kturnd.port))
    c.send(S.encode(S.BINDING, S.INDICATION, S.new_tid()))
    c.silent(SILENCE)
    c.binding()


# --- unknown attributes ------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_unknown_comprehension_required_gives_420(kturnd, clients, transport):
    c = clients(transport, (LO4, kturnd.port))
    tid = S.new_tid()
    raw = c.exchange(S.binding_request(tid, attrs=[(0x0031, b"\x00\x00\x00\x00")]))
    m = S.decode(raw, tid=tid, method=S.BINDING, cls=S.ERROR)
    code, reason = m.error()
    assert code == 420, (code, reason)
    assert m.unknown() == [0x0031]


def test_unknown_attributes_lists_exactly_the_required_ones(kturnd, clients):
    c = clients("udp", (LO4, kturnd.port))
    tid = S.new_tid()
    attrs = [(0x0031, b"abcd"), (0x8050, b"optional"), (0x7FFF, b""), (S.SOFTWARE, "test")]
    raw = c.exchange(S.binding_request(tid, attrs=attrs, fingerprint=True))
    m = S.decode(raw, tid=tid, method=S.BINDING, cls=S.ERROR)
    assert m.error()[0] == 420
    # RFC 8489 §14.9 does not fix the order; the set must be exact, no duplicates.
    listed = m.unknown()
    assert sorted(listed) == [0x0031, 0x7FFF], [hex(t) for t in listed]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_unknown_comprehension_optional_ignored(kturnd, clients, transport):
    c = clients(transport, (LO4, kturnd.port))
    c.binding(attrs=[(0x8050, b"ignore me please")])
    c.binding(attrs=[(0xFFF0, b""), (0x8050, b"\x01\x02\x03")], fingerprint=True)


# --- malformed input ---------------------------------------------------------------


def _req(**kw):
    return S.binding_request(S.new_tid(), attrs=[(S.SOFTWARE, "malformed-test")], **kw)


MALFORMED = {
    "bad-cookie": lambda: S.encode(S.BINDING, S.REQUEST, S.new_tid(), cookie=0x2112A443),
    "truncated": lambda: _req()[:30],
    "header-19-bytes": lambda: _req()[:19],
    "empty": lambda: b"",
    "length-not-4-aligned": lambda: (lambda r: r[:2] + b"\x00\x02" + r[4:20] + b"\x00\x00")(_req()),
    "length-beyond-datagram": lambda: (lambda r: r[:2] + struct.pack("!H", len(r) - 20 + 4) + r[4:])(_req()),
    "attr-overruns-message": lambda: (
        b"\x00\x01\x00\x08\x21\x12\xa4\x42" + S.new_tid() + b"\x80\x22\x00\x40abcd"),
    "top-bits-set": lambda: b"\xc0" + _req()[1:],
    "random-junk": lambda: os.urandom(3) + b"\xff" * 40,
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_datagram_dropped(kturnd, clients, name):
    c = clients("udp", (LO4, kturnd.port))
    c.send(MALFORMED[name]())
    c.silent(0.2)
    c.binding()  # answered right after
    assert kturnd.running()


def test_burst_of_malformed_then_valid(kturnd, clients):
    c = clients("udp", (LO4, kturnd.port))
    for name in sorted(MALFORMED):
        for _ in range(20):
            c.send(MALFORMED[name]())
    c.silent(0.2)
    for _ in range(3):
        c.binding(fingerprint=True)


# --- TCP framing --------------------------------------------------------------------


def test_tcp_coalesced_requests(kturnd, clients):
    c = clients("tcp", (LO4, kturnd.port))
    tids = [S.new_tid() for _ in range(3)]
    fps = [False, True, False]
    blob = b"".join(S.binding_request(t, fingerprint=f,
                                      attrs=[(S.SOFTWARE, "x" * i)] if i else ())
                    for i, (t, f) in enumerate(zip(tids, fps)))
    c.send(blob)
    for t, f in zip(tids, fps):
        assert_binding_success(c.recv(), t, c.addr, f)
    c.silent(0.1)


def test_tcp_request_split_byte_by_byte(kturnd, clients):
    c = clients("tcp", (LO4, kturnd.port))
    tid = S.new_tid()
    req = S.binding_request(tid, attrs=[(S.SOFTWARE, "byte by byte")], fingerprint=True)
    for i in range(len(req)):
        c.send(req[i:i + 1])
        time.sleep(0.003)
    assert_binding_success(c.recv(), tid, c.addr, True)


def test_tcp_split_across_message_boundary(kturnd, clients):
    c = clients("tcp", (LO4, kturnd.port))
    t1, t2 = S.new_tid(), S.new_tid()
    r1 = S.binding_request(t1)
    r2 = S.binding_request(t2, attrs=[(S.SOFTWARE, "second")], fingerprint=True)
    c.send(r1 + r2[:10])
    # the first request is answered without waiting for the rest of the second
    assert_binding_success(c.recv(), t1, c.addr, False)
    c.silent(0.1)
    c.send(r2[10:])
    assert_binding_success(c.recv(), t2, c.addr, True)


TLS_CLIENT_HELLO = bytes.fromhex(
    "16030100a5010000a10303") + bytes(32) + bytes.fromhex("000020c02bc02fc02cc030cca9cca8c013c014"
                                                          "009c009d002f0035000a0100005800000014")
JUNK = {
    "http": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "tls-client-hello": TLS_CLIENT_HELLO,
    "http-post": b"POST /x HTTP/1.0\r\n\r\n",
    "stun-bad-cookie": b"\x00\x01\x00\x00\x00\x00\x00\x00" + bytes(12),
}


@pytest.mark.parametrize("name", sorted(JUNK))
def test_tcp_junk_closes_only_that_connection(kturnd, clients, name):
    good = clients("tcp", (LO4, kturnd.port))
    good.binding()
    bad = clients("tcp", (LO4, kturnd.port))
    bad.send(JUNK[name])
    result = sockio.wait_closed(bad.sock, timeout=2.0)
    assert result in ("eof", "reset"), "junk %r: connection not closed, got %r" % (name, result)
    good.binding(fingerprint=True)  # the other connection still works
    clients("tcp", (LO4, kturnd.port)).binding()  # and new ones too
    clients("udp", (LO4, kturnd.port)).binding()


# --- configuration, exit codes, signals --------------------------------------------


def test_unknown_config_option_warns_and_runs(kturnd_factory, clients):
    opt = "no-such-option-kturn-test"
    # Listening address and port only in the config file: proves -c is read.
    k = kturnd_factory(cli=False, config=[(opt, "1")])
    c = clients("udp", (LO4, k.port))
    c.binding()
    lines = [ln for ln in k.all_output().splitlines() if opt in ln]
    assert lines, "no log line names %r:\n%s" % (opt, k.tail())
    assert any("warn" in ln.lower() for ln in lines), lines
    assert k.running()


@pytest.mark.parametrize("value", ["70000", "abc", "-1"])
def test_invalid_port_exits_2(tmp_path, kturnd_binary, value):
    r = K.run_once(["--listening-ip", LO4, "--listening-port", value,
                    "--pidfile", str(tmp_path / "kturnd.pid")], tmp_path)
    assert r.returncode == 2, "exit %r for --listening-port %s\nstdout: %s\nstderr: %s" % (
        r.returncode, value, r.stdout, r.stderr)
    assert "listening-port" in r.stderr, r.stderr
    assert not (tmp_path / "kturnd.pid").exists()


def test_sigterm_clean_exit_removes_pidfile(kturnd_factory):
    k = kturnd_factory()
    assert os.path.exists(k.pidfile)
    assert k.pidfile_pid() == k.pid
    k.signal(signal.SIGTERM)
    rc = k.wait(timeout=5)
    assert rc == 0, "exit status %r after SIGTERM\n%s" % (rc, k.tail())
    assert not os.path.exists(k.pidfile), "pidfile left behind"
    assert not K.binding_ok(LO4, k.port), "something still answers on the port"


# --- across network namespaces --------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_binding_across_netns(topology, kturnd_factory, clients, transport):
    srv = topology.add_ns("srv")
    cli = topology.add_ns("cli")
    link = topology.link(cli, srv)  # a = cli side, b = srv side
    k = kturnd_factory(ips=[link["b4"]], ns=srv)
    c = clients(transport, (link["b4"], k.port), ns=cli, local_ip=link["a4"])
    assert c.addr[0] == link["a4"]
    m = c.binding(fingerprint=True)
    assert m.xor_mapped() == (link["a4"], c.addr[1])


# --- TCP idle timeout -------------------------------------------------------------


def test_tcp_idle_timeout_closes_only_silent_clients(kturnd_factory, clients):
    k = kturnd_factory(extra=["--kturn-tcp-idle-timeout", "1"])
    silent = clients("tcp", (LO4, k.port))
    talker = clients("tcp", (LO4, k.port))
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:  # a Binding every 0.4 s keeps talker alive
        talker.binding()
        time.sleep(0.4)
    assert sockio.wait_closed(silent.sock, timeout=0.5) in ("eof", "reset")
    talker.binding()
    assert "idle timeout" in k.log()


# --- kturn-bench against kturnd (a smoke run; timings are never asserted) --------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_kturn_bench_binding_verifies_every_response(kturnd, transport):
    bench = os.path.join(os.path.dirname(K.binary()), "kturn-bench")
    r = subprocess.run([bench, "binding", "-s", LO4, "-p", str(kturnd.port), "-T", transport,
                        "-c", "4", "-n", "2000", "-q", "--json"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["mode"] == "binding" and res["transport"] == transport
    assert res["bad"] == 0 and res["lost"] == 0
    assert res["ok"] >= 2000
    assert 0 < res["p50_us"] <= res["p90_us"] <= res["p99_us"]


# --- workers ------------------------------------------------------------------------


def test_workers_serve_many_clients(kturnd_factory, clients):
    k = kturnd_factory(extra=["--kturn-workers", "3"])
    assert "kturnd ready: 3 workers" in k.log()
    many = [clients(t, (LO4, k.port)) for t in ("udp", "tcp") for _ in range(24)]
    for _ in range(3):
        for c in many:
            c.binding()  # asserts the mapped address, tid and attributes


def test_port_in_use_fails_startup(tmp_path):
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind((LO4, 0))  # no SO_REUSEPORT: kturnd's bind must fail
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        r = K.run_once(["--listening-ip", LO4, "--listening-port", str(port),
                        "--kturn-workers", "2", "--log-file", "-"], tmp_path)
    finally:
        taken.close()
    assert r.returncode == 1
    assert "cannot listen on 127.0.0.1:%d/tcp" % port in r.stderr
