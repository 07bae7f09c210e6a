# SPDX-License-Identifier: MIT
"""Long-term credentials on TURN requests (RFC 8489 §9.2, RFC 8656 §5) and the TURN REST API.

Challenge contents, the MD5 and SHA-256 password algorithms, USERHASH,
stale nonces, the 400 cases of RFC 8489 §9.2.4, and the signature on every
response to an authenticated request (checked by turnclient and here).
"""

import base64
import struct
import time

import pytest

import sockio
import stunpy as S
import turnclient as T

LO4 = "127.0.0.1"
NONCE_COOKIE = b"obMatJos2"
OFFERED_ALGORITHMS = [(S.PASSWORD_ALG_SHA256, b""), (S.PASSWORD_ALG_MD5, b"")]


def assert_challenge(m, code=401, realm=T.REALM, anonymity=None):
    """An unsigned 401/438 carrying REALM, a kturn NONCE and PASSWORD-ALGORITHMS.

    anonymity: whether the nonce must offer username anonymity (USERHASH);
    kturn offers it with static users only (a REST username is made up per
    session, so there is nothing to hash). None: not checked.
    """
    assert T.error_of(m) == code, m
    assert m.require(S.REALM) == realm.encode()
    nonce = m.require(S.NONCE)
    assert nonce.startswith(NONCE_COOKIE), nonce
    # RFC 8489 §9.2: the cookie is followed by the 24-bit Security Feature Set in
    # base64; bit 0 (MSB) password algorithms, bit 1 username anonymity.
    features = base64.b64decode(nonce[len(NONCE_COOKIE):len(NONCE_COOKIE) + 4])
    assert features[0] & 0x80, "password algorithms bit missing: %s" % features.hex()
    if anonymity is not None:
        assert bool(features[0] & 0x40) == anonymity, "anonymity bit: %s" % features.hex()
    assert len(nonce) > len(NONCE_COOKIE) + 4 and len(nonce) < 128
    assert S.parse_password_algorithms(m.require(S.PASSWORD_ALGORITHMS)) == OFFERED_ALGORITHMS
    assert S.MESSAGE_INTEGRITY not in m.types and S.MESSAGE_INTEGRITY_SHA256 not in m.types
    assert S.XOR_RELAYED_ADDRESS not in m.types and S.LIFETIME not in m.types
    return nonce


def unauthenticated(c, method, attrs):
    raw, tid = c.encode(method, attrs, auth=False)
    c.send_raw(raw)
    return c.recv_response(tid)


# --- challenge -----------------------------------------------------------------------


@pytest.mark.parametrize("method", [S.ALLOCATE, S.REFRESH, S.CREATE_PERMISSION, S.CHANNEL_BIND])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_unauthenticated_request_gets_401_challenge(turn, method, transport):
    e = turn()
    c = e.client(None, transport)
    peer = S.xor_address(LO4, 5000, b"\x00" * 12)
    attrs = {S.ALLOCATE: [(S.REQUESTED_TRANSPORT, S.requested_transport(17))],
             S.REFRESH: [],
             S.CREATE_PERMISSION: [(S.XOR_PEER_ADDRESS, peer)],
             S.CHANNEL_BIND: [(S.CHANNEL_NUMBER, S.channel_number(0x4000)),
                              (S.XOR_PEER_ADDRESS, peer)]}[method]
    m = unauthenticated(c, method, attrs)
    assert m.method == method
    assert_challenge(m, anonymity=True)


def test_binding_needs_no_credentials_on_turn_server(turn):
    e = turn()
    s = sockio.udp_socket(LO4)
    try:
        tid = S.new_tid()
        raw = sockio.udp_exchange(s, e.server(), S.binding_request(tid))
        m = S.decode(raw, tid=tid, method=S.BINDING, cls=S.SUCCESS)
        assert m.xor_mapped() == sockio.sockaddr(s)
        assert S.MESSAGE_INTEGRITY not in m.types
    finally:
        s.close()


# --- MD5 / SHA-256 / USERHASH ----------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_md5_long_term_credentials(turn, transport):
    e = turn()
    c = e.client("alice", transport)
    m = c.allocate()
    assert_challenge(c.last_challenge)
    assert S.MESSAGE_INTEGRITY in m.types and S.MESSAGE_INTEGRITY_SHA256 not in m.types
    assert m.integrity_ok(S.long_term_key("alice", T.REALM, "alice-pw"))
    assert not m.integrity_ok(S.long_term_key("alice", T.REALM, "wrong"))


