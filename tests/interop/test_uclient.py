# SPDX-License-Identifier: MIT
"""Debian coturn's turnutils_uclient, relaying through kturnd to turnutils_peer.

Setup (everything on 127.0.0.1, every port picked free, every process bounded
and stopped by its own pid):

* the server under test: kturnd started by ``kturnd_factory`` with
  ``--lt-cred-mech --realm kturn.test --user u:p --allow-loopback-peers
  --relay-ip 127.0.0.1 --kturn-rfc5766-channels --min-port A --max-port B``
  (uclient picks channel numbers up to 0x7FFF as RFC 5766 allowed; RFC 8656
  stops at 0x4FFF, so kturnd accepts the old range only when told) (A-B a random 200-port
  block in 20000-31999, below the ephemeral range 32768-60999); the same tests
  also run against coturn's own ``turnserver`` (parameter id ``coturn``) with
  the same options plus ``-n --no-tls --no-dtls --no-cli --no-rfc5780
  --log-file stdout --simple-log``, as a reference: it shows the runner and
  the parser accept a correct server and read the counts right.
* the peer: ``turnutils_peer -L 127.0.0.1 -p P``, a UDP echo server; it
  listens on P *and* P+1 (uclient's RTCP sessions talk to the peer port + 1),
  so P is picked with both free.
* the client::

    turnutils_uclient [-t] [-s] [-c] -L 127.0.0.1 -p <server port> \\
        -e 127.0.0.1 -r P -u u -w p -n 20 -l <len> -m <clients> 127.0.0.1

  -t   TCP between uclient and the server (default UDP); the relay is UDP either
       way (-T would ask for a TCP relay, RFC 6062: not tested here).
  -s   use Send/Data indications (after CreatePermission) instead of channels.
       Without -s uclient uses ChannelBind + ChannelData: the man page's "-c"
       is "no RTCP connections", not "no channels".
  -c   no RTCP: one allocation per client. Without -c every client is an
       RTP/RTCP pair: the RTP allocation asks for EVEN-PORT with the R bit,
       the RTCP one redeems the RESERVATION-TOKEN of the first, and -m is
       rounded up to even.
  -L   bind uclient's sockets to 127.0.0.1 (not the default wildcard).
  -e/-r the peer. -u/-w long-term credentials. -n messages per session,
       -l message length, -m clients. No -X: an IPv4 -e already makes uclient
       send REQUESTED-ADDRESS-FAMILY=IPv4.
  Not used: -y (client-to-client, no peer), -T/-P (TCP relay), -S (TLS),
  -G/-N/-R/-B/-O (extra, negative, random-disconnect, DoS modes), -M, -Z, -J.

What uclient does per client (coturn 4.6.1, checked with a logging proxy): a
"probe" Allocate plus a Refresh on a first socket (that allocation is never
deleted), then the real Allocate(s) on new sockets. Every Allocate is first
sent without credentials, gets 401 with REALM and NONCE, and is retried with
USERNAME, REALM, NONCE and MESSAGE-INTEGRITY (SHA-1 only: no
MESSAGE-INTEGRITY-SHA256, USERHASH or PASSWORD-ALGORITHM; a PASSWORD-ALGORITHMS
in the 401 is ignored); uclient checks MESSAGE-INTEGRITY (SHA-1) on the
success responses. The Allocates carry LIFETIME 777, REQUESTED-ADDRESS-FAMILY,
EVEN-PORT with R set for RTP and RESERVATION-TOKEN instead for RTCP (with -c:
EVEN-PORT with R clear, or none, at random). Then, with channels, the RTP
session binds a random channel to peer:P+1 and another to peer:P (each twice,
the second a refresh) and the RTCP session one to peer:P+1, numbers drawn from
0x4000-0x7FFF: the RFC 5766 range, wider than RFC 8656's 0x4000-0x4FFF, so a
server rejecting 0x5000-0x7FFF fails most channel runs (each run needs 2-3 lucky
draws). With -s it sends CreatePermission for P and P+1 instead. Every request
and Send indication carries FINGERPRINT. After a random 1-6 s start delay each
session sends -n messages 20 ms apart and counts the echoes; it waits about
10 s for missing ones, so a lossy run takes 12 s or more.

uclient exits 0 even at 100 % loss (it exits 255 only when a request fails),
so the test reads its final statistics (``uclient.parse_stats``, strict) and
requires: sent = n x sessions, received = sent, "Total lost packets 0",
"total send dropped 0", bytes sent = sent x length = bytes received.
"""

import shutil

import pytest

import uclient as U

