# SPDX-License-Identifier: MIT
"""Minimal, independent STUN/TURN codec for the integration tests.

Written from RFC 8489 / RFC 8656 / RFC 6062 without looking at kturn's C
codec, so the two check each other. Standard library only.

Encoding: ``encode(method, cls, tid, attrs, integrity_key=..., fingerprint=...)``
returns wire bytes. Decoding: ``decode(buf, ...)`` is strict: it raises
``StunError`` unless the buffer is exactly one well-formed STUN message (header
bits, magic cookie, length == len(buf) - 20, 4-byte aligned TLVs, attribute
ordering rules for MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT) and, when asked,
unless the transaction id / class / method match.
"""

import hashlib
import hmac
import ipaddress
import os
import struct
import zlib

MAGIC_COOKIE = 0x2112A442
COOKIE_BYTES = struct.pack("!I", MAGIC_COOKIE)
FINGERPRINT_XOR = 0x5354554E
HEADER_LEN = 20
TID_LEN = 12

# classes
REQUEST = 0
INDICATION = 1
SUCCESS = 2
ERROR = 3
CLASS_NAMES = {REQUEST: "request", INDICATION: "indication", SUCCESS: "success", ERROR: "error"}

# methods
BINDING = 0x001
ALLOCATE = 0x003
REFRESH = 0x004
SEND = 0x006
DATA_M = 0x007
CREATE_PERMISSION = 0x008
CHANNEL_BIND = 0x009
CONNECT = 0x00A
CONNECTION_BIND = 0x00B
CONNECTION_ATTEMPT = 0x00C

# attributes
MAPPED_ADDRESS = 0x0001
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
UNKNOWN_ATTRIBUTES = 0x000A
CHANNEL_NUMBER = 0x000C
LIFETIME = 0x000D
XOR_PEER_ADDRESS = 0x0012
DATA = 0x0013
REALM = 0x0014
NONCE = 0x0015
XOR_RELAYED_ADDRESS = 0x0016
REQUESTED_ADDRESS_FAMILY = 0x0017
EVEN_PORT = 0x0018
REQUESTED_TRANSPORT = 0x0019
DONT_FRAGMENT = 0x001A
MESSAGE_INTEGRITY_SHA256 = 0x001C
PASSWORD_ALGORITHM = 0x001D
USERHASH = 0x001E
XOR_MAPPED_ADDRESS = 0x0020
RESERVATION_TOKEN = 0x0022
PRIORITY = 0x0024
USE_CANDIDATE = 0x0025
CONNECTION_ID = 0x002A
ADDITIONAL_ADDRESS_FAMILY = 0x8000
PASSWORD_ALGORITHMS = 0x8002
SOFTWARE = 0x8022
ALTERNATE_SERVER = 0x8023
FINGERPRINT = 0x8028
ICE_CONTROLLED = 0x8029
ICE_CONTROLLING = 0x802A
RESPONSE_ORIGIN = 0x802B
OTHER_ADDRESS = 0x802C

FAMILY_IPV4 = 0x01
FAMILY_IPV6 = 0x02


class StunError(ValueError):
    """The bytes are not the STUN message the caller expected."""


def new_tid():
    return os.urandom(TID_LEN)


# --- message type -----------------------------------------------------------


def msg_type(method, cls):
    """Interleave the 12-bit method and 2-bit class (RFC 8489 §5)."""
    if not 0 <= method <= 0xFFF or not 0 <= cls <= 3:
        raise ValueError("method/class out of range")
    return (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((cls & 1) << 4)
        | ((cls & 2) << 7)
    )


def split_type(t):
    """Message type -> (method, class)."""
    method = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2)
    cls = ((t >> 4) & 1) | ((t >> 7) & 2)
    return method, cls


# --- attributes -------------------------------------------------------------


def pad4(n):
    return (n + 3) & ~3


def attr(atype, value, pad=b"\x00"):
    """One TLV with its padding (pad byte configurable for odd tests)."""
    if isinstance(value, str):
        value = value.encode()
    n = len(value)
    return struct.pack("!HH", atype, n) + value + pad * (pad4(n) - n)


