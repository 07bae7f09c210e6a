// SPDX-License-Identifier: MIT
/*
 * MESSAGE-INTEGRITY (HMAC-SHA1), MESSAGE-INTEGRITY-SHA256, FINGERPRINT
 * (CRC-32 ^ 0x5354554e), long-term keys and USERHASH.
 *
 * Checks hash a local copy of the 20-byte header with the length field set
 * as the sender had it (ending at the attribute, RFC 8489 §14.5-14.7),
 * followed by the message body straight from the caller's buffer, which is
 * never written.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stringprep.h>
#include <zlib.h>

#include "stun_int.h"

struct chunk {
	const void *p;
	size_t n;
};

/* Fetched once: EVP_MAC_fetch() takes locks and walks the provider store. */
static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
}

static int hmac(const char *digest, const uint8_t *key, size_t key_len, const struct chunk *c,
		size_t n, uint8_t *out, size_t out_len)
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;
	size_t len = 0;
	int ok;

	if (!key && key_len)
		return -EINVAL;
	pthread_once(&hmac_once, hmac_fetch);
	ctx = hmac_alg ? EVP_MAC_CTX_new(hmac_alg) : NULL;
	if (!ctx)
		return -ENOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	/* A NULL key means "keep the previous key" to OpenSSL: pass "" instead. */
	ok = EVP_MAC_init(ctx, key ? key : (const uint8_t *)"", key_len, params);
	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_MAC_update(ctx, c[i].p, c[i].n);
	ok = ok && EVP_MAC_final(ctx, out, &len, out_len) && len == out_len;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/* HMAC over buf[0..end) as if the header's length field were `body_len`. */
static int mac_prefix(const char *digest, const uint8_t *buf, size_t end, size_t body_len,
		      const uint8_t *key, size_t key_len, uint8_t *out, size_t out_len)
{
	uint8_t hdr[STUN_HEADER_LEN];
	struct chunk c[2] = {
		{hdr, sizeof(hdr)},
		{buf + STUN_HEADER_LEN, end - STUN_HEADER_LEN},
	};

	memcpy(hdr, buf, sizeof(hdr));
	put16(hdr + 2, (uint16_t)body_len);
	return hmac(digest, key, key_len, c, 2, out, out_len);
}

/* The HMAC an attribute at `off` with `mac_len` value bytes should carry. */
static int mac_at(const char *digest, const uint8_t *buf, size_t off, size_t mac_len,
		  const uint8_t *key, size_t key_len, uint8_t *out, size_t out_len)
{
	size_t body_len = off + STUN_ATTR_HDR_LEN + mac_len - STUN_HEADER_LEN;

	return mac_prefix(digest, buf, off, body_len, key, key_len, out, out_len);
}

int stun_msg__check_integrity(const struct stun_msg *m, const uint8_t *key, size_t key_len)
{
	uint8_t mac[STUN_HMAC_SHA1_LEN];
	int err;

	if (!m->mi_off)
		return -ENOENT;
	err = mac_at(OSSL_DIGEST_NAME_SHA1, m->buf, m->mi_off, sizeof(mac), key, key_len, mac,
		     sizeof(mac));
	if (err)
		return err;
	return CRYPTO_memcmp(mac, m->buf + m->mi_off + STUN_ATTR_HDR_LEN, sizeof(mac)) ? -EACCES
										       : 0;
}

int stun_msg__check_integrity_sha256(const struct stun_msg *m, const uint8_t *key, size_t key_len)
{
	uint8_t mac[STUN_HMAC_SHA256_LEN];
	size_t mac_len;
	int err;

	if (!m->mi256_off)
		return -ENOENT;
	/* 16..32, a multiple of 4: checked by the parser; a prefix of the full HMAC. */
	mac_len = get16(m->buf + m->mi256_off + 2);
	err = mac_at(OSSL_DIGEST_NAME_SHA2_256, m->buf, m->mi256_off, mac_len, key, key_len, mac,
		     sizeof(mac));
	if (err)
		return err;
	return CRYPTO_memcmp(mac, m->buf + m->mi256_off + STUN_ATTR_HDR_LEN, mac_len) ? -EACCES : 0;
}

static uint32_t crc_prefix(const uint8_t *buf, size_t end, size_t body_len)
{
	uint8_t hdr[STUN_HEADER_LEN];
	uLong crc;

	memcpy(hdr, buf, sizeof(hdr));
	put16(hdr + 2, (uint16_t)body_len);
	crc = crc32(0L, hdr, sizeof(hdr));
	crc = crc32(crc, buf + STUN_HEADER_LEN, (uInt)(end - STUN_HEADER_LEN));
	return (uint32_t)crc ^ STUN_FINGERPRINT_XOR;
}

