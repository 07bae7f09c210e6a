/* SPDX-License-Identifier: MIT */
/*
 * Relay port pool: hands out ports from [min, max] in random order so that
 * relayed transport addresses are unpredictable (RFC 8656 §6.2: choose the
 * relayed port randomly). A port is never handed out twice while in use.
 *
 * Implementation: a free list of ports plus a port -> index map; get picks a
 * uniformly random entry (arc4random_uniform) and swap-removes it, so get,
 * take and put are O(1). get_even_pair probes random even ports, then falls
 * back to a scan. Memory: 6 bytes per port in the range
 * (96 KiB for the default 49152-65535).
 *
 * Not thread-safe: use one pool per worker (disjoint port slices) or wrap it
 * in a mutex.
 */
#ifndef KTURN_PORT_POOL_H
#define KTURN_PORT_POOL_H

#include <stddef.h>
#include <stdint.h>

struct port_pool;

/* Pool of the ports min..max inclusive, all free. 0, -EINVAL (min > max or
 * min == 0) or -ENOMEM. */
int port_pool__new(struct port_pool **out, uint16_t min, uint16_t max);
/* NULL is a no-op. */
void port_pool__free(struct port_pool *pp);
/* A random free port, now taken. 0 or -EADDRNOTAVAIL (exhausted: 508). */
int port_pool__get(struct port_pool *pp, uint16_t *port);
/* A random even port P with P+1 also free; both are taken. 0 or -EADDRNOTAVAIL. */
int port_pool__get_even_pair(struct port_pool *pp, uint16_t *port);
/* Take a specific port. 0, -EADDRINUSE (taken) or -EINVAL (outside range). */
int port_pool__take(struct port_pool *pp, uint16_t port);
/* Return a port. Ports outside the range or already free are ignored. */
void port_pool__put(struct port_pool *pp, uint16_t port);
size_t port_pool__free_count(const struct port_pool *pp);

#endif /* KTURN_PORT_POOL_H */
