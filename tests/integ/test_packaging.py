# SPDX-License-Identifier: MIT
"""`make install` and the systemd unit: files in place, the unit verifies, and
kturnd runs and splices under exactly the unit's capability bounding set."""

import os
import re
import shutil
import socket
import subprocess
import time

import pytest

import kturnd as K
import stunpy as S
from tcpturn import PASSWORD, REALM, USER, Control, attempt, bind, read_exact

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNIT_IN = os.path.join(ROOT, "packaging", "kturnd.service.in")


def unit_caps():
    text = open(UNIT_IN).read()
    caps = re.search(r"^CapabilityBoundingSet=(.*)$", text, re.M).group(1).split()
    assert caps and all(c.startswith("CAP_") for c in caps), caps
    return caps


# (page under $(MANDIR), the binary whose --help it documents or None for a hand-written page)
MAN_PAGES = (("man8/kturnd.8", "kturnd"), ("man8/kturnctl.8", "kturnctl"),
             ("man1/kturn-bench.1", "kturn-bench"), ("man5/kturn.conf.5", None))


def man_render(page):
    """man -l with warnings on -> the text; fails on any warning."""
    r = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True,
                       timeout=30, env=dict(os.environ, MANPAGER="cat", MANWIDTH="100"))
    assert r.returncode == 0 and not r.stderr.strip(), (page, r.stderr)
    return r.stdout.replace("\u2010", "-")


def built_page(name):
    """build/man/NAME, made with its own make target (not all of `make man`) when missing."""
    page = os.path.join(os.path.dirname(os.path.dirname(K.binary())), "man", name)
    if not os.path.exists(page):
        r = subprocess.run(["make", "-C", ROOT, os.path.relpath(page, ROOT)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    return page


def test_make_install_destdir(tmp_path):
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-C", ROOT, "install", "DESTDIR=%s" % dest, "PREFIX=/usr"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for path, mode in (("usr/sbin/kturnd", 0o755), ("usr/sbin/kturnctl", 0o755),
                       ("usr/bin/kturn-bench", 0o755), ("etc/kturn/kturn.conf", 0o600),
                       ("usr/lib/systemd/system/kturnd.service", 0o644)) + tuple(
                           ("usr/share/man/" + page, 0o644) for page, _ in MAN_PAGES):
        st = os.stat(dest / path)
        assert st.st_mode & 0o777 == mode, (path, oct(st.st_mode))
    unit = (dest / "usr/lib/systemd/system/kturnd.service").read_text()
    assert "ExecStart=/usr/sbin/kturnd -c /etc/kturn/kturn.conf" in unit
    assert "@" not in unit.split("[Unit]")[1]
    # the example configuration is one kturnd accepts as it is
    r = subprocess.run([str(dest / "usr/sbin/kturnd"), "-c", str(dest / "etc/kturn/kturn.conf"),
                        "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith("kturnd "), r
    # every installed page renders without a warning and documents every option of its --help
    if not shutil.which("man"):
        return
    for page, prog in MAN_PAGES:
        text = man_render(dest / "usr/share/man" / page)
        assert "\nNAME" in text and "\nSEE ALSO" in text, page
        if prog is None:
            continue
        exe = dest / ("usr/bin" if prog == "kturn-bench" else "usr/sbin") / prog
        h = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=10)
        options = set(re.findall(r"--([a-z][a-zA-Z0-9-]+)", h.stdout + h.stderr))
        assert options, (prog, h)
        missing = sorted(o for o in options if "--" + o not in text)
        assert not missing, (page, missing)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_unit_verifies(tmp_path):
    unit = tmp_path / "kturnd.service"
    unit.write_text(open(UNIT_IN).read().replace("@SBINDIR@", os.path.dirname(K.binary()))
                    .replace("@SYSCONFDIR@", str(tmp_path)))
    # Documentation=man:...: verify runs man(1) for each, so give it the pages as installed
    docs = re.findall(r"man:([\w.-]+)\((\d)\)",
                      re.search(r"^Documentation=(.*)$", open(UNIT_IN).read(), re.M).group(1))
    assert ("kturnd", "8") in docs and ("kturn.conf", "5") in docs, docs
    for name, sec in docs:
        d = tmp_path / "man" / ("man" + sec)
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(built_page("%s.%s" % (name, sec)), d)
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=30, env=dict(os.environ, MANPATH=str(tmp_path / "man")))
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


@pytest.mark.skipif(not shutil.which("setpriv"), reason="setpriv not installed")
def test_sockmap_plane_runs_with_the_units_capabilities(tmp_path):
    """The unit's CapabilityBoundingSet is enough for the sockmap plane (and so
    is the least: CAP_PERFMON is needed for the verdict's tcp_sock access)."""
    bounding = "-all," + ",".join("+" + c[4:].lower() for c in unit_caps())
    k = K.Kturnd(tmp_path / "kturnd", extra=["--realm", REALM, "--user", "%s:%s" % (USER, PASSWORD),
                        "--allow-loopback-peers", "--min-port", "29000", "--max-port", "29099",
                        "--kturn-data-plane", "sockmap"])
    k.argv = [shutil.which("setpriv"), "--inh-caps=-all", "--ambient-caps=-all",
              "--bounding-set=" + bounding, "--"] + k.argv
    k.start()
    try:
        ctl = Control(("127.0.0.1", k.port))
        assert ctl.allocate().cls == S.SUCCESS
        ctl.permit("127.0.0.1")
        peer = socket.create_connection(ctl.relay, timeout=5)
        data, r = bind(ctl, attempt(ctl, peer))
        assert r.cls == S.SUCCESS
        data.sendall(b"least privilege")
        assert read_exact(peer, 15) == b"least privilege"
        deadline = time.monotonic() + 5  # the bind line is written just after the splice
        while "plane=sockmap" not in k.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "plane=sockmap" in k.log()
    finally:
        assert k.stop() == 0, k.tail()
        k.remove_pin_dir()


@pytest.mark.skipif(not shutil.which("man"), reason="man not installed")
def test_kturnd_man_page_renders_and_lists_every_option():
    text = man_render(built_page("kturnd.8"))
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "SIGNALS", "FILES", "EXIT STATUS"):
        assert "\n" + section in text, section
    helptext = subprocess.run([K.binary(), "--help"], capture_output=True, text=True).stdout
    options = set(re.findall(r"--([a-z][a-zA-Z0-9-]+)", helptext))
    assert len(options) >= 50, options
    missing = sorted(o for o in options if "--" + o not in text)
    assert not missing, missing


@pytest.mark.skipif(not shutil.which("man"), reason="man not installed")
def test_kturn_conf_page_renders_and_documents_the_file():
    text = man_render(built_page("kturn.conf.5"))
    assert "@" not in text, "unsubstituted @VERSION@/@DATE@"
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "SYNTAX", "RELOADING", "FILES",
                    "SEE ALSO"):
        assert "\n" + section in text, section
    # every repeatable option kturnd has is named as one
    helptext = subprocess.run([K.binary(), "--help"], capture_output=True, text=True).stdout
    entries = re.split(r"\n(?=\s+-)", helptext)[1:]  # one per option, with its wrapped lines
    repeatable = {re.match(r"\s+(?:-\w, )?--([a-z][a-z0-9-]+)", e).group(1) for e in entries
                  if "repeatable" in e}
    assert "user" in repeatable and "alternate-server" in repeatable, repeatable
    missing = sorted(o for o in repeatable if o not in text)
    assert not missing, missing
