# SPDX-License-Identifier: MIT
"""Which peers an allocation may reach (RFC 8656 §9.1 403, §21 security).

Default deny for loopback, unspecified and the server's own addresses;
--allow-loopback-peers, --denied-peer-ip and --allowed-peer-ip. The
"own address" cases run in network namespaces so the server has a
non-loopback address.
"""

import pytest

import sockio
import stunpy as S
import turnclient as T

LO4 = "127.0.0.1"
LO6 = "::1"
SILENCE = 0.3


def dual_stack_client(e):
    """A client with IPv4 and IPv6 relayed addresses (so 443 never masks 403)."""
    c = e.client()
    c.allocate(additional_family=S.FAMILY_IPV6)
    assert len(c.relayed) == 2, c.relayed
    return c


DEFAULT_DENIED = ["127.0.0.1", "127.1.2.3", "0.0.0.0", "::", "::1", "::ffff:127.0.0.1"]


@pytest.mark.parametrize("peer_ip", DEFAULT_DENIED)
def test_default_denied_peer_create_permission_403(turn, peer_ip):
    sockio.need_ipv6()
    e = turn(ips=[LO4, LO6], loopback=False)
    c = dual_stack_client(e)
    m = c.create_permission((peer_ip, 5000), check=False)
    assert T.error_of(m) == 403
    assert m.integrity_ok(c.key())


@pytest.mark.parametrize("peer_ip", DEFAULT_DENIED)
def test_default_denied_peer_channel_bind_403(turn, peer_ip):
    sockio.need_ipv6()
    e = turn(ips=[LO4, LO6], loopback=False)
    c = dual_stack_client(e)
    assert T.error_of(c.channel_bind(0x4000, (peer_ip, 5000), check=False)) == 403


def test_default_denied_ipv4_only_server(turn):
    """Loopback peers are refused on a plain IPv4 server too."""
    e = turn(loopback=False)
    c = e.client()
    c.allocate()
    p = e.peer(LO4)
    assert T.error_of(c.create_permission(p.addr, check=False)) == 403
    assert T.error_of(c.channel_bind(0x4000, p.addr, check=False)) == 403
    c.send_indication(p.addr, b"to a denied peer")
    assert p.silent(SILENCE) is None
    p.send(c.relay, b"from a denied peer")
    assert c.no_data(SILENCE) is None


def test_allow_loopback_peers(turn):
    sockio.need_ipv6()
    e = turn(ips=[LO4, LO6], loopback=True)
    c = dual_stack_client(e)
    p4, p6 = e.peer(LO4), e.peer(LO6)
    c.create_permission(p4.addr, p6.addr)
    c.send_indication(p4.addr, b"v4 loopback")
    got, _ = p4.recv(1.0)
    assert got == b"v4 loopback"
    c.send_indication(p6.addr, b"v6 loopback")
    got, _ = p6.recv(1.0)
    assert got == b"v6 loopback"


@pytest.mark.parametrize("peer_ip", ["0.0.0.0", "::"])
def test_unspecified_never_allowed(turn, peer_ip):
    sockio.need_ipv6()
    e = turn(ips=[LO4, LO6], loopback=True)
    c = dual_stack_client(e)
    assert T.error_of(c.create_permission((peer_ip, 5000), check=False)) == 403
    assert T.error_of(c.channel_bind(0x4000, (peer_ip, 5000), check=False)) == 403


def test_one_denied_peer_installs_nothing(turn):
    e = turn(loopback=True, extra=["--denied-peer-ip", "127.0.0.9"])
    c = e.client()
    c.allocate()
    ok = e.peer(LO4)
    assert T.error_of(c.create_permission(ok.addr, ("127.0.0.9", 5000), check=False)) == 403
    ok.send(c.relay, b"should not pass")
    assert c.no_data(SILENCE) is None, "403 CreatePermission installed a permission"
    c.send_indication(ok.addr, b"should not pass")
    assert ok.silent(SILENCE) is None


def test_denied_peer_ip_range(turn):
    e = turn(loopback=True, extra=["--denied-peer-ip", "127.0.0.10-127.0.0.20"])
    c = e.client()
    c.allocate()
    for ip in ("127.0.0.10", "127.0.0.15", "127.0.0.20"):
        assert T.error_of(c.create_permission((ip, 5000), check=False)) == 403, ip
    for ip in ("127.0.0.9", "127.0.0.21"):
        assert c.create_permission((ip, 5000)).cls == S.SUCCESS
    p = e.peer("127.0.0.15")
    c.send_indication(p.addr, b"denied range")
    assert p.silent(SILENCE) is None


def test_allowed_peer_ip_overrides_denied(turn):
    e = turn(loopback=True, extra=["--denied-peer-ip", "127.0.0.10-127.0.0.20",
                                   "--allowed-peer-ip", "127.0.0.15"])
    c = e.client()
    c.allocate()
    p = e.peer("127.0.0.15")
    c.create_permission(p.addr)
    c.send_indication(p.addr, b"allowed inside denied range")
    got, src = p.recv(1.0)
    assert got == b"allowed inside denied range" and src == c.relay
    assert T.error_of(c.create_permission(("127.0.0.16", 5000), check=False)) == 403


