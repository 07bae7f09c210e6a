// SPDX-License-Identifier: MIT
/*
 * Credential snapshots: static users with their keys and USERHASH computed
 * once when the set is installed, TURN REST API secrets, and the REST
 * username/password rules (coturn's format: "<expiry>[<sep><anything>]",
 * password = base64(HMAC-SHA1(secret, username))).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kturn/log.h"

#include "auth_int.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "0x" + 32 hex -> MD5 key, "0x" + 64 hex -> SHA-256 key. */
static int user_hex_key(struct auth_user *u, const char *pw)
{
	size_t n = strlen(pw);
	uint8_t *key;

	if (n == 2 + 32)
		key = u->md5, u->has_md5 = true;
	else if (n == 2 + 64)
		key = u->sha256, u->has_sha256 = true;
	else
		return -EINVAL;
	if (pw[0] != '0' || (pw[1] | 0x20) != 'x')
		return -EINVAL;
	for (size_t i = 0; i < (n - 2) / 2; i++) {
		int hi = hexval(pw[2 + 2 * i]), lo = hexval(pw[3 + 2 * i]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int user_keys(struct auth_user *u, const char *pw, const char *realm, size_t realm_len)
{
	size_t n = strlen(pw);
	uint8_t md5[32];
	int rc;

	rc = stun_lt_key(STUN_PWALG_MD5, u->name, u->name_len, realm, realm_len, pw, n, md5);
	if (rc < 0)
		return rc;
	memcpy(u->md5, md5, sizeof(u->md5));
	OPENSSL_cleanse(md5, sizeof(md5));
	rc = stun_lt_key(STUN_PWALG_SHA256, u->name, u->name_len, realm, realm_len, pw, n,
			 u->sha256);
	if (rc < 0)
		return rc;
	u->has_md5 = u->has_sha256 = true;
	return 0;
}

/* Fill *u from a configured user; an error other than -ENOMEM means "skip it" (logged). */
static int user_make(struct auth_user *u, const struct conf_user *cu, const char *realm,
		     size_t realm_len)
{
	const char *pw = cu->password ? cu->password : "";
	int err;

	memset(u, 0, sizeof(*u));
	if (!cu->name || strlen(cu->name) > STUN_MAX_USERNAME) {
		klog_warn("auth: user %.64s skipped: missing or too long name",
			  cu->name ? cu->name : "");
		return -EINVAL;
	}
	u->name_len = strlen(cu->name);
	u->name = strdup(cu->name);
	if (!u->name)
		return -ENOMEM;
	stun_userhash(u->name, u->name_len, realm, realm_len, u->userhash);
	err = cu->is_key ? user_hex_key(u, pw) : user_keys(u, pw, realm, realm_len);
	if (err == -EINVAL)
		klog_warn("auth: user %s skipped: %s", u->name,
			  cu->is_key ? "key is not 0x + 32 or 64 hex digits"
				     : "password rejected by SASLprep");
	else if (err && err != -ENOMEM)
		klog_warn("auth: user %s skipped: key derivation failed (%d)", u->name, err);
	if (err) {
		free(u->name);
		OPENSSL_cleanse(u, sizeof(*u));
	}
	return err;
}

static int add_users(struct auth_snap *s, const struct conf_users *cu, const char *realm,
		     size_t realm_len)
{
	if (!cu || !cu->n)
		return 0;
	s->users = calloc(cu->n, sizeof(*s->users));
	if (!s->users)
		return -ENOMEM;
	for (size_t i = 0; i < cu->n; i++) {
		int err = user_make(&s->users[s->n_users], &cu->v[i], realm, realm_len);

		if (err == -ENOMEM)
			return err;
		if (!err)
			s->n_users++;
	}
	return 0;
}

static int add_secrets(struct auth_snap *s, const struct conf_strv *sv)
{
	if (!sv || !sv->n)
		return 0;
	s->secrets = calloc(sv->n, sizeof(*s->secrets));
	if (!s->secrets)
		return -ENOMEM;
	for (size_t i = 0; i < sv->n; i++) {
		const char *v = sv->v[i] ? sv->v[i] : "";
		struct auth_secret *sec = &s->secrets[s->n_secrets];

		sec->len = strlen(v);
		sec->val = strdup(v);
		if (!sec->val)
			return -ENOMEM;
		s->n_secrets++;
	}
	return 0;
}

int creds__build(const struct auth_creds *c, const char *realm, size_t realm_len,
		 struct auth_snap **out)
{
	struct auth_snap *s = calloc(1, sizeof(*s));
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->sep = c && c->rest_separator ? c->rest_separator : ':';
	err = c ? add_users(s, c->users, realm, realm_len) : 0;
	if (!err && c)
		err = add_secrets(s, c->secrets);
	if (err) {
		creds__free(s);
		return err;
	}
	*out = s;
	return 0;
}

void creds__free(struct auth_snap *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_users; i++)
		free(s->users[i].name);
	if (s->users)
		OPENSSL_cleanse(s->users, s->n_users * sizeof(*s->users));
	free(s->users);
	for (size_t i = 0; i < s->n_secrets; i++) {
		OPENSSL_cleanse(s->secrets[i].val, s->secrets[i].len);
		free(s->secrets[i].val);
	}
	free(s->secrets);
	free(s);
}

const struct auth_user *creds__find_name(const struct auth_snap *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->n_users; i++)
		if (s->users[i].name_len == len && !memcmp(s->users[i].name, name, len))
			return &s->users[i];
	return NULL;
}

const struct auth_user *creds__find_hash(const struct auth_snap *s, const uint8_t *hash, size_t len)
{
	if (len != 32)
		return NULL;
	for (size_t i = 0; i < s->n_users; i++)
		if (!memcmp(s->users[i].userhash, hash, 32))
			return &s->users[i];
	return NULL;
}

size_t creds__user_key(const struct auth_user *u, enum stun_pwalg alg, uint8_t *key)
{
	if (alg == STUN_PWALG_MD5 && u->has_md5) {
		memcpy(key, u->md5, sizeof(u->md5));
		return sizeof(u->md5);
	}
	if (alg == STUN_PWALG_SHA256 && u->has_sha256) {
		memcpy(key, u->sha256, sizeof(u->sha256));
		return sizeof(u->sha256);
	}
	return 0;
}

int rest__expiry(const char *user, size_t len, char sep, uint64_t *expiry)
{
	const char *end = memchr(user, sep, len);
	size_t n = end ? (size_t)(end - user) : len;
	uint64_t v = 0;

	if (n == 0 || n > 19) /* 19 digits always fit in 64 bits */
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (user[i] < '0' || user[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(user[i] - '0');
	}
	*expiry = v;
	return 0;
}

int rest__key(const struct auth_secret *s, const char *user, size_t user_len, const char *realm,
	      size_t realm_len, enum stun_pwalg alg, uint8_t *key)
{
	const EVP_MD *md = alg == STUN_PWALG_SHA256 ? EVP_sha256() : EVP_md5();
	uint8_t mac[EVP_MAX_MD_SIZE];
	char pw[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	unsigned int mac_len = 0;
	EVP_MD_CTX *ctx;
	int pw_len, ok;

	if (!HMAC(EVP_sha1(), s->val, (int)s->len, (const uint8_t *)user, user_len, mac, &mac_len))
		return -EIO;
	/* base64 is plain ASCII: SASLprep leaves it unchanged, so hash it directly. */
	pw_len = EVP_EncodeBlock((unsigned char *)pw, mac, (int)mac_len);
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, user, user_len) &&
	     EVP_DigestUpdate(ctx, ":", 1) && EVP_DigestUpdate(ctx, realm, realm_len) &&
	     EVP_DigestUpdate(ctx, ":", 1) && EVP_DigestUpdate(ctx, pw, (size_t)pw_len) &&
	     EVP_DigestFinal_ex(ctx, key, NULL);
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(pw, sizeof(pw));
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok ? EVP_MD_get_size(md) : -EIO;
}
