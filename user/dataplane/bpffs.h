/* SPDX-License-Identifier: MIT */
/* bpffs housekeeping for the data plane loader (internal to user/dataplane). */
#ifndef KTURN_DATAPLANE_BPFFS_H
#define KTURN_DATAPLANE_BPFFS_H

#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>

#define BPFFS_ROOT "/sys/fs/bpf"

/*
 * Mount bpffs on /sys/fs/bpf if dir lies under it and it is not mounted yet,
 * create dir (0700) if missing and check that it is on bpffs.
 * *created says whether dir was made here.
 */
int bpffs__prepare_dir(const char *dir, bool *created);

/*
 * Check the pins a previous instance left in dir: remove them if that
 * instance is dead (or, with clean_incompatible, of another ABI version);
 * -EBUSY if it is alive, -EPROTO if it has another ABI version.
 */
int bpffs__claim_dir(const char *dir, bool clean_incompatible);

/* Remove every KTURN_PIN_PREFIX entry of dir; returns how many or -errno. */
int bpffs__clean_dir(const char *dir);

/*
 * Start time of a process (clock ticks after boot, /proc/PID/stat field 22);
 * -ESRCH for a zombie: killed and not yet reaped, it holds no maps any more.
 */
int bpffs__proc_start_time(pid_t pid, __u64 *start);

#endif /* KTURN_DATAPLANE_BPFFS_H */
