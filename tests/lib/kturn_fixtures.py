# SPDX-License-Identifier: MIT
"""pytest fixtures and hooks shared by tests/integ and tests/interop.

Each directory's conftest.py does ``from kturn_fixtures import *``.
"""

import os
import subprocess

import pytest

import kturnd as K
import netns


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Attach the log tail of every kturnd the test started to a failing report.
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for i, k in enumerate(getattr(item, "_kturnd_instances", [])):
            rep.sections.append(("kturnd #%d (pid %s)" % (i, k.proc.pid if k.proc else "-"), k.tail()))


@pytest.fixture(scope="session")
def kturnd_binary():
    path = K.binary()
    if not os.access(path, os.X_OK):
        pytest.fail("kturnd binary missing: %s (run make, or set KTURND=/path/to/kturnd)" % path,
                    pytrace=False)
    return path


@pytest.fixture
def kturnd_factory(request, tmp_path, kturnd_binary):
    """start(**kw) -> running Kturnd. Teardown: SIGTERM each, assert exit status 0."""
    started = []
    request.node._kturnd_instances = started

    def start(wait=True, **kw):
        k = K.Kturnd(tmp_path / ("kturnd%d" % len(started)), **kw)
        started.append(k)
        try:
            k.start(wait=wait)
        except Exception:
            if not k.running():
                started.remove(k)  # already reported by the exception, with its log tail
            raise
        return k

    yield start

    failures = []
    for k in started:
        if k.proc is None:
            continue
        rc = k.stop()
        if rc != 0:
            failures.append("kturnd pid %d exit status %r (expected 0 after SIGTERM)\n%s"
                            % (k.proc.pid, rc, k.tail()))
    for k in started:  # after every stop: a successor may have used the same directory
        k.remove_pin_dir()
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture
def kturnd(kturnd_factory):
    """A kturnd listening on 127.0.0.1 (UDP+TCP), answering Bindings."""
    return kturnd_factory()


@pytest.fixture
def topology():
    """A netns Topology, deleted after the test; skips where netns is unavailable."""
    try:
        netns.check_available()
    except netns.NetnsUnavailable as e:
        pytest.skip(str(e))
    with netns.Topology() as topo:
        yield topo


@pytest.fixture
def turn(kturnd_factory):
    """start(**kw) -> a TurnEnv (tests/lib/turnclient.py); closed after the test."""
    import turnclient as T

    envs = []

    def start(**kw):
        e = T.start_turn(kturnd_factory, **kw)
        envs.append(e)
        return e

    yield start
    for e in envs:
        e.close()


@pytest.fixture(scope="module")
def cert_pair(tmp_path_factory):
    """A throwaway self-signed EC certificate and key (PEM paths) for TLS tests."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=kturn-test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert, key