def xor_address(ip, port, tid):
    """XOR-MAPPED/PEER/RELAYED-ADDRESS value for (ip, port)."""
    a = ipaddress.ip_address(ip)
    xport = port ^ (MAGIC_COOKIE >> 16)
    if a.version == 4:
        x = int(a) ^ MAGIC_COOKIE
        return struct.pack("!BBHI", 0, FAMILY_IPV4, xport, x)
    key = COOKIE_BYTES + tid
    raw = bytes(b ^ k for b, k in zip(a.packed, key))
    return struct.pack("!BBH", 0, FAMILY_IPV6, xport) + raw


def parse_xor_address(value, tid):
    """XOR-*-ADDRESS value -> (ip string, port). Strict on length and family."""
    if len(value) < 4:
        raise StunError("xor-address too short")
    _, family, xport = struct.unpack_from("!BBH", value)
    port = xport ^ (MAGIC_COOKIE >> 16)
    if family == FAMILY_IPV4:
        if len(value) != 8:
            raise StunError("xor-address IPv4 length %d" % len(value))
        (x,) = struct.unpack_from("!I", value, 4)
        return str(ipaddress.IPv4Address(x ^ MAGIC_COOKIE)), port
    if family == FAMILY_IPV6:
        if len(value) != 20:
            raise StunError("xor-address IPv6 length %d" % len(value))
        key = COOKIE_BYTES + tid
        raw = bytes(b ^ k for b, k in zip(value[4:], key))
        return str(ipaddress.IPv6Address(raw)), port
    raise StunError("xor-address family %#x" % family)


def address(ip, port):
    """Plain MAPPED-ADDRESS style value."""
    a = ipaddress.ip_address(ip)
    fam = FAMILY_IPV4 if a.version == 4 else FAMILY_IPV6
    return struct.pack("!BBH", 0, fam, port) + a.packed


def parse_address(value):
    if len(value) < 4:
        raise StunError("address too short")
    _, family, port = struct.unpack_from("!BBH", value)
    if family == FAMILY_IPV4 and len(value) == 8:
        return str(ipaddress.IPv4Address(value[4:8])), port
    if family == FAMILY_IPV6 and len(value) == 20:
        return str(ipaddress.IPv6Address(value[4:20])), port
    raise StunError("bad address family/length")


