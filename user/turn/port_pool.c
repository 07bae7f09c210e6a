// SPDX-License-Identifier: MIT
/* Relay port pool: random free list, see kturn/port_pool.h. */
#include <errno.h>
#include <stdlib.h>

#include "kturn/port_pool.h"

#define NOT_FREE UINT32_MAX

struct port_pool {
	uint16_t min;
	uint32_t n;	 /* ports in the range */
	uint32_t nfree;	 /* free[0..nfree) are the free ports */
	uint16_t *free;	 /* free ports, unordered */
	uint32_t *index; /* port - min -> position in free[], or NOT_FREE */
};

int port_pool__new(struct port_pool **out, uint16_t min, uint16_t max)
{
	struct port_pool *pp;

	*out = NULL;
	if (min == 0 || min > max)
		return -EINVAL;
	pp = calloc(1, sizeof(*pp));
	if (!pp)
		return -ENOMEM;
	pp->min = min;
	pp->n = (uint32_t)max - min + 1;
	pp->free = calloc(pp->n, sizeof(*pp->free));
	pp->index = calloc(pp->n, sizeof(*pp->index));
	if (!pp->free || !pp->index) {
		port_pool__free(pp);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < pp->n; i++) {
		pp->free[i] = (uint16_t)(min + i);
		pp->index[i] = i;
	}
	pp->nfree = pp->n;
	*out = pp;
	return 0;
}

void port_pool__free(struct port_pool *pp)
{
	if (!pp)
		return;
	free(pp->free);
	free(pp->index);
	free(pp);
}

static int in_range(const struct port_pool *pp, uint16_t port)
{
	return port >= pp->min && (uint32_t)(port - pp->min) < pp->n;
}

static int is_free(const struct port_pool *pp, uint32_t port)
{
	return port <= UINT16_MAX && in_range(pp, (uint16_t)port) &&
	       pp->index[port - pp->min] != NOT_FREE;
}

/* Swap-remove free[i]. */
static uint16_t remove_at(struct port_pool *pp, uint32_t i)
{
	uint16_t port = pp->free[i];
	uint16_t last = pp->free[--pp->nfree];

	pp->free[i] = last;
	pp->index[last - pp->min] = i;
	pp->index[port - pp->min] = NOT_FREE;
	return port;
}

int port_pool__get(struct port_pool *pp, uint16_t *port)
{
	if (pp->nfree == 0)
		return -EADDRNOTAVAIL;
	*port = remove_at(pp, arc4random_uniform(pp->nfree));
	return 0;
}

static void take_pair(struct port_pool *pp, uint16_t p)
{
	remove_at(pp, pp->index[p - pp->min]);
	remove_at(pp, pp->index[p + 1 - pp->min]);
}

int port_pool__get_even_pair(struct port_pool *pp, uint16_t *port)
{
	uint32_t first = pp->min + (pp->min & 1); /* lowest even port */
	uint32_t last = pp->min + pp->n - 1;	  /* highest port */
	uint32_t npairs, start;

	if (pp->nfree < 2 || first + 1 > last)
		return -EADDRNOTAVAIL;
	npairs = (last - first + 1) / 2;
	/* Random probes: cheap while the pool is mostly free. */
	for (int i = 0; i < 32; i++) {
		uint32_t p = first + 2 * arc4random_uniform(npairs);

		if (is_free(pp, p) && is_free(pp, p + 1)) {
			take_pair(pp, (uint16_t)p);
			*port = (uint16_t)p;
			return 0;
		}
	}
	/* Scan from a random start so that a full pool still finds any pair. */
	start = arc4random_uniform(npairs);
	for (uint32_t k = 0; k < npairs; k++) {
		uint32_t p = first + 2 * ((start + k) % npairs);

		if (is_free(pp, p) && is_free(pp, p + 1)) {
			take_pair(pp, (uint16_t)p);
			*port = (uint16_t)p;
			return 0;
		}
	}
	return -EADDRNOTAVAIL;
}

int port_pool__take(struct port_pool *pp, uint16_t port)
{
	if (!in_range(pp, port))
		return -EINVAL;
	if (pp->index[port - pp->min] == NOT_FREE)
		return -EADDRINUSE;
	remove_at(pp, pp->index[port - pp->min]);
	return 0;
}

void port_pool__put(struct port_pool *pp, uint16_t port)
{
	if (!in_range(pp, port) || pp->index[port - pp->min] != NOT_FREE)
		return;
	pp->index[port - pp->min] = pp->nfree;
	pp->free[pp->nfree++] = port;
}

size_t port_pool__free_count(const struct port_pool *pp)
{
	return pp->nfree;
}
