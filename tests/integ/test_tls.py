# SPDX-License-Identifier: MIT
"""TURN over TLS listener (tls-listening-port, cert, pkey) with a throwaway self-signed pair."""

import ssl


import kturnd as K
import sockio
import stunpy as S

LO4 = "127.0.0.1"


def tls_connect(port, cert):
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    raw = sockio.tcp_connect((LO4, port))
    return ctx.wrap_socket(raw, server_hostname="kturn-test")


def tls_binding(sock):
    tid = S.new_tid()
    sock.sendall(S.binding_request(tid))
    m = S.decode(sockio.TcpFramer(sock).read_frame(), tid=tid, method=S.BINDING, cls=S.SUCCESS)
    return m


def test_binding_over_tls(kturnd_factory, cert_pair):
    cert, key = cert_pair
    tls_port = K.pick_port([LO4])
    k = kturnd_factory(extra=["--tls-listening-port", str(tls_port), "--cert", str(cert),
                              "--pkey", str(key)])
    assert "listening on 127.0.0.1:%d/tls" % tls_port in k.log()
    with tls_connect(tls_port, cert) as s:
        assert s.version() in ("TLSv1.2", "TLSv1.3")
        for _ in range(3):  # several requests on one session
            m = tls_binding(s)
            assert m.xor_mapped() == s.getsockname()[:2]
            assert m.software().startswith("kturn/")
        # junk inside the TLS session closes it, like on plain TCP
        s.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert sockio.wait_closed(s, timeout=2.0) in ("eof", "reset")
    # plain TCP and UDP on the main port are unaffected
    with sockio.tcp_connect((LO4, k.port)) as t:
        assert tls_binding(t).xor_mapped() == t.getsockname()[:2]


def test_plaintext_on_tls_port_is_closed(kturnd_factory, cert_pair):
    cert, key = cert_pair
    tls_port = K.pick_port([LO4])
    k = kturnd_factory(extra=["--tls-listening-port", str(tls_port), "--cert", str(cert),
                              "--pkey", str(key)])
    with sockio.tcp_connect((LO4, tls_port)) as t:
        t.sendall(S.binding_request(S.new_tid()))
        assert sockio.wait_closed(t, timeout=2.0) in ("eof", "reset")
    with tls_connect(tls_port, cert) as s:  # the listener still serves TLS
        assert tls_binding(s).xor_mapped() == s.getsockname()[:2]
    assert "TLS connection failed" in k.log()


def test_no_cert_no_tls_listener(kturnd):
    assert "TLS listener on port" in kturnd.log() and "not started" in kturnd.log()


def test_bad_cert_fails_startup(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    r = K.run_once(["--listening-ip", LO4, "--listening-port", str(K.pick_port([LO4])),
                    "--cert", str(bad), "--pkey", str(bad), "--log-file", "-"], tmp_path)
    assert r.returncode == 1
    assert "cannot use cert" in r.stderr


def test_abrupt_tls_close_does_not_end_other_sessions(kturnd_factory, cert_pair):
    # A TLS client that vanishes without close_notify leaves an OpenSSL error on the
    # worker's thread; it must not be taken for an error of the next session served there.
    cert, key = cert_pair
    tls_port = K.pick_port([LO4])
    kturnd_factory(extra=["--tls-listening-port", str(tls_port), "--cert", str(cert),
                          "--pkey", str(key), "--kturn-workers", "1"])
    with tls_connect(tls_port, cert) as s:
        assert tls_binding(s).xor_mapped() == s.getsockname()[:2]
        for _ in range(3):
            t = tls_connect(tls_port, cert)
            assert tls_binding(t).xor_mapped() == t.getsockname()[:2]
            t.close()  # no close_notify read back: the server sees an unexpected EOF
            for _ in range(2):
                assert tls_binding(s).xor_mapped() == s.getsockname()[:2]
