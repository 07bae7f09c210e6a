#!/usr/bin/python3
"""kturn benchmark suite (issue 5): one run, four relays, two topologies.

The same kturn-bench workloads run against
  direct   kturn-bench --direct (no relay: the ceiling)
  sockmap  kturnd --kturn-data-plane sockmap
  splice   kturnd --kturn-data-plane splice
  coturn   Debian's turnserver with an equivalent configuration
on two topologies
  loopback 127.0.0.1 for client, server, relay and peer
  netns    the relay in its own network namespace, joined by two veth pairs to
           the bench namespace (client side and peer side); in --direct the
           bench namespace's traffic is routed through the server namespace
           (policy routing), so every byte crosses both veths as through a
           relay.
Runs are interleaved (A B C D A B C D ...) and the median of BENCH_RUNS is
reported. The script never asserts: a failed cell is reported with its reason
and the run goes on. Output: BENCHMARKS.md, bench/results/results.json (raw),
bench/results/bench.png (chart).

Environment:
  KTURN_BIN        directory with kturnd, kturnctl, kturn-bench (build/bin)
  BENCH_QUICK=1    ~1 minute smoke run (1 run, 1 s cells, 200 pairs)
  BENCH_FULL=1     10,000 pairs, longer cells, 5 runs
  BENCH_RUNS       runs per cell (default 3)
  BENCH_TOPOLOGIES comma list (loopback,netns)
  BENCH_SERVERS    comma list (direct,sockmap,splice,coturn)
  BENCH_WORKLOADS  comma list of workload names (see WORKLOADS)
  BENCH_OUT        markdown output (BENCHMARKS.md in the tree)
  BENCH_RESULTS    results directory (bench/results)
  BENCH_PORT_BASE  first port used on loopback (29000; below the ephemeral range)
  BENCH_KTURN_COMMIT the commit KTURN_BIN was built from, when not this tree's
  BENCH_NOTE       a line for the machine table (e.g. where the binaries came from)
  BENCH_KEEP_LOGS=1 keep the relays' logs (/tmp/kturn-bench-suite-PID)
bench/run.py --report rebuilds BENCHMARKS.md and the chart from results.json.
"""

import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = os.environ
QUICK = ENV.get("BENCH_QUICK") == "1"
FULL = ENV.get("BENCH_FULL") == "1"
BIN = os.path.abspath(os.path.join(ROOT, ENV.get("KTURN_BIN", "build/bin")))
KTURND = os.path.join(BIN, "kturnd")
KTURNCTL = os.path.join(BIN, "kturnctl")
KBENCH = os.path.join(BIN, "kturn-bench")
TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
RUNS = int(ENV.get("BENCH_RUNS", "1" if QUICK else ("5" if FULL else "3")))
OUT = os.path.abspath(ENV.get("BENCH_OUT", os.path.join(ROOT, "BENCHMARKS.md")))
RESULTS = os.path.abspath(ENV.get("BENCH_RESULTS", os.path.join(ROOT, "bench", "results")))
PORT_BASE = int(ENV.get("BENCH_PORT_BASE", "29000"))
USER, PASSWORD, REALM = "bench", "bench-password", "kturn.bench"
TAG = "kbs%d" % (os.getpid() % 100000)
WORK = "/tmp/kturn-bench-suite-%d" % os.getpid()
_HELP = {}


def help_has(binary, word):
    """Whether `binary --help` mentions word (options differ between versions)."""
    if binary not in _HELP:
        try:
            r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
            _HELP[binary] = r.stdout + r.stderr
        except OSError:
            _HELP[binary] = ""
    return word in _HELP[binary]

# Cell sizes: default < 10 min in all, QUICK ~1 min.
SEC_BULK = "1" if QUICK else ("5" if FULL else "3")
SEC = "1" if QUICK else ("5" if FULL else "2")
PAIRS_K = 200 if QUICK else (10000 if FULL else 2000)
HOLD = "1" if QUICK else "2"

SERVERS = [s for s in ENV.get("BENCH_SERVERS", "direct,sockmap,splice,coturn").split(",") if s]
TOPOLOGIES = [t for t in ENV.get("BENCH_TOPOLOGIES", "loopback,netns").split(",") if t]


class Workload:
    def __init__(self, name, title, mode, args, direct=True, timeout=60):
        self.name, self.title, self.mode, self.args = name, title, mode, args
        self.direct, self.timeout = direct, timeout


WORKLOADS_ALL = [
    Workload("bulk1", "bulk, 1 pair, both directions", "bulk",
             ["-P", "1", "--dir", "both", "-d", SEC_BULK]),
    Workload("bulk8", "bulk, 8 pairs, both directions", "bulk",
             ["-P", "8", "--dir", "both", "-d", SEC_BULK]),
    Workload("pingpong", "TCP ping-pong, 64 bytes", "pingpong", ["-l", "64", "-d", SEC]),
    Workload("conns", "connections: %d pairs set up and held" % PAIRS_K, "connections",
             ["-k", str(PAIRS_K), "--hold", HOLD], timeout=180 if FULL else 90),
    Workload("allocs", "authenticated Allocate rate (-c 4)", "allocs",
             ["-c", "4", "-d", SEC], direct=False),
    Workload("udp", "UDP ChannelData 64 bytes, unpaced", "udp", ["-l", "64", "-d", SEC]),
]
_wl = ENV.get("BENCH_WORKLOADS")
WORKLOADS = [w for w in WORKLOADS_ALL if not _wl or w.name in _wl.split(",")]

SERVER_TITLE = {"direct": "direct", "sockmap": "kturnd sockmap", "splice": "kturnd splice",
                "coturn": "coturn"}


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def sh(*argv, check=True, timeout=20):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip() or r.returncode))
    return r


