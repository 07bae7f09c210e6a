# SPDX-License-Identifier: MIT
"""Run Debian coturn's turnutils_uclient / turnutils_peer / turnserver, bounded,
and read uclient's final statistics strictly.

turnutils_uclient exits 0 even when every packet was lost, so its exit status
says only that the allocations, permissions and channel bindings succeeded
(on any error response it prints e.g. "channel bind: error 400 (...)" or
"ERROR: Cannot complete Allocation" and exits 255). Whether data went through
the relay is only in the statistics it prints at the end (coturn 4.6.1,
src/apps/uclient/uclient.c, start_mclient), each line prefixed by a
"<seconds>: <level>: " logger prefix::

    5: : start_mclient: tot_send_msgs=40, tot_recv_msgs=40
    5: : start_mclient: tot_send_bytes ~ 40000, tot_recv_bytes ~ 40000
    5: : Total transmit time is 5
    5: : Total lost packets 0 (0.000000%), total send dropped 0 (0.000000%)

(while it runs it also prints progress lines "start_mclient: msz=N,
tot_send_msgs=..., tot_recv_msgs=..., ..." once a second; those are not the
final counts and are ignored). ``parse_stats`` requires all three final lines,
requires any repeated line to be identical, cross-checks them (lost = sent -
received, as uclient computes it) and raises ``UclientOutputError`` carrying
the full output otherwise.

Every process here is started with Popen, remembered by pid, and stopped by
that pid only (SIGTERM, bounded wait, then SIGKILL); an atexit hook does the
same for anything a crashed test left behind.
"""

import atexit
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time

import kturnd as K

UCLIENT = shutil.which("turnutils_uclient") or "/usr/bin/turnutils_uclient"
PEER = shutil.which("turnutils_peer") or "/usr/bin/turnutils_peer"
TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"

STOP_TIMEOUT = 5.0

# Optional logger prefix "12: : " (seconds since start, empty level) or "12: WARNING: ".
_PFX = r"^(?:\d+: [A-Za-z]*: )?"
RE_MSGS = re.compile(_PFX + r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$")
RE_BYTES = re.compile(_PFX + r"start_mclient: tot_send_bytes ~ (\d+), tot_recv_bytes ~ (\d+)\s*$")
RE_LOST = re.compile(_PFX + r"Total lost packets (\d+) \(([^)%]*)%\), "
                     r"total send dropped (\d+) \(([^)%]*)%\)\s*$")
# Lines uclient prints when a TURN transaction failed (it then usually exits 255).
RE_ERROR = re.compile(r"\berror \d{3}\b|ERROR|Cannot complete|Wrong integrity|"
                      r"unknown .* response|connections are not completed|"
                      r"Connection refused|cannot connect", re.IGNORECASE)

_live = {}  # pid -> Popen, for the atexit safety net


class UclientOutputError(AssertionError):
    """uclient's output lacks (or has inconsistent) final statistics lines."""

    def __init__(self, why, output):
        super().__init__("%s\n--- turnutils_uclient output:\n%s" % (why, output))
        self.why = why
        self.output = output


class Stats:
    """uclient's final counters (all ints)."""

    __slots__ = ("sent", "received", "send_bytes", "recv_bytes", "lost", "send_dropped")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw[k])

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self):
        return "Stats(%s)" % ", ".join("%s=%d" % kv for kv in self.as_dict().items())


def _one(regex, lines, what, output):
    found = [m.groups() for m in (regex.search(ln) for ln in lines) if m]
    if not found:
        raise UclientOutputError("no final '%s' line in uclient's output" % what, output)
    if len(set(found)) != 1:
        raise UclientOutputError("conflicting final '%s' lines: %s" % (what, found), output)
    return found[0]


def parse_stats(output):
    """The final statistics of one uclient run (stdout + stderr) as ``Stats``.

    Strict: raises UclientOutputError (with the whole output) if a final line
    is missing, repeated with different values, or inconsistent.
    """
    lines = output.splitlines()
    sent, received = (int(x) for x in _one(RE_MSGS, lines, "tot_send_msgs=, tot_recv_msgs=", output))
    sbytes, rbytes = (int(x) for x in _one(RE_BYTES, lines, "tot_send_bytes ~, tot_recv_bytes ~",
                                            output))
    lost, _lost_pct, dropped, _drop_pct = _one(RE_LOST, lines, "Total lost packets", output)
    lost, dropped = int(lost), int(dropped)
    # uclient: lost = sent - min(received, sent).
    if lost != sent - min(received, sent):
        raise UclientOutputError("inconsistent counts: sent %d, received %d, but lost %d"
                                 % (sent, received, lost), output)
    return Stats(sent=sent, received=received, send_bytes=sbytes, recv_bytes=rbytes,
                 lost=lost, send_dropped=dropped)


