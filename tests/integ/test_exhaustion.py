# SPDX-License-Identifier: MIT
"""Resource exhaustion against a real kturnd: what happens at the limits, and
that kturnd neither spins nor stops serving once it is past them.

Elsewhere: allocation quotas (486: test_turn_alloc.py test_user_quota_486,
test_total_quota_486, test_turn_config.py test_user_quota_from_config), relay
port range exhausted (508: test_turn_alloc.py test_port_range_exhausted_508),
idle/silent TCP clients (test_hostile.py).

CPU checks read kturnd's utime+stime from /proc/PID/stat over a fixed window
and bound them: a spinning event loop burns the whole window, a paused one
almost nothing. That is a resource check, not a timing assertion.
"""

import os
import resource
import socket
import struct
import time

import pytest

import sockio
import stunpy as S
import turnclient as T
from test_hostile import assert_served, wait_log

LO = "127.0.0.1"
WINDOW = 2.0  # seconds of CPU accounting
MAX_CPU = 0.4  # of WINDOW: far from a spinning loop (~1.0 x WINDOW)


def cpu_seconds(pid):
    """utime + stime of every thread of pid, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_over_window(pid, window=WINDOW):
    before = cpu_seconds(pid)
    time.sleep(window)
    return cpu_seconds(pid) - before


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def connect_many(server, n):
    """n TCP connections (the kernel completes them even when kturnd cannot accept)."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(server)
        socks.append(s)
    return socks


def close_all(socks):
    for s in socks:
        s.close()
    del socks[:]


def limit_fds(pid, spare, headroom=0):
    """Lower kturnd's descriptor limit to what it has open + spare: the soft limit,
    and the hard one to soft + headroom (raising a hard limit again needs
    CAP_SYS_RESOURCE; raising soft up to hard does not)."""
    n = open_fds(pid) + spare
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (n, n + headroom))
    return n


# --- descriptors ----------------------------------------------------------------


def test_fd_limit_accept_pauses_without_spinning_and_resumes(turn):
    """At RLIMIT_NOFILE accept() fails with EMFILE: kturnd pauses accepting (one log
    line, not one per retry), uses next to no CPU meanwhile, keeps answering UDP,
    and accepts again - the connections that waited in the backlog too - once
    descriptors are free."""
    e = turn(extra=["--kturn-workers", "1"])
    pid = e.k.pid
    limit = limit_fds(pid, 20)
    held = connect_many(e.server(), 40)  # 20 accepted, 20 wait in the backlog
    try:
        wait_log(e.k, "accept on", "Too many open files")
        assert open_fds(pid) <= limit
        cpu = cpu_over_window(pid)
        assert cpu < MAX_CPU * WINDOW, "kturnd used %.2fs CPU in %.1fs at the fd limit" % (
            cpu, WINDOW)
        lines = wait_log(e.k, "accept on", "Too many open files")
        assert len(lines) <= 2, lines  # once a minute, with a count
        c = e.client("bob", "udp")
        m = c.request(S.BINDING, auth=False)  # UDP needs no descriptor: still served
        assert m.cls == S.SUCCESS
        m = c.allocate(check=False)  # a relay socket needs one: a clean 508
        assert T.error_of(m) == 508, m
        wait_log(e.k, "turn reject", "code=508", "cannot open relay socket")
        waiting = held[20:]
    finally:
        close_all(held[:20])  # kturnd sees EOF and frees 20 descriptors
    try:
        for s in waiting:  # the backlog is accepted: each one is served now
            r = sockio.tcp_exchange(s, S.binding_request(), timeout=5)
            assert S.decode(r).cls == S.SUCCESS
    finally:
        close_all(waiting)
    assert_served(e)


def test_fd_limit_tcp_relay_accept_does_not_spin(turn):
    """Peers connecting to a TCP relayed address while kturnd is out of descriptors:
    the relay listener pauses like the main one (no busy loop, bounded log), the
    allocation keeps working, and peers get through once descriptors are free."""
    e = turn(extra=["--kturn-workers", "1"])
    pid = e.k.pid
    c = e.client("alice", "tcp")
    c.allocate(proto=T.PROTO_TCP)
    c.create_permission((LO, 0))
    limit = limit_fds(pid, 0, headroom=100)
    peers = connect_many(c.relay, 5)  # none can be accepted
    try:
        wait_log(e.k, "relay accept", "Too many open files")
        cpu = cpu_over_window(pid)
        assert cpu < MAX_CPU * WINDOW, "kturnd used %.2fs CPU in %.1fs at the fd limit" % (
            cpu, WINDOW)
        lines = wait_log(e.k, "relay accept", "Too many open files")
        assert len(lines) <= 2, lines
        c.refresh(lifetime=600)  # the control connection is still served
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit + 100, limit + 100))
        for _ in peers:  # every waiting peer is announced now
            m = c.recv_frame(5)
            assert S.decode(m).method == S.CONNECTION_ATTEMPT
    finally:
        close_all(peers)
    assert_served(e)


# --- RFC 6062 peer connections --------------------------------------------------------

MAX_PEERS = 128  # unbound peer connections per TCP allocation (user/turn/tcp_relay.c)


def test_unbound_peer_connections_capped_and_expire(turn):
    """Peers connecting to a TCP relayed address without a ConnectionBind: at most
    MAX_PEERS are kept (each announced by a ConnectionAttempt), the extra ones are
    closed at once; kturnd reads nothing from them (their bytes stay in the kernel)
    and closes every one after kturn-connection-timeout; then new peers are
    accepted again."""
    e = turn(extra=["--kturn-connection-timeout", "2", "--kturn-workers", "1"])
    pid = e.k.pid
    c = e.client("alice", "tcp")
    c.allocate(proto=T.PROTO_TCP)
    c.create_permission((LO, 0))
    base = open_fds(pid)
    extra = 10
    peers = connect_many(c.relay, MAX_PEERS + extra)
    try:
        for p in peers:
            p.sendall(b"x" * 4096)  # never read by kturnd before a bind
        attempts = 0
        while attempts < MAX_PEERS:
            m = S.decode(c.recv_frame(5))
            assert m.method == S.CONNECTION_ATTEMPT, m
            attempts += 1
        with pytest.raises(TimeoutError):
            c.recv_frame(0.5)  # not one more
        assert open_fds(pid) <= base + MAX_PEERS + 2
        closed = [sockio.wait_closed(p, 10) for p in peers]
        assert all(x in ("eof", "reset") for x in closed), closed
        wait_log(e.k, "too many peer connections")
        # the expired ids are gone; the allocation takes new peers again
        p = socket.create_connection(c.relay, timeout=2)
        peers.append(p)
        assert S.decode(c.recv_frame(5)).method == S.CONNECTION_ATTEMPT
    finally:
        close_all(peers)
    assert open_fds(pid) <= base + 2
    assert_served(e)
