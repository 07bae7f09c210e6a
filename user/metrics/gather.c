// SPDX-License-Identifier: MIT
/* One scrape's numbers: every worker adds its own on its own thread. */
#include <string.h>

#include "kturn/metrics.h"
#include "kturn/server.h"
#include "kturn/turn_info.h"
#include "kturn/workers.h"

static void on_metrics(struct server *s, unsigned worker, void *arg)
{
	struct turn_server *ts = server__turn(s);

	if (ts)
		turn_server__metrics(ts, arg);
}

void metrics__gather(struct workers *w, struct turn_metrics *m)
{
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < workers__count(w); i++)
		workers__call(w, i, on_metrics, m); /* a stopped worker is skipped */
}

uint64_t metrics__relayed_bytes(const struct turn_metrics *m)
{
	uint64_t sum = 0;

	for (int p = 0; p < TURN_PLANE_N; p++)
		for (int d = 0; d < TURN_DIR_N; d++)
			sum += m->c.bytes[p][d];
	return sum;
}
