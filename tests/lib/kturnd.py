# SPDX-License-Identifier: MIT
"""Start, probe and stop a real kturnd for integration tests.

One ``Kturnd`` is one process: we keep its pid and only ever signal that pid
(never by name). ``stop()`` sends SIGTERM, waits (bounded) and returns the exit
status; the pytest fixture asserts it is 0 and shows the log tail otherwise.
"""

import atexit
import itertools
import os
import signal
import socket
import subprocess
import time

import netns
import sockio
import stunpy as S

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

_live = {}  # pid -> Kturnd, for the atexit safety net


def binary():
    """Path of kturnd: $KTURND, else <repo>/$KTURN_BUILD/bin/kturnd (tests/run.sh
    sets KTURN_BUILD, e.g. build-san), else <repo>/build/bin/kturnd."""
    if os.environ.get("KTURND"):
        return os.environ["KTURND"]
    build = os.environ.get("KTURN_BUILD") or "build"
    return os.path.join(REPO, build, "bin", "kturnd")


def pick_port(ips, ns=None, attempts=50):
    """A port free for both UDP and TCP on every address in ``ips``.

    Bind UDP to port 0 on the first address, then check the same port binds
    for UDP and TCP everywhere. (The sockets are closed before kturnd binds;
    the window is small and kernel-picked ports cycle through a wide range.)
    """
    last = None
    for _ in range(attempts):
        held = []
        try:
            s = netns.socket_in(ns, sockio.family_of(ips[0]), socket.SOCK_DGRAM)
            held.append(s)
            s.bind((ips[0], 0))
            port = s.getsockname()[1]
            ok = True
            for ip in ips:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    if ip == ips[0] and kind == socket.SOCK_DGRAM:
                        continue
                    t = netns.socket_in(ns, sockio.family_of(ip), kind)
                    held.append(t)
                    try:
                        t.bind((ip, port))
                    except OSError as e:
                        last = e
                        ok = False
                        break
                if not ok:
                    break
            if ok:
                return port
        finally:
            for h in held:
                h.close()
    raise RuntimeError("no port free for UDP+TCP on %s after %d tries: %s" % (ips, attempts, last))


def write_config(path, options):
    """Write ``name=value`` lines (value None -> bare ``name``)."""
    with open(path, "w") as f:
        for name, value in options:
            f.write("%s\n" % name if value is None else "%s=%s\n" % (name, value))
    return path


def binding_ok(ip, port, ns=None, tcp=False, timeout=0.3):
    """One Binding round trip; True iff a success response with our tid came back."""
    tid = S.new_tid()
    req = S.binding_request(tid)
    try:
        if tcp:
            s = sockio.tcp_connect((ip, port), ns=ns, timeout=timeout)
            try:
                data = sockio.tcp_exchange(s, req, timeout=timeout)
            finally:
                s.close()
        else:
            s = sockio.udp_socket(ip, ns=ns)
            try:
                data = sockio.udp_exchange(s, (ip, port), req, timeout=timeout)
            finally:
                s.close()
        S.decode(data, tid=tid, method=S.BINDING, cls=S.SUCCESS)
        return True
    except (OSError, TimeoutError, ConnectionError, S.StunError):
        return False


_instance = itertools.count()


