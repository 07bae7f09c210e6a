/* SPDX-License-Identifier: MIT */
/*
 * STUN/TURN codec (RFC 8489, RFC 8656, RFC 6062).
 *
 * Decoding is a validated, zero-copy view over the caller's buffer: the
 * parser never allocates and never writes to its input. Encoding appends to a
 * caller-supplied buffer through a builder with a sticky error, so a chain of
 * stun_build__*() calls is checked once at stun_build__finish().
 *
 * All functions return 0 (or a length) on success and a negative errno on
 * failure unless stated otherwise.
 */
#ifndef KTURN_STUN_H
#define KTURN_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define STUN_MAGIC_COOKIE    0x2112A442u
#define STUN_FINGERPRINT_XOR 0x5354554eu
#define STUN_HEADER_LEN	     20
#define STUN_TID_LEN	     12
#define STUN_ATTR_HDR_LEN    4
#define STUN_MAX_MSG_LEN     (STUN_HEADER_LEN + 0xFFFC) /* 16-bit length, 4-aligned */
#define STUN_HMAC_SHA1_LEN   20
#define STUN_HMAC_SHA256_LEN 32
#define STUN_FINGERPRINT_LEN 4
#define STUN_MAX_UNKNOWN     16 /* UNKNOWN-ATTRIBUTES entries we report */

/* Limits from RFC 8489 §14 (bytes of UTF-8, not characters). */
#define STUN_MAX_USERNAME 513
#define STUN_MAX_REALM	  763
#define STUN_MAX_NONCE	  763
#define STUN_MAX_SOFTWARE 763
#define STUN_MAX_REASON	  763

enum stun_class {
	STUN_REQUEST = 0,
	STUN_INDICATION = 1,
	STUN_SUCCESS = 2,
	STUN_ERROR = 3,
};

enum stun_method {
	STUN_BINDING = 0x001,
	TURN_ALLOCATE = 0x003,
	TURN_REFRESH = 0x004,
	TURN_SEND = 0x006,
	TURN_DATA = 0x007,
	TURN_CREATE_PERMISSION = 0x008,
	TURN_CHANNEL_BIND = 0x009,
	TURN_CONNECT = 0x00a,		 /* RFC 6062 */
	TURN_CONNECTION_BIND = 0x00b,	 /* RFC 6062 */
	TURN_CONNECTION_ATTEMPT = 0x00c, /* RFC 6062 */
};

enum stun_attr_type {
	/* comprehension-required (0x0000-0x7FFF) */
	STUN_ATTR_MAPPED_ADDRESS = 0x0001,
	STUN_ATTR_USERNAME = 0x0006,
	STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
	STUN_ATTR_ERROR_CODE = 0x0009,
	STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
	STUN_ATTR_CHANNEL_NUMBER = 0x000C,
	STUN_ATTR_LIFETIME = 0x000D,
	STUN_ATTR_XOR_PEER_ADDRESS = 0x0012,
	STUN_ATTR_DATA = 0x0013,
	STUN_ATTR_REALM = 0x0014,
	STUN_ATTR_NONCE = 0x0015,
	STUN_ATTR_XOR_RELAYED_ADDRESS = 0x0016,
	STUN_ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017,
	STUN_ATTR_EVEN_PORT = 0x0018,
	STUN_ATTR_REQUESTED_TRANSPORT = 0x0019,
	STUN_ATTR_DONT_FRAGMENT = 0x001A,
	STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	STUN_ATTR_PASSWORD_ALGORITHM = 0x001D,
	STUN_ATTR_USERHASH = 0x001E,
	STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
	STUN_ATTR_RESERVATION_TOKEN = 0x0022,
	STUN_ATTR_PRIORITY = 0x0024,
	STUN_ATTR_USE_CANDIDATE = 0x0025,
	STUN_ATTR_CONNECTION_ID = 0x002A,
	/* comprehension-optional (0x8000-0xFFFF) */
	STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
	STUN_ATTR_ADDRESS_ERROR_CODE = 0x8001,
	STUN_ATTR_PASSWORD_ALGORITHMS = 0x8002,
	STUN_ATTR_ALTERNATE_DOMAIN = 0x8003,
	STUN_ATTR_ICMP = 0x8004,
	STUN_ATTR_SOFTWARE = 0x8022,
	STUN_ATTR_ALTERNATE_SERVER = 0x8023,
	STUN_ATTR_TRANSACTION_TRANSMIT_COUNTER = 0x8025,
	STUN_ATTR_CACHE_TIMEOUT = 0x8027,
	STUN_ATTR_FINGERPRINT = 0x8028,
	STUN_ATTR_ICE_CONTROLLED = 0x8029,
	STUN_ATTR_ICE_CONTROLLING = 0x802A,
	STUN_ATTR_RESPONSE_ORIGIN = 0x802B,
	STUN_ATTR_OTHER_ADDRESS = 0x802C,
};

