# SPDX-License-Identifier: MIT
"""Prometheus /metrics of a real kturnd: exact numbers and a strict format check.

Traffic with known sizes (a UDP allocation, a bridged RFC 6062 pair on each
data plane) must move the counters by exactly those bytes, first while the
allocations live (counters read from the live allocations and BPF maps),
then after they are gone (counters kept by the workers). Every scrape is
parsed by a strict checker written here from the exposition format spec, and
by prometheus_client's parser.
"""

import math
import re
import time
import urllib.request

import pytest

import turnclient as T
from opsenv import LO, TcpPair, UdpFlow, free_tcp_port, kturnd_argv, pattern
from tcpturn import PASSWORD, USER

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s=%s(?:,%s=%s)*)?\})? (\S+)$" % (NAME, LABEL, LABEL_VALUE,
                                                                    LABEL, LABEL_VALUE))
LABEL_PAIR = re.compile(r"(%s)=(%s)" % (LABEL, LABEL_VALUE))
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v[1:-1])


def parse_strict(text):
    """{family: {"type", "help", "samples": [(name, labels dict, value)]}}, or AssertionError."""
    assert text.endswith("\n"), "the last line must end with a newline"
    fams, order, current = {}, [], None
    for n, line in enumerate(text.splitlines(), 1):
        where = "line %d: %r" % (n, line)
        assert line, "empty line " + where
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            assert re.fullmatch(NAME, name) and help_, where
            assert name not in fams, "second HELP for %s, %s" % (name, where)
            fams[name] = {"help": help_, "type": None, "samples": []}
            order.append(name)
            current = name
            continue
        if line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            assert name == current and fams[name]["type"] is None, "TYPE not after HELP " + where
            assert typ in TYPES, where
            assert not fams[name]["samples"], "TYPE after samples " + where
            fams[name]["type"] = typ
            continue
        assert not line.startswith("#"), "unexpected comment " + where
        m = SAMPLE.match(line)
        assert m, "bad sample syntax " + where
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        assert current and fams[current]["type"], "sample before HELP/TYPE " + where
        typ = fams[current]["type"]
        allowed = {current}
        if typ == "histogram":
            allowed = {current + "_bucket", current + "_sum", current + "_count"}
        assert name in allowed, "sample %s outside its family %s, %s" % (name, current, where)
        if typ == "counter":
            assert name.endswith("_total"), "counter without _total " + where
        lab = {k: unescape(v) for k, v in LABEL_PAIR.findall(labels)}
        assert len(lab) == len(LABEL_PAIR.findall(labels)), "duplicate label " + where
        v = float(value)  # also accepts +Inf/NaN spellings Prometheus uses
        if typ in ("counter", "histogram"):
            assert v >= 0 and not math.isnan(v), where
        fams[current]["samples"].append((name, lab, v))
    for name, f in fams.items():
        assert f["type"], "%s has HELP but no TYPE" % name
        assert f["samples"], "%s has no samples" % name
        if f["type"] == "histogram":
            check_histogram(name, f["samples"])
    return fams


def check_histogram(name, samples):
    buckets = [(s[1]["le"], s[2]) for s in samples if s[0] == name + "_bucket"]
    count = [s[2] for s in samples if s[0] == name + "_count"]
    total = [s[2] for s in samples if s[0] == name + "_sum"]
    assert len(count) == 1 and len(total) == 1, name
    assert buckets and buckets[-1][0] == "+Inf", "%s: last bucket must be +Inf" % name
    bounds = [float(le) for le, _ in buckets]
    assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), name
    values = [v for _, v in buckets]
    assert values == sorted(values), "%s: buckets not cumulative %s" % (name, values)
    assert values[-1] == count[0], "%s: +Inf bucket %s != _count %s" % (name, values[-1], count[0])
    assert count[0] == 0 or total[0] >= 0, name


def scrape(port):
    with urllib.request.urlopen("http://%s:%d/metrics" % (LO, port), timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode("utf-8")
    fams = parse_strict(text)
    # a second, independent parser
    from prometheus_client.parser import text_string_to_metric_families
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"kturn_build_info", "turn_total_allocations", "kturn_relayed_bytes"} <= names
    return fams