# ---------------------------------------------------------------- /proc readers
def proc_cpu(pid):
    """user+sys seconds of a process (all threads)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_wakeups(pid):
    """voluntary context switches of every thread: how often the process slept
    and was woken (an idle relay of spliced pairs should hardly ever be)."""
    n = 0
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        n += int(line.split()[1])
        except OSError:
            pass
    return n


def kernel_workers():
    """{pid: cpu seconds} of kworker/* and ksoftirqd/* threads (system-wide)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        if comm.startswith("kworker") or comm.startswith("ksoftirqd"):
            fields = s[s.rindex(")") + 2:].split()
            out[int(d)] = int(fields[11]) + int(fields[12])
    return out


def kernel_workers_delta(before, after):
    t = sum(v - before.get(p, 0) for p, v in after.items())
    return t / os.sysconf("SC_CLK_TCK")


def meminfo_kib(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def machine_info():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = sh("git", "-C", ROOT, "rev-parse", "--short=12", "HEAD", check=False).stdout.strip()
    dirty = sh("git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no",
               check=False).stdout.strip()
    coturn = sh("dpkg-query", "-W", "-f=${Version}", "coturn", check=False).stdout.strip()
    kb = sh(KBENCH, "--version", check=False)
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": ENV.get("BENCH_KTURN_COMMIT") or commit + ("+dirty" if dirty else ""),
            "suite_commit": commit + ("+dirty" if dirty else ""), "coturn": coturn or "?",
            "kturn_bench": (kb.stdout or kb.stderr).strip(), "loadavg": open("/proc/loadavg").read().split()[:3]}


# ---------------------------------------------------------------- topologies
class Loopback:
    name = "loopback"

    def __init__(self):
        self.server_ip = self.relay_ip = self.peer_ip = "127.0.0.1"
        self.server_ns = self.bench_ns = None
        self.description = "client, relay and peer on 127.0.0.1"

    def bench_prefix(self):
        return []

    def server_prefix(self):
        return []

    def close(self):
        pass


class Netns:
    """bench ns (client + peer addresses) =veth= server ns =veth= bench ns."""
    name = "netns"

    def __init__(self):
        self.bench_ns, self.server_ns = TAG + "b", TAG + "s"
        self.server_ip, self.client_ip = "10.251.1.1", "10.251.1.2"
        self.relay_ip, self.peer_ip = "10.251.2.1", "10.251.2.2"
        self.description = ("bench namespace (client %s, peer %s) joined to the server namespace "
                            "(listening %s, relay %s) by two veth pairs; --direct is routed "
                            "through the server namespace" % (self.client_ip, self.peer_ip,
                                                               self.server_ip, self.relay_ip))
        self.made = []
        try:
            self._setup()
        except Exception:
            self.close()
            raise

    def _setup(self):
        b, s = self.bench_ns, self.server_ns
        for ns in (b, s):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        ifs = []
        for i in (1, 2):
            ib, is_ = "%sc%d" % (TAG, i), "%ss%d" % (TAG, i)
            sh("ip", "link", "add", ib, "netns", b, "type", "veth", "peer", "name", is_, "netns", s)
            ifs.append((ib, is_))
        (b1, s1), (b2, s2) = ifs
        for ns, dev, addr in ((b, b1, self.client_ip), (s, s1, self.server_ip),
                              (b, b2, self.peer_ip), (s, s2, self.relay_ip)):
            sh("ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "netns", "exec", s, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # --direct: bench-ns traffic between the client and the peer address leaves by
        # the veth towards the server ns and comes back by the other one (iif lo = sent
        # by a local socket); the server ns routes it like a router.
        sh("ip", "-n", b, "rule", "add", "pref", "100", "to", self.peer_ip, "iif", "lo",
           "lookup", "100")
        sh("ip", "-n", b, "rule", "add", "pref", "101", "to", self.client_ip, "iif", "lo",
           "lookup", "101")
        sh("ip", "-n", b, "route", "add", "default", "via", self.server_ip, "dev", b1,
           "src", self.client_ip, "table", "100")
        sh("ip", "-n", b, "route", "add", "default", "via", self.relay_ip, "dev", b2,
           "src", self.peer_ip, "table", "101")
        sh("ip", "-n", b, "rule", "add", "pref", "1000", "lookup", "local")
        sh("ip", "-n", b, "rule", "del", "pref", "0", "lookup", "local")
        # the load generator opens thousands of short TCP connections (allocs) from one
        # address: without TIME_WAIT reuse (the default, 2, reuses only on loopback) the
        # bench ns runs out of ephemeral ports and every later connect() is slow
        sh("ip", "netns", "exec", b, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1")
        for key in ("all", b1, b2):
            sh("ip", "netns", "exec", b, "sysctl", "-qw", "net.ipv4.conf.%s.rp_filter=0" % key)
            sh("ip", "netns", "exec", b, "sysctl", "-qw", "net.ipv4.conf.%s.accept_local=1" % key)

    def bench_prefix(self):
        return ["ip", "netns", "exec", self.bench_ns]

    def server_prefix(self):
        return ["ip", "netns", "exec", self.server_ns]

    def close(self):
        for ns in reversed(self.made):
            sh("ip", "netns", "del", ns, check=False)
        self.made = []


# ---------------------------------------------------------------- servers
class Server:
    """A relay process started by us (kturnd or turnserver); None for direct."""

    def __init__(self, kind, topo, port, relay_range):
        self.kind, self.topo, self.port = kind, topo, port
        self.proc = None
        self.pid = None
        self.dir = os.path.join(WORK, "%s-%s" % (topo.name, kind))
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(self.dir, "server.log")
        self.pin_dir = None
        lo, hi = relay_range
        if kind in ("sockmap", "splice"):
            self.pin_dir = "/sys/fs/bpf/kturn-bench-%d-%s-%s" % (os.getpid(), topo.name, kind)
            self.argv = [KTURND, "--listening-ip", topo.server_ip, "--listening-port", str(port),
                         "--relay-ip", topo.relay_ip, "--min-port", str(lo), "--max-port", str(hi),
                         "--realm", REALM, "--lt-cred-mech", "--user", "%s:%s" % (USER, PASSWORD),
                         "--allow-loopback-peers", "--no-tls", "--no-cli",
                         "--kturn-data-plane", kind, "--kturn-bpf-pin-dir", self.pin_dir,
                         "--log-file", self.log, "--verbose"]
            if help_has(KTURND, "--kturn-control-socket"):
                # never the default /run/kturn/kturnd.sock: another kturnd may own it
                self.argv += ["--kturn-control-socket", os.path.join(self.dir, "control.sock")]
        elif kind == "coturn":
            self.argv = [TURNSERVER, "-n", "--listening-ip", topo.server_ip,
                         "--listening-port", str(port), "--relay-ip", topo.relay_ip,
                         "--min-port", str(lo), "--max-port", str(hi),
                         "--realm", REALM, "--lt-cred-mech", "--user", "%s:%s" % (USER, PASSWORD),
                         "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls",
                         "--log-file", self.log, "--simple-log", "--no-stdout-log",
                         "--pidfile", os.path.join(self.dir, "coturn.pid"),
                         "--db", os.path.join(self.dir, "turndb")]
        else:
            raise ValueError(kind)
        self.error = None

    def command(self):
        return " ".join(self.topo.server_prefix() + self.argv)

    def start(self):
        argv = self.topo.server_prefix() + self.argv
        self.out = open(os.path.join(self.dir, "stdout.log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid  # "ip netns exec" execs: the pid is the server's
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            r = subprocess.run(self.topo.bench_prefix() + [
                KBENCH, "binding", "-s", self.topo.server_ip, "-p", str(self.port), "-T", "tcp",
                "-n", "1", "--timeout", "300", "-q", "--json"], capture_output=True, text=True)
            if r.returncode == 0:
                return True
            time.sleep(0.2)
        self.error = "did not start: " + self.tail()
        self.stop()
        return False

    def tail(self, n=3):
        lines = []
        for p in (self.log, os.path.join(self.dir, "stdout.log")):
            try:
                with open(p, errors="replace") as f:
                    lines += [l.strip() for l in f.readlines()[-n:]]
            except OSError:
                pass
        return " | ".join(l for l in lines if l)[-300:] or "no output"

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_since(self, off):
        try:
            with open(self.log, "rb") as f:
                f.seek(off)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def bpf_pairs(self):
        """kturnctl pairs (sockmap plane), read in kturnd's mount namespace."""
        argv = ["nsenter", "-t", str(self.pid), "-m", KTURNCTL, "--pin-dir", self.pin_dir,
                "--json", "pairs"]
        if help_has(KTURNCTL, "--socket"):
            # a kturnctl that asks kturnd first answers per pair, without the verdict's
            # counters; with no kturnd at that path it reads the pinned maps per socket
            argv[5:5] = ["--socket", os.path.join(self.dir, "no-such-socket")]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=5)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout or "[]")
        except ValueError:
            return None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.out.close()
        self.proc = None


class Sampler(threading.Thread):
    """While a cell runs: peak RSS of the server, and (sockmap) the last BPF
    counters of every spliced socket (entries vanish when a pair closes)."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server = server
        self.stop_ev = threading.Event()
        self.rss_peak = None
        self.slab_peak = None
        self.bpf = {}
        self.bpf_ok = None

    def run(self):
        s = self.server
        n = 0
        while not self.stop_ev.is_set():
            rss = proc_rss_kib(s.pid)
            if rss is not None:
                self.rss_peak = max(self.rss_peak or 0, rss)
            slab = meminfo_kib("Slab")
            if slab is not None:
                self.slab_peak = max(self.slab_peak or 0, slab)
            if s.kind == "sockmap" and n % 2 == 0:
                pairs = s.bpf_pairs()
                if pairs is None:
                    self.bpf_ok = self.bpf_ok or False
                else:
                    self.bpf_ok = True
                    for p in pairs:
                        self.bpf[p["cookie"]] = p
            n += 1
            self.stop_ev.wait(0.2)

    def finish(self):
        self.stop_ev.set()
        self.join(timeout=10)


# ---------------------------------------------------------------- cells
def bench_argv(topo, server, wl):
    argv = topo.bench_prefix() + [KBENCH, wl.mode]
    if server is None:
        argv.append("--direct")
    else:
        argv += ["-s", topo.server_ip, "-p", str(server.port), "-u", USER, "-w", PASSWORD]
    if topo.peer_ip != "127.0.0.1" and wl.mode != "allocs":
        argv += ["--peer-ip", topo.peer_ip]
    return argv + wl.args + ["--json", "-q"]


def failure_reason(rc, j, stderr):
    if j:
        parts = []
        for k in ("content_errors", "failed_pairs", "setup_failures", "echo_failures", "failed",
                  "lost"):
            if j.get(k):
                parts.append("%s=%s" % (k, j[k]))
        for pp in j.get("per_pair", []):
            for d in ("up", "down"):
                e = pp.get(d) or {}
                if e.get("content_errors"):
                    parts.append("pair %d %s: first bad byte at %s, shift %s" % (
                        pp["pair"], d, e.get("first_error_offset"), e.get("first_error_shift")))
                elif e.get("error"):
                    parts.append("pair %d %s: %s" % (pp["pair"], d, e["error"]))
        if j.get("first_error"):
            parts.append(str(j["first_error"]))
        if parts:
            return "; ".join(parts[:4])
    lines = [l for l in (stderr or "").strip().splitlines() if l.strip()]
    return (lines[-1] if lines else "exit status %s" % rc)[:200]


def run_cell(topo, kind, server, wl):
    res = {"topology": topo.name, "server": kind, "workload": wl.name}
    if kind == "direct" and not wl.direct:
        res.update(ok=False, skipped=True, reason="no --direct variant")
        return res
    if server is not None and server.proc is None:
        res.update(ok=False, reason="server " + (server.error or "not running"))
        return res
    argv = bench_argv(topo, server, wl)
    res["command"] = " ".join(argv)
    pid = server.pid if server else None
    cpu0 = proc_cpu(pid) if pid else None
    rss0 = proc_rss_kib(pid) if pid else None
    wk0 = proc_wakeups(pid) if pid else None
    slab0 = meminfo_kib("Slab")
    kw0 = kernel_workers()
    logoff = server.log_size() if server else 0
    sampler = Sampler(server) if server else None
    if sampler:
        sampler.start()
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=wl.timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        err = (err or "") + "\ntimeout after %d s" % wl.timeout
    wall = time.monotonic() - t0
    kw1 = kernel_workers()
    cpu1 = proc_cpu(pid) if pid else None
    wk1 = proc_wakeups(pid) if pid else None
    slab1 = meminfo_kib("Slab")
    if sampler:
        sampler.finish()
    res["wall_s"] = round(wall, 3)
    res["rc"] = p.returncode
    j = None
    try:
        j = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
    except ValueError:
        j = None
    res["kturn_bench"] = j
    res["stderr"] = (err or "").strip()[-500:]
    res["ok"] = p.returncode == 0 and j is not None
    if not res["ok"]:
        res["reason"] = failure_reason(p.returncode, j, err)
    res["kernel_workers_cpu_s"] = round(kernel_workers_delta(kw0, kw1), 3)
    res["slab_delta_kib"] = slab1 - slab0 if slab0 is not None and slab1 is not None else None
    if server:
        if cpu0 is not None and cpu1 is not None:
            res["server_cpu_s"] = round(cpu1 - cpu0, 3)
        res["server_rss_before_kib"] = rss0
        res["server_rss_peak_kib"] = sampler.rss_peak
        res["slab_before_kib"] = slab0
        res["slab_peak_kib"] = sampler.slab_peak
        if server.proc is None or server.proc.poll() is not None:
            res["ok"] = False
            res["reason"] = "server exited: " + server.tail()
        if kind in ("sockmap", "splice"):
            planes = {}
            for m in re.finditer(r" turn bind .*plane=(\w+)", server.log_since(logoff)):
                planes[m.group(1)] = planes.get(m.group(1), 0) + 1
            res["planes"] = planes
        if kind == "sockmap":
            res["bpf_sampled"] = sampler.bpf_ok
            if sampler.bpf:
                v = list(sampler.bpf.values())
                res["bpf"] = {k: sum(int(x.get(k, 0)) for x in v)
                              for k in ("fwd_bytes", "pass_bytes", "pauses", "redirect_fail")}
                res["bpf"]["sockets"] = len(v)
    if j:
        secs = j.get("seconds") or wall
        res["bench_seconds"] = secs
        if "server_cpu_s" in res:
            # CPU over the whole kturn-bench run (setup included), per second of it
            res["server_cpu_pct"] = round(100.0 * res["server_cpu_s"] / wall, 2)
        if server and wk0 is not None and wk1 is not None:
            res["server_wakeups_per_s"] = round((wk1 - wk0) / wall, 1)
        res["kernel_workers_pct"] = round(100.0 * res["kernel_workers_cpu_s"] / wall, 2)
    return res


# ---------------------------------------------------------------- metrics
def metric_defs():
    """(workload, key, title, unit, extractor, higher_is_better)"""
    def jget(k):
        return lambda r: (r.get("kturn_bench") or {}).get(k)

    def rss_per_k(r):
        j = r.get("kturn_bench") or {}
        est = j.get("established")
        if not est or r.get("server_rss_peak_kib") is None or r.get("server_rss_before_kib") is None:
            return None
        return (r["server_rss_peak_kib"] - r["server_rss_before_kib"]) * 1000.0 / est

    def slab_per_pair(r):
        j = r.get("kturn_bench") or {}
        est = j.get("established")
        if not est or r.get("slab_peak_kib") is None or r.get("slab_before_kib") is None:
            return None
        return (r["slab_peak_kib"] - r["slab_before_kib"]) / est

    return [
        ("bulk1", "gbps", "bulk 1 pair both dirs", "Gb/s", jget("gbps"), True),
        ("bulk1", "cpu", "  server process CPU", "% of a core", lambda r: r.get("server_cpu_pct"), False),
        ("bulk1", "kw", "  kworker+ksoftirqd CPU (system)", "% of a core", lambda r: r.get("kernel_workers_pct"), False),
        ("bulk1", "wake", "  server wakeups (voluntary context switches)", "1/s",
         lambda r: r.get("server_wakeups_per_s"), False),
        ("bulk8", "gbps", "bulk 8 pairs both dirs", "Gb/s", jget("gbps"), True),
        ("bulk8", "cpu", "  server process CPU", "% of a core", lambda r: r.get("server_cpu_pct"), False),
        ("bulk8", "kw", "  kworker+ksoftirqd CPU (system)", "% of a core", lambda r: r.get("kernel_workers_pct"), False),
        ("pingpong", "p50_us", "ping-pong 64 B p50", "µs", jget("p50_us"), False),
        ("pingpong", "p90_us", "ping-pong 64 B p90", "µs", jget("p90_us"), False),
        ("pingpong", "p99_us", "ping-pong 64 B p99", "µs", jget("p99_us"), False),
        ("pingpong", "rate", "ping-pong round trips", "1/s", jget("rate_per_s"), True),
        ("pingpong", "cpu", "  server process CPU", "% of a core", lambda r: r.get("server_cpu_pct"), False),
        ("pingpong", "wake", "  server wakeups (voluntary context switches)", "1/s",
         lambda r: r.get("server_wakeups_per_s"), False),
        ("conns", "rate", "connections setup rate", "pairs/s", jget("setup_rate_per_s"), True),
        ("conns", "est", "  pairs established", "pairs", jget("established"), True),
        ("conns", "rss", "  server RSS growth per 1,000 pairs", "KiB", rss_per_k, False),
        ("conns", "rss1", "  same, first run only (cold heap)", "KiB", rss_per_k, False),
        ("conns", "slab", "  kernel Slab growth per pair (system-wide, both ends)", "KiB",
         slab_per_pair, False),
        ("allocs", "rate", "authenticated Allocate rate", "allocs/s", jget("rate_per_s"), True),
        ("allocs", "p50_us", "  Allocate p50", "µs", jget("p50_us"), False),
        ("udp", "pps", "UDP 64 B received", "packets/s", jget("received_pps"), True),
        ("udp", "loss", "  UDP loss (unpaced sender)", "%", jget("loss_pct"), False),
    ]


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def summarize(results):
    """{(topo, server, workload): {ok_runs, n, reasons, metrics{key: median}}}"""
    defs = metric_defs()
    out = {}
    for r in results:
        k = (r["topology"], r["server"], r["workload"])
        out.setdefault(k, {"runs": [], "reasons": [], "skipped": r.get("skipped", False)})
        out[k]["runs"].append(r)
        if not r.get("ok") and not r.get("skipped"):
            out[k]["reasons"].append(r.get("reason", "?"))
    for k, c in out.items():
        good = [r for r in c["runs"] if r.get("ok")]
        c["ok_runs"] = len(good)
        c["n"] = len(c["runs"])
        c["metrics"] = {}
        c["metrics_all"] = {}
        for wl, key, _t, _u, fn, _h in defs:
            if wl == k[2]:
                c["metrics_all"][key] = median([fn(r) for r in c["runs"] if r.get("kturn_bench")])
                runs = [r for r in good if r.get("run") == 0] if key == "rss1" else good
                c["metrics"][key] = median([fn(r) for r in runs])
        # diagnostics: medians over every run (failed ones too: they are the interesting ones)
        bpf = [r["bpf"] for r in c["runs"] if r.get("bpf")]
        if bpf:
            c["bpf"] = {f: median([b[f] for b in bpf]) for f in bpf[0]}
            shares = [b["pass_bytes"] / (b["fwd_bytes"] + b["pass_bytes"])
                      for b in bpf if b["fwd_bytes"] + b["pass_bytes"] > 0]
            c["bpf"]["userspace_share"] = median(shares)
        planes = {}
        for r in c["runs"]:
            for p, n in (r.get("planes") or {}).items():
                planes[p] = planes.get(p, 0) + n
        c["planes"] = planes
        c["commands"] = sorted({r["command"] for r in c["runs"] if r.get("command")})
    return out


def fmt(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, float) or isinstance(v, int):
        a = abs(v)
        if a >= 100000:
            s = "{:,.0f}".format(v)
        elif a >= 100:
            s = "%.0f" % v
        elif a >= 10:
            s = "%.1f" % v
        else:
            s = "%.2f" % v
        return s
    return str(v)


def cell_text(c, key, first=True):
    """first: the workload's main row (failures are spelled out there only)."""
    if c is None:
        return "not run"
    if c["skipped"]:
        return "n/a"
    v = c["metrics"].get(key)
    if c["ok_runs"] == 0:
        if not first:
            return "–"
        va = c["metrics_all"].get(key)
        return "failed (%s)%s" % (short_reason(c["reasons"]),
                                  " [%s measured anyway]" % fmt(va) if va is not None else "")
    s = fmt(v)
    if c["ok_runs"] < c["n"] and first:
        s += " (%d/%d failed: %s)" % (c["n"] - c["ok_runs"], c["n"], short_reason(c["reasons"]))
    return s


def short_reason(reasons):
    if not reasons:
        return "?"
    r = reasons[0].replace("|", "/")
    return r[:140] + ("…" if len(r) > 140 else "")


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(x):
    return "–" if x is None else ("%.2f×" % x)


# ---------------------------------------------------------------- report
def targets(summary, topo):
    def m(server, wl, key):
        c = summary.get((topo, server, wl))
        return c["metrics"].get(key) if c and c["ok_runs"] else None

    def why(cells):
        """Why a target could not be computed: the failed cells' reasons."""
        bad = []
        for server, wl in cells:
            c = summary.get((topo, server, wl))
            if c and not c["skipped"] and c["ok_runs"] == 0:
                bad.append("%s %s failed: %s" % (server, wl, short_reason(c["reasons"])))
            elif c is None:
                bad.append("%s %s not run" % (server, wl))
        return "; ".join(bad)

    sm1, sp1, co1, di1 = (m(s, "bulk1", "gbps") for s in ("sockmap", "splice", "coturn", "direct"))
    out = []

    def row(name, goal_txt, value, threshold, ge, unit="", cells=()):
        if value is None:
            w = why(cells)
            out.append("| %s | %s | – | %s | |" % (name, goal_txt,
                                                   "**failed**: " + w if w else "not measured"))
            return
        met = value >= threshold if ge else value <= threshold
        by = value / threshold if threshold else None
        if ge:
            note = "%.0f %% of the target" % (100 * by) if by is not None else ""
        else:
            note = "%.0f %% of the limit" % (100 * by) if by is not None else ""
        out.append("| %s | %s | %s%s | %s | %s |" % (name, goal_txt, fmt(value), unit,
                                                     "**met**" if met else "**missed**", note))

    b1 = lambda o: [("sockmap", "bulk1"), (o, "bulk1")]
    row("bulk 1 pair: sockmap / splice", "≥ 1.0×", ratio(sm1, sp1), 1.0, True, "×", b1("splice"))
    row("bulk 1 pair: sockmap / coturn", "≥ 8×", ratio(sm1, co1), 8.0, True, "×", b1("coturn"))
    row("bulk 1 pair: sockmap / direct", "≥ 0.75×", ratio(sm1, di1), 0.75, True, "×", b1("direct"))
    row("bulk 1 pair: kturnd (sockmap) process CPU", "≤ 2 % of a core",
        m("sockmap", "bulk1", "cpu"), 2.0, False, " %", [("sockmap", "bulk1")])
    pd, ps, pc = (m(s, "pingpong", "p50_us") for s in ("direct", "sockmap", "coturn"))
    pp = lambda o: [("sockmap", "pingpong"), (o, "pingpong")]
    row("ping-pong 64 B p50: sockmap / direct", "≤ 1.5×", ratio(ps, pd), 1.5, False, "×",
        pp("direct"))
    row("ping-pong 64 B p50: sockmap / coturn", "≤ 0.6×", ratio(ps, pc), 0.6, False, "×",
        pp("coturn"))
    est = m("sockmap", "conns", "est")
    if PAIRS_K >= 10000:
        row("concurrent pairs held (sockmap)", "10,000", est, 10000, True)
    else:
        out.append("| concurrent pairs held (sockmap) | 10,000 | %s of %d asked | not measured at "
                   "10,000 (BENCH_FULL=1) | |" % (fmt(est), PAIRS_K))
    row("kturnd RSS per pair (sockmap)", "≤ 1 KiB", (m("sockmap", "conns", "rss") or 0) / 1000.0
        if m("sockmap", "conns", "rss") is not None else None, 1.0, False, " KiB",
        [("sockmap", "conns")])
    row("pair setup rate (sockmap)", "≥ 5,000 pairs/s", m("sockmap", "conns", "rate"), 5000, True,
        "/s", [("sockmap", "conns")])
    row("authenticated Allocate rate: kturnd (sockmap) / coturn", "≥ 3×",
        ratio(m("sockmap", "allocs", "rate"), m("coturn", "allocs", "rate")), 3.0, True, "×",
        [("sockmap", "allocs"), ("coturn", "allocs")])
    return out


def write_markdown(info, summary, results, servers_cmd, topo_desc, chart_ok):
    defs = metric_defs()
    L = []
    L.append("# kturn benchmarks")
    L.append("")
    L.append("Generated by `make bench` (bench/run.py); the Findings section is "
             "bench/FINDINGS.md, included verbatim. Raw numbers: "
             "[bench/results/results.json](bench/results/results.json).")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    L.append("| date | %s |" % info["date"])
    L.append("| CPU | %s, %d cores |" % (info["cpu"], info["cores"]))
    L.append("| kernel | %s |" % info["kernel"])
    L.append("| kturn commit (binaries) | %s |" % info["commit"])
    L.append("| binaries | %s |" % info.get("kturn_bin", "build/bin"))
    if info.get("suite_commit") and info["suite_commit"] != info["commit"]:
        L.append("| bench suite commit | %s |" % info["suite_commit"])
    L.append("| kturn-bench | %s |" % info["kturn_bench"])
    L.append("| coturn | %s (Debian) |" % info["coturn"])
    L.append("| load average at start | %s |" % " ".join(info["loadavg"]))
    L.append("| open-file limit | %s |" % info.get("nofile"))
    if info.get("note"):
        L.append("| note | %s |" % info["note"])
    L.append("| runs per cell | %d, interleaved (every server once per workload, then again), "
             "median of the successful runs |" % RUNS)
    L.append("| mode | %s%s |" % ("BENCH_QUICK (smoke)" if QUICK else ("BENCH_FULL" if FULL else "default"),
                                  ", %.0f s in all" % info["duration_s"] if info.get("duration_s") else ""))
    L.append("")
    if chart_ok:
        L.append("![bulk Gb/s and ping-pong p50 per server](bench/results/bench.png)")
        L.append("")
    L.append("## How it is measured")
    L.append("")
    L.append("- Every cell is one `kturn-bench` run (client and peer in one process, every "
             "relayed byte verified); the exact command of each cell is listed below each table. "
             "A cell whose kturn-bench exits non-zero (failed operation or content check) "
             "is not counted in the median and is shown as failed with the reason.")
    L.append("- **server process CPU**: user+sys of the relay process (all threads) from "
             "/proc/PID/stat, delta over the kturn-bench run, divided by its wall time "
             "(setup included), in % of one core.")
    L.append("- **kworker+ksoftirqd CPU**: sum of user+sys deltas of every kworker/* and "
             "ksoftirqd/* thread in /proc over the same interval: system-wide, so it includes "
             "other activity on the machine and the client side's softirq work; sockmap's "
             "psock backlog worker (sk_psock_backlog) runs in a kworker and is counted here. "
             "Softirq work done in the context of a process is not seen here.")
    L.append("- **server wakeups**: voluntary context switches of all the relay's threads "
             "(/proc/PID/task/*/status) over the run, per second: how often it slept in "
             "epoll_wait and was woken.")
    L.append("- **RSS per 1,000 pairs**: VmRSS of the relay sampled every 0.2 s while the "
             "connections workload holds its pairs; (peak − before the cell) × 1000 / pairs "
             "established. Kernel socket memory is not in RSS. A relay that keeps its heap "
             "after the first run grows less in later runs; the median is reported.")
    L.append("- **data plane**: kturnd logs `turn bind ... plane=X` for every bridged pair; "
             "the lines are counted per cell, so a plane that silently fell back shows.")
    L.append("- **BPF counters** (sockmap): `kturnctl pairs --json` (the pinned kturn_sock_cnt "
             "and kturn_link maps) is read every 0.4 s during the cell and the last value of "
             "every socket is kept (entries go when a pair closes, so the last < 0.4 s are "
             "missed). fwd = bytes redirected by the verdict in the kernel, pass = bytes "
             "parked for userspace after a pause (kturnd relays them itself), pauses = times "
             "a partner's backlog reached the 1 MiB high-water mark.")
    L.append("- Targets use the loopback table unless stated; ratios are medians / medians.")
    L.append("")
    for topo in TOPOLOGIES:
        L.append("## Topology: %s" % topo)
        L.append("")
        L.append(topo_desc.get(topo, ""))
        L.append("")
        cols = [s for s in SERVERS]
        hdr = ["metric", "unit"] + [SERVER_TITLE[s] for s in cols]
        ratio_cols = []
        for s in ("sockmap", "splice"):
            if s in cols:
                if "direct" in cols:
                    ratio_cols.append((s, "direct"))
                if "coturn" in cols:
                    ratio_cols.append((s, "coturn"))
        hdr += ["%s / %s" % (a, b) for a, b in ratio_cols]
        L.append("| " + " | ".join(hdr) + " |")
        L.append("|" + "---|" * len(hdr))
        for wl, key, title, unit, _fn, _h in defs:
            if wl not in [w.name for w in WORKLOADS]:
                continue
            row = [title.replace(" ", "&nbsp;", 2) if title.startswith("  ") else title, unit]
            for s in cols:
                row.append(cell_text(summary.get((topo, s, wl)), key, not title.startswith(" ")))
            for a, b in ratio_cols:
                ca, cb = summary.get((topo, a, wl)), summary.get((topo, b, wl))
                va = ca["metrics"].get(key) if ca and ca["ok_runs"] else None
                vb = cb["metrics"].get(key) if cb and cb["ok_runs"] else None
                if key in ("cpu", "kw", "est", "loss", "slab", "wake"):
                    row.append("")
                else:
                    row.append(fmt_ratio(ratio(va, vb)))
            L.append("| " + " | ".join(row) + " |")
        L.append("")
        # diagnostics
        L.append("Data plane and BPF counters (kturnd; medians over all runs of the cell, "
                 "failed ones included):")
        L.append("")
        L.append("| workload | server | bind lines by plane (all runs) | pauses | fwd (kernel) MiB "
                 "| pass (userspace) MiB | userspace share | failed runs |")
        L.append("|---|---|---|---|---|---|---|---|")
        for w in WORKLOADS:
            for s in ("sockmap", "splice"):
                c = summary.get((topo, s, w.name))
                if not c or c["skipped"]:
                    continue
                b = c.get("bpf") or {}
                planes = ", ".join("%s %d" % kv for kv in sorted(c["planes"].items())) or "–"
                fr = "%d/%d" % (c["n"] - c["ok_runs"], c["n"])
                if c["ok_runs"] < c["n"]:
                    fr += ": " + short_reason(c["reasons"])
                L.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    w.name, s, planes, fmt(b.get("pauses")) if b else "–",
                    fmt(b["fwd_bytes"] / 2**20) if b else "–",
                    fmt(b["pass_bytes"] / 2**20) if b else "–",
                    ("%.1f %%" % (100 * b["userspace_share"])) if b.get("userspace_share") is not None else "–",
                    fr))
        L.append("")
        L.append("<details><summary>Commands (%s)</summary>" % topo)
        L.append("")
        L.append("```")
        for s in SERVERS:
            if (topo, s) in servers_cmd:
                L.append("# %s: %s" % (s, servers_cmd[(topo, s)]))
        for w in WORKLOADS:
            for s in SERVERS:
                c = summary.get((topo, s, w.name))
                if c and c["commands"]:
                    L.append("# %s / %s" % (w.name, s))
                    for cmd in c["commands"]:
                        L.append(cmd)
        L.append("```")
        L.append("</details>")
        L.append("")
    L.append("## Targets of issue 5")
    L.append("")
    for topo in TOPOLOGIES:
        L.append("Topology **%s**%s:" % (topo, " (the reference)" if topo == "loopback" else ""))
        L.append("")
        L.append("| target | goal | measured | | |")
        L.append("|---|---|---|---|---|")
        L += targets(summary, topo)
        if PAIRS_K < 10000:
            L.append("")
            L.append("The connections workload held %d pairs (BENCH_FULL=1 holds 10,000)%s." % (
                PAIRS_K, "; capped: the open-file limit (hard RLIMIT_NOFILE %s) could not be "
                "raised" % info.get("nofile") if info.get("pairs_capped") else ""))
        L.append("")
    L.append("## Findings")
    L.append("")
    fpath = os.path.join(ROOT, "bench", "FINDINGS.md")
    if os.path.exists(fpath):
        with open(fpath) as f:
            body = f.read().strip()
        # drop its own top-level title
        body = re.sub(r"\A# [^\n]*\n+", "", body)
        L.append(body)
    else:
        L.append("(bench/FINDINGS.md not written yet)")
    L.append("")
    with open(OUT, "w") as f:
        f.write("\n".join(L))