class Kturnd:
    """One kturnd process.

    ips: listening addresses (each passed as --listening-ip). port: None picks
    one. ns: run inside that network namespace via ``ip netns exec``.
    config: list of (name, value) written to a file passed with -c.
    cli: whether listening ip/port go on the command line (False: only in the
    config file). extra: more argv.
    """

    def __init__(self, workdir, ips=("127.0.0.1",), port=None, ns=None, config=None,
                 cli=True, extra=(), verbose=True):
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.ips = list(ips)
        self.ns = ns
        self.port = port if port is not None else pick_port(self.ips, ns=ns)
        self.log_path = os.path.join(self.workdir, "kturnd.log")
        self.pidfile = os.path.join(self.workdir, "kturnd.pid")
        self.stdout_path = os.path.join(self.workdir, "kturnd.stdout")
        self.stderr_path = os.path.join(self.workdir, "kturnd.stderr")
        self.config_path = None
        self.argv = [binary()]
        conf = list(config or [])
        if cli:
            for ip in self.ips:
                self.argv += ["--listening-ip", ip]
            self.argv += ["--listening-port", str(self.port)]
        else:
            conf = [("listening-ip", ip) for ip in self.ips] + [("listening-port", self.port)] + conf
        self.argv += ["--log-file", self.log_path, "--pidfile", self.pidfile]
        # BPF pins of our own: never touch (or trip over) another kturnd's maps
        self.pin_dir = "/sys/fs/bpf/kturn-test-%d-%d" % (os.getpid(), next(_instance))
        self.argv += ["--kturn-bpf-pin-dir", self.pin_dir]
        # our own control socket (kturnctl); /tmp keeps it under the 108-byte sun_path limit
        self.ctl_socket = "/tmp/kturn-test-%d-%d.sock" % (os.getpid(), next(_instance))
        self.argv += ["--kturn-control-socket", self.ctl_socket]
        if verbose:
            self.argv.append("--verbose")
        self.argv += list(extra)
        if conf or not cli:
            self.config_path = write_config(os.path.join(self.workdir, "kturnd.conf"), conf)
            self.argv += ["-c", self.config_path]
        self.proc = None
        self.returncode = None

    # --- lifecycle -------------------------------------------------------------

    def start(self, wait=True):
        if not os.access(self.argv[0], os.X_OK):
            raise FileNotFoundError("kturnd binary not found or not executable: %s "
                                    "(build it with make, or set KTURND)" % self.argv[0])
        argv = (["ip", "netns", "exec", self.ns] if self.ns else []) + self.argv
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         cwd=self.workdir)
        _live[self.proc.pid] = self
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def endpoints(self):
        return [(ip, self.port) for ip in self.ips]

    def wait_ready(self, timeout=READY_TIMEOUT, tcp=True):
        """Wait (bounded) until every listening address answers a UDP (and TCP) Binding."""
        deadline = time.monotonic() + timeout
        pending = [(ip, False) for ip in self.ips] + ([(ip, True) for ip in self.ips] if tcp else [])
        while pending:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                _live.pop(self.proc.pid, None)
                raise RuntimeError("kturnd exited with %d before answering a Binding\n%s"
                                   % (rc, self.tail()))
            ip, is_tcp = pending[0]
            if binding_ok(ip, self.port, ns=self.ns, tcp=is_tcp):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise TimeoutError("kturnd did not answer a %s Binding on %s:%d within %.0fs\n%s"
                                   % ("TCP" if is_tcp else "UDP", ip, self.port, timeout, self.tail()))
            time.sleep(0.05)
        self._check_pid_is_kturnd()

    def _check_pid_is_kturnd(self):
        # With "ip netns exec" the pid must be kturnd itself (ip execs, no fork),
        # or our SIGTERM would hit the wrong process.
        if not self.ns:
            return
        try:
            exe = os.readlink("/proc/%d/exe" % self.proc.pid)
        except OSError:
            return
        if os.path.basename(exe) == "ip":
            raise RuntimeError("pid %d is still ip(8), not kturnd: ip netns exec forked"
                               % self.proc.pid)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        """Send ``sig`` to exactly our pid (if it is still ours)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout=STOP_TIMEOUT):
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        _live.pop(self.proc.pid, None)
        return self.returncode

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM our pid, wait, return the exit status (-9 if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.kill()
                return -signal.SIGKILL
        else:
            self.wait(0)
        return self.returncode

    def remove_pin_dir(self):
        """The pin directory, once kturnd (or a successor) left it empty."""
        try:
            os.rmdir(self.pin_dir)
        except OSError:
            pass
        if not self.running():  # kturnd unlinks it; not after SIGKILL
            try:
                os.unlink(self.ctl_socket)
            except OSError:
                pass

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            _live.pop(self.proc.pid, None)

    # --- output ----------------------------------------------------------------

    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log(self):
        return self._read(self.log_path)

    def stderr(self):
        return self._read(self.stderr_path)

    def stdout(self):
        return self._read(self.stdout_path)

    def all_output(self):
        return self.log() + self.stdout() + self.stderr()

    def pidfile_pid(self):
        text = self._read(self.pidfile).strip()
        return int(text) if text else None

    def tail(self, n=40):
        parts = ["--- kturnd argv: %s%s" % ("ip netns exec %s " % self.ns if self.ns else "",
                                            " ".join(self.argv))]
        if self.config_path:
            parts.append("--- %s:\n%s" % (self.config_path, self._read(self.config_path).rstrip()))
        for name, text in (("log", self.log()), ("stdout", self.stdout()), ("stderr", self.stderr())):
            lines = text.splitlines()
            if lines:
                parts.append("--- kturnd %s (last %d of %d lines):\n%s"
                             % (name, min(n, len(lines)), len(lines), "\n".join(lines[-n:])))
        return "\n".join(parts)


def run_once(args, workdir, timeout=5.0):
    """Run kturnd with ``args`` expecting it to exit by itself (bounded).

    Returns CompletedProcess; a kturnd still running at the deadline is killed
    (by its own pid) and reported as returncode None.
    """
    argv = [binary()] + list(args)
    if not os.access(argv[0], os.X_OK):
        raise FileNotFoundError("kturnd binary not found: %s" % argv[0])
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=str(workdir))
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=STOP_TIMEOUT)
        rc = None
    return subprocess.CompletedProcess(argv, rc, out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


@atexit.register
def _kill_leftovers():
    # Safety net for aborted runs: only processes this module started, by pid.
    for k in list(_live.values()):
        k.kill()
