#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Soak: kturnd under a mixed, churning load; afterwards nothing may be left.

    make soak [SOAK_SECONDS=600]        (or tests/soak/soak.py --seconds N)

One kturnd from the tree (build/bin/kturnd, or $KTURN_BUILD / $KTURND) on
127.0.0.1, its own free ports, its own BPF pin directory
/sys/fs/bpf/kturn-soak-PID, loopback peers allowed, short lifetimes
(default 10 s, max 20 s) so that abandoned allocations expire within the run.

Load, for --seconds (threads in this process):
  udp   UDP allocations: CreatePermission + ChannelBind to a UDP peer, then
        datagrams both ways by ChannelData and Send/Data indications, each
        with a sequence number and checked byte for byte (lock-step, so
        loopback does not drop); Refresh on the way; the allocation then
        deleted (Refresh 0), or abandoned to expire.
  tcp   RFC 6062 allocations: a peer connects to the relayed address
        (ConnectionAttempt -> ConnectionBind) or the client asks for a
        Connect to a listening peer; pseudo-random bytes stream both ways at
        once and are checked (SHA-256 and length); then the pair is closed by
        FIN, or reset (SO_LINGER 0) on the client or the peer side, or the
        control connection is killed (the allocation goes with it), or the
        allocation is left to expire.
Every few seconds: kturnd's open descriptors (/proc/PID/fd), VmRSS and the
entries of its pinned maps kturn_sockhash, kturn_link, kturn_sock_cnt,
kturn_alloc_cnt (bpftool map dump pinned ...).

The load runs in two halves. After each, the load stops, every client
socket is closed, and the soak waits (bounded) for kturnd to come back to
the baseline taken before any load: descriptors and map entries exactly.
RSS cannot be held to the first baseline (the allocator keeps what the peak
needed), so its rule is: after the second half, at most --rss-slack MiB
(default 8, or 25% if more) above what it was after the first half - a leak
grows again with the second half of the same load. It prints a summary
table and exits 1 if anything is not back, if any byte was not verified,
if any cycle failed or kturnd did not exit 0 on SIGTERM.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

import kturnd as K  # noqa: E402
import sockio  # noqa: E402
import stunpy as S  # noqa: E402
import tcpturn as T  # noqa: E402
import turnclient as TC  # noqa: E402

LO = "127.0.0.1"
MAPS = ("kturn_sockhash", "kturn_link", "kturn_sock_cnt", "kturn_alloc_cnt")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}
        self.errors = []

    def add(self, key, n=1):
        with self.lock:
            self.c[key] = self.c.get(key, 0) + n

    def error(self, what, exc):
        with self.lock:
            self.errors.append("%s: %s: %s" % (what, type(exc).__name__, exc))
            self.c["errors"] = self.c.get("errors", 0) + 1

    def get(self, key):
        with self.lock:
            return self.c.get(key, 0)


