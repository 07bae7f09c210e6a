# SPDX-License-Identifier: MIT
"""TURN configuration: a coturn turnserver.conf used unchanged, SIGHUP user reload,
relay-ip, REST secrets from the file."""

import signal
import time

import pytest

import kturnd as K
import stunpy as S
import turnclient as T

LO4 = "127.0.0.1"


def start_with_file(request, tmp_path, text_for_port):
    """Start kturnd with only ``-c FILE`` carrying the TURN options (plus log/pid flags).

    ``text_for_port(port)`` returns the file's text. The instance is handed to
    kturnd_factory's list, so teardown (SIGTERM, exit status 0) and the log
    tail on failure work as for every other test.
    """
    port = K.pick_port([LO4])
    k = K.Kturnd(tmp_path / "kturnd-conf", ips=[LO4], port=port, cli=False)
    with open(k.config_path, "w") as f:
        f.write(text_for_port(port))
    request.node._kturnd_instances.append(k)
    k.start()
    return k


COTURN_CONF = """\
# TURN server name and realm
realm=kturn.conf.test
  # a comment after spaces
listening-ip=127.0.0.1
listening-port=%(port)d

# Lower and upper bounds of the UDP relay endpoints:
min-port=%(lo)d
max-port = %(hi)d

# long-term credential mechanism
lt-cred-mech
user=confuser:conf-password
user = spaced:spaced-pw
user="quoted:quoted-pw"
#user=commented:out

relay-ip=127.0.0.1
allow-loopback-peers
fingerprint
no-tls
no-cli
"""


def test_coturn_config_file_serves_authenticated_allocate(request, tmp_path, kturnd_factory):
    lo, hi = T.free_port_range(20)
    k = start_with_file(request, tmp_path,
                        lambda port: COTURN_CONF % {"port": port, "lo": lo, "hi": hi})
    c = T.TurnClient((LO4, k.port), "udp", username="confuser", password="conf-password")
    try:
        m = c.allocate()
        assert c.last_challenge.require(S.REALM) == b"kturn.conf.test"
        assert c.relay[0] == LO4 and lo <= c.relay[1] <= hi
        assert m.types[-1] == S.FINGERPRINT and m.fingerprint_ok()  # fingerprint option
        assert m.integrity_ok(S.long_term_key("confuser", "kturn.conf.test", "conf-password"))
        p = T.Peer(LO4)  # allow-loopback-peers
        try:
            c.create_permission(p.addr)
            c.send_indication(p.addr, b"configured")
            got, src = p.recv(1.0)
            assert (got, src) == (b"configured", c.relay)
        finally:
            p.close()
    finally:
        c.close()
    bad = T.TurnClient((LO4, k.port), "udp", username="commented", password="out")
    try:
        assert bad.allocate(check=False).error()[0] == 401
    finally:
        bad.close()


@pytest.mark.parametrize("user,password", [("spaced", "spaced-pw"), ("quoted", "quoted-pw")])
def test_config_file_spacing_and_quotes(request, tmp_path, kturnd_factory, user, password):
    """"name = value" and a double-quoted value, as coturn reads them."""
    lo, hi = T.free_port_range(10)
    k = start_with_file(request, tmp_path,
                        lambda port: COTURN_CONF % {"port": port, "lo": lo, "hi": hi})
    c = T.TurnClient((LO4, k.port), "tcp", username=user, password=password)
    try:
        m = c.allocate()
        assert lo <= c.relay[1] <= hi  # "max-port = N" was read too
        assert m.integrity_ok(S.long_term_key(user, "kturn.conf.test", password))
    finally:
        c.close()


def test_rest_secret_from_config_file(request, tmp_path, kturnd_factory):
    lo, hi = T.free_port_range(10)
    text = ("realm=rest.test\nuse-auth-secret\nstatic-auth-secret=from-file\n"
            "listening-ip=127.0.0.1\nlistening-port=%d\nmin-port=%d\nmax-port=%d\n"
            "no-tls\nno-cli\n")
    k = start_with_file(request, tmp_path, lambda port: text % (port, lo, hi))
    user, pw = T.rest_credentials("from-file", "cfg")
    c = T.TurnClient((LO4, k.port), "udp", username=user, password=pw)
    try:
        m = c.allocate()
        assert m.integrity_ok(S.long_term_key(user, "rest.test", pw))
    finally:
        c.close()