def write_chart(summary):
    """bench/results/bench.dat + gnuplot -> bench.png; returns True when drawn."""
    cols = ["direct", "sockmap", "splice", "coturn"]
    bulk_rows, pp_rows = [], []
    for topo in TOPOLOGIES:
        for wl, label in (("bulk1", "1 pair"), ("bulk8", "8 pairs")):
            vals = []
            for s in cols:
                c = summary.get((topo, s, wl))
                v = c["metrics"].get("gbps") if c and c["ok_runs"] else None
                vals.append("?" if v is None else "%.3f" % v)
            bulk_rows.append('"%s %s" %s' % (topo, label, " ".join(vals)))
        vals = []
        for s in cols:
            c = summary.get((topo, s, "pingpong"))
            v = c["metrics"].get("p50_us") if c and c["ok_runs"] else None
            vals.append("?" if v is None else "%.2f" % v)
        pp_rows.append('"%s" %s' % (topo, " ".join(vals)))
    for rows in (bulk_rows, pp_rows):
        if not any(re.search(r" [0-9.]+$| [0-9.]+ ", r.rsplit('"', 1)[1]) for r in rows):
            rows[:] = [re.sub(r" \?", " 0", r) for r in rows]  # gnuplot needs one number
    with open(os.path.join(RESULTS, "bulk.dat"), "w") as f:
        f.write("# group " + " ".join(cols) + "\n" + "\n".join(bulk_rows) + "\n")
    with open(os.path.join(RESULTS, "pingpong.dat"), "w") as f:
        f.write("# group " + " ".join(cols) + "\n" + "\n".join(pp_rows) + "\n")
    if not shutil.which("gnuplot"):
        log("gnuplot missing: no chart (make bench installs gnuplot-nox)")
        return False
    r = subprocess.run(["gnuplot", "-e", "resdir='%s'" % RESULTS,
                        os.path.join(ROOT, "bench", "plot.gp")], capture_output=True, text=True)
    if r.returncode != 0:
        log("gnuplot failed: " + r.stderr.strip()[-300:])
        return False
    return True