def rst_close(sock):
    """Close with an RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


# --- UDP ---------------------------------------------------------------------------

class Graveyard:
    """Client sockets of abandoned allocations, closed only once those expired:
    closed at once, the kernel could hand the same local port to the next
    client, whose Allocate would then rightly meet 437 (same 5-tuple)."""

    HOLD = 25.0  # > max-allocate-lifetime

    def __init__(self):
        self.lock = threading.Lock()
        self.q = []

    def add(self, sock):
        with self.lock:
            self.q.append((time.monotonic() + self.HOLD, sock))
            due = [s for t, s in self.q if t <= time.monotonic()]
            self.q = [(t, s) for t, s in self.q if t > time.monotonic()]
        for s in due:
            s.close()

    def close_all(self):
        with self.lock:
            q, self.q = self.q, []
        for _, s in q:
            s.close()


GRAVE = Graveyard()


def udp_cycle(server, rnd, st, stop):
    c = TC.TurnClient(server, "udp", username=T.USER, password=T.PASSWORD, timeout=3.0)
    peer = TC.Peer(LO)
    keep = False
    try:
        c.allocate(lifetime=20)
        st.add("udp_allocations")
        chan = 0x4000 + rnd.randrange(0x1000)
        c.channel_bind(chan, peer.addr)
        c.create_permission(peer.addr)
        for seq in range(rnd.randrange(20, 200)):
            if stop.is_set():
                break
            payload = struct.pack("!Q", seq) + rnd.randbytes(rnd.randrange(0, 1200))
            if seq % 2:
                c.send_channel_data(chan, payload)
            else:
                c.send_indication(peer.addr, payload)
            data, src = peer.recv(3.0)
            if data != payload or not TC.same_addr(src, c.relay):
                raise AssertionError("peer got %d bytes from %s, not seq %d" % (len(data), src, seq))
            st.add("udp_bytes_verified", len(payload))
            back = b"back" + payload[::-1]
            peer.send(c.relay, back)
            ev = c.recv_data(3.0)
            if ev.data != back:
                raise AssertionError("client got %r, not the reply to seq %d" % (ev.data[:16], seq))
            st.add("udp_bytes_verified", len(back))
            st.add("udp_datagrams", 2)
            if seq % 50 == 49:
                c.refresh(20)
                st.add("udp_refreshes")
        end = rnd.random()
        if end < 0.5:
            c.refresh(0)
            st.add("udp_deleted")
        else:
            st.add("udp_abandoned")  # expires in <= 20 s
            keep = True
    finally:
        if keep:
            GRAVE.add(c.sock)
        else:
            c.close()
        peer.close()


# --- TCP (RFC 6062) ------------------------------------------------------------------

def pump(a, b, nbytes, rnd_seed, st, label):
    """Send nbytes pseudo-random bytes a->b and b->a at once; verify both (SHA-256)."""
    results = {}

    def sender(sock, seed, key):
        r = random.Random(seed)
        h = hashlib.sha256()
        left = nbytes
        while left:
            chunk = r.randbytes(min(left, 65536))
            sock.sendall(chunk)
            h.update(chunk)
            left -= len(chunk)
        results[key] = h.hexdigest()

    def receiver(sock, key):
        h = hashlib.sha256()
        got = 0
        deadline = time.monotonic() + 60
        while got < nbytes:
            if time.monotonic() > deadline or not sockio.readable(sock, 10):
                raise TimeoutError("%s: %d of %d bytes" % (key, got, nbytes))
            chunk = sock.recv(min(262144, nbytes - got))
            if not chunk:
                raise ConnectionError("%s: EOF after %d of %d bytes" % (key, got, nbytes))
            h.update(chunk)
            got += len(chunk)
        results[key] = h.hexdigest()

    errs = []

    def run(f, *args):
        try:
            f(*args)
        except Exception as e:  # noqa: BLE001 - reported below
            errs.append(e)

    ts = [threading.Thread(target=run, args=(sender, a, rnd_seed, "a_sent")),
          threading.Thread(target=run, args=(sender, b, rnd_seed + 1, "b_sent")),
          threading.Thread(target=run, args=(receiver, b, "b_got")),
          threading.Thread(target=run, args=(receiver, a, "a_got"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(90)
    if errs:
        raise errs[0]
    if results.get("a_sent") != results.get("b_got") or results.get("b_sent") != results.get("a_got"):
        raise AssertionError("%s: bytes differ (sha256)" % label)
    st.add("tcp_bytes_verified", 2 * nbytes)


def tcp_cycle(server, rnd, st, stop):
    socks = []
    ctl = T.Control(server)
    socks.append(ctl.sock)
    try:
        r = ctl.allocate([(S.LIFETIME, S.u32(20))])
        if r.cls != S.SUCCESS:
            raise AssertionError("TCP Allocate: error %s" % (r.error(),))
        st.add("tcp_allocations")
        ctl.permit(LO)
        for _ in range(rnd.randrange(1, 4)):
            if stop.is_set():
                break
            if rnd.random() < 0.5:
                peer = sockio.tcp_connect(ctl.relay)  # peer connects in
                socks.append(peer)
                cid = T.attempt(ctl, peer)
                st.add("tcp_attempts")
            else:
                lis = socket.socket()
                lis.bind((LO, 0))
                lis.listen(1)
                r = ctl.request(S.CONNECT, [T.xor_peer(*lis.getsockname())])
                if r.cls != S.SUCCESS:
                    lis.close()
                    raise AssertionError("Connect: error %s" % (r.error(),))
                cid = struct.unpack("!I", r.get(T.CONNECTION_ID))[0]
                lis.settimeout(5)
                peer, _ = lis.accept()
                lis.close()
                socks.append(peer)
                st.add("tcp_connects")
            data, r = T.bind(ctl, cid)
            socks.append(data)
            if r.cls != S.SUCCESS:
                raise AssertionError("ConnectionBind: error %s" % (r.error(),))
            st.add("tcp_pairs")
            pump(data, peer, rnd.choice([1, 1000, 65536, 300000, 1 << 20]),
                 rnd.randrange(1 << 30), st, "pair")
            how = rnd.random()
            if how < 0.4:
                data.shutdown(socket.SHUT_WR)  # FIN both ways, each side sees EOF
                peer.shutdown(socket.SHUT_WR)
                for s in (data, peer):
                    rest, why = T.read_until_eof(s)
                    if rest or why != "eof":
                        raise AssertionError("after FIN: %r %s" % (rest[:16], why))
                st.add("tcp_fin")
            elif how < 0.7:
                rst_close(data)
                st.add("tcp_rst_client")
            else:
                rst_close(peer)
                st.add("tcp_rst_peer")
        end = rnd.random()
        if end < 0.3:
            rst_close(ctl.sock)  # the allocation goes with its control connection
            st.add("tcp_control_killed")
        elif end < 0.6:
            r = ctl.request(S.REFRESH, [(S.LIFETIME, S.u32(0))])
            st.add("tcp_deleted")
        else:
            ctl.sock.shutdown(socket.SHUT_WR)  # FIN: kturnd must close its side
            _, why = T.read_until_eof(ctl.sock)
            if why != "eof":
                raise AssertionError("control connection after FIN: %s" % why)
            st.add("tcp_control_closed")
    finally:
        # After the protocol-level close (FIN both ways, checked above), drop
        # with an RST: thousands of loopback connections a minute would
        # otherwise sit in TIME_WAIT and crowd the ephemeral ports (this run's
        # and any other test's on the machine).
        for s in socks:
            try:
                rst_close(s)
            except OSError:
                pass


def worker(kind, idx, server, st, stop, seed):
    rnd = random.Random(seed)
    cycle = udp_cycle if kind == "udp" else tcp_cycle
    while not stop.is_set():
        try:
            cycle(server, rnd, st, stop)
            st.add("%s_cycles" % kind)
        except Exception as e:  # noqa: BLE001 - counted, the soak fails
            if stop.is_set():
                return
            st.error("%s worker %d" % (kind, idx), e)
            time.sleep(0.5)


# --- sampling ---------------------------------------------------------------------------

def map_entries(pin_dir):
    out = {}
    for m in MAPS:
        path = os.path.join(pin_dir, m)
        if not os.path.exists(path):
            out[m] = None
            continue
        r = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", path],
                           capture_output=True, text=True)
        try:
            out[m] = len(json.loads(r.stdout)) if r.returncode == 0 else None
        except ValueError:
            out[m] = None
    return out


def sample(pid, pin_dir):
    try:
        fds = len(os.listdir("/proc/%d/fd" % pid))
        rss = 0
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except OSError:
        return None
    return {"t": time.monotonic(), "fds": fds, "rss_kib": rss, "maps": map_entries(pin_dir)}


def fmt(s):
    return "fds=%d rss=%.1fMiB %s" % (s["fds"], s["rss_kib"] / 1024.0,
                                     " ".join("%s=%s" % (k[6:], v) for k, v in s["maps"].items()))


# --- main --------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("SOAK_SECONDS", 600)))
    ap.add_argument("--udp-workers", type=int, default=4)
    ap.add_argument("--tcp-workers", type=int, default=3)
    ap.add_argument("--sample-every", type=float, default=3.0)
    ap.add_argument("--rss-slack", type=float, default=8.0,
                    help="MiB RSS may grow in phase 2 over phase 1's drained RSS "
                         "(default 8, at least 25%%)")
    ap.add_argument("--drain-timeout", type=float, default=60.0,
                    help="seconds to wait for the baseline after the load (default 60)")
    ap.add_argument("--plane", default="auto", help="kturn-data-plane (default auto)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--ports", type=int, default=4000,
                    help="relay port range size (default 4000; halved while not free)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())

    work = tempfile.mkdtemp(prefix="kturn-soak.")
    # TCP relay ports sit in TIME_WAIT after closes: a wide range keeps 508 away
    n = args.ports
    while True:  # other test runs may hold ports: settle for fewer
        try:
            lo, hi = TC.free_port_range(n, lo=10000, hi=32700)
            break
        except RuntimeError:
            if n <= 500:
                raise
            n //= 2
    pin_dir = "/sys/fs/bpf/kturn-soak-%d" % os.getpid()
    k = K.Kturnd(work, extra=["--realm", T.REALM, "--user", "%s:%s" % (T.USER, T.PASSWORD),
                              "--allow-loopback-peers", "--min-port", str(lo),
                              "--max-port", str(hi), "--kturn-default-allocate-lifetime", "10",
                              "--max-allocate-lifetime", "20", "--kturn-data-plane", args.plane],
                 verbose=False)
    i = k.argv.index("--kturn-bpf-pin-dir")
    k.argv[i + 1] = k.pin_dir = pin_dir
    print("soak: %ds, seed %d, kturnd %s port %d relay ports %d-%d, pins %s, log %s"
          % (args.seconds, seed, k.argv[0], k.port, lo, hi, pin_dir, k.log_path), flush=True)
    k.start()
    failures = []
    samples = []
    final = warm = None
    drains = []
    st = Stats()
    try:
        time.sleep(0.5)
        base = sample(k.pid, pin_dir)
        print("baseline: " + fmt(base), flush=True)
        missing = [m for m, v in base["maps"].items() if v is None]
        if missing and args.plane != "splice":  # the splice plane pins no maps
            failures.append("maps not readable: %s" % ", ".join(missing))
        server = (LO, k.port)
        t0 = time.monotonic()
        drains = []
        for phase in (1, 2):
            stop = threading.Event()
            base_seed = seed * 1000 + phase * 100
            threads = [threading.Thread(target=worker, daemon=True,
                                        args=("udp", n, server, st, stop, base_seed + n))
                       for n in range(args.udp_workers)]
            threads += [threading.Thread(target=worker, daemon=True,
                                         args=("tcp", n, server, st, stop, base_seed + 50 + n))
                        for n in range(args.tcp_workers)]
            for t in threads:
                t.start()
            end = time.monotonic() + args.seconds / 2.0
            next_print = 0
            while time.monotonic() < end:
                if not k.running():
                    failures.append("kturnd exited during the load:\n" + k.tail())
                    break
                s = sample(k.pid, pin_dir)
                if s:
                    samples.append(s)
                    if s["t"] >= next_print:
                        print("  phase %d t=%4ds %s  udp_cycles=%d tcp_pairs=%d errors=%d"
                              % (phase, s["t"] - t0, fmt(s), st.get("udp_cycles"),
                                 st.get("tcp_pairs"), st.get("errors")), flush=True)
                        next_print = s["t"] + 15
                time.sleep(args.sample_every)
            stop.set()
            for t in threads:
                t.join(120)
            if any(t.is_alive() for t in threads):
                failures.append("load threads did not stop")
            GRAVE.close_all()

            # Back to baseline: exactly for descriptors and maps.
            d0 = time.monotonic()
            deadline = d0 + args.drain_timeout
            while True:
                final = sample(k.pid, pin_dir)
                if final is None:
                    failures.append("kturnd gone before the final sample")
                    break
                back = final["fds"] == base["fds"] and final["maps"] == base["maps"]
                if back or time.monotonic() > deadline:
                    break
                time.sleep(1)
            drains.append(time.monotonic() - d0)
            if final is None:
                break
            print("  phase %d drained in %.0f s: %s" % (phase, drains[-1], fmt(final)), flush=True)
            if final["fds"] != base["fds"]:
                failures.append("phase %d: descriptors: %d after the drain, %d before"
                                % (phase, final["fds"], base["fds"]))
            for m in MAPS:
                if final["maps"][m] != base["maps"][m]:
                    failures.append("phase %d: %s: %s entries after the drain, %s before"
                                    % (phase, m, final["maps"][m], base["maps"][m]))
            if phase == 1:
                warm = final
        # RSS: the allocator keeps what the first phase's peak needed, so the
        # baseline for the rule is the drained first phase; a leak shows as
        # the second phase, doing the same again, adding more on top.
        if final and warm:
            slack = max(args.rss_slack * 1024, 0.25 * warm["rss_kib"])
            if final["rss_kib"] > warm["rss_kib"] + slack:
                failures.append("RSS %.1f MiB after phase 2, %.1f MiB after phase 1 (slack %.1f MiB)"
                                % (final["rss_kib"] / 1024, warm["rss_kib"] / 1024, slack / 1024))
        if st.errors:
            kinds = sorted(set(e.split(": ", 1)[1] for e in st.errors))
            failures.append("%d failed cycles; %d kinds, e.g.:\n      %s"
                            % (len(st.errors), len(kinds), "\n      ".join(kinds[:6])))
        for key in ("udp_bytes_verified", "tcp_bytes_verified", "tcp_pairs", "udp_cycles"):
            if not st.get(key):
                failures.append("no %s: the load did not run" % key)
        if not k.running():
            failures.append("kturnd is not running at the end")
    finally:
        rc = k.stop() if k.running() else k.returncode
        k.remove_pin_dir()

    peak = max(samples, key=lambda s: s["fds"]) if samples else None
    rows = [("", "baseline", "peak (load)", "phase 1 end", "end", "rule")]
    if final and peak and warm:
        rows.append(("fds", base["fds"], peak["fds"], warm["fds"], final["fds"],
                     "ends == baseline"))
        rows.append(("rss MiB", "%.1f" % (base["rss_kib"] / 1024),
                     "%.1f" % (max(s["rss_kib"] for s in samples) / 1024),
                     "%.1f" % (warm["rss_kib"] / 1024), "%.1f" % (final["rss_kib"] / 1024),
                     "end <= phase 1 end + max(%.0f MiB, 25%%)" % args.rss_slack))
        for m in MAPS:
            rows.append((m, base["maps"][m], max((s["maps"][m] or 0) for s in samples),
                         warm["maps"][m], final["maps"][m], "ends == baseline"))
    print()
    for r in rows:
        print("%-16s %9s %12s %12s %9s   %s" % r)
    print()
    for key in sorted(st.c):
        print("%-22s %d" % (key, st.c[key]))
    print("%-22s %s" % ("drain (s)", " ".join("%.0f" % d for d in drains)))
    print("%-22s %s" % ("kturnd exit status", rc))
    if rc not in (0, None):
        failures.append("kturnd exited with %s" % rc)
    if failures:
        print("\nSOAK FAILED:")
        for f in failures:
            print("  - " + f)
        print("kturnd log: %s" % k.log_path)
        return 1
    print("\nsoak passed: every byte verified, descriptors and maps back to baseline")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(2))
    sys.exit(main())