def scrape_until(port, done, timeout=10.0):
    """Scrape until done(families) holds (kturnd handles a FIN asynchronously); bounded."""
    deadline = time.monotonic() + timeout
    while True:
        fams = scrape(port)
        if done(fams) or time.monotonic() > deadline:
            return fams
        time.sleep(0.05)


def no_allocations(fams):
    return all(v == 0 for _, _, v in fams["turn_total_allocations"]["samples"]) and \
        all(v == 0 for _, _, v in fams["kturn_bridged_pairs"]["samples"])


def value(fams, family, name=None, **labels):
    hits = [v for n, lab, v in fams[family]["samples"]
            if n == (name or family) and all(lab.get(k) == str(x) for k, x in labels.items())]
    assert len(hits) == 1, (family, labels, hits)
    return hits[0]


@pytest.fixture(params=["sockmap", "splice"])
def plane(request):
    return request.param


def test_metrics_count_exactly_what_was_relayed(kturnd_factory, plane):
    port = free_tcp_port()
    k = kturnd_factory(extra=kturnd_argv(plane) + [
        "--prometheus", "--prometheus-port", str(port), "--prometheus-address", LO,
        "--kturn-node-name", 'edge "7"\\eu'])
    before = scrape(port)
    assert value(before, "kturn_build_info", node='edge "7"\\eu') == 1
    assert value(before, "kturn_relayed_bytes_total", plane="udp", direction="to_peer") == 0

    udp = UdpFlow(k, up=[b"a" * 1200, b"b" * 33, b"c"], down=[b"d" * 800, b"e" * 2])
    tcp = TcpPair(k, pattern(250_000), pattern(12_345, 1))
    live = scrape(port)
    assert value(live, "turn_total_allocations", type="UDP") == 1
    assert value(live, "turn_total_allocations", type="TCP") == 1
    assert value(live, "turn_total_allocations", type="TLS") == 0
    assert value(live, "kturn_allocations", transport="udp", relay="udp") == 1
    assert value(live, "kturn_allocations", transport="tcp", relay="tcp") == 1
    assert value(live, "kturn_allocations", transport="tcp", relay="udp") == 0
    assert value(live, "kturn_bridged_pairs", plane=plane) == 1
    assert value(live, "kturn_peer_connections_waiting") == 0

    def check_traffic(f):
        assert value(f, "kturn_relayed_bytes_total", plane="udp", direction="to_peer") == 1234
        assert value(f, "kturn_relayed_bytes_total", plane="udp", direction="to_client") == 802
        assert value(f, "kturn_relayed_packets_total", plane="udp", direction="to_peer") == 3
        assert value(f, "kturn_relayed_packets_total", plane="udp", direction="to_client") == 2
        assert value(f, "kturn_relayed_bytes_total", plane=plane, direction="to_peer") == 250_000
        assert value(f, "kturn_relayed_bytes_total", plane=plane, direction="to_client") == 12_345
        for other in {"sockmap", "splice", "tls"} - {plane}:
            for d in ("to_peer", "to_client"):
                assert value(f, "kturn_relayed_bytes_total", plane=other, direction=d) == 0
        pk = value(f, "kturn_relayed_packets_total", plane="sockmap", direction="to_peer")
        assert (1 <= pk <= 250_000) if plane == "sockmap" else pk == 0
        h = "kturn_connection_bind_duration_seconds"
        assert value(f, h, name=h + "_count") == 1
        assert value(f, h, name=h + "_bucket", le="+Inf") == 1
        assert value(f, h, name=h + "_sum") > 0

    check_traffic(live)

    # auth failures and error codes: each client's first request is challenged (401)
    bad = T.TurnClient((LO, k.port), "udp", username=USER, password=PASSWORD + "-wrong")
    assert T.error_of(bad.allocate(check=False)) == 401
    bad.close()
    udp.client.refresh(0)
    assert T.error_of(udp.client.refresh(0, check=False)) == 437
    tcp.close()  # the control connection closes: its allocation and pair go
    udp.close()

    gone = scrape_until(port, no_allocations)
    check_traffic(gone)  # kept by the workers after the allocations went
    for t in ("udp", "tcp", "tls"):
        assert value(gone, "turn_total_allocations", type=t.upper()) == 0
        for r in ("udp", "tcp"):
            assert value(gone, "kturn_allocations", transport=t, relay=r) == 0
    assert value(gone, "kturn_bridged_pairs", plane=plane) == 0
    # 401 challenges: UDP client, TCP control connection, the bad client (twice: its first
    # request, then the wrong password)
    assert value(gone, "kturn_auth_failures_total", reason="missing_integrity") == 3
    assert value(gone, "kturn_auth_failures_total", reason="bad_integrity") == 1
    assert value(gone, "kturn_auth_failures_total", reason="unknown_user") == 0
    assert value(gone, "kturn_error_responses_total", code=401) == 4
    assert value(gone, "kturn_error_responses_total", code=437) == 1