def error_lines(output):
    return [ln for ln in output.splitlines() if RE_ERROR.search(ln)]


def sessions(m=1, no_rtcp=False, c2c=False):
    """How many TURN sessions (allocations that send data) ``-m m`` makes.

    As in start_mclient: without -c every client is an RTP/RTCP pair, so m is
    rounded up to even; with -y (client-to-client) pairs talk to pairs, so m
    is rounded up to a multiple of 4 (of 2 with -c). Each session sends -n
    messages, so uclient's total is n * sessions(...).
    """
    m = max(1, m)
    if c2c:
        step = 2 if no_rtcp else 4
    else:
        step = 1 if no_rtcp else 2
    return -(-m // step) * step


def check_stats(stats, n, length, nsessions, output):
    """Assert a loss-free run: every message sent was echoed, bytes match."""
    want = n * nsessions
    problems = []
    if stats.sent != want:
        problems.append("sent %d messages, expected %d (%d sessions x -n %d)"
                        % (stats.sent, want, nsessions, n))
    if stats.received != stats.sent:
        problems.append("received %d of %d messages" % (stats.received, stats.sent))
    if stats.lost != 0:
        problems.append("Total lost packets %d" % stats.lost)
    if stats.send_dropped != 0:
        problems.append("total send dropped %d" % stats.send_dropped)
    if stats.send_bytes != stats.sent * length:
        problems.append("sent %d bytes, expected %d x %d" % (stats.send_bytes, stats.sent, length))
    if stats.recv_bytes != stats.send_bytes:
        problems.append("received %d bytes of %d" % (stats.recv_bytes, stats.send_bytes))
    if problems:
        raise AssertionError("turnutils_uclient: %s\n%r\n--- output:\n%s"
                             % ("; ".join(problems), stats, output))
    return stats


# --- processes -----------------------------------------------------------------


class Result:
    def __init__(self, argv, returncode, stdout, stderr, elapsed, timed_out):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed
        self.timed_out = timed_out

    @property
    def output(self):
        return self.stdout + ("\n--- stderr:\n" + self.stderr if self.stderr.strip() else "")

    def describe(self):
        return "$ %s\n(exit %s%s, %.1fs)\n%s" % (
            " ".join(self.argv), self.returncode, ", killed at timeout" if self.timed_out else "",
            self.elapsed, self.output)


def run_uclient(args, cwd, timeout=60.0):
    """Run ``turnutils_uclient args`` (bounded); a run past ``timeout`` is
    SIGKILLed by pid and returned with timed_out=True."""
    argv = [UCLIENT] + [str(a) for a in args]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=str(cwd))
    _live[p.pid] = p
    timed_out = False
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.kill(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=STOP_TIMEOUT)
    finally:
        _live.pop(p.pid, None)
    return Result(argv, p.returncode, out.decode("utf-8", "replace"),
                  err.decode("utf-8", "replace"), time.monotonic() - t0, timed_out)


def uclient_args(server_port, peer_port, user, password, n=20, length=100, m=1, tcp=False,
                 send_method=False, no_rtcp=False, ip="127.0.0.1", tcp_relay=False,
                 passive=False):
    """Command-line arguments for one uclient run against ``ip:server_port``
    relaying to the echo peer ``ip:peer_port`` (see tests/interop/test_uclient.py).

    tcp_relay: -T -y, RFC 6062 relay to relay (uclient pairs: one side's
    Connect, the other's ConnectionAttempt; no echo peer, peer_port unused).
    passive: with tcp_relay, -P (the passive side only accepts).
    """
    if tcp_relay:
        args = ["-T", "-y"] + (["-P"] if passive else [])
        args += ["-c", "-L", ip, "-p", server_port, "-u", user, "-w", password, "-n", n,
                 "-l", length, "-m", m, ip]
        return [str(a) for a in args]
    args = []
    if tcp:
        args.append("-t")
    if send_method:
        args.append("-s")
    if no_rtcp:
        args.append("-c")
    args += ["-L", ip, "-p", server_port, "-e", ip, "-r", peer_port, "-u", user, "-w", password,
             "-n", n, "-l", length, "-m", m, ip]
    return [str(a) for a in args]