static inline bool stun_attr_is_required(uint16_t type)
{
	return type < 0x8000;
}

/* REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY / address families. */
#define STUN_FAMILY_IPV4 0x01
#define STUN_FAMILY_IPV6 0x02

/* PASSWORD-ALGORITHM values (RFC 8489 §18.5). */
enum stun_pwalg {
	STUN_PWALG_MD5 = 0x0001,
	STUN_PWALG_SHA256 = 0x0002,
};

/* REQUESTED-TRANSPORT protocol numbers. */
#define STUN_TRANSPORT_TCP 6
#define STUN_TRANSPORT_UDP 17

/* ---------------------------------------------------------------------- */
/* Message type                                                             */

static inline uint16_t stun_type(uint16_t method, enum stun_class cls)
{
	return (uint16_t)((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) |
			  ((cls & 1) << 4) | ((cls & 2) << 7));
}

static inline uint16_t stun_type_method(uint16_t type)
{
	return (uint16_t)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
}

static inline enum stun_class stun_type_class(uint16_t type)
{
	return (enum stun_class)(((type >> 4) & 1) | ((type >> 7) & 2));
}

/* ---------------------------------------------------------------------- */
/* Decoding                                                                 */

/*
 * A validated view of one STUN message. Offsets are from m->buf; 0 means
 * "absent" (no attribute can start at offset 0).
 *
 * Invariants after a successful stun_msg__parse():
 *  - len == STUN_HEADER_LEN + the header's length field, len % 4 == 0;
 *  - every attribute's value and padding lies inside the message;
 *  - FINGERPRINT, if present, is the last attribute;
 *  - attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256
 *    and FINGERPRINT, and after MESSAGE-INTEGRITY-SHA256 other than
 *    FINGERPRINT, are ignored (RFC 8489 §14.5, §14.6): iteration and
 *    lookups do not return them. `visible_end` is where ignoring starts.
 */
struct stun_msg {
	const uint8_t *buf;
	size_t len;
	uint16_t type;
	uint16_t method;
	enum stun_class cls;
	const uint8_t *tid; /* STUN_TID_LEN bytes inside buf */
	/* 32-bit: a message may be 20 + 0xFFFC bytes, past what 16 bits can address. */
	uint32_t mi_off;      /* MESSAGE-INTEGRITY attribute header */
	uint32_t mi256_off;   /* MESSAGE-INTEGRITY-SHA256 attribute header */
	uint32_t fp_off;      /* FINGERPRINT attribute header */
	uint32_t visible_end; /* end of the attributes the view exposes */
};

struct stun_attr {
	uint16_t type;
	uint16_t len; /* value length, without padding */
	const uint8_t *val;
};

struct stun_attr_iter {
	const struct stun_msg *msg;
	size_t off;
};

/*
 * Validate `buf[0..len)` as exactly one STUN message (a UDP datagram, or a
 * frame returned by stun_frame__next()). Returns 0, or -EBADMSG when the
 * bytes are not a well-formed STUN message (bad first bits, magic cookie,
 * length, TLV overrun, bad padding length, attribute after FINGERPRINT,
 * wrong-sized MESSAGE-INTEGRITY/-SHA256/FINGERPRINT).
 */
