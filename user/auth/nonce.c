// SPDX-License-Identifier: MIT
/*
 * Stateless nonces (RFC 8489 §9.2 "nonce cookie"):
 *
 *	"obMatJos2" | base64(24-bit security features) | hex64(issue time) | hex(MAC)
 *
 * MAC = HMAC-SHA256(per-auth random key, everything before the MAC | IP
 * family | IP address bytes) truncated to 16 bytes. The port is left out on
 * purpose: RFC 6062 ConnectionBind arrives on a new connection. IPv4-mapped
 * IPv6 addresses are treated as the IPv4 address so that a client seen
 * through a dual-stack socket and a v4 one gets the same answer.
 */
#include <errno.h>
#include <string.h>

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth_int.h"

static const char hexdig[] = "0123456789abcdef";

int nonce__init(struct auth *a)
{
	/*
	 * USERHASH needs a name to hash: with TURN REST secrets the username is
	 * made up per session, so anonymity is only offered for static users.
	 */
	uint32_t feat = AUTH_FEAT_PASSWORD_ALGS |
			(a->mode == CONF_AUTH_LONG_TERM ? AUTH_FEAT_USER_ANONYMITY : 0);
	uint8_t bits[3] = {(uint8_t)(feat >> 16), (uint8_t)(feat >> 8), (uint8_t)feat};

	if (RAND_bytes(a->nonce_key, sizeof(a->nonce_key)) != 1)
		return -EIO;
	memcpy(a->nonce_prefix, AUTH_NONCE_COOKIE, AUTH_NONCE_COOKIE_LEN);
	/* 3 bytes encode to exactly 4 characters, plus the NUL EVP_EncodeBlock writes. */
	EVP_EncodeBlock((unsigned char *)a->nonce_prefix + AUTH_NONCE_COOKIE_LEN, bits, 3);
	return 0;
}

/* Family tag and address bytes of the client; IPv4-mapped IPv6 counts as IPv4. */
static size_t client_ip(const struct sockaddr *sa, uint8_t out[17])
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

	if (sa && sa->sa_family == AF_INET) {
		out[0] = 4;
		memcpy(out + 1, &s4->sin_addr, 4);
		return 5;
	}
	if (sa && sa->sa_family == AF_INET6) {
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			out[0] = 4;
			memcpy(out + 1, s6->sin6_addr.s6_addr + 12, 4);
			return 5;
		}
		out[0] = 6;
		memcpy(out + 1, &s6->sin6_addr, 16);
		return 17;
	}
	out[0] = 0;
	return 1;
}

static void nonce_mac(const struct auth *a, const char *head, const struct sockaddr *client,
		      uint8_t mac[AUTH_NONCE_MAC_LEN])
{
	uint8_t msg[AUTH_NONCE_PREFIX_LEN + AUTH_NONCE_TIME_HEX + 17];
	uint8_t full[EVP_MAX_MD_SIZE];
	size_t head_len = AUTH_NONCE_PREFIX_LEN + AUTH_NONCE_TIME_HEX;
	size_t n;
	unsigned int len = 0;

	memcpy(msg, head, head_len);
	n = head_len + client_ip(client, msg + head_len);
	if (!HMAC(EVP_sha256(), a->nonce_key, sizeof(a->nonce_key), msg, n, full, &len))
		memset(full, 0, sizeof(full)); /* never matches a real MAC in practice */
	memcpy(mac, full, AUTH_NONCE_MAC_LEN);
}

static void put_hex(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[p[i] >> 4];
		out[2 * i + 1] = hexdig[p[i] & 15];
	}
}

size_t nonce__make(const struct auth *a, const struct sockaddr *client, uint64_t now,
		   char out[AUTH_NONCE_LEN + 1])
{
	uint8_t t[8], mac[AUTH_NONCE_MAC_LEN];
	char *p = out + AUTH_NONCE_PREFIX_LEN;

	memcpy(out, a->nonce_prefix, AUTH_NONCE_PREFIX_LEN);
	for (int i = 0; i < 8; i++)
		t[i] = (uint8_t)(now >> (56 - 8 * i));
	put_hex(p, t, sizeof(t));
	nonce_mac(a, out, client, mac);
	put_hex(p + AUTH_NONCE_TIME_HEX, mac, sizeof(mac));
	out[AUTH_NONCE_LEN] = '\0';
	return AUTH_NONCE_LEN;
}

bool nonce__ours(const struct auth *a, const char *s, size_t len)
{
	return len >= AUTH_NONCE_PREFIX_LEN && !memcmp(s, a->nonce_prefix, AUTH_NONCE_PREFIX_LEN);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Lower-case hex only, so that each nonce has exactly one spelling. */
static bool get_hex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

bool nonce__valid(const struct auth *a, const char *s, size_t len, const struct sockaddr *client,
		  uint64_t now)
{
	uint8_t t[8], got[AUTH_NONCE_MAC_LEN], want[AUTH_NONCE_MAC_LEN];
	const char *p = s + AUTH_NONCE_PREFIX_LEN;
	uint64_t issued = 0;

	if (len != AUTH_NONCE_LEN || !nonce__ours(a, s, len))
		return false;
	if (!get_hex(p, t, sizeof(t)) || !get_hex(p + AUTH_NONCE_TIME_HEX, got, sizeof(got)))
		return false;
	nonce_mac(a, s, client, want);
	if (CRYPTO_memcmp(got, want, sizeof(want)))
		return false;
	for (int i = 0; i < 8; i++)
		issued = issued << 8 | t[i];
	if (issued > now && issued - now > AUTH_FUTURE_SLACK)
		return false;
	return issued >= now || now - issued <= a->stale_nonce;
}