class Proc:
    """A background process we started: stop() signals only its own pid."""

    name = "process"

    def __init__(self, argv, workdir, stem):
        self.argv = [str(a) for a in argv]
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.out_path = os.path.join(self.workdir, stem + ".out")
        self.proc = None

    def start(self):
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=self.workdir)
        _live[self.proc.pid] = self.proc
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM our pid, bounded wait, SIGKILL; returns the exit status."""
        p = self.proc
        if p is None:
            return None
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=STOP_TIMEOUT)
        _live.pop(p.pid, None)
        return p.returncode

    def output(self):
        try:
            with open(self.out_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def tail(self, n=60):
        lines = self.output().splitlines()
        return "--- %s argv: %s\n--- %s output (last %d of %d lines):\n%s" % (
            self.name, " ".join(self.argv), self.name, min(n, len(lines)), len(lines),
            "\n".join(lines[-n:]))


class Peer(Proc):
    """turnutils_peer: a UDP echo server on ip:port and ip:port+1 (uclient's
    RTCP sessions send to the peer port + 1)."""

    name = "turnutils_peer"

    def __init__(self, workdir, ip="127.0.0.1", port=None):
        self.ip = ip
        self.port = port if port is not None else pick_udp_pair(ip)
        super().__init__([PEER, "-L", ip, "-p", self.port], workdir, "peer")

    def start(self, timeout=5.0):
        super().start()
        deadline = time.monotonic() + timeout
        pending = [self.port, self.port + 1]
        while pending:
            if self.proc.poll() is not None:
                raise RuntimeError("turnutils_peer exited with %d\n%s"
                                   % (self.proc.returncode, self.tail()))
            if udp_echo_ok(self.ip, pending[0]):
                pending.pop(0)
            elif time.monotonic() > deadline:
                raise TimeoutError("turnutils_peer does not echo on %s:%d\n%s"
                                   % (self.ip, pending[0], self.tail()))
            else:
                time.sleep(0.05)
        return self


class Coturn(Proc):
    """coturn's own turnserver, as a reference server for the uclient tests."""

    name = "coturn turnserver"

    def __init__(self, workdir, user, password, realm, min_port, max_port, ip="127.0.0.1",
                 port=None):
        self.ip = ip
        self.port = port if port is not None else K.pick_port([ip])
        workdir = str(workdir)
        argv = [TURNSERVER, "-n", "--listening-ip", ip, "--listening-port", self.port,
                "--relay-ip", ip, "--min-port", min_port, "--max-port", max_port,
                "--lt-cred-mech", "--realm", realm, "--user", "%s:%s" % (user, password),
                "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli",
                "--no-rfc5780",  # no second (alt) listening port
                "--log-file", "stdout", "--simple-log",
                "--pidfile", os.path.join(workdir, "turnserver.pid"),
                "--userdb", os.path.join(workdir, "turndb")]
        super().__init__(argv, workdir, "turnserver")

    def start(self, timeout=10.0):
        super().start()
        deadline = time.monotonic() + timeout
        pending = [False, True]  # UDP, then TCP Binding
        while pending:
            if self.proc.poll() is not None:
                raise RuntimeError("turnserver exited with %d\n%s"
                                   % (self.proc.returncode, self.tail()))
            if K.binding_ok(self.ip, self.port, tcp=pending[0]):
                pending.pop(0)
            elif time.monotonic() > deadline:
                raise TimeoutError("turnserver did not answer a Binding on %s:%d\n%s"
                                   % (self.ip, self.port, self.tail()))
            else:
                time.sleep(0.05)
        return self


# --- ports -----------------------------------------------------------------------


def udp_echo_ok(ip, port, timeout=0.2):
    s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((ip, 0))
        s.settimeout(timeout)
        probe = os.urandom(8)
        s.sendto(probe, (ip, port))
        data, src = s.recvfrom(2048)
        return data == probe and src[1] == port
    except OSError:  # includes timeout and ICMP port unreachable
        return False
    finally:
        s.close()


def pick_udp_pair(ip, attempts=50):
    """A port P with UDP P and P+1 free on ``ip`` (for turnutils_peer)."""
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    for _ in range(attempts):
        a = socket.socket(fam, socket.SOCK_DGRAM)
        b = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            a.bind((ip, 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            try:
                b.bind((ip, port + 1))
            except OSError:
                continue
            return port
        finally:
            a.close()
            b.close()
    raise RuntimeError("no free UDP port pair on %s" % ip)


def relay_range(size=200, lo=20000, hi=31999):
    """A random block of relay ports below the ephemeral range (32768-60999),
    so relayed addresses never collide with kernel-picked ports and parallel
    test runs rarely share a block."""
    start = lo + random.randrange((hi - lo + 1) // size) * size
    return start, start + size - 1


@atexit.register
def _kill_leftovers():
    for pid, p in list(_live.items()):
        if p.poll() is None:
            try:
                os.kill(pid, signal.SIGKILL)
                p.wait(timeout=STOP_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                pass
