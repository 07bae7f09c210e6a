# SPDX-License-Identifier: MIT
"""A kturnd with live traffic for the kturnctl and /metrics tests.

One kturnd (two workers, so answers are gathered across workers and an RFC
6062 ConnectionBind may be handed to the other worker) with two kinds of
allocations whose byte counts the test knows exactly:

  udp_flow(): a UDP allocation (user alice) relaying datagrams both ways
  tcp_pair(): a TCP allocation (user bridge) with one bridged RFC 6062 pair
"""

import json
import os
import socket
import subprocess

import kturnd as K
import sockio
import stunpy as S
import turnclient as T
from tcpturn import PASSWORD, REALM, USER, Control, attempt, bind, read_exact

KTURNCTL = os.path.join(os.path.dirname(K.binary()), "kturnctl")
LO = "127.0.0.1"
UDP_USER, UDP_PASSWORD = "alice", "alice-pw"


def kturnd_argv(plane="sockmap", workers=2, ports=60, tls=False):
    lo, hi = T.free_port_range(ports)
    return ["--realm", REALM, "--lt-cred-mech", "--user", "%s:%s" % (USER, PASSWORD),
            "--user", "%s:%s" % (UDP_USER, UDP_PASSWORD), "--allow-loopback-peers",
            "--min-port", str(lo), "--max-port", str(hi), "--kturn-workers", str(workers),
            "--kturn-data-plane", plane] + ([] if tls else ["--no-tls"])


def free_tcp_port(ip=LO):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((ip, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def kturnctl(k, *args, check=True):
    """Run kturnctl against k's control socket and pin directory."""
    argv = [KTURNCTL, "--socket", k.ctl_socket, "--pin-dir", k.pin_dir] + list(args)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError("%s -> %d\nstdout: %s\nstderr: %s"
                             % (argv, r.returncode, r.stdout, r.stderr))
    return r


def kturnctl_json(k, *args):
    return json.loads(kturnctl(k, "--json", *args).stdout)


class UdpFlow:
    """A UDP allocation that relayed `up` datagrams to a peer and `down` back."""

    def __init__(self, k, up, down, user=UDP_USER, password=UDP_PASSWORD):
        self.client = T.TurnClient((LO, k.port), "udp", username=user, password=password)
        self.client.allocate()
        self.peer = T.Peer(LO)
        self.client.create_permission(self.peer.addr)
        for d in up:
            self.client.send_indication(self.peer.addr, d)
            got, _ = self.peer.recv()
            assert got == d
        for d in down:
            self.peer.send(self.client.relay, d)
            ev = self.client.recv_data()
            assert ev.data == d
        self.up_bytes = sum(len(d) for d in up)
        self.down_bytes = sum(len(d) for d in down)
        self.up_pkts, self.down_pkts = len(up), len(down)

    def close(self):
        self.client.close()
        self.peer.close()


class TcpPair:
    """A TCP allocation with one bridged pair that moved `up` to the peer, `down` back.

    tls: (ssl.SSLContext, (ip, port)) binds the data connection over TURN-over-TLS.
    """

    def __init__(self, k, up, down, tls=None):
        self.ctl = Control((LO, k.port))
        r = self.ctl.allocate()
        assert r.cls == S.SUCCESS, r
        self.ctl.permit(LO)
        self.peer = sockio.tcp_connect(self.ctl.relay)
        self.cid = attempt(self.ctl, self.peer)
        self.data, r = bind(self.ctl, self.cid, tls=tls)
        assert r.cls == S.SUCCESS, r
        self.data.sendall(up)
        assert read_exact(self.peer, len(up)) == up
        self.peer.sendall(down)
        assert read_exact(self.data, len(down)) == down
        self.up_bytes, self.down_bytes = len(up), len(down)

    def close(self):
        for s in (self.data, self.peer, self.ctl.sock):
            s.close()


def pattern(n, seed=0):
    """n bytes of a known, position-dependent pattern."""
    return bytes((i * 7 + seed) & 0xFF for i in range(n))
