# SPDX-License-Identifier: MIT
"""Network namespaces and veth pairs for integration tests (root only).

Every name carries this process's pid and a counter, so parallel runs never
collide. Addresses come only from 10.201.0.0/16 and fd00:6b74::/64 and are
assigned only inside namespaces this module created: no test traffic ever
reaches the host's own interfaces.

Cleanup runs on every exit path: ``Topology`` is a context manager (try/finally
in the caller or the pytest fixture) and also registers itself with atexit.

Sockets "inside" a namespace are made in this process: switch the calling
thread into the namespace with setns(2), create the socket, switch back. A
socket stays in the namespace it was created in.
"""

import atexit
import contextlib
import ctypes
import ctypes.util
import ipaddress
import itertools
import os
import shutil
import socket
import subprocess

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"
V4_PREFIX = "10.201"
V6_PREFIX = "fd00:6b74"

_counter = itertools.count(1)
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class NetnsUnavailable(RuntimeError):
    """Raised when namespaces cannot be used here (not root, no ip(8), ...)."""


def check_available():
    """Raise NetnsUnavailable with a reason if this host cannot run netns tests."""
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root")
    if shutil.which("ip") is None:
        raise NetnsUnavailable("ip(8) (iproute2) not installed")
    name = "kt-probe-%d-%d" % (os.getpid(), next(_counter))
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise NetnsUnavailable("ip netns add failed: %s" % r.stderr.strip())
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def run(*args, check=True, timeout=10):
    """Run a command with a bounded wait; raise with its stderr on failure."""
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def ns_run(ns, *args, check=True, timeout=10):
    return run("ip", "netns", "exec", ns, *args, check=check, timeout=timeout)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


@contextlib.contextmanager
def entered(ns):
    """Run the body with the calling thread inside namespace ``ns``."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(os.path.join(NETNS_RUN_DIR, ns), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


def socket_in(ns, family=socket.AF_INET, type=socket.SOCK_DGRAM, proto=0):
    """A socket created in namespace ``ns`` (None: the current one)."""
    if ns is None:
        return socket.socket(family, type, proto)
    with entered(ns):
        return socket.socket(family, type, proto)


class Topology:
    """Namespaces and veth links, torn down on close(), atexit, or ``with`` exit."""

    def __init__(self, tag="kt"):
        self.tag = tag
        self.namespaces = []  # full names, creation order
        self._closed = False
        atexit.register(self.close)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def add_ns(self, short):
        """Create namespace "<tag>-<short>-<pid>-<n>" with lo up; return its name."""
        name = "%s-%s-%d-%d" % (self.tag, short, os.getpid(), next(_counter))
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        ns_run(name, "ip", "link", "set", "lo", "up")
        return name

    def link(self, ns_a, ns_b, subnet=None):
        """Join two namespaces with a veth pair and address both ends.

        IPv4: 10.201.<subnet>.1/24 (a side) and .2 (b side). IPv6 (nodad):
        fd00:6b74::<subnet>:1/64 and :2. Returns a dict with keys "a4", "b4",
        "a6", "b6", "if_a", "if_b".
        """
        n = next(_counter)
        if subnet is None:
            subnet = n % 250
        # IFNAMSIZ is 16: "kt" + pid (<= 7 digits) + side + counter stays short.
        if_a = ("kt%da%d" % (os.getpid(), n))[-15:]
        if_b = ("kt%db%d" % (os.getpid(), n))[-15:]
        run("ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b,
            "netns", ns_b)
        a4, b4 = "%s.%d.1" % (V4_PREFIX, subnet), "%s.%d.2" % (V4_PREFIX, subnet)
        a6, b6 = "%s::%x:1" % (V6_PREFIX, subnet), "%s::%x:2" % (V6_PREFIX, subnet)
        for ns, ifname, v4, v6 in ((ns_a, if_a, a4, a6), (ns_b, if_b, b4, b6)):
            assert ipaddress.ip_address(v4) in ipaddress.ip_network("10.201.0.0/16")
            assert ipaddress.ip_address(v6) in ipaddress.ip_network("fd00:6b74::/64")
            ns_run(ns, "ip", "addr", "add", v4 + "/24", "dev", ifname)
            ns_run(ns, "ip", "-6", "addr", "add", v6 + "/64", "dev", ifname, "nodad", check=False)
            ns_run(ns, "ip", "link", "set", ifname, "up")
        return {"a4": a4, "b4": b4, "a6": a6, "b6": b6, "if_a": if_a, "if_b": if_b}

    def close(self):
        """Delete every namespace we made (their veths go with them). Idempotent."""
        if self._closed:
            return
        self._closed = True
        errors = []
        for name in reversed(self.namespaces):
            r = subprocess.run(["ip", "netns", "del", name], capture_output=True, text=True,
                               timeout=10)
            if r.returncode != 0 and os.path.exists(os.path.join(NETNS_RUN_DIR, name)):
                errors.append("%s: %s" % (name, r.stderr.strip()))
        self.namespaces = []
        try:
            atexit.unregister(self.close)
        except Exception:
            pass
        if errors:
            raise RuntimeError("netns cleanup failed: " + "; ".join(errors))
