/* SPDX-License-Identifier: MIT */
/* TLS (OpenSSL 3) for the TURN-over-TLS listener (RFC 8656 §3.1, port 5349). */
#ifndef KTURN_TLS_H
#define KTURN_TLS_H

#include <openssl/ssl.h>

/*
 * A server context: TLS 1.2 or newer, the certificate chain and private key
 * from PEM files (checked to match), no renegotiation, no compression.
 * Returns 0 or -EINVAL with the OpenSSL reason logged.
 */
int tls_ctx__new(SSL_CTX **out, const char *cert_file, const char *key_file);
void tls_ctx__free(SSL_CTX *ctx);

/*
 * The server context the TLS listeners hand out, swappable at run time
 * (SIGHUP reloads the certificate). Each new session takes its own reference
 * to the context it was made from (SSL_new), so sessions opened before a swap
 * keep their certificate and stay valid; the old context is freed with the
 * last of them. Shared by every worker thread: the pointer is behind a
 * rwlock, taken once per accepted connection.
 */
struct tls_store;

/* A store holding a fresh tls_ctx__new context (certificate logged). 0 or -errno. */
int tls_store__new(struct tls_store **out, const char *cert_file, const char *key_file);
/* NULL is a no-op. Sessions still open keep their context alive. */
void tls_store__free(struct tls_store *s);
/* A session on the current context (server side), NULL on failure. */
SSL *tls_store__ssl_new(struct tls_store *s);
/*
 * Build a context from these files and, only when that succeeds, make it the
 * current one ("TLS certificate reloaded", with subject and notAfter). On
 * failure the current context stays: -EINVAL with the OpenSSL reason logged.
 */
int tls_store__reload(struct tls_store *s, const char *cert_file, const char *key_file);

/* Log and clear OpenSSL's error queue, prefixed by `what`. */
void tls_log_errors(const char *what);

#endif /* KTURN_TLS_H */
