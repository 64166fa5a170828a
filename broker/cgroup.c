/*
 * Per-worker cgroups: a memory and a pids limit for each worker, and the
 * OOM kills they caused, read when the worker is reaped.
 *
 * cgroup v2 where the host has the memory and pids controllers in its
 * unified hierarchy, v1 otherwise.  Each daemon has a directory of its
 * own (securer.<broker pid>) under each hierarchy, so daemons running
 * side by side never share a name; a worker's cgroup is w<id> in it.
 * The broker moves the worker in before it hands the worker's channel
 * to the monitor: no untrusted code runs outside its cgroup.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"

#define CG_ROOT		"/sys/fs/cgroup"

static int	 cg_version;		/* 0: none */
static int	 cg_made;		/* our directories exist */
static char	 cg_mem[128];	/* our directory; v2: the only one */
static char	 cg_pids[128];	/* v1 */

static int
cg_write(const char *dir, const char *file, const char *value)
{
	char	 path[PATH_MAX];
	size_t	 len = strlen(value);
	ssize_t	 n;
	int	 fd, rv = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return (-1);
	/*
	 * Setting a memory limit may reclaim and so sleep, and libevent's
	 * signal handlers (SIGCHLD) are installed without SA_RESTART.
	 */
	while ((n = write(fd, value, len)) == -1 && errno == EINTR)
		;
	if (n != (ssize_t)len)
		rv = -1;
	close(fd);
	return (rv);
}

/* The number after key in a "key value" file; 0 if none. */
static uint64_t
cg_read_key(const char *dir, const char *file, const char *key)
{
	char		 path[PATH_MAX], line[256];
	size_t		 klen = strlen(key);
	uint64_t	 v = 0;
	FILE		*f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((f = fopen(path, "re")) == NULL)
		return (0);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			v = strtoull(line + klen + 1, NULL, 10);
	fclose(f);
	return (v);
}

/* Does a v2 hierarchy at dir offer both controllers? */
static int
cg_v2_usable(const char *dir)
{
	char	 path[PATH_MAX], line[512];
	FILE	*f;
	int	 ok = 0;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
	if ((f = fopen(path, "re")) == NULL)
		return (0);
	if (fgets(line, sizeof(line), f) != NULL)
		ok = strstr(line, "memory") != NULL &&
		    strstr(line, "pids") != NULL;
	fclose(f);
	return (ok);
}

static int
cg_mkdir(const char *dir)
{
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		return (-1);
	}
	return (0);
}

/*
 * Made with the first worker, not at start-up: the broker's pid that
 * names them is only known once it has become a daemon.
 */
static int
cg_make(void)
{
	if (cg_made)
		return (0);
	if (cg_version == 2) {
		snprintf(cg_mem, sizeof(cg_mem), "%s/securer.%d", CG_ROOT,
		    (int)getpid());
		if (cg_mkdir(cg_mem) == -1 ||
		    cg_write(cg_mem, "cgroup.subtree_control",
		    "+memory +pids") == -1)
			return (-1);
	} else {
		snprintf(cg_mem, sizeof(cg_mem), "%s/memory/securer.%d",
		    CG_ROOT, (int)getpid());
		snprintf(cg_pids, sizeof(cg_pids), "%s/pids/securer.%d",
		    CG_ROOT, (int)getpid());
		if (cg_mkdir(cg_mem) == -1 || cg_mkdir(cg_pids) == -1)
			return (-1);
	}
	cg_made = 1;
	return (0);
}

/*
 * Is pid a running securerd?  Not if it is gone, a zombie (a daemon
 * killed with SIGKILL that nobody reaped yet) or a pid reused by some
 * other program.
 */
static int
cg_daemon_runs(pid_t pid)
{
	char	 path[64], stat[256], *p;
	FILE	*f;
	int	 runs = 1;	/* when we cannot tell, leave it alone */

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return (errno == ENOENT ? 0 : 1);
	if (fgets(stat, sizeof(stat), f) != NULL &&
	    (p = strrchr(stat, ')')) != NULL && p[1] == ' ')
		runs = strstr(stat, " (securerd) ") != NULL && p[2] != 'Z';
	fclose(f);
	return (runs);
}

/*
 * A daemon killed with SIGKILL leaves its securer.<pid> directories
 * behind: remove those whose daemon no longer runs, with the worker
 * directories in them.  The workers died with their broker, so the
 * directories are empty; one that is not stays, said once.
 */
static void
cg_sweep(const char *base)
{
	char		 dir[PATH_MAX], sub[PATH_MAX];
	DIR		*d, *w;
	struct dirent	*de, *we;
	const char	*errstr;
	pid_t		 pid;

	if ((d = opendir(base)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "securer.", 8) != 0)
			continue;
		pid = strtonum(de->d_name + 8, 1, INT_MAX, &errstr);
		if (errstr != NULL || pid == getpid() || cg_daemon_runs(pid))
			continue;
		if (snprintf(dir, sizeof(dir), "%s/%s", base, de->d_name) >=
		    (int)sizeof(dir))
			continue;
		if ((w = opendir(dir)) != NULL) {
			while ((we = readdir(w)) != NULL) {
				if (we->d_name[0] != 'w' ||
				    we->d_type != DT_DIR)
					continue;
				if (snprintf(sub, sizeof(sub), "%s/%s", dir,
				    we->d_name) < (int)sizeof(sub))
					rmdir(sub);
			}
			closedir(w);
		}
		if (rmdir(dir) == -1)
			log_warn("leftover cgroup %s", dir);
		else
			log_debug("removed leftover cgroup %s", dir);
	}
	closedir(d);
}

