# SPDX-License-Identifier: MIT
"""tests/lib/stunpy.py against the RFC 5769 test vectors (and self-consistency).

The vector bytes are RFC 5769 §2.1–§2.4 verbatim (Copyright (c) 2010 IETF
Trust and the persons identified as the document authors; Simplified BSD
License). Note the 0x20 padding after SOFTWARE and USERNAME in §2.1–§2.3: it is
in the RFC on purpose (padding bytes may hold any value).
"""

import hashlib
import hmac
import ipaddress
import os
import struct
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import stunpy as S  # noqa: E402


def unhex(s):
    return bytes.fromhex("".join(s.split()))


TID = unhex("b7 e7 a7 01 bc 34 d6 86 fa 87 df ae")
SHORT_TERM_PASSWORD = "VOkJxbRl1RmTxUk/WvJxBt"

# RFC 5769 §2.1 Sample Request
SAMPLE_REQUEST = unhex("""
00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
00 24 00 04 6e 00 01 ff
80 29 00 08 93 2f f9 b1 51 26 3b 36
00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
80 28 00 04 e5 7a 3b cf
""")

# RFC 5769 §2.2 Sample IPv4 Response: 192.0.2.1:32853
SAMPLE_IPV4_RESPONSE = unhex("""
01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
00 20 00 08 00 01 a1 47 e1 12 a6 43
00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
80 28 00 04 c0 7d 4c 96
""")

# RFC 5769 §2.3 Sample IPv6 Response: [2001:db8:1234:5678:11:2233:4455:6677]:32853
SAMPLE_IPV6_RESPONSE = unhex("""
01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
80 28 00 04 c8 fb 0b 4c
""")

# RFC 5769 §2.4 Sample Request with Long-Term Authentication
LT_TID = unhex("78 ad 34 33 c6 ad 72 c0 29 da 41 2e")
LT_USERNAME = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"  # "マトリックス"
LT_PASSWORD = "TheMatrIX"  # SASLprep("TheM\u00aatr\u2168")
LT_REALM = "example.org"
LT_NONCE = "f//499k954d6OL34oL9FSTvy64sA"
SAMPLE_LONG_TERM = unhex("""
00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66
""")


def test_sample_request():
    m = S.decode(SAMPLE_REQUEST, tid=TID, method=S.BINDING, cls=S.REQUEST)
    assert m.types == [S.SOFTWARE, S.PRIORITY, S.ICE_CONTROLLED, S.USERNAME,
                       S.MESSAGE_INTEGRITY, S.FINGERPRINT]
    assert m.get(S.SOFTWARE) == b"STUN test client"
    assert m.get(S.PRIORITY) == unhex("6e 00 01 ff")
    assert m.get(S.ICE_CONTROLLED) == unhex("93 2f f9 b1 51 26 3b 36")
    assert m.get(S.USERNAME) == b"evtj:h6vY"
    assert m.fingerprint_ok()
    assert m.integrity_ok(S.short_term_key(SHORT_TERM_PASSWORD))
    assert not m.integrity_ok(S.short_term_key(SHORT_TERM_PASSWORD + "x"))
    assert not m.integrity_ok(S.short_term_key(SHORT_TERM_PASSWORD), sha256=True)  # absent


def test_sample_request_reencodes_byte_exact():
    # The RFC pads SOFTWARE/USERNAME with 0x20, so rebuild with the same padding.
    attrs = [
        S.attr(S.SOFTWARE, b"STUN test client", pad=b" "),
        (S.PRIORITY, unhex("6e 00 01 ff")),
        (S.ICE_CONTROLLED, unhex("93 2f f9 b1 51 26 3b 36")),
        S.attr(S.USERNAME, b"evtj:h6vY", pad=b" "),
    ]
    out = S.encode(S.BINDING, S.REQUEST, TID, attrs,
                   integrity_key=S.short_term_key(SHORT_TERM_PASSWORD), fingerprint=True)
    assert out == SAMPLE_REQUEST