def test_md5_with_echoed_password_algorithms(turn):
    e = turn()
    c = e.client("alice", send_algorithms=True)  # PASSWORD-ALGORITHMS echoed, ALGORITHM=MD5
    m = c.allocate()
    # RFC 8489 §9.2.4: a client that sent the algorithms gets MESSAGE-INTEGRITY-SHA256,
    # keyed with the negotiated (MD5) key
    assert S.MESSAGE_INTEGRITY_SHA256 in m.types and S.MESSAGE_INTEGRITY not in m.types
    assert m.integrity_ok(S.long_term_key("alice", T.REALM, "alice-pw"), sha256=True)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sha256_password_algorithm(turn, transport):
    e = turn()
    c = e.client("bob", transport, alg="sha256")
    m = c.allocate()
    assert S.MESSAGE_INTEGRITY_SHA256 in m.types and S.MESSAGE_INTEGRITY not in m.types
    assert len(m.require(S.MESSAGE_INTEGRITY_SHA256)) == 32
    assert m.integrity_ok(S.long_term_key_sha256("bob", T.REALM, "bob-pw"), sha256=True)
    assert c.refresh().integrity_ok(c.key(), sha256=True)


def test_sha256_key_with_md5_algorithm_is_rejected(turn):
    """PASSWORD-ALGORITHM says SHA-256 but the integrity is keyed with MD5: 401."""
    e = turn()
    c = e.client("bob", alg="sha256")
    c.allocate()
    m = c.refresh(check=False, key=S.long_term_key("bob", T.REALM, "bob-pw"))
    assert_challenge(m)


@pytest.mark.parametrize("alg", ["md5", "sha256"])
def test_userhash(turn, alg):
    e = turn()
    c = e.client("carol", alg=alg, userhash=True)
    m = c.allocate()
    assert e.in_range(c.relay[1])
    assert S.USERHASH not in m.types and S.USERNAME not in m.types
    assert c.refresh().cls == S.SUCCESS


def test_userhash_of_unknown_user_401(turn):
    e = turn()
    c = e.client("mallory", password="x", userhash=True, alg="sha256")
    assert_challenge(c.allocate(check=False))


def test_precomputed_md5_key_user(turn):
    key = S.long_term_key("dave", T.REALM, "dave-pw")
    e = turn(extra=["--user", "dave:0x" + key.hex()])
    c = e.client("dave", password="dave-pw")
    m = c.allocate()
    assert m.integrity_ok(key)


# --- rejections ------------------------------------------------------------------------


def test_wrong_password_401(turn):
    e = turn()
    c = e.client("alice", password="not-alice-pw")
    m = c.allocate(check=False)
    assert_challenge(m)
    assert c.nonce is not None  # it did retry with credentials


def test_unknown_user_401(turn):
    e = turn()
    assert_challenge(e.client("mallory", password="whatever").allocate(check=False))


def test_wrong_realm_401(turn):
    e = turn()
    c = e.client("alice")
    m = c.allocate(check=False, override={S.REALM: "other.realm"},
                   key=S.long_term_key("alice", "other.realm", "alice-pw"))
    assert_challenge(m)


def test_wrong_integrity_401(turn):
    e = turn()
    c = e.client("alice")
    m = c.allocate(check=False, key=b"\x00" * 16)
    assert_challenge(m)


@pytest.mark.parametrize("missing", [S.USERNAME, S.REALM, S.NONCE], ids=["username", "realm",
                                                                         "nonce"])
def test_integrity_without_username_realm_or_nonce_400(turn, missing):
    e = turn()
    c = e.client("alice")
    m = c.allocate(check=False, omit=[missing])  # 401 dance, then the retry lacks it
    assert T.error_of(m) == 400
    assert S.MESSAGE_INTEGRITY not in m.types


def test_garbage_nonce_438(turn):
    e = turn()
    c = e.client("alice")
    c.allocate()
    m = c.refresh(check=False, override={S.NONCE: NONCE_COOKIE + b"AAAAnot-a-real-nonce"},
                  retry_stale=False)
    assert_challenge(m, 438)


