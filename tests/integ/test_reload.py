# SPDX-License-Identifier: MIT
"""Reloading the TLS certificate and key (SIGHUP, kturnctl users reload).

The TLS listener's context is swapped at run time: new TLS connections get
the certificate now in the cert/pkey files, connections opened before keep
their session and their allocation, and a certificate or key that cannot be
used is refused with an error line while the current certificate stays.
Every check is on bytes: the DER certificate each connection was shown, the
TURN responses and the relayed data.
"""

import os
import signal
import ssl
import subprocess
import time

import kturnd as K
import stunpy as S
import turnclient as T
from opsenv import kturnctl

LO4 = "127.0.0.1"
RELOADED = "TLS certificate reloaded"
FAILED = "TLS certificate reload failed"


def make_cert(d, cn):
    """A self-signed EC certificate and its key (PEM paths) for subject CN=cn."""
    cert, key = d / ("%s.crt" % cn), d / ("%s.key" % cn)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=%s" % cn, "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def der_of(pem_path):
    return ssl.PEM_cert_to_DER_cert(pem_path.read_text())


def install(src, dst):
    """Replace dst with src's bytes the way an operator's tooling does (write, rename)."""
    tmp = dst.with_suffix(".new")
    tmp.write_bytes(src.read_bytes())
    os.replace(tmp, dst)


def wait_log(k, text, count):
    """Poll (bounded) until k's log holds text count times; the reload is asynchronous."""
    deadline = time.monotonic() + 5.0
    while k.log().count(text) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert k.log().count(text) == count, k.tail()


class Node:
    """kturnd (two workers) with TURN over TLS from cert.pem/key.pem in d."""

    def __init__(self, turn, d, first):
        self.cert, self.key = d / "cert.pem", d / "key.pem"
        install(first[0], self.cert)
        install(first[1], self.key)
        self.tls_port = K.pick_port([LO4])
        self.e = turn(extra=["--tls-listening-port", str(self.tls_port), "--cert",
                             str(self.cert), "--pkey", str(self.key), "--kturn-workers", "2"],
                      tls=True)
        self.k = self.e.k

    def client(self, user="alice"):
        c = T.TurnClient((LO4, self.tls_port), "tls", username=user,
                         password=self.e.users[user])
        self.e._made.append(c)  # closed with the env
        return c

    def shown(self, n=6):
        """The DER certificates n fresh TLS connections were shown (both workers serve them)."""
        got = set()
        for _ in range(n):
            c = self.client()
            got.add(c.sock.getpeercert(binary_form=True))
            assert c.request(S.BINDING, auth=False).cls == S.SUCCESS
            c.close()
        return got


def relays(c, peer):
    c.send_indication(peer.addr, b"through the old session")
    data, src = peer.recv()
    assert (data, src) == (b"through the old session", c.relay)


def test_sighup_reloads_cert_keeps_tls_connections(turn, tmp_path):
    a, b = make_cert(tmp_path, "kturn-a"), make_cert(tmp_path, "kturn-b")
    n = Node(turn, tmp_path, a)
    assert "TLS certificate: %s subject=CN = kturn-a notAfter=" % n.cert in n.k.log()
    assert n.shown() == {der_of(a[0])}

    old = n.client()
    assert old.sock.getpeercert(binary_form=True) == der_of(a[0])
    assert old.allocate().cls == S.SUCCESS
    peer = n.e.peer()
    old.create_permission(peer.addr)
    relays(old, peer)

    install(b[0], n.cert)
    install(b[1], n.key)
    n.k.signal(signal.SIGHUP)
    wait_log(n.k, RELOADED, 1)
    assert "%s: %s subject=CN = kturn-b notAfter=" % (RELOADED, n.cert) in n.k.log()
    assert n.shown() == {der_of(b[0])}
    # the session opened with A goes on: its allocation answers a Refresh and relays
    m = old.refresh(600)
    assert m.cls == S.SUCCESS and m.integrity_ok(old.key()), m
    relays(old, peer)

    # a broken key: refused with an error line, B stays for new connections
    n.key.write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    n.k.signal(signal.SIGHUP)
    wait_log(n.k, FAILED, 1)
    assert [l.split()[1] for l in n.k.log().splitlines() if FAILED in l] == ["err"]
    assert n.k.log().count(RELOADED) == 1
    assert n.shown() == {der_of(b[0])}
    assert old.refresh(600).cls == S.SUCCESS
    relays(old, peer)
    assert n.k.running()


def test_kturnctl_reload_refuses_mismatched_key(turn, tmp_path):
    a, b = make_cert(tmp_path, "kturn-a"), make_cert(tmp_path, "kturn-b")
    n = Node(turn, tmp_path, a)
    old = n.client()
    assert old.allocate().cls == S.SUCCESS

    install(b[0], n.cert)  # B's certificate with A's key: the pair does not match
    r = kturnctl(n.k, "users", "reload", check=False)
    assert r.returncode == 1 and "TLS certificate cannot be used" in r.stderr, r
    wait_log(n.k, FAILED, 1)
    assert n.shown() == {der_of(a[0])}

    install(b[1], n.key)
    assert kturnctl(n.k, "users", "reload").stdout == "credentials reloaded\n"
    wait_log(n.k, RELOADED, 1)
    assert n.shown() == {der_of(b[0])}
    assert old.refresh(600).cls == S.SUCCESS