def test_denied_peer_ip_cidr_and_ipv6(turn):
    sockio.need_ipv6()
    e = turn(ips=[LO4, LO6], loopback=True,
             extra=["--denied-peer-ip", "127.0.0.64/30", "--denied-peer-ip", "::1"])
    c = dual_stack_client(e)
    for ip in ("127.0.0.64", "127.0.0.67", "::1"):
        assert T.error_of(c.create_permission((ip, 5000), check=False)) == 403, ip
    for ip in ("127.0.0.63", "127.0.0.68"):
        assert c.create_permission((ip, 5000)).cls == S.SUCCESS, ip


# IPv6 spellings that embed 127.0.0.1 (NAT64 well-known prefix, SIIT, 6to4):
# judged as the IPv4 address they carry (coturn's CVE-2020-26262).
EMBEDDED_LOOPBACK = ["64:ff9b::7f00:1", "::ffff:0:7f00:1", "2002:7f00:1::1"]


@pytest.mark.parametrize("peer_ip", EMBEDDED_LOOPBACK)
def test_ipv6_embedding_of_loopback_denied(turn, peer_ip):
    sockio.need_ipv6()
    e = turn(ips=[LO4, LO6], loopback=False)
    c = dual_stack_client(e)
    assert T.error_of(c.create_permission((peer_ip, 5000), check=False)) == 403
    assert T.error_of(c.channel_bind(0x4000, (peer_ip, 5000), check=False)) == 403


def test_denied_peer_ip_channel_bind_403(turn):
    e = turn(loopback=True, extra=["--denied-peer-ip", "127.0.0.50"])
    c = e.client()
    c.allocate()
    assert T.error_of(c.channel_bind(0x4000, ("127.0.0.50", 5000), check=False)) == 403
    # the channel number stays free for an allowed peer
    c.channel_bind(0x4000, ("127.0.0.51", 5000))


# --- the server's own address, in namespaces --------------------------------------------


@pytest.fixture
def netns_turn(topology, kturnd_factory):
    """kturnd in namespace "srv" on a veth address; client and peer in "cli"."""
    srv = topology.add_ns("srv")
    cli = topology.add_ns("cli")
    link = topology.link(cli, srv)  # a = cli side, b = srv side
    e = T.start_turn(kturnd_factory, ips=[link["b4"]], ns=srv, loopback=False)
    e.ns = cli
    yield e, link, cli
    e.close()


def test_own_listening_address_denied(netns_turn):
    e, link, cli = netns_turn
    c = e.client(local_ip=link["a4"])
    c.allocate()
    assert c.relay[0] == link["b4"]
    for port in (e.port, 5000, c.relay[1]):
        m = c.create_permission((link["b4"], port), check=False)
        assert T.error_of(m) == 403, port
        assert T.error_of(c.channel_bind(0x4000, (link["b4"], port), check=False)) == 403


def test_send_to_own_address_dropped(netns_turn):
    """A socket on the server's own address (other port) never hears from the relay."""
    e, link, cli = netns_turn
    own = e.peer(link["b4"], ns=e.k.ns)  # in the server's namespace, on its address
    c = e.client(local_ip=link["a4"])
    c.allocate()
    assert T.error_of(c.create_permission(own.addr, check=False)) == 403
    c.send_indication(own.addr, b"to the server itself")
    assert own.silent(SILENCE) is None
    own.send(c.relay, b"from the server's own address")
    assert c.no_data(SILENCE) is None


def test_non_loopback_peer_allowed_in_netns(netns_turn):
    e, link, cli = netns_turn
    c = e.client(local_ip=link["a4"])
    c.allocate()
    p = e.peer(link["a4"], ns=cli)
    c.create_permission(p.addr)
    c.send_indication(p.addr, b"across namespaces")
    got, src = p.recv(1.0)
    assert got == b"across namespaces" and src == c.relay
    p.send(c.relay, b"reply")
    ev = c.recv_data(1.0)
    assert (ev.kind, ev.peer, ev.data) == ("indication", p.addr, b"reply")


def test_relay_ip_denied_as_peer(topology, kturnd_factory):
    """A separate --relay-ip is one of the server's own addresses too."""
    srv = topology.add_ns("srv")
    cli = topology.add_ns("cli")
    link1 = topology.link(cli, srv)
    link2 = topology.link(cli, srv)
    e = T.start_turn(kturnd_factory, ips=[link1["b4"]], ns=srv, loopback=False,
                     relay_ips=[link2["b4"]], extra=["--relay-ip", link2["b4"]])
    e.ns = cli
    try:
        c = e.client(local_ip=link1["a4"])
        c.allocate()
        assert c.relay[0] == link2["b4"]
        assert T.error_of(c.create_permission((link2["b4"], 7000), check=False)) == 403
        assert T.error_of(c.create_permission((link1["b4"], 7000), check=False)) == 403
        c.create_permission((link2["a4"], 7000))
    finally:
        e.close()