def test_stale_nonce_438_then_retry(turn):
    e = turn(extra=["--stale-nonce", "1"])
    c = e.client("alice")
    c.allocate()
    learnt = time.monotonic()
    old = c.nonce
    # valid for about a second (issue times have one-second granularity), then 438
    while True:
        time.sleep(0.25)
        m = c.refresh(check=False, retry_stale=False)
        if m.cls == S.ERROR or time.monotonic() - learnt > 3.0:
            break
        assert m.cls == S.SUCCESS
    elapsed = time.monotonic() - learnt
    new = assert_challenge(m, 438)
    assert elapsed >= 0.9, "nonce went stale after %.2fs with --stale-nonce 1" % elapsed
    assert new != old
    # the client library retries once with the fresh nonce
    c.nonce = old
    m = c.refresh()
    assert m.cls == S.SUCCESS and c.nonce != old


def test_nonce_usable_from_another_port_of_same_ip(turn):
    """kturn's nonce is tied to the client IP, not the port (RFC 6062 ConnectionBind
    comes from a new connection): a second socket can use it without a new 401."""
    e = turn()
    a = e.client("alice")
    a.allocate()
    b = e.client("bob")
    b.realm, b.nonce, b.algorithms_raw = a.realm, a.nonce, a.algorithms_raw
    m = b.allocate(retry_stale=False)
    assert m.cls == S.SUCCESS and b.nonce == a.nonce


def test_nonce_from_other_ip_438(turn):
    """kturn binds a nonce to the client IP; a nonce from 127.0.0.1 used from 127.0.0.2."""
    e = turn()
    a = e.client("alice")
    a.allocate()
    b = e.client("alice", local_ip="127.0.0.2")
    b.realm, b.nonce = a.realm, a.nonce
    assert_challenge(b.allocate(check=False, retry_stale=False), 438)


def test_password_algorithms_altered_400(turn):
    e = turn()
    c = e.client("bob", alg="sha256")
    c.allocate()
    m = c.refresh(check=False, override={
        S.PASSWORD_ALGORITHMS: S.password_algorithms([S.PASSWORD_ALG_SHA256])})
    assert T.error_of(m) == 400


def test_password_algorithms_reordered_400(turn):
    e = turn()
    c = e.client("bob", alg="sha256")
    c.allocate()
    m = c.refresh(check=False, override={S.PASSWORD_ALGORITHMS: S.password_algorithms(
        [S.PASSWORD_ALG_MD5, S.PASSWORD_ALG_SHA256])})
    assert T.error_of(m) == 400


@pytest.mark.parametrize("omit", [S.PASSWORD_ALGORITHMS, S.PASSWORD_ALGORITHM],
                         ids=["no-algorithms", "no-algorithm"])
def test_only_one_of_password_algorithm_attributes_400(turn, omit):
    e = turn()
    c = e.client("bob", alg="sha256")
    c.allocate()
    assert T.error_of(c.refresh(check=False, omit=[omit])) == 400


def test_password_algorithm_not_offered_400(turn):
    e = turn()
    c = e.client("bob", alg="sha256")
    c.allocate()
    m = c.refresh(check=False, override={S.PASSWORD_ALGORITHM: S.password_algorithm(0x0003)})
    assert T.error_of(m) == 400


# --- signing of responses --------------------------------------------------------------


def test_error_after_authentication_is_signed(turn):
    e = turn()
    c = e.client("alice")
    m = c.refresh(check=False)  # authenticated, but no allocation
    assert T.error_of(m) == 437
    assert m.integrity_ok(c.key())


def test_sha256_error_after_authentication_signed_sha256(turn):
    e = turn()
    c = e.client("bob", alg="sha256")
    m = c.refresh(check=False)
    assert T.error_of(m) == 437
    assert m.integrity_ok(c.key(), sha256=True)


def test_signed_response_with_fingerprint(turn):
    e = turn()
    c = e.client("alice", fingerprint=True)
    m = c.allocate()
    assert m.types[-2:] == [S.MESSAGE_INTEGRITY, S.FINGERPRINT]
    assert m.fingerprint_ok() and m.integrity_ok(c.key())