def error_code(code, reason=""):
    if not 300 <= code <= 699:
        raise ValueError("error code out of range")
    return struct.pack("!HBB", 0, code // 100, code % 100) + reason.encode()


def parse_error_code(value):
    """ERROR-CODE value -> (code, reason). Strict: class 3..6, number 0..99."""
    if len(value) < 4:
        raise StunError("ERROR-CODE too short")
    reserved, cls, num = struct.unpack_from("!HBB", value)
    cls &= 0x07
    if reserved != 0 or (value[2] & 0xF8) != 0:
        raise StunError("ERROR-CODE reserved bits set")
    if not 3 <= cls <= 6 or num > 99:
        raise StunError("ERROR-CODE %d/%d out of range" % (cls, num))
    return cls * 100 + num, value[4:].decode("utf-8")


def unknown_attributes(types):
    return b"".join(struct.pack("!H", t) for t in types)


def parse_unknown_attributes(value):
    if len(value) % 2:
        raise StunError("UNKNOWN-ATTRIBUTES odd length")
    return [struct.unpack_from("!H", value, i)[0] for i in range(0, len(value), 2)]


def u32(v):
    return struct.pack("!I", v)


def requested_transport(proto):
    return struct.pack("!BBH", proto, 0, 0)


# --- keys, integrity, fingerprint -------------------------------------------


def long_term_key(username, realm, password):
    """MD5(username ":" realm ":" password) (RFC 8489 §9.2.2); inputs already SASLprep'd."""
    def b(x):
        return x.encode("utf-8") if isinstance(x, str) else x

    return hashlib.md5(b(username) + b":" + b(realm) + b":" + b(password)).digest()


def short_term_key(password):
    return password.encode("utf-8") if isinstance(password, str) else password


def _with_length(buf, length):
    return buf[:2] + struct.pack("!H", length) + buf[4:]


def _mac(key, data, sha256):
    return hmac.new(key, data, hashlib.sha256 if sha256 else hashlib.sha1).digest()


def fingerprint_value(prefix):
    """CRC over ``prefix`` (header length must already include FINGERPRINT)."""
    return struct.pack("!I", (zlib.crc32(prefix) & 0xFFFFFFFF) ^ FINGERPRINT_XOR)


# --- encoder ----------------------------------------------------------------


def encode(method, cls, tid=None, attrs=(), *, integrity_key=None, integrity_sha256_key=None,
           fingerprint=False, msg_type_override=None, cookie=MAGIC_COOKIE):
    """Build a message. ``attrs``: iterable of (type, value bytes/str) or raw TLV bytes.

    MESSAGE-INTEGRITY, then MESSAGE-INTEGRITY-SHA256, then FINGERPRINT are
    appended in that order when asked for.
    """
    if tid is None:
        tid = new_tid()
    if len(tid) != TID_LEN:
        raise ValueError("transaction id must be 12 bytes")
    body = b""
    for a in attrs:
        body += a if isinstance(a, (bytes, bytearray)) else attr(a[0], a[1])
    t = msg_type(method, cls) if msg_type_override is None else msg_type_override

    def header(extra):
        return struct.pack("!HHI", t, len(body) + extra, cookie) + tid

    if integrity_key is not None:
        mac = _mac(integrity_key, header(24) + body, False)
        body += attr(MESSAGE_INTEGRITY, mac)
    if integrity_sha256_key is not None:
        mac = _mac(integrity_sha256_key, header(36) + body, True)
        body += attr(MESSAGE_INTEGRITY_SHA256, mac)
    if fingerprint:
        body += attr(FINGERPRINT, fingerprint_value(header(8) + body))
    return header(0) + body


def binding_request(tid=None, attrs=(), fingerprint=False, **kw):
    return encode(BINDING, REQUEST, tid, attrs, fingerprint=fingerprint, **kw)


# --- decoder ----------------------------------------------------------------


class Attr:
    __slots__ = ("type", "value", "offset")

    def __init__(self, atype, value, offset):
        self.type = atype
        self.value = value
        self.offset = offset  # of the TLV header within the message

    def __repr__(self):
        return "Attr(%#06x, %s)" % (self.type, self.value.hex())


class Message:
    def __init__(self, raw, method, cls, tid, attrs):
        self.raw = raw
        self.method = method
        self.cls = cls
        self.tid = tid
        self.attrs = attrs

    @property
    def types(self):
        return [a.type for a in self.attrs]

    def get(self, atype):
        """Value of the first attribute of ``atype`` or None."""
        for a in self.attrs:
            if a.type == atype:
                return a.value
        return None

    def get_all(self, atype):
        return [a.value for a in self.attrs if a.type == atype]

    def require(self, atype):
        v = self.get(atype)
        if v is None:
            raise StunError("attribute %#06x missing; have %s" % (atype, [hex(t) for t in self.types]))
        return v

    # convenience views
    def xor_mapped(self):
        return parse_xor_address(self.require(XOR_MAPPED_ADDRESS), self.tid)

    def error(self):
        return parse_error_code(self.require(ERROR_CODE))

    def unknown(self):
        return parse_unknown_attributes(self.require(UNKNOWN_ATTRIBUTES))

    def software(self):
        return self.require(SOFTWARE).decode("utf-8")

    def has_fingerprint(self):
        return bool(self.attrs) and self.attrs[-1].type == FINGERPRINT

    def fingerprint_ok(self):
        """True iff FINGERPRINT is present, last, and matches the CRC."""
        if not self.has_fingerprint():
            return False
        a = self.attrs[-1]
        return fingerprint_value(self.raw[: a.offset]) == a.value

    def integrity_ok(self, key, sha256=False):
        """Check MESSAGE-INTEGRITY (or -SHA256) with ``key``; False if absent."""
        want = MESSAGE_INTEGRITY_SHA256 if sha256 else MESSAGE_INTEGRITY
        for a in self.attrs:
            if a.type == want:
                end = a.offset + 4 + pad4(len(a.value))
                data = _with_length(self.raw[: a.offset], end - HEADER_LEN)
                return hmac.compare_digest(_mac(key, data, sha256), a.value)
        return False

    def __repr__(self):
        return "Message(method=%#x, class=%s, tid=%s, attrs=%r)" % (
            self.method, CLASS_NAMES[self.cls], self.tid.hex(), self.attrs)


def decode(buf, *, tid=None, method=None, cls=None):
    """Strictly decode exactly one STUN message occupying all of ``buf``."""
    buf = bytes(buf)
    if len(buf) < HEADER_LEN:
        raise StunError("short message: %d bytes" % len(buf))
    t, length, cookie = struct.unpack_from("!HHI", buf)
    if t & 0xC000:
        raise StunError("top two bits of type set: %#06x" % t)
    if cookie != MAGIC_COOKIE:
        raise StunError("bad magic cookie %#010x" % cookie)
    if length % 4:
        raise StunError("length %d not a multiple of 4" % length)
    if length != len(buf) - HEADER_LEN:
        raise StunError("header length %d but %d bytes follow" % (length, len(buf) - HEADER_LEN))
    m_method, m_cls = split_type(t)
    m_tid = buf[8:20]
    attrs = []
    off = HEADER_LEN
    seen_mi = seen_mi256 = seen_fp = False
    while off < len(buf):
        if off + 4 > len(buf):
            raise StunError("truncated attribute header at %d" % off)
        atype, alen = struct.unpack_from("!HH", buf, off)
        end = off + 4 + alen
        if end > len(buf) or off + 4 + pad4(alen) > len(buf):
            raise StunError("attribute %#06x overruns message" % atype)
        if seen_fp:
            raise StunError("attribute %#06x after FINGERPRINT" % atype)
        if seen_mi256 and atype != FINGERPRINT:
            raise StunError("attribute %#06x after MESSAGE-INTEGRITY-SHA256" % atype)
        if seen_mi and atype not in (MESSAGE_INTEGRITY_SHA256, FINGERPRINT):
            raise StunError("attribute %#06x after MESSAGE-INTEGRITY" % atype)
        if atype == MESSAGE_INTEGRITY:
            if alen != 20:
                raise StunError("MESSAGE-INTEGRITY length %d" % alen)
            seen_mi = True
        elif atype == MESSAGE_INTEGRITY_SHA256:
            if alen < 16 or alen > 32 or alen % 4:
                raise StunError("MESSAGE-INTEGRITY-SHA256 length %d" % alen)
            seen_mi256 = True
        elif atype == FINGERPRINT:
            if alen != 4:
                raise StunError("FINGERPRINT length %d" % alen)
            seen_fp = True
        attrs.append(Attr(atype, buf[off + 4:end], off))
        off += 4 + pad4(alen)
    msg = Message(buf, m_method, m_cls, m_tid, attrs)
    if seen_fp and not msg.fingerprint_ok():
        raise StunError("FINGERPRINT does not match")
    if tid is not None and m_tid != tid:
        raise StunError("transaction id %s, expected %s" % (m_tid.hex(), tid.hex()))
    if method is not None and m_method != method:
        raise StunError("method %#x, expected %#x" % (m_method, method))
    if cls is not None and m_cls != cls:
        detail = ""
        if m_cls == ERROR and msg.get(ERROR_CODE) is not None:
            detail = " %r" % (msg.error(),)
        raise StunError("class %s%s, expected %s" % (CLASS_NAMES[m_cls], detail, CLASS_NAMES[cls]))
    return msg


# --- ChannelData and stream framing -----------------------------------------


def channel_data(channel, data, pad=False):
    """ChannelData message (RFC 8656 §12.4); ``pad`` for stream transports."""
    if not 0x4000 <= channel <= 0x4FFF:
        raise ValueError("channel number out of range")
    out = struct.pack("!HH", channel, len(data)) + data
    if pad:
        out += b"\x00" * (pad4(len(data)) - len(data))
    return out


def parse_channel_data(buf, padded=False):
    """-> (channel, data). Strict: the buffer holds exactly one message."""
    if len(buf) < 4:
        raise StunError("ChannelData too short")
    channel, length = struct.unpack_from("!HH", buf)
    if not 0x4000 <= channel <= 0x4FFF:
        raise StunError("channel %#06x out of range" % channel)
    total = 4 + (pad4(length) if padded else length)
    if len(buf) != total:
        raise StunError("ChannelData length %d, buffer %d" % (length, len(buf)))
    return channel, bytes(buf[4:4 + length])


def frame_length(buf):
    """Bytes needed for the first framed message in a stream buffer.

    Returns the full frame length (may exceed len(buf): need more), or None if
    too few bytes are present to tell (4 for ChannelData, 8 for STUN, whose
    magic cookie is checked). Raises StunError for bytes that cannot
    start a STUN or ChannelData frame.
    """
    if len(buf) < 4:
        return None
    first = buf[0]
    (length,) = struct.unpack_from("!H", buf, 2)
    if first < 0x40:
        if len(buf) < 8:
            return None
        if buf[4:8] != COOKIE_BYTES:
            raise StunError("stream bytes look like STUN but the magic cookie is %s" % buf[4:8].hex())
        if length % 4:
            raise StunError("STUN length %d not a multiple of 4" % length)
        return HEADER_LEN + length
    if 0x40 <= first <= 0x4F:
        return 4 + pad4(length)
    raise StunError("not STUN/ChannelData: first byte %#04x" % first)


def split_stream(buf):
    """Split a stream buffer -> (list of complete frames, remaining bytes)."""
    frames = []
    buf = bytes(buf)
    while True:
        n = frame_length(buf)
        if n is None or n > len(buf):
            return frames, buf
        frames.append(buf[:n])
        buf = buf[n:]


# --- TURN / long-term credential helpers (added for the TURN tests) ----------

ADDRESS_ERROR_CODE = 0x8001
ICMP = 0x8004

PASSWORD_ALG_MD5 = 0x0001
PASSWORD_ALG_SHA256 = 0x0002


def long_term_key_sha256(username, realm, password):
    """SHA-256(username ":" realm ":" password) (RFC 8489 §9.2.2, PASSWORD-ALGORITHM 2)."""
    def b(x):
        return x.encode("utf-8") if isinstance(x, str) else x

    return hashlib.sha256(b(username) + b":" + b(realm) + b":" + b(password)).digest()


def userhash(username, realm):
    """USERHASH value: SHA-256(username ":" realm) (RFC 8489 §14.4)."""
    def b(x):
        return x.encode("utf-8") if isinstance(x, str) else x

    return hashlib.sha256(b(username) + b":" + b(realm)).digest()


def password_algorithm(alg, params=b""):
    """PASSWORD-ALGORITHM value (RFC 8489 §14.12)."""
    n = len(params)
    return struct.pack("!HH", alg, n) + params + b"\x00" * (pad4(n) - n)


def password_algorithms(algs):
    """PASSWORD-ALGORITHMS value from [(alg, params)] or [alg] (RFC 8489 §14.11)."""
    out = b""
    for a in algs:
        alg, params = (a, b"") if isinstance(a, int) else a
        out += password_algorithm(alg, params)
    return out


def parse_password_algorithms(value):
    """PASSWORD-ALGORITHMS value -> [(alg, params)]. Strict on lengths."""
    out = []
    off = 0
    while off < len(value):
        if off + 4 > len(value):
            raise StunError("PASSWORD-ALGORITHMS truncated")
        alg, plen = struct.unpack_from("!HH", value, off)
        end = off + 4 + pad4(plen)
        if end > len(value):
            raise StunError("PASSWORD-ALGORITHMS parameters overrun")
        out.append((alg, bytes(value[off + 4:off + 4 + plen])))
        off = end
    return out


def channel_number(channel):
    """CHANNEL-NUMBER value: number + RFFU (RFC 8656 §18.1)."""
    return struct.pack("!HH", channel, 0)


def parse_channel_number(value):
    if len(value) != 4:
        raise StunError("CHANNEL-NUMBER length %d" % len(value))
    return struct.unpack("!H", value[:2])[0]


def even_port(reserve=False):
    """EVEN-PORT value: one byte, R bit is the top bit (RFC 8656 §18.8)."""
    return b"\x80" if reserve else b"\x00"


def address_family(family):
    """REQUESTED-/ADDITIONAL-ADDRESS-FAMILY value (RFC 8656 §18.5, §18.10)."""
    return struct.pack("!BBH", family, 0, 0)


def parse_u32(value):
    if len(value) != 4:
        raise StunError("32-bit attribute length %d" % len(value))
    return struct.unpack("!I", value)[0]


def parse_address_error_code(value):
    """ADDRESS-ERROR-CODE value -> (family, code, reason) (RFC 8656 §18.11)."""
    if len(value) < 4:
        raise StunError("ADDRESS-ERROR-CODE too short")
    family, _, cls, num = struct.unpack_from("!BBBB", value)
    cls &= 0x07
    return family, cls * 100 + num, value[4:].decode("utf-8")
