# SPDX-License-Identifier: MIT
"""Bounded socket helpers for the integration tests: every wait has a deadline."""

import errno
import select
import socket
import time

import netns
import stunpy as S

DEFAULT_TIMEOUT = 2.0



def readable(sock, timeout):
    """True once sock has something to read (data, EOF or an error) within timeout.

    poll(), not select(): select() fails on descriptors above 1023, which a
    test holding a thousand connections reaches.
    """
    p = select.poll()
    p.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(p.poll(max(0.0, timeout) * 1000))


def family_of(ip):
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def sockaddr(sock):
    """(ip, port) of a socket's local address, for either family."""
    a = sock.getsockname()
    return a[0], a[1]


def udp_socket(ip, ns=None):
    """UDP socket bound to (ip, 0), optionally created inside namespace ``ns``."""
    s = netns.socket_in(ns, family_of(ip), socket.SOCK_DGRAM)
    s.bind((ip, 0))
    return s


def udp_exchange(sock, dest, data, timeout=DEFAULT_TIMEOUT):
    """Send one datagram and return the first datagram that comes back from ``dest``.

    Datagrams from other sources fail the test (nothing else should talk to us).
    """
    sock.sendto(data, dest)
    return udp_recv(sock, dest, timeout)


def udp_recv(sock, dest, timeout=DEFAULT_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no UDP reply from %s within %.1fs" % (dest, timeout))
        r = readable(sock, left)
        if not r:
            continue
        data, src = sock.recvfrom(65535)
        if (src[0], src[1]) != (dest[0], dest[1]):
            raise AssertionError("datagram from unexpected source %s (expected %s)" % (src, dest))
        return data


def udp_silence(sock, wait):
    """Return any datagram received within ``wait`` seconds, else None."""
    r = readable(sock, wait)
    if r:
        return sock.recvfrom(65535)[0]
    return None


def tcp_connect(dest, ns=None, timeout=DEFAULT_TIMEOUT, nodelay=True):
    s = netns.socket_in(ns, family_of(dest[0]), socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(dest)
    if nodelay:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class TcpFramer:
    """Reads whole STUN/ChannelData frames from a stream socket, bounded."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read_frame(self, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            frames, rest = S.split_stream(self.buf)
            if frames:
                first = frames[0]
                self.buf = self.buf[len(first):]
                return first
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete TCP frame within %.1fs (have %r)" % (timeout, self.buf))
            r = readable(self.sock, left)
            if not r:
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection (have %r)" % self.buf)
            self.buf += chunk

    def pending(self):
        return self.buf


def tcp_exchange(sock, data, timeout=DEFAULT_TIMEOUT):
    """Send ``data`` and return one frame (use TcpFramer for several)."""
    sock.sendall(data)
    return TcpFramer(sock).read_frame(timeout)


def wait_closed(sock, timeout=DEFAULT_TIMEOUT):
    """Wait until the peer closes: returns "eof", "reset", or None on timeout.

    Data received meanwhile is returned as ("data", bytes) so the caller can
    assert on it.
    """
    deadline = time.monotonic() + timeout
    got = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return ("data", got) if got else None
        r = readable(sock, left)
        if not r:
            continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return "reset" if not got else ("data", got)
        except OSError as e:
            if e.errno == errno.ECONNRESET:
                return "reset" if not got else ("data", got)
            raise
        if not chunk:
            return "eof" if not got else ("data", got)
        got += chunk


def ipv6_loopback_problem():
    """None if ::1 is usable here, else why not."""
    if not socket.has_ipv6:
        return "Python built without IPv6"
    try:
        with open("/proc/sys/net/ipv6/conf/lo/disable_ipv6") as f:
            if f.read().strip() != "0":
                return "IPv6 disabled on lo"
    except OSError:
        return "no IPv6 in this kernel"
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
    except OSError as e:
        return "cannot bind ::1: %s" % e
    return None


def need_ipv6():
    """Skip the calling test where ::1 cannot be used."""
    import pytest

    why = ipv6_loopback_problem()
    if why:
        pytest.skip(why)