# ---------------------------------------------------------------- main
def raise_nofile():
    for n in (1 << 20, 262144, 65536):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
            return n
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def port_free(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def report_only():
    """--report: BENCHMARKS.md and the chart again from results.json (e.g. after
    editing bench/FINDINGS.md), without running anything."""
    global TOPOLOGIES, SERVERS, WORKLOADS, RUNS, QUICK, FULL, PAIRS_K
    with open(os.path.join(RESULTS, "results.json")) as f:
        d = json.load(f)
    RUNS, QUICK, FULL = d["runs"], d["quick"], d["full"]
    TOPOLOGIES = d.get("topology_order") or list(d["topologies"])
    SERVERS = d.get("server_order") or SERVERS
    names = list(d["workloads"])
    WORKLOADS = [w for w in WORKLOADS_ALL if w.name in names]
    PAIRS_K = d.get("pairs_k", PAIRS_K)
    servers_cmd = {tuple(k.split("/", 1)): v for k, v in (d.get("servers") or {}).items()}
    summary = summarize(d["results"])
    chart_ok = write_chart(summary)
    write_markdown(d["machine"], summary, d["results"], servers_cmd, d["topologies"], chart_ok)
    log("wrote %s from %s/results.json" % (OUT, RESULTS))
    return 0


def main():
    if "--report" in sys.argv[1:]:
        return report_only()
    missing = [p for p in (KTURND, KTURNCTL, KBENCH) if not os.access(p, os.X_OK)]
    if missing:
        print("bench: missing %s (build with make, or set KTURN_BIN)" % ", ".join(missing),
              file=sys.stderr)
        return 2
    global PAIRS_K
    h = subprocess.run([KBENCH, "--help"], capture_output=True, text=True)
    if "bulk" not in h.stdout + h.stderr or "--direct" not in h.stdout + h.stderr:
        print("bench: %s has no bulk mode or --direct: it predates the kturn-bench workloads "
              "(issue 5); build a tree that has them or point KTURN_BIN elsewhere" % KBENCH,
              file=sys.stderr)
        return 2
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    nofile = raise_nofile()
    info = machine_info()
    info["nofile"] = nofile
    info["note"] = ENV.get("BENCH_NOTE", "")
    info["kturn_bin"] = BIN
    # kturn-bench holds 2 fds per pair (+1 per allocation of 100 pairs), so does the relay
    cap = (nofile - 300) * 100 // 201 // 100 * 100
    if PAIRS_K > cap:
        log("RLIMIT_NOFILE is %d and cannot be raised: connections holds %d pairs, not %d" % (
            nofile, cap, PAIRS_K))
        info["pairs_capped"] = "%d (RLIMIT_NOFILE %d)" % (cap, nofile)
        PAIRS_K = cap
        for w in WORKLOADS_ALL:
            if w.name == "conns":
                w.args[w.args.index("-k") + 1] = str(cap)
                w.title = "connections: %d pairs set up and held" % cap
    log("kturn %s, KTURN_BIN=%s, %d runs, topologies %s, servers %s, workdir %s" % (
        info["commit"], BIN, RUNS, ",".join(TOPOLOGIES), ",".join(SERVERS), WORK))
    results, servers_cmd, topo_desc = [], {}, {}
    t_start = time.monotonic()

    def on_signal(sig, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)
    interrupted = False
    for tname in TOPOLOGIES:
        topo, servers = None, {}
        try:
            try:
                topo = Loopback() if tname == "loopback" else Netns()
            except Exception as e:
                log("%s: topology failed: %s" % (tname, e))
                for w in WORKLOADS:
                    for s in SERVERS:
                        results.append({"topology": tname, "server": s, "workload": w.name,
                                        "ok": False, "reason": "topology setup failed: %s" % e})
                continue
            topo_desc[tname] = topo.description
            port = PORT_BASE + 10
            relay = PORT_BASE + 1000
            for s in SERVERS:
                if s == "direct":
                    continue
                if tname == "loopback":
                    while not port_free(port):
                        port += 1
                srv = Server(s, topo, port, (relay, relay + 899))
                servers_cmd[(tname, s)] = srv.command()
                port += 1
                relay += 900
                ok = srv.start()
                plane = ""
                if ok and s in ("sockmap", "splice"):
                    m = re.search(r"data plane: (\w+)", srv.log_since(0))
                    plane = " data plane: %s" % (m.group(1) if m else "? (no 'data plane:' log line)")
                    servers_cmd[(tname, s)] += "   # kturnd said" + plane
                log("%s: %s %s (pid %s)%s" % (tname, s, "started" if ok else srv.error, srv.pid,
                                              plane))
                servers[s] = srv
            for run in range(RUNS):
                for w in WORKLOADS:
                    for s in SERVERS:
                        r = run_cell(topo, s, servers.get(s), w)
                        r["run"] = run
                        results.append(r)
                        if r.get("skipped"):
                            continue
                        j = r.get("kturn_bench") or {}
                        brief = {k: j[k] for k in ("gbps", "p50_us", "setup_rate_per_s",
                                                   "rate_per_s", "received_pps", "loss_pct")
                                 if k in j}
                        extra = ""
                        if "server_cpu_pct" in r:
                            extra += " cpu=%.1f%%" % r["server_cpu_pct"]
                        if r.get("planes"):
                            extra += " planes=%s" % r["planes"]
                        if r.get("bpf"):
                            extra += " pauses=%d fwd=%.0fMiB pass=%.0fMiB" % (
                                r["bpf"]["pauses"], r["bpf"]["fwd_bytes"] / 2**20,
                                r["bpf"]["pass_bytes"] / 2**20)
                        log("%s run %d %-8s %-7s %s %s%s" % (
                            tname, run + 1, w.name, s, "ok" if r["ok"] else "FAILED (%s)" %
                            r.get("reason"), brief, extra))
        except KeyboardInterrupt:
            interrupted = True
            log("interrupted: cleaning up")
        finally:
            for srv in servers.values():
                srv.stop()
            if topo:
                topo.close()
        if interrupted:
            break
    info["duration_s"] = round(time.monotonic() - t_start, 1)
    if interrupted:
        shutil.rmtree(WORK, ignore_errors=True)
        log("interrupted: %s and %s left as they were" % (OUT, RESULTS))
        return 130
    summary = summarize(results)
    with open(os.path.join(RESULTS, "results.json"), "w") as f:
        json.dump({"machine": info, "runs": RUNS, "quick": QUICK, "full": FULL,
                   "pairs_k": PAIRS_K, "topology_order": TOPOLOGIES, "server_order": SERVERS,
                   "servers": servers_cmd and {"%s/%s" % k: v for k, v in servers_cmd.items()},
                   "topologies": topo_desc,
                   "workloads": {w.name: {"title": w.title, "mode": w.mode, "args": w.args}
                                 for w in WORKLOADS},
                   "results": results}, f, indent=1)
    chart_ok = write_chart(summary)
    write_markdown(info, summary, results, servers_cmd, topo_desc, chart_ok)
    if ENV.get("BENCH_KEEP_LOGS") == "1":
        where = "server logs kept in " + WORK
    else:
        shutil.rmtree(WORK, ignore_errors=True)
        where = "server logs removed (BENCH_KEEP_LOGS=1 keeps them)"
    log("done in %.0f s: %s, %s/results.json%s; %s" % (
        info["duration_s"], OUT, RESULTS, ", bench.png" if chart_ok else "", where))
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
