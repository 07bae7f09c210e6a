// SPDX-License-Identifier: MIT
/*
 * bpffs housekeeping: mount it when missing, own a pin directory, and tell a
 * dead instance's pins (remove) from a live one's or another version's
 * (refuse).
 *
 * Who pinned is recorded in the kturn_info map, pinned last: no info map but
 * other kturn_ pins means an instance died while pinning, which is stale too.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#include <bpf/bpf.h>

#include "kturn/bpf_abi.h"
#include "kturn/log.h"

#include "bpffs.h"

static bool under_bpffs_root(const char *dir)
{
	size_t n = strlen(BPFFS_ROOT);

	return !strncmp(dir, BPFFS_ROOT, n) && (dir[n] == '/' || dir[n] == '\0');
}

static int mount_bpffs_root(void)
{
	struct statfs st;

	if (statfs(BPFFS_ROOT, &st) < 0) {
		int err = -errno;

		klog_err("bpffs: cannot stat %s: %s", BPFFS_ROOT, strerror(-err));
		return err;
	}
	if (st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", BPFFS_ROOT, "bpf", 0, "mode=0700") < 0) {
		int err = -errno;

		klog_err("bpffs: %s is not mounted and mounting it failed: %s", BPFFS_ROOT,
			 strerror(-err));
		return err;
	}
	klog_info("bpffs: mounted bpffs on %s (it was not mounted)", BPFFS_ROOT);
	return 0;
}

int bpffs__prepare_dir(const char *dir, bool *created)
{
	struct statfs st;
	int err;

	*created = false;
	if (under_bpffs_root(dir)) {
		err = mount_bpffs_root();
		if (err)
			return err;
	}
	if (mkdir(dir, 0700) == 0) {
		*created = true;
	} else if (errno != EEXIST) {
		err = -errno;
		klog_err("bpffs: cannot create pin directory %s: %s", dir, strerror(-err));
		return err;
	}
	if (statfs(dir, &st) < 0) {
		err = -errno;
		klog_err("bpffs: cannot stat pin directory %s: %s", dir, strerror(-err));
		goto err_rmdir;
	}
	if (st.f_type != BPF_FS_MAGIC) {
		err = -EINVAL;
		klog_err("bpffs: pin directory %s is not on a bpf filesystem", dir);
		goto err_rmdir;
	}
	return 0;

err_rmdir:
	if (*created)
		rmdir(dir);
	*created = false;
	return err;
}

int bpffs__clean_dir(const char *dir)
{
	struct dirent *de;
	int n = 0, err = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, KTURN_PIN_PREFIX, strlen(KTURN_PIN_PREFIX)))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			err = -errno;
			klog_warn("bpffs: cannot remove %s/%s: %s", dir, de->d_name,
				  strerror(-err));
			continue;
		}
		n++;
	}
	closedir(d);
	return err ? err : n;
}

int bpffs__proc_start_time(pid_t pid, __u64 *start)
{
	char path[64], buf[1024], *p;
	unsigned long long v;
	ssize_t len;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -EIO;
	buf[len] = '\0';
	/* "pid (comm) state ..." where comm may hold anything: skip past the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	p++;
	/* A zombie (killed, not yet reaped) or dead process holds no maps any more. */
	if (p[0] == ' ' && (p[1] == 'Z' || p[1] == 'X'))
		return -ESRCH;
	/* Field 3 (state) follows; starttime is field 22. */
	for (i = 3; i < 22; i++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EIO;
	}
	if (sscanf(p, " %llu", &v) != 1)
		return -EIO;
	*start = v;
	return 0;
}

static bool owner_alive(const struct kturn_info *info)
{
	__u64 start;

	if (info->owner_pid == (__u32)getpid())
		return true;
	if (bpffs__proc_start_time((pid_t)info->owner_pid, &start))
		return false;
	return start == info->owner_start;
}

/* Any kturn_ entry in dir? */
static bool dir_has_pins(const char *dir)
{
	struct dirent *de;
	bool found = false;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (de = readdir(d)))
		found = !strncmp(de->d_name, KTURN_PIN_PREFIX, strlen(KTURN_PIN_PREFIX));
	closedir(d);
	return found;
}

/*
 * Read the pinned info map. Returns 1 and fills *info when it has our layout,
 * 0 when it exists with another version or layout (*version then holds the
 * version if one could be read, else 0), or -errno (-ENOENT: no info pin).
 */
static int read_pinned_info(const char *path, struct kturn_info *info, __u32 *version)
{
	struct bpf_map_info mi = {};
	__u32 mi_len = sizeof(mi), key = 0;
	void *val = NULL;
	int fd, ret;

	*version = 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	ret = bpf_obj_get_info_by_fd(fd, &mi, &mi_len);
	if (ret) {
		ret = -errno;
		goto out_close;
	}
	if (mi.type != BPF_MAP_TYPE_ARRAY || mi.key_size != sizeof(__u32) ||
	    mi.value_size < sizeof(__u32) || mi.max_entries < 1) {
		ret = 0; /* not something any kturn version pinned as its info map */
		goto out_close;
	}
	val = calloc(1, mi.value_size);
	if (!val) {
		ret = -ENOMEM;
		goto out_close;
	}
	if (bpf_map_lookup_elem(fd, &key, val)) {
		ret = -errno;
		goto out_free;
	}
	memcpy(version, val, sizeof(*version)); /* abi_version is always first */
	ret = 0;
	if (*version == KTURN_BPF_ABI_VERSION && mi.value_size == sizeof(*info)) {
		memcpy(info, val, sizeof(*info));
		ret = 1;
	}
out_free:
	free(val);
out_close:
	close(fd);
	return ret;
}

int bpffs__claim_dir(const char *dir, bool clean_incompatible)
{
	struct kturn_info info = {};
	char path[4096];
	__u32 version;
	int ret, n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, KTURN_MAP_INFO) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	ret = read_pinned_info(path, &info, &version);
	if (ret == -ENOENT) {
		if (!dir_has_pins(dir))
			return 0;
		klog_warn("bpffs: %s holds kturn pins but no %s: an instance died while starting",
			  dir, KTURN_MAP_INFO);
	} else if (ret < 0) {
		klog_err("bpffs: cannot read %s: %s", path, strerror(-ret));
		return ret;
	} else if (ret == 0) {
		if (!clean_incompatible) {
			klog_err("bpffs: the maps pinned in %s have BPF ABI version %u (or "
				 "another layout), this kturn uses %u; stop the kturn that owns "
				 "them, remove them, or start with clean_incompatible",
				 dir, version, KTURN_BPF_ABI_VERSION);
			return -EPROTO;
		}
		klog_warn("bpffs: removing maps of BPF ABI version %u (or another layout) "
			  "pinned in %s (this kturn uses %u)",
			  version, dir, KTURN_BPF_ABI_VERSION);
	} else if (owner_alive(&info)) {
		klog_err("bpffs: the maps pinned in %s belong to running pid %u; use another "
			 "pin directory",
			 dir, info.owner_pid);
		return -EBUSY;
	} else {
		klog_info("bpffs: removing stale pins of dead pid %u in %s", info.owner_pid, dir);
	}

	/* The info map first: a crash in between leaves "died while starting". */
	if (unlink(path) < 0 && errno != ENOENT) {
		ret = -errno;
		klog_err("bpffs: cannot remove %s: %s", path, strerror(-ret));
		return ret;
	}
	n = bpffs__clean_dir(dir);
	if (n < 0) {
		klog_err("bpffs: cannot clean %s: %s", dir, strerror(-n));
		return n;
	}
	return 0;
}