int stun_msg__parse(struct stun_msg *m, const uint8_t *buf, size_t len);

/* Cheap demultiplex test (RFC 7983): could this datagram be STUN? */
bool stun_msg__looks_like(const uint8_t *buf, size_t len);

void stun_attr_iter__init(struct stun_attr_iter *it, const struct stun_msg *m);
/* Next visible attribute; false at the end. */
bool stun_attr_iter__next(struct stun_attr_iter *it, struct stun_attr *a);

/* First visible attribute of `type`; false if absent. */
bool stun_msg__find(const struct stun_msg *m, uint16_t type, struct stun_attr *a);

/*
 * Collect comprehension-required attribute types that `known(type)` rejects
 * (deduplicated, at most `max`). Returns how many were stored.
 */
size_t stun_msg__unknown_required(const struct stun_msg *m, bool (*known)(uint16_t type),
				  uint16_t *out, size_t max);

/* Typed getters: return 0, or -EBADMSG when the value is malformed. */

/* MAPPED-ADDRESS, ALTERNATE-SERVER, ... (plain). out is sockaddr_in/in6. */
int stun_attr__addr(const struct stun_attr *a, struct sockaddr_storage *out);
/* XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS. */
int stun_attr__xaddr(const struct stun_attr *a, const uint8_t tid[STUN_TID_LEN],
		     struct sockaddr_storage *out);
/* 4-byte values: LIFETIME, CONNECTION-ID, PRIORITY, FINGERPRINT... */
int stun_attr__u32(const struct stun_attr *a, uint32_t *v);
/* 8-byte values: RESERVATION-TOKEN, ICE-CONTROLLED/-CONTROLLING. */
int stun_attr__u64(const struct stun_attr *a, uint64_t *v);
/* ERROR-CODE: code 300..699; reason points into the message (not NUL-terminated). */
int stun_attr__error(const struct stun_attr *a, int *code, const char **reason, size_t *reason_len);
/* CHANNEL-NUMBER: any 16-bit value (range is the caller's policy). */
int stun_attr__channel(const struct stun_attr *a, uint16_t *channel);
/* REQUESTED-TRANSPORT: protocol number. */
int stun_attr__transport(const struct stun_attr *a, uint8_t *proto);
/* REQUESTED-/ADDITIONAL-ADDRESS-FAMILY: STUN_FAMILY_IPV4 or _IPV6 only. */
int stun_attr__family(const struct stun_attr *a, uint8_t *family);
/* EVEN-PORT: R bit. */
int stun_attr__even_port(const struct stun_attr *a, bool *reserve);
/* ADDRESS-ERROR-CODE (RFC 8656 §18.13). */
int stun_attr__address_error(const struct stun_attr *a, uint8_t *family, int *code,
			     const char **reason, size_t *reason_len);
/* ICMP (RFC 8656 §18.14). */
int stun_attr__icmp(const struct stun_attr *a, uint8_t *type, uint8_t *code, uint32_t *data);
/*
 * PASSWORD-ALGORITHMS: stores up to `max` algorithm numbers (parameters are
 * validated and skipped); *n is the number stored.
 */
int stun_attr__password_algorithms(const struct stun_attr *a, uint16_t *algs, size_t max,
				   size_t *n);
/* PASSWORD-ALGORITHM: algorithm number (parameters validated and skipped). */
int stun_attr__password_algorithm(const struct stun_attr *a, uint16_t *alg);
/* UNKNOWN-ATTRIBUTES: stores up to `max` types. */
int stun_attr__unknown(const struct stun_attr *a, uint16_t *types, size_t max, size_t *n);
/*
 * UTF-8 text attributes (USERNAME, REALM, NONCE, SOFTWARE): checks the
 * RFC 8489 byte limit for the type, valid UTF-8 and no NUL. The string
 * points into the message and is not NUL-terminated.
 */
