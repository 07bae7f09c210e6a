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

/* Log and clear OpenSSL's error queue, prefixed by `what`. */
void tls_log_errors(const char *what);

#endif /* KTURN_TLS_H */