/*
 * At start-up, as root: which version the host offers.  Returns it (1
 * or 2), or 0 with what is missing in why.
 */
int
cgroup_init(char *why, size_t len)
{
	if (geteuid() != 0) {
		snprintf(why, len, "cgroups (not root)");
		return (0);
	}
	if (cg_v2_usable(CG_ROOT)) {
		/* Controllers must be on in every ancestor of a worker. */
		if (cg_write(CG_ROOT, "cgroup.subtree_control",
		    "+memory +pids") == -1) {
			snprintf(why, len, "cgroups (v2 controllers)");
			return (0);
		}
		cg_sweep(CG_ROOT);
		return (cg_version = 2);
	}
	if (access(CG_ROOT "/memory/cgroup.procs", W_OK) == -1 ||
	    access(CG_ROOT "/pids/cgroup.procs", W_OK) == -1) {
		snprintf(why, len, "cgroups (no memory and pids controllers)");
		return (0);
	}
	cg_sweep(CG_ROOT "/memory");
	cg_sweep(CG_ROOT "/pids");
	return (cg_version = 1);
}

static void
cg_dir(char *buf, size_t len, const char *base, uint32_t id)
{
	snprintf(buf, len, "%s/w%u", base, id);
}

static void
cg_value(char *buf, size_t len, uint64_t v)
{
	if (v == LIMIT_NONE)
		snprintf(buf, len, "%s", cg_version == 2 ? "max" : "-1");
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* A worker's cgroups with its limits: memory (no swap) and processes. */
int
cgroup_create(uint32_t id, const struct worker_limits *l)
{
	char	 mem[PATH_MAX], pids[PATH_MAX], m[32], p[32];

	if (cg_version == 0)
		return (0);
	if (cg_make() == -1)
		return (-1);
	cg_value(m, sizeof(m), l->memory);
	cg_value(p, sizeof(p), l->nproc);
	if (cg_version == 1 && l->nproc == LIMIT_NONE)
		strlcpy(p, "max", sizeof(p));
	cg_dir(mem, sizeof(mem), cg_mem, id);
	if (mkdir(mem, 0755) == -1 && errno != EEXIST)
		goto fail;
	if (cg_version == 2) {
		if (cg_write(mem, "memory.max", m) == -1 ||
		    cg_write(mem, "pids.max", p) == -1)
			goto fail;
		/* Without swap accounting the file is missing: fine. */
		cg_write(mem, "memory.swap.max", "0");
		return (0);
	}
	if (cg_write(mem, "memory.limit_in_bytes", m) == -1)
		goto fail;
	cg_write(mem, "memory.memsw.limit_in_bytes", m);
	cg_dir(pids, sizeof(pids), cg_pids, id);
	if ((mkdir(pids, 0755) == -1 && errno != EEXIST) ||
	    cg_write(pids, "pids.max", p) == -1)
		goto fail;
	return (0);
fail:
	log_warn("worker %u: cgroup", id);
	cgroup_remove(id);
	return (-1);
}

int
cgroup_attach(uint32_t id, pid_t pid)
{
	char	 dir[PATH_MAX], p[32];

	if (!cg_made)
		return (0);
	snprintf(p, sizeof(p), "%d", (int)pid);
	cg_dir(dir, sizeof(dir), cg_mem, id);
	if (cg_write(dir, "cgroup.procs", p) == -1)
		goto fail;
	if (cg_version == 1) {
		cg_dir(dir, sizeof(dir), cg_pids, id);
		if (cg_write(dir, "cgroup.procs", p) == -1)
			goto fail;
	}
	return (0);
fail:
	log_warn("worker %u: into %s", id, dir);
	return (-1);
}

/* Did the kernel's OOM killer act in the worker's cgroup? */
int
cgroup_oom(uint32_t id)
{
	char	 dir[PATH_MAX];

	if (!cg_made)
		return (0);
	cg_dir(dir, sizeof(dir), cg_mem, id);
	if (cg_version == 2)
		return (cg_read_key(dir, "memory.events", "oom_kill") > 0);
	return (cg_read_key(dir, "memory.oom_control", "oom_kill") > 0);
}

/* After the worker is reaped: its cgroups are empty and can go. */
void
cgroup_remove(uint32_t id)
{
	char	 dir[PATH_MAX];

	if (!cg_made)
		return;
	cg_dir(dir, sizeof(dir), cg_mem, id);
	if (rmdir(dir) == -1 && errno != ENOENT)
		log_warn("rmdir %s", dir);
	if (cg_version == 1) {
		cg_dir(dir, sizeof(dir), cg_pids, id);
		if (rmdir(dir) == -1 && errno != ENOENT)
			log_warn("rmdir %s", dir);
	}
}

/* At shutdown, once every worker is reaped. */
void
cgroup_cleanup(void)
{
	if (!cg_made)
		return;
	rmdir(cg_mem);
	if (cg_version == 1)
		rmdir(cg_pids);
}