int stun_attr__string(const struct stun_attr *a, const char **s, size_t *len);

/* ---------------------------------------------------------------------- */
/* Integrity and fingerprint                                               */

/*
 * Verify MESSAGE-INTEGRITY (HMAC-SHA1) / MESSAGE-INTEGRITY-SHA256 with a
 * key, without modifying the buffer; comparison is constant-time.
 * Returns 0 on match, -ENOENT if the attribute is absent, -EACCES on
 * mismatch. MESSAGE-INTEGRITY-SHA256 may be truncated to 16..32 bytes
 * (multiple of 4) by the sender.
 */
int stun_msg__check_integrity(const struct stun_msg *m, const uint8_t *key, size_t key_len);
int stun_msg__check_integrity_sha256(const struct stun_msg *m, const uint8_t *key, size_t key_len);
/* Returns 0 on match, -ENOENT if absent, -EBADMSG on mismatch. */
int stun_msg__check_fingerprint(const struct stun_msg *m);

/*
 * Long-term credential key (RFC 8489 §9.2.2):
 *   MD5    : MD5(username ":" realm ":" SASLprep(password))      -> 16 bytes
 *   SHA256 : SHA-256(username ":" realm ":" SASLprep(password))  -> 32 bytes
 * The password is prepared with SASLprep (RFC 4013, via libidn's
 * stringprep); a password it cannot prepare (prohibited or unassigned code
 * points, bidi violations, invalid UTF-8) is rejected with -EINVAL.
 * `key` must hold 32 bytes; returns the key length.
 */
int stun_lt_key(enum stun_pwalg alg, const char *user, size_t user_len, const char *realm,
		size_t realm_len, const char *password, size_t password_len, uint8_t key[32]);

/* USERHASH (RFC 8489 §14.4): SHA-256(username ":" realm), 32 bytes. */
void stun_userhash(const char *user, size_t user_len, const char *realm, size_t realm_len,
		   uint8_t out[32]);

/* ---------------------------------------------------------------------- */
/* Encoding                                                                 */

struct stun_builder {
	uint8_t *buf;
	size_t cap;
	size_t len; /* bytes written so far, header included */
	int err;    /* first error, sticky; 0 while all is well */
};

/* Start a message; tid may be NULL for a fresh random transaction id. */
void stun_build__init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
		      enum stun_class cls, const uint8_t *tid);
/* Any attribute; zero padding added. */
void stun_build__attr(struct stun_builder *b, uint16_t type, const void *val, size_t len);
void stun_build__u32(struct stun_builder *b, uint16_t type, uint32_t v);
void stun_build__u64(struct stun_builder *b, uint16_t type, uint64_t v);
void stun_build__addr(struct stun_builder *b, uint16_t type, const struct sockaddr *sa);
void stun_build__xaddr(struct stun_builder *b, uint16_t type, const struct sockaddr *sa);
void stun_build__string(struct stun_builder *b, uint16_t type, const char *s);
/* ERROR-CODE; reason NULL selects stun_error_reason(code). */
void stun_build__error(struct stun_builder *b, int code, const char *reason);
void stun_build__unknown(struct stun_builder *b, const uint16_t *types, size_t n);
void stun_build__channel(struct stun_builder *b, uint16_t channel);
void stun_build__transport(struct stun_builder *b, uint8_t proto);
void stun_build__family(struct stun_builder *b, uint16_t type, uint8_t family);
void stun_build__even_port(struct stun_builder *b, bool reserve);
void stun_build__address_error(struct stun_builder *b, uint8_t family, int code,
			       const char *reason);
void stun_build__icmp(struct stun_builder *b, uint8_t type, uint8_t code, uint32_t data);
/* PASSWORD-ALGORITHMS with no parameters. */
void stun_build__password_algorithms(struct stun_builder *b, const uint16_t *algs, size_t n);
void stun_build__password_algorithm(struct stun_builder *b, uint16_t alg);
/*
 * Append MESSAGE-INTEGRITY / MESSAGE-INTEGRITY-SHA256 / FINGERPRINT over
 * everything before them (header length adjusted as RFC 8489 §14.5-14.7).
 */