USER, PASSWORD, REALM = "u", "p", "kturn.test"
N = 20
UCLIENT_TIMEOUT = 60.0

# id -> uclient_args keywords. The issue asks for UDP and TCP transport, with
# and without channels, several clients and large messages.
CASES = {
    "udp-channel": dict(),                                   # RTP/RTCP pair, ChannelData over UDP
    "udp-send": dict(send_method=True),                      # Send/Data indications over UDP
    "tcp-channel": dict(tcp=True),                           # ChannelData framed on TCP
    "tcp-send": dict(tcp=True, send_method=True),
    "udp-channel-m4": dict(m=4),                             # 2 RTP/RTCP pairs = 4 sessions
    "tcp-send-m4-c": dict(m=4, tcp=True, send_method=True, no_rtcp=True),
    "udp-channel-l1000-c": dict(length=1000, no_rtcp=True),
    "tcp-channel-l1001-c": dict(tcp=True, length=1001, no_rtcp=True),  # odd: 4-byte padding on TCP
}

# Known ways a server trips uclient; added to the failure message when they show up.
HINTS = [
    ("channel bind: error", "uclient picks random channel numbers in 0x4000-0x7FFF (RFC 5766); "
     "a server accepting only RFC 8656's 0x4000-0x4FFF answers 400 to 3 in 4 ChannelBinds"),
    ("error 403", "403 Forbidden: the loopback peer must be allowed (--allow-loopback-peers)"),
    ("error 508", "508 Insufficient Capacity: relay port range exhausted (uclient's probe "
     "allocations are never deleted)"),
    ("error 420", "420 Unknown Attribute: uclient sends EVEN-PORT, REQUESTED-ADDRESS-FAMILY, "
     "RESERVATION-TOKEN (RTCP allocations)"),
    ("error 401", "401 after the first challenge: check realm/user (-u u -w p) and MESSAGE-INTEGRITY"),
    ("Cannot complete Allocation", "Allocate never succeeded"),
]


def hints(output):
    return ["hint: " + h for key, h in HINTS if key in output]


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def uclient_tools():
    for tool in (U.UCLIENT, U.PEER):
        if not shutil.which(tool):
            pytest.skip("%s not installed (apt-get install coturn)" % tool)


class Server:
    def __init__(self, kind, port, tail):
        self.kind = kind
        self.port = port
        self.tail = tail


@pytest.fixture
def coturn_server(tmp_path, uclient_tools):
    if not shutil.which(U.TURNSERVER):
        pytest.skip("coturn's turnserver not installed")
    lo, hi = U.relay_range()
    c = U.Coturn(tmp_path / "coturn", USER, PASSWORD, REALM, lo, hi)
    c.start()
    try:
        yield Server("coturn", c.port, c.tail)
    finally:
        c.stop()


@pytest.fixture
def kturnd_server(request, uclient_tools):
    lo, hi = U.relay_range()
    start = request.getfixturevalue("kturnd_factory")
    k = start(extra=["--lt-cred-mech", "--realm", REALM, "--user", "%s:%s" % (USER, PASSWORD),
                     "--allow-loopback-peers", "--relay-ip", "127.0.0.1",
                     # uclient binds channels up to 0x7FFF (RFC 5766); RFC 8656 stops at 0x4FFF
                     "--kturn-rfc5766-channels",
                     "--min-port", str(lo), "--max-port", str(hi)])
    # kturnd_factory stops it (asserting exit 0) and attaches its log to a failure report.
    return Server("kturnd", k.port, lambda: "--- kturnd log: see the 'kturnd #0' section")


@pytest.fixture
def peer(tmp_path, uclient_tools):
    p = U.Peer(tmp_path / "peer").start()
    try:
        yield p
    finally:
        p.stop()


def run_case(server, peer, workdir, n=N, length=100, m=1, tcp=False, send_method=False,
             no_rtcp=False, peer_port=None):
    args = U.uclient_args(server.port, peer_port or peer.port, USER, PASSWORD, n=n, length=length,
                          m=m, tcp=tcp, send_method=send_method, no_rtcp=no_rtcp)
    r = U.run_uclient(args, workdir, timeout=UCLIENT_TIMEOUT)

    def context():
        return "\n".join([r.describe()] + hints(r.output) + [server.tail(), peer.tail(20)])

    return r, context


# --- the interop cases --------------------------------------------------------------


# coturn as the reference for the harness itself: two cases (UDP channels, TCP Send)
# are enough to show the runner and the parser accept a correct server.
REFERENCE_CASES = ["udp-channel", "tcp-send"]