def test_metrics_off_by_default_and_404(kturnd_factory):
    port = free_tcp_port()
    kturnd_factory(extra=kturnd_argv("splice", workers=1))
    with pytest.raises(OSError):
        urllib.request.urlopen("http://%s:%d/metrics" % (LO, port), timeout=2)
    port = free_tcp_port()
    kturnd_factory(extra=kturnd_argv("splice", workers=1) + [
        "--prometheus", "--prometheus-port", str(port), "--prometheus-address", LO])
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen("http://%s:%d/nothing" % (LO, port), timeout=5)
    assert e.value.code == 404
    scrape(port)



def test_metrics_tls_pair(kturnd_factory, cert_pair):
    """A pair whose data connection is TURN over TLS is counted on the tls plane."""
    import ssl

    import kturnd as K

    cert, key = cert_pair
    port, tls_port = free_tcp_port(), K.pick_port([LO])
    k = kturnd_factory(extra=kturnd_argv("sockmap", tls=True) + [
        "--tls-listening-port", str(tls_port), "--cert", str(cert), "--pkey", str(key),
        "--prometheus", "--prometheus-port", str(port), "--prometheus-address", LO])
    ctx = ssl.create_default_context(cafile=str(cert))
    tcp = TcpPair(k, pattern(100_000), pattern(4321, 5), tls=(ctx, (LO, tls_port)))
    f = scrape(port)
    assert value(f, "kturn_bridged_pairs", plane="tls") == 1
    assert value(f, "kturn_bridged_pairs", plane="sockmap") == 0
    assert value(f, "kturn_relayed_bytes_total", plane="tls", direction="to_peer") == 100_000
    assert value(f, "kturn_relayed_bytes_total", plane="tls", direction="to_client") == 4321
    tcp.close()
    f = scrape_until(port, no_allocations)
    assert value(f, "kturn_bridged_pairs", plane="tls") == 0
    assert value(f, "kturn_relayed_bytes_total", plane="tls", direction="to_peer") == 100_000
    assert value(f, "kturn_relayed_bytes_total", plane="tls", direction="to_client") == 4321


def test_scrapes_and_commands_while_allocations_come_and_go(kturnd_factory):
    """The metrics thread and the control socket ask the workers at the same time as
    allocations are made and deleted: every answer is whole (run under ASan/TSan builds
    via KTURN_BUILD to catch a race)."""
    import threading

    from opsenv import kturnctl_json

    port = free_tcp_port()
    k = kturnd_factory(extra=kturnd_argv("splice") + [
        "--prometheus", "--prometheus-port", str(port), "--prometheus-address", LO])
    errors, stop = [], threading.Event()

    def loop(fn):
        try:
            while not stop.is_set():
                fn()
        except Exception as e:  # reported below, with the thread's traceback text
            errors.append(repr(e))

    threads = [threading.Thread(target=loop, args=(lambda: scrape(port),)),
               threading.Thread(target=loop, args=(lambda: kturnctl_json(k, "allocations"),))]
    for t in threads:
        t.start()
    try:
        for i in range(15):
            f = UdpFlow(k, up=[b"u" * (i + 1)], down=[b"d"])
            f.client.refresh(0)
            f.close()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors
    f = scrape(port)
    assert value(f, "kturn_relayed_bytes_total", plane="udp", direction="to_peer") == \
        sum(range(1, 16))
    assert value(f, "kturn_relayed_packets_total", plane="udp", direction="to_client") == 15
    assert value(f, "turn_total_allocations", type="UDP") == 0