def test_sample_ipv4_response():
    m = S.decode(SAMPLE_IPV4_RESPONSE, tid=TID, method=S.BINDING, cls=S.SUCCESS)
    assert m.types == [S.SOFTWARE, S.XOR_MAPPED_ADDRESS, S.MESSAGE_INTEGRITY, S.FINGERPRINT]
    assert m.software() == "test vector"
    assert m.xor_mapped() == ("192.0.2.1", 32853)
    assert S.xor_address("192.0.2.1", 32853, TID) == m.get(S.XOR_MAPPED_ADDRESS)
    assert m.fingerprint_ok()
    assert m.integrity_ok(S.short_term_key(SHORT_TERM_PASSWORD))
    out = S.encode(S.BINDING, S.SUCCESS, TID,
                   [S.attr(S.SOFTWARE, "test vector", pad=b" "),
                    (S.XOR_MAPPED_ADDRESS, S.xor_address("192.0.2.1", 32853, TID))],
                   integrity_key=S.short_term_key(SHORT_TERM_PASSWORD), fingerprint=True)
    assert out == SAMPLE_IPV4_RESPONSE


def test_sample_ipv6_response():
    m = S.decode(SAMPLE_IPV6_RESPONSE, tid=TID, method=S.BINDING, cls=S.SUCCESS)
    ip = "2001:db8:1234:5678:11:2233:4455:6677"
    assert m.xor_mapped() == (ip, 32853)
    assert S.xor_address(ip, 32853, TID) == m.get(S.XOR_MAPPED_ADDRESS)
    assert m.fingerprint_ok()
    assert m.integrity_ok(S.short_term_key(SHORT_TERM_PASSWORD))
    out = S.encode(S.BINDING, S.SUCCESS, TID,
                   [S.attr(S.SOFTWARE, "test vector", pad=b" "),
                    (S.XOR_MAPPED_ADDRESS, S.xor_address(ip, 32853, TID))],
                   integrity_key=S.short_term_key(SHORT_TERM_PASSWORD), fingerprint=True)
    assert out == SAMPLE_IPV6_RESPONSE


def test_sample_long_term_request():
    m = S.decode(SAMPLE_LONG_TERM, tid=LT_TID, method=S.BINDING, cls=S.REQUEST)
    assert m.types == [S.USERNAME, S.NONCE, S.REALM, S.MESSAGE_INTEGRITY]
    assert m.get(S.USERNAME).decode("utf-8") == LT_USERNAME
    assert m.get(S.NONCE) == LT_NONCE.encode()
    assert m.get(S.REALM) == LT_REALM.encode()
    assert not m.has_fingerprint() and not m.fingerprint_ok()
    key = S.long_term_key(LT_USERNAME, LT_REALM, LT_PASSWORD)
    assert key == S.long_term_key(m.get(S.USERNAME), m.get(S.REALM), b"TheMatrIX")
    assert m.integrity_ok(key)
    assert not m.integrity_ok(S.long_term_key(LT_USERNAME, LT_REALM, "thematrix"))
    out = S.encode(S.BINDING, S.REQUEST, LT_TID,
                   [(S.USERNAME, LT_USERNAME), (S.NONCE, LT_NONCE), (S.REALM, LT_REALM)],
                   integrity_key=key)
    assert out == SAMPLE_LONG_TERM


@pytest.mark.parametrize("vector", [SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE,
                                    SAMPLE_IPV6_RESPONSE, SAMPLE_LONG_TERM],
                         ids=["2.1", "2.2", "2.3", "2.4"])
def test_every_truncated_prefix_rejected(vector):
    for n in range(len(vector)):
        with pytest.raises(S.StunError):
            S.decode(vector[:n])


@pytest.mark.parametrize("vector", [SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE, SAMPLE_IPV6_RESPONSE],
                         ids=["2.1", "2.2", "2.3"])