@pytest.mark.parametrize("case", list(CASES))
def test_uclient_relays_without_loss(kturnd_server, peer, tmp_path, case):
    check_case(kturnd_server, peer, tmp_path, case)


@pytest.mark.parametrize("case", REFERENCE_CASES)
def test_uclient_reference_coturn(coturn_server, peer, tmp_path, case):
    check_case(coturn_server, peer, tmp_path, case)


def check_case(server, peer, tmp_path, case):
    kw = CASES[case]
    r, context = run_case(server, peer, tmp_path, **kw)
    assert not r.timed_out, "uclient still running after %ds\n%s" % (UCLIENT_TIMEOUT, context())
    assert r.returncode == 0, "uclient failed\n%s" % context()
    try:
        stats = U.parse_stats(r.output)
        U.check_stats(stats, N, kw.get("length", 100),
                      U.sessions(kw.get("m", 1), no_rtcp=kw.get("no_rtcp", False)), r.output)
    except AssertionError as e:
        pytest.fail("%s\n%s" % (e, context()), pytrace=False)
    assert stats.sent > 0


def test_uclient_loss_is_detected(coturn_server, peer, tmp_path):
    """The runner fails a lossy run that uclient itself calls a success: the
    peer port has no listener, so nothing is echoed, uclient still exits 0."""
    dead = U.pick_udp_pair("127.0.0.1")
    r, context = run_case(coturn_server, peer, tmp_path, n=5, no_rtcp=True, peer_port=dead)
    assert not r.timed_out and r.returncode == 0, context()
    stats = U.parse_stats(r.output)
    assert stats.sent == 5 and stats.received == 0 and stats.lost == 5, context()
    with pytest.raises(AssertionError, match="Total lost packets 5"):
        U.check_stats(stats, 5, 100, 1, r.output)


# --- the parser, on recorded output (coturn 4.6.1) -----------------------------------

GOOD = """\
0: : Total connect time is 1
0: : Total connect time is 1
1: : start_mclient: msz=4, tot_send_msgs=0, tot_recv_msgs=0, tot_send_bytes ~ 0, tot_recv_bytes ~ 0
3: : start_mclient: msz=4, tot_send_msgs=10, tot_recv_msgs=10, tot_send_bytes ~ 10000, tot_recv_bytes ~ 10000
5: : start_mclient: tot_send_msgs=40, tot_recv_msgs=40
5: : start_mclient: tot_send_bytes ~ 40000, tot_recv_bytes ~ 40000
5: : Total transmit time is 5
5: : Total lost packets 0 (0.000000%), total send dropped 0 (0.000000%)
5: : Average round trip delay 0.000000 ms; min = 0 ms, max = 0 ms
5: : Average jitter 0.975000 ms; min = 0 ms, max = 4 ms
"""

LOSSY = """\
0: : Total connect time is 0
2: : start_mclient: msz=2, tot_send_msgs=10, tot_recv_msgs=0, tot_send_bytes ~ 1000, tot_recv_bytes ~ 0
12: : start_mclient: msz=1, tot_send_msgs=20, tot_recv_msgs=0, tot_send_bytes ~ 2000, tot_recv_bytes ~ 0
12: : start_mclient: tot_send_msgs=20, tot_recv_msgs=0
12: : start_mclient: tot_send_bytes ~ 2000, tot_recv_bytes ~ 0
12: : Total transmit time is 12
12: : Total lost packets 20 (100.000000%), total send dropped 0 (0.000000%)
12: : Average round trip delay 0.000000 ms; min = 4294967295 ms, max = 0 ms
12: : Average jitter -nan ms; min = 4294967295 ms, max = 0 ms
"""


def test_parse_good_output():
    s = U.parse_stats(GOOD)
    assert s.as_dict() == dict(sent=40, received=40, send_bytes=40000, recv_bytes=40000, lost=0,
                               send_dropped=0)
    assert U.check_stats(s, 10, 1000, 4, GOOD) is s


def test_parse_lossy_output_fails_check():
    s = U.parse_stats(LOSSY)
    assert (s.sent, s.received, s.lost, s.recv_bytes) == (20, 0, 20, 0)
    with pytest.raises(AssertionError, match="received 0 of 20 messages.*Total lost packets 20"):
        U.check_stats(s, 10, 100, 2, LOSSY)


@pytest.mark.parametrize("drop", ["tot_send_msgs=40", "tot_send_bytes ~ 40000", "Total lost"])
def test_parse_rejects_missing_final_line(drop):
    out = "\n".join(ln for ln in GOOD.splitlines()
                    if not (drop in ln and "msz=" not in ln))
    with pytest.raises(U.UclientOutputError) as e:
        U.parse_stats(out)
    assert "Average jitter" in str(e.value)  # the full output is in the message