def test_sha256_signed_response_with_fingerprint(turn):
    e = turn()
    c = e.client("bob", alg="sha256", fingerprint=True)
    m = c.allocate()
    assert m.types[-2:] == [S.MESSAGE_INTEGRITY_SHA256, S.FINGERPRINT]
    assert m.fingerprint_ok() and m.integrity_ok(c.key(), sha256=True)


@pytest.mark.parametrize("alg", ["md5", "sha256"])
def test_every_turn_success_is_signed_with_software(turn, alg):
    e = turn()
    c = e.client("alice", alg=alg)
    p = ("127.0.0.1", 5000)
    sha = alg == "sha256"
    for m in (c.allocate(), c.refresh(), c.create_permission(p), c.channel_bind(0x4000, p),
              c.refresh(0)):
        assert m.cls == S.SUCCESS, m
        assert m.integrity_ok(c.key(), sha256=sha), m
        assert (S.MESSAGE_INTEGRITY in m.types) != sha and (
            S.MESSAGE_INTEGRITY_SHA256 in m.types) == sha
        assert m.software().startswith("kturn")


def test_unknown_required_attribute_after_auth_420_signed(turn):
    """RFC 8489 §6.3: unknown comprehension-required attributes are checked once
    authentication is done; §9.2.4: every response after that is signed."""
    e = turn()
    c = e.client("alice")
    m = c.allocate(check=False, extra=[(0x0031, b"abcd")])
    assert T.error_of(m) == 420
    assert m.unknown() == [0x0031]
    assert m.integrity_ok(c.key()), "420 to an authenticated request is not signed: %r" % m


def test_client_library_rejects_bad_signature(turn):
    """turnclient's own check: a response verified with the wrong key raises."""
    e = turn()
    c = e.client("alice")
    m = c.allocate()
    assert c.verify(m) is True
    with pytest.raises(T.IntegrityError):
        c.verify(m, key=S.long_term_key("alice", T.REALM, "not-the-password"))
    mi = m.attrs[-1]
    assert mi.type == S.MESSAGE_INTEGRITY
    body = m.raw[:mi.offset]
    stripped = S.decode(body[:2] + struct.pack("!H", len(body) - 20) + body[4:])
    assert S.MESSAGE_INTEGRITY not in stripped.types
    with pytest.raises(T.IntegrityError):
        c.verify(stripped)  # an unsigned success is refused too


# --- TURN REST API (use-auth-secret) ---------------------------------------------------


REST = ["--use-auth-secret", "--static-auth-secret", "s3cret", "--static-auth-secret", "n3xt"]


@pytest.mark.parametrize("secret", ["s3cret", "n3xt"])
def test_rest_api_credentials(turn, secret):
    e = turn(auth=False, extra=["--realm", T.REALM] + REST)
    user, pw = T.rest_credentials(secret, "webclient", ttl=600)
    c = e.client(user, password=pw)
    m = c.allocate()
    assert_challenge(c.last_challenge)
    assert m.integrity_ok(S.long_term_key(user, T.REALM, pw))
    assert c.refresh().cls == S.SUCCESS


def test_rest_api_sha256(turn):
    e = turn(auth=False, extra=["--realm", T.REALM] + REST)
    user, pw = T.rest_credentials("s3cret", "webclient", ttl=600)
    c = e.client(user, password=pw, alg="sha256")
    m = c.allocate()
    assert m.integrity_ok(S.long_term_key_sha256(user, T.REALM, pw), sha256=True)


def test_rest_api_expired_timestamp_401(turn):
    e = turn(auth=False, extra=["--realm", T.REALM] + REST)
    user, pw = T.rest_credentials("s3cret", "webclient", expiry=int(time.time()) - 10)
    assert_challenge(e.client(user, password=pw).allocate(check=False), anonymity=False)


def test_rest_api_wrong_secret_401(turn):
    e = turn(auth=False, extra=["--realm", T.REALM] + REST)
    user, pw = T.rest_credentials("not-the-secret", "webclient")
    assert_challenge(e.client(user, password=pw).allocate(check=False))


def test_rest_api_guessed_password_401(turn):
    """A well-formed, unexpired REST username with a guessed password: 401."""
    e = turn(auth=False, extra=["--realm", T.REALM] + REST)
    user = "%d:webclient" % (int(time.time()) + 600)
    assert_challenge(e.client(user, password="guess").allocate(check=False))