def test_relay_ip_option(kturnd_factory):
    """--relay-ip 127.0.0.2 on a server listening on 127.0.0.1: relayed there, data too."""
    rng = T.free_port_range(10, ips=["127.0.0.2"])
    k = kturnd_factory(extra=T.turn_args(port_range=rng) + ["--relay-ip", "127.0.0.2"])
    e = T.TurnEnv(k, T.REALM, T.USERS, rng, [LO4])
    try:
        c = e.client()
        c.allocate()
        assert c.relay[0] == "127.0.0.2" and e.in_range(c.relay[1])
        p = e.peer(LO4)
        c.create_permission(p.addr)
        c.send_indication(p.addr, b"via 127.0.0.2")
        got, src = p.recv(1.0)
        assert got == b"via 127.0.0.2" and src == c.relay
        p.send(c.relay, b"reply")
        ev = c.recv_data(1.0)
        assert (ev.kind, ev.data, ev.peer) == ("indication", b"reply", p.addr)
    finally:
        e.close()


def test_sighup_reloads_users_keeps_allocations(kturnd_factory):
    rng = T.free_port_range(20)
    base = [("realm", T.REALM), ("lt-cred-mech", None), ("min-port", rng[0]),
            ("max-port", rng[1]), ("allow-loopback-peers", None), ("no-tls", None),
            ("no-cli", None)]
    k = kturnd_factory(config=base + [("user", "usera:pw-a")])
    e = T.TurnEnv(k, T.REALM, {"usera": "pw-a", "userb": "pw-b"}, rng, [LO4])
    try:
        a = e.client("usera")
        a.allocate()
        p = e.peer(LO4)
        a.create_permission(p.addr)
        assert e.client("userb").allocate(check=False).error()[0] == 401
        K.write_config(k.config_path, base + [("user", "userb:pw-b")])
        k.signal(signal.SIGHUP)
        deadline = time.monotonic() + 2.0
        while True:  # the reload is asynchronous: poll (bounded) until B is accepted
            m = e.client("userb").allocate(check=False)
            if m.cls == S.SUCCESS or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert m.cls == S.SUCCESS, "userb not accepted after SIGHUP: %r\n%s" % (m, k.tail())
        assert e.client("usera").allocate(check=False).error()[0] == 401
        # A's existing allocation and permission still relay
        p.send(a.relay, b"still relayed")
        ev = a.recv_data(1.0)
        assert (ev.kind, ev.data, ev.peer) == ("indication", b"still relayed", p.addr)
        a.send_indication(p.addr, b"outbound too")
        got, src = p.recv(1.0)
        assert got == b"outbound too" and src == a.relay
        assert k.running()
    finally:
        e.close()


def test_user_quota_from_config(kturnd_factory):
    rng = T.free_port_range(10)
    k = kturnd_factory(config=[("realm", T.REALM), ("lt-cred-mech", None),
                               ("user", "alice:alice-pw"), ("user-quota", 1),
                               ("min-port", rng[0]), ("max-port", rng[1]), ("no-tls", None)])
    e = T.TurnEnv(k, T.REALM, T.USERS, rng, [LO4])
    try:
        e.client("alice").allocate()
        assert e.client("alice").allocate(check=False).error()[0] == 486
    finally:
        e.close()


@pytest.mark.parametrize("lifetime", ["1", "5"])
def test_default_allocate_lifetime_option(kturnd_factory, lifetime):
    rng = T.free_port_range(10)
    k = kturnd_factory(extra=T.turn_args(port_range=rng) + [
        "--kturn-default-allocate-lifetime", lifetime, "--max-allocate-lifetime", "3600"])
    e = T.TurnEnv(k, T.REALM, T.USERS, rng, [LO4])
    try:
        c = e.client()
        assert S.parse_u32(c.allocate().require(S.LIFETIME)) == int(lifetime)
        assert S.parse_u32(c.refresh(60).require(S.LIFETIME)) == 60
    finally:
        e.close()