int stun_msg__check_fingerprint(const struct stun_msg *m)
{
	size_t body_len;

	if (!m->fp_off)
		return -ENOENT;
	body_len = m->fp_off + STUN_ATTR_HDR_LEN + STUN_FINGERPRINT_LEN - STUN_HEADER_LEN;
	if (crc_prefix(m->buf, m->fp_off, body_len) !=
	    get32(m->buf + m->fp_off + STUN_ATTR_HDR_LEN))
		return -EBADMSG;
	return 0;
}

static void build_mac(struct stun_builder *b, uint16_t type, const char *digest, size_t mac_len,
		      const uint8_t *key, size_t key_len)
{
	size_t off = b->len;
	uint8_t *p;
	int err;

	if (!b->err && !key && key_len)
		b->err = -EINVAL;
	p = stun_build_reserve(b, type, mac_len);
	if (!p)
		return;
	/* The header length already counts this attribute. */
	err = mac_prefix(digest, b->buf, off, b->len - STUN_HEADER_LEN, key, key_len, p, mac_len);
	if (err)
		b->err = err;
}

void stun_build__integrity(struct stun_builder *b, const uint8_t *key, size_t key_len)
{
	build_mac(b, STUN_ATTR_MESSAGE_INTEGRITY, OSSL_DIGEST_NAME_SHA1, STUN_HMAC_SHA1_LEN, key,
		  key_len);
}

void stun_build__integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t key_len)
{
	build_mac(b, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, OSSL_DIGEST_NAME_SHA2_256,
		  STUN_HMAC_SHA256_LEN, key, key_len);
}

void stun_build__fingerprint(struct stun_builder *b)
{
	size_t off = b->len;
	uint8_t *p = stun_build_reserve(b, STUN_ATTR_FINGERPRINT, STUN_FINGERPRINT_LEN);

	if (p)
		put32(p, crc_prefix(b->buf, off, b->len - STUN_HEADER_LEN));
}

static int digest(const EVP_MD *md, const struct chunk *c, size_t n, uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL);

	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, c[i].p, c[i].n);
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/* SASLprep (RFC 4013) of a counted string; *out is malloc'd and NUL-terminated. */
static int saslprep(const char *in, size_t len, char **out)
{
	char *copy;
	int rc;

	*out = NULL;
	if (!in)
		in = "";
	if (memchr(in, 0, len) || !stun_utf8_valid((const uint8_t *)in, len))
		return -EINVAL;
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, in, len);
	copy[len] = '\0';
	rc = stringprep_profile(copy, out, "SASLprep", STRINGPREP_NO_UNASSIGNED);
	OPENSSL_cleanse(copy, len);
	free(copy);
	if (rc != STRINGPREP_OK) {
		free(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

/* H(user ":" realm [":" pass]) */
static int cred_digest(const EVP_MD *md, const char *user, size_t user_len, const char *realm,
		       size_t realm_len, const char *pass, uint8_t *out)
{
	struct chunk c[5] = {
		{user ? user : "", user_len},	 {":", 1},
		{realm ? realm : "", realm_len}, {":", 1},
		{pass, pass ? strlen(pass) : 0},
	};

	return digest(md, c, pass ? 5 : 3, out);
}

int stun_lt_key(enum stun_pwalg alg, const char *user, size_t user_len, const char *realm,
		size_t realm_len, const char *password, size_t password_len, uint8_t key[32])
{
	const EVP_MD *md;
	char *pass;
	int err;

	if (alg == STUN_PWALG_MD5)
		md = EVP_md5();
	else if (alg == STUN_PWALG_SHA256)
		md = EVP_sha256();
	else
		return -EINVAL;
	err = saslprep(password, password_len, &pass);
	if (err)
		return err;
	err = cred_digest(md, user, user_len, realm, realm_len, pass, key);
	OPENSSL_cleanse(pass, strlen(pass));
	free(pass);
	return err ? err : EVP_MD_get_size(md);
}

void stun_userhash(const char *user, size_t user_len, const char *realm, size_t realm_len,
		   uint8_t out[32])
{
	if (cred_digest(EVP_sha256(), user, user_len, realm, realm_len, NULL, out))
		memset(out, 0, 32);
}