def test_parse_ignores_progress_lines():
    progress = "\n".join(ln for ln in GOOD.splitlines() if "msz=" in ln)
    with pytest.raises(U.UclientOutputError, match="no final"):
        U.parse_stats(progress)


def test_parse_rejects_conflicting_or_inconsistent_lines():
    with pytest.raises(U.UclientOutputError, match="conflicting"):
        U.parse_stats(GOOD + "6: : start_mclient: tot_send_msgs=40, tot_recv_msgs=39\n")
    with pytest.raises(U.UclientOutputError, match="inconsistent"):
        U.parse_stats(GOOD.replace("tot_recv_msgs=40", "tot_recv_msgs=38"))
    # An identical repeat (uclient's logger sometimes prints a line twice) is fine.
    assert U.parse_stats(GOOD + "5: : Total lost packets 0 (0.000000%), total send dropped 0 "
                                "(0.000000%)\n").lost == 0


def test_check_rejects_wrong_totals():
    s = U.parse_stats(GOOD)
    with pytest.raises(AssertionError, match="expected 80"):
        U.check_stats(s, 20, 1000, 4, GOOD)  # fewer messages than -n x sessions
    with pytest.raises(AssertionError, match="bytes"):
        U.check_stats(s, 10, 100, 4, GOOD)   # byte count does not match -l


@pytest.mark.parametrize("m,no_rtcp,c2c,want", [
    (1, False, False, 2), (1, True, False, 1), (3, False, False, 4), (4, False, False, 4),
    (4, True, False, 4), (1, False, True, 4), (3, True, True, 4), (5, False, True, 8),
])
def test_sessions(m, no_rtcp, c2c, want):
    assert U.sessions(m, no_rtcp=no_rtcp, c2c=c2c) == want


# --- RFC 6062: TCP relays, relay to relay ---------------------------------------------


@pytest.fixture(params=["sockmap", "splice"])
def tcp_relay_server(request, uclient_tools):
    lo, hi = U.relay_range()
    start = request.getfixturevalue("kturnd_factory")
    k = start(extra=["--lt-cred-mech", "--realm", REALM, "--user", "%s:%s" % (USER, PASSWORD),
                     "--allow-loopback-peers", "--relay-ip", "127.0.0.1",
                     "--min-port", str(lo), "--max-port", str(hi),
                     "--kturn-data-plane", request.param])
    return k, request.param


def run_tcp_relay(k, tmp_path, n=N, length=100, m=1, passive=False):
    args = U.uclient_args(k.port, 0, USER, PASSWORD, n=n, length=length, m=m, tcp_relay=True,
                          passive=passive)
    return U.run_uclient(args, tmp_path, timeout=UCLIENT_TIMEOUT)


@pytest.mark.parametrize("m,length", [(1, 1000), (4, 100)])
def test_uclient_tcp_relay_both_flows(tcp_relay_server, tmp_path, m, length):
    """uclient -T -y: each pair of sessions is one Connect (client-initiated) and
    one ConnectionAttempt/ConnectionBind (peer-initiated) over kturnd's TCP
    relays, on both data planes: every message echoed, counted strictly."""
    k, plane = tcp_relay_server
    r = run_tcp_relay(k, tmp_path, m=m, length=length)
    assert not r.timed_out and r.returncode == 0, r.describe()
    stats = U.parse_stats(r.output)
    U.check_stats(stats, N, length, U.sessions(m, no_rtcp=True, c2c=True), r.output)
    binds = [l for l in k.log().splitlines() if " turn bind " in l]
    assert binds and all(l.endswith("plane=" + plane) for l in binds), binds
    assert " turn connect " in k.log() and " turn connection-attempt " in k.log()


def test_uclient_tcp_relay_passive_peer(tcp_relay_server, tmp_path):
    """uclient -T -P -y: the passive side only accepts. uclient miscounts that
    side (it reports half the messages lost), so the test reads kturnd's own
    account of the pair instead: N x 100 bytes each way."""
    k, plane = tcp_relay_server
    r = run_tcp_relay(k, tmp_path, passive=True)
    assert not r.timed_out and r.returncode == 0, r.describe()
    stats = U.parse_stats(r.output)
    assert stats.sent == 2 * N, r.output  # both sides sent everything
    closes = [l for l in k.log().splitlines() if " turn peer-close " in l]
    want = "up_bytes=%d down_bytes=%d" % (N * 100, N * 100)
    assert any(want in l for l in closes), (want, closes)