void stun_build__integrity(struct stun_builder *b, const uint8_t *key, size_t key_len);
void stun_build__integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t key_len);
void stun_build__fingerprint(struct stun_builder *b);
/* Returns the message length, or the sticky negative errno (-ENOSPC, -EINVAL). */
ssize_t stun_build__finish(struct stun_builder *b);

/* Default reason phrase for an error code ("" if none is registered). */
const char *stun_error_reason(int code);

/* Fill a transaction id from a CSPRNG. */
int stun_random_tid(uint8_t tid[STUN_TID_LEN]);

/* ---------------------------------------------------------------------- */
/* ChannelData (RFC 8656 §12.4)                                             */

#define STUN_CHANNEL_MIN	 0x4000
#define STUN_CHANNEL_MAX	 0x4FFF /* RFC 8656 */
#define STUN_CHANNEL_MAX_RFC5766 0x7FFF /* RFC 5766 clients (coturn's uclient) use these too */
#define STUN_CHANNEL_HDR_LEN	 4

/* A channel number RFC 8656 lets a client bind. */
static inline bool stun_channel_valid(uint16_t ch)
{
	return ch >= STUN_CHANNEL_MIN && ch <= STUN_CHANNEL_MAX;
}

/*
 * A ChannelData header in either RFC's range (0x4000-0x7FFF). The codec
 * parses and frames all of them; which ones a server binds is its policy.
 */
static inline bool stun_channel_any(uint16_t ch)
{
	return ch >= STUN_CHANNEL_MIN && ch <= STUN_CHANNEL_MAX_RFC5766;
}

/*
 * Parse a ChannelData message of exactly `len` bytes (a UDP datagram may
 * carry trailing padding; `len` may exceed 4 + data length by up to 3 bytes
 * when `stream` is false, and must equal the padded length when true).
 */
int stun_channel__parse(const uint8_t *buf, size_t len, bool stream, uint16_t *channel,
			const uint8_t **data, size_t *data_len);
/* Encode; pads to 4 bytes when `stream`. Returns total length or -ENOSPC/-EINVAL. */
ssize_t stun_channel__build(uint8_t *buf, size_t cap, uint16_t channel, const void *data,
			    size_t data_len, bool stream);

/* ---------------------------------------------------------------------- */
/* Stream framing (TCP/TLS)                                                 */

enum stun_frame_kind {
	STUN_FRAME_STUN = 1,
	STUN_FRAME_CHANNEL = 2,
};

enum stun_frame_status {
	STUN_FRAME_OK = 0,	 /* f->len bytes form one frame */
	STUN_FRAME_NEED = 1,	 /* f->need: total bytes needed to decide/complete */
	STUN_FRAME_INVALID = -1, /* not STUN/ChannelData: close the connection */
};

struct stun_frame {
	enum stun_frame_kind kind;
	size_t len;  /* bytes to consume, including ChannelData padding */
	size_t need; /* with STUN_FRAME_NEED: total bytes required */
};

/*
 * `need` is the header length while the header is incomplete (4 before the
 * first byte and for ChannelData, 20 for STUN), then the whole frame length
 * (STUN 20 + length, ChannelData 4 + data padded to 4); it is always > avail.
 */

/*
 * Look at the start of a byte stream. STUN: first two bits 00, magic cookie,
 * length multiple of 4 and at most `max_len` in total. ChannelData: channel
 * 0x4000-0x4FFF, padded to 4 bytes. Anything else is invalid, as soon as
 * enough bytes are present to tell.
 */
enum stun_frame_status stun_frame__next(const uint8_t *buf, size_t avail, size_t max_len,
					struct stun_frame *f);

#endif /* KTURN_STUN_H */