def test_bit_flips_break_fingerprint_or_integrity(vector):
    key = S.short_term_key(SHORT_TERM_PASSWORD)
    fp_off = len(vector) - 8  # FINGERPRINT TLV
    for i in range(fp_off):
        b = bytearray(vector)
        b[i] ^= 0x01
        try:
            m = S.decode(bytes(b))
        except S.StunError:
            continue  # structure broken or FINGERPRINT mismatch: rejected
        raise AssertionError("flip at %d still decoded: %r" % (i, m))
    # and the MAC alone catches a flipped body byte when FINGERPRINT is recomputed
    b = bytearray(vector[:fp_off])
    b[21] ^= 0x01
    raw = S._with_length(bytes(b), len(b) - 20 + 8)
    raw += S.attr(S.FINGERPRINT, S.fingerprint_value(raw))
    m = S.decode(raw)
    assert m.fingerprint_ok()
    assert not m.integrity_ok(key)


def test_strict_header_checks():
    good = S.binding_request(TID)
    assert len(good) == 20
    S.decode(good, tid=TID, method=S.BINDING, cls=S.REQUEST)
    with pytest.raises(S.StunError):
        S.decode(good, tid=bytes(12))
    with pytest.raises(S.StunError):
        S.decode(good, cls=S.SUCCESS)
    with pytest.raises(S.StunError):
        S.decode(good, method=S.ALLOCATE)
    with pytest.raises(S.StunError):  # bad cookie
        S.decode(good[:4] + b"\x21\x12\xa4\x43" + good[8:])
    with pytest.raises(S.StunError):  # top bits
        S.decode(b"\x80" + good[1:])
    with pytest.raises(S.StunError):  # trailing bytes beyond Length
        S.decode(good + b"\x00\x00\x00\x00")
    with pytest.raises(S.StunError):  # Length not a multiple of 4
        S.decode(good[:2] + b"\x00\x02" + good[4:] + b"\x00\x00")
    with pytest.raises(S.StunError):  # attribute after FINGERPRINT
        fp = S.binding_request(TID, fingerprint=True)
        extra = S.attr(S.SOFTWARE, "x")
        S.decode(S._with_length(fp, len(fp) - 20 + len(extra)) + extra)
    with pytest.raises(S.StunError):  # wrong FINGERPRINT
        fp = bytearray(S.binding_request(TID, fingerprint=True))
        fp[-1] ^= 0xFF
        S.decode(bytes(fp))


def test_message_type_bits():
    # RFC 8489 §5 / RFC 8656 examples: Binding request 0x0001, success 0x0101,
    # error 0x0111, indication 0x0011; Allocate error 0x0113; Data indication 0x0017.
    cases = [(S.BINDING, S.REQUEST, 0x0001), (S.BINDING, S.SUCCESS, 0x0101),
             (S.BINDING, S.ERROR, 0x0111), (S.BINDING, S.INDICATION, 0x0011),
             (S.ALLOCATE, S.ERROR, 0x0113), (S.DATA_M, S.INDICATION, 0x0017),
             (S.CHANNEL_BIND, S.SUCCESS, 0x0109), (0xFFF, S.ERROR, 0x3FFF)]
    for method, cls, t in cases:
        assert S.msg_type(method, cls) == t
        assert S.split_type(t) == (method, cls)


def test_integrity_sha256_and_fingerprint_order():
    key = S.long_term_key("user", "realm", "pass")
    raw = S.encode(S.ALLOCATE, S.REQUEST, TID, [(S.REQUESTED_TRANSPORT, S.requested_transport(17))],
                   integrity_key=key, integrity_sha256_key=key, fingerprint=True)
    m = S.decode(raw, tid=TID, method=S.ALLOCATE, cls=S.REQUEST)
    assert m.types == [S.REQUESTED_TRANSPORT, S.MESSAGE_INTEGRITY,
                       S.MESSAGE_INTEGRITY_SHA256, S.FINGERPRINT]
    assert len(m.get(S.MESSAGE_INTEGRITY_SHA256)) == 32
    assert m.integrity_ok(key) and m.integrity_ok(key, sha256=True)
    assert not m.integrity_ok(b"other", sha256=True)
    # the SHA-1 MAC covers a header whose length stops right after MESSAGE-INTEGRITY
    mi = [a for a in m.attrs if a.type == S.MESSAGE_INTEGRITY][0]
    covered = raw[:2] + struct.pack("!H", mi.offset + 24 - 20) + raw[4:mi.offset]
    assert hmac.new(key, covered, hashlib.sha1).digest() == mi.value
    assert S.long_term_key("user", "realm", "pass") == hashlib.md5(b"user:realm:pass").digest()


