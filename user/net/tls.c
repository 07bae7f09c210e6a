// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <openssl/err.h>

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
