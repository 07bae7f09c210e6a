// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "kturn/log.h"
#include "kturn/tls.h"

void tls_log_errors(const char *what)
{
	unsigned long e;
	char buf[256];
	bool any = false;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		klog_warn("%s: %s", what, buf);
		any = true;
	}
	if (!any)
		klog_info("%s", what);
}

int tls_ctx__new(SSL_CTX **out, const char *cert_file, const char *key_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		goto err;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto err_free;
	*out = ctx;
	return 0;

err_free:
	SSL_CTX_free(ctx);
err:
	tls_log_errors("TLS setup failed");
	return -EINVAL;
}

void tls_ctx__free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

struct tls_store {
	pthread_rwlock_t lock; /* ctx: read to make a session, written by a swap */
	SSL_CTX *ctx;
};

/* "subject=CN = x notAfter=Jan  1 00:00:00 2027 GMT" of ctx's certificate into buf. */
static void cert_describe(SSL_CTX *ctx, char *buf, size_t size)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	buf[0] = '\0';
	if (!x || !b)
		goto out;
	BIO_puts(b, "subject=");
	X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_ONELINE);
	BIO_puts(b, " notAfter=");
	ASN1_TIME_print(b, X509_get0_notAfter(x));
	n = BIO_read(b, buf, (int)size - 1);
	buf[n > 0 ? n : 0] = '\0';
out:
	BIO_free(b);
}

static void log_cert(const char *what, SSL_CTX *ctx, const char *cert_file)
{
	char desc[512];

	cert_describe(ctx, desc, sizeof(desc));
	klog_info("%s: %s %s", what, cert_file, desc);
}

int tls_store__new(struct tls_store **out, const char *cert_file, const char *key_file)
{
	struct tls_store *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	err = tls_ctx__new(&s->ctx, cert_file, key_file);
	if (err) {
		free(s);
		return err;
	}
	pthread_rwlock_init(&s->lock, NULL);
	log_cert("TLS certificate", s->ctx, cert_file);
	*out = s;
	return 0;
}

void tls_store__free(struct tls_store *s)
{
	if (!s)
		return;
	tls_ctx__free(s->ctx);
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

SSL *tls_store__ssl_new(struct tls_store *s)
{
	SSL *ssl;

	pthread_rwlock_rdlock(&s->lock);
	ssl = SSL_new(s->ctx); /* takes its own reference to s->ctx */
	pthread_rwlock_unlock(&s->lock);
	return ssl;
}

int tls_store__reload(struct tls_store *s, const char *cert_file, const char *key_file)
{
	SSL_CTX *fresh, *old;
	int err = tls_ctx__new(&fresh, cert_file, key_file);

	if (err) {
		klog_err("TLS certificate reload failed (cert %s, pkey %s): keeping the old one",
			 cert_file, key_file);
		return err;
	}
	pthread_rwlock_wrlock(&s->lock);
	old = s->ctx;
	s->ctx = fresh;
	pthread_rwlock_unlock(&s->lock);
	tls_ctx__free(old); /* live sessions hold their own references */
	log_cert("TLS certificate reloaded", fresh, cert_file);
	return 0;
}
