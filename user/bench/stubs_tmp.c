#include <errno.h>
#include "kturn/bench.h"
int bench_allocs__run(const struct bench_opts *o) { (void)o; return -ENOSYS; }
int bench_udp__run(const struct bench_opts *o) { (void)o; return -ENOSYS; }