def test_error_code_and_unknown_attributes():
    v = S.error_code(420, "Unknown Attribute")
    assert v == b"\x00\x00\x04\x14Unknown Attribute"
    assert S.parse_error_code(v) == (420, "Unknown Attribute")
    assert S.parse_error_code(S.error_code(438)) == (438, "")
    with pytest.raises(S.StunError):
        S.parse_error_code(b"\x00\x00\x02\x00")  # class 2
    with pytest.raises(S.StunError):
        S.parse_error_code(b"\x00\x00\x04\x64")  # number 100
    assert S.parse_unknown_attributes(S.unknown_attributes([0x0031, 0x7F00])) == [0x0031, 0x7F00]
    with pytest.raises(S.StunError):
        S.parse_unknown_attributes(b"\x00\x31\x00")


def test_xor_address_roundtrip():
    for ip, port in [("127.0.0.1", 1), ("10.201.0.2", 65535), ("::1", 3478),
                     ("fd00:6b74::2", 40000), ("::ffff:192.0.2.9", 9)]:
        got_ip, got_port = S.parse_xor_address(S.xor_address(ip, port, TID), TID)
        assert (ipaddress.ip_address(got_ip), got_port) == (ipaddress.ip_address(ip), port)
        got_ip, got_port = S.parse_address(S.address(ip, port))
        assert (ipaddress.ip_address(got_ip), got_port) == (ipaddress.ip_address(ip), port)
    # IPv4 xor: port ^ 0x2112, address ^ 0x2112a442
    assert S.xor_address("127.0.0.1", 0x1234, TID) == bytes([0, 1, 0x33, 0x26, 0x5e, 0x12, 0xa4, 0x43])
    with pytest.raises(S.StunError):
        S.parse_xor_address(b"\x00\x03\x00\x00\x01\x02\x03\x04", TID)
    with pytest.raises(S.StunError):
        S.parse_xor_address(b"\x00\x01\x00\x00\x01\x02\x03", TID)


def test_channel_data_and_stream_framing():
    cd = S.channel_data(0x4001, b"hello")
    assert cd == b"\x40\x01\x00\x05hello"
    assert S.parse_channel_data(cd) == (0x4001, b"hello")
    padded = S.channel_data(0x4FFF, b"hello", pad=True)
    assert padded == b"\x4f\xff\x00\x05hello\x00\x00\x00"
    assert S.parse_channel_data(padded, padded=True) == (0x4FFF, b"hello")
    with pytest.raises(ValueError):
        S.channel_data(0x3FFF, b"")
    with pytest.raises(S.StunError):
        S.parse_channel_data(b"\x50\x00\x00\x00")
    req = S.binding_request(TID, fingerprint=True)
    frames, rest = S.split_stream(padded + req + S.channel_data(0x4002, b"", pad=True) + req[:7])
    assert frames == [padded, req, b"\x40\x02\x00\x00"] and rest == req[:7]
    assert S.frame_length(req[:3]) is None
    assert S.frame_length(req[:7]) is None  # cookie not seen yet
    assert S.frame_length(req[:8]) == len(req)
    # A TLS ClientHello starts 0x16, inside the STUN range: only the cookie tells.
    with pytest.raises(S.StunError):
        S.frame_length(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    # "GE" = 0x4745 is a syntactically valid channel number: framing alone would
    # wait for 0x5420 ("T ") bytes; a server must reject it for another reason.
    assert S.frame_length(b"GET / HTTP/1.1\r\n\r\n") == 4 + 0x5420
    with pytest.raises(S.StunError):
        S.frame_length(b"\x80\x00\x00\x00")
