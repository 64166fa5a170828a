/*
 * What a worker sees of the host: as little as R needs, and nothing that
 * tells one host, one boot or one other tenant from another.
 *
 *	- its UTS namespace is named "securer", domain "(none)";
 *	- its /proc is a directory of the new root, not the host's procfs:
 *	  a procfs mounted with subset=pid on /proc/pid holds its own
 *	  process only (self, thread-self, 1; net and mounts through self),
 *	  and the global files R and its libraries read are generated at
 *	  spawn from the worker's own limits: meminfo from its memory limit,
 *	  stat and loadavg of one idle process on the CPUs it may run on,
 *	  uptime 0, version and osrelease from uname(2) (which it can call
 *	  anyway), cmdline empty, a boot_id of its own, cpuinfo as the
 *	  template read it.  Every other global file (vmstat, pressure,
 *	  interrupts, diskstats, /proc/sys...) is absent.  A kernel without
 *	  subset=pid (before 5.8) gets its own full procfs with the
 *	  generated files bound over the host's, said once;
 *	- its monotonic and boot clocks start at 0 in a time namespace of
 *	  its own, so neither clock_gettime(), sysinfo(2) nor the start time
 *	  in /proc/self/stat gives the host's boot time (a kernel without
 *	  time namespaces, before 5.6, is said once);
 *	- its cgroup namespace is rooted at its own cgroup, entered once the
 *	  broker has moved it there: /proc/self/cgroup says "/", not the
 *	  daemon's directory or the worker's number;
 *	- sysinfo(2), which glibc calls for sysconf(_SC_PHYS_PAGES) and
 *	  qsort(), is trapped by the filter and answered here as meminfo
 *	  is: its memory limit, one process, no load.
 * What it can still learn is in securer-worker(8), CAVEATS.
 */

#include <sys/types.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

#define HV_HOSTNAME		"securer"
#define HV_DOMAINNAME		"(none)"
#define HV_CPUINFO_MAX		(256 * 1024)
#define HV_CGROUP_WAIT_US	200
#define HV_CGROUP_WAIT_STEPS	25000	/* 5 s: the broker moves it at once */
#define HV_STAGING		"/.hostview"	/* under the new root, fallback */
#define HV_SYS_SECCOMP		1	/* si_code of a trap, <linux/signal.h> */

static char	*cpuinfo;		/* the template's read */
static size_t	 cpuinfo_len;
static uint64_t	 shown_memory = 1ULL << 30;	/* what sysinfo(2) says */

static int	hv_write(const char *, const char *, const char *, size_t);
static int	hv_generate(const char *, uint64_t, int);
static int	hv_links(const char *);
static int	hv_overlay(const char *);
static int	hv_mkdirs(const char *, const char *);
static int	hv_path(char *, const char *, const char *, const char *);

/*
 * In the template, once: /proc/cpuinfo is slow to read (the kernel
 * measures each CPU's frequency) and the same for every worker.
 */
void
hostview_prepare(void)
{
	char	*buf;
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd;

	if ((fd = open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("/proc/cpuinfo");
		return;
	}
	if ((buf = malloc(HV_CPUINFO_MAX)) == NULL)
		fatal("%s", __func__);
	while (len < HV_CPUINFO_MAX &&
	    (n = read(fd, buf + len, HV_CPUINFO_MAX - len)) > 0)
		len += n;
	close(fd);
	cpuinfo = buf;
	cpuinfo_len = len;
}

/* The worker's UTS namespace: the same names on every host. */
int
hostview_names(void)
{
	if (sethostname(HV_HOSTNAME, strlen(HV_HOSTNAME)) == -1 ||
	    setdomainname(HV_DOMAINNAME, strlen(HV_DOMAINNAME)) == -1)
		return (-1);
	return (0);
}

/*
 * root/proc, before the pivot; memory is the worker's memory limit.
 * Returns -1 with errno if it could not be made.
 */
int
hostview_proc(const char *root, uint64_t memory)
{
	static int	 said;
	char		 dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/proc/pid", root);
	if (mkdir(dir, 0555) == -1)
		return (-1);
	if (mount("proc", dir, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    "subset=pid") == 0) {
		snprintf(dir, sizeof(dir), "%s/proc", root);
		if (hv_generate(dir, memory, 1) == -1 || hv_links(dir) == -1)
			return (-1);
		return (0);
	}
	if (errno != EINVAL)
		return (-1);
	/* Before Linux 5.8: the whole procfs, the host's files covered. */
	if (!said++)
		log_warnx("procfs without subset=pid: workers see the "
		    "host-wide files of /proc that are not replaced");
	if (rmdir(dir) == -1)
		return (-1);
	snprintf(dir, sizeof(dir), "%s/proc", root);
	if (mount("proc", dir, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    NULL) == -1)
		return (-1);
	snprintf(dir, sizeof(dir), "%s%s", root, HV_STAGING);
	if (mkdir(dir, 0700) == -1 || hv_generate(dir, memory, 0) == -1 ||
	    hv_overlay(root) == -1)
		return (-1);
	return (0);
}

/* The generated files, relative to /proc. */
static const char *hv_files[] = {
	"cmdline", "version", "meminfo", "loadavg", "stat", "uptime",
	"sys/kernel/random/boot_id", "sys/kernel/hostname",
	"sys/kernel/osrelease", "sys/kernel/ostype",
};

static int
hv_meminfo(const char *dir, uint64_t memory)
{
	struct sysinfo	 si;
	char		 buf[512];
	unsigned long long kb;

	if (memory == LIMIT_NONE) {
		/* No limit: the host's memory, to the GiB below. */
		if (sysinfo(&si) == -1)
			return (-1);
		memory = (uint64_t)si.totalram * si.mem_unit;
		memory &= ~((1ULL << 30) - 1);
	}
	shown_memory = memory;
	kb = memory / 1024;
	snprintf(buf, sizeof(buf),
	    "MemTotal:       %llu kB\nMemFree:        %llu kB\n"
	    "MemAvailable:   %llu kB\nBuffers:               0 kB\n"
	    "Cached:                0 kB\nSwapCached:            0 kB\n"
	    "Shmem:                 0 kB\nSwapTotal:             0 kB\n"
	    "SwapFree:              0 kB\n", kb, kb, kb);
	return (hv_write(dir, "meminfo", buf, strlen(buf)));
}

/* One idle process on as many CPUs as it may use, booted when it was. */
static int
hv_stat(const char *dir)
{
	cpu_set_t	 set;
	char		 buf[8192];
	size_t		 len;
	int		 i, n = 1;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	len = snprintf(buf, sizeof(buf), "cpu  0 0 0 0 0 0 0 0 0 0\n");
	for (i = 0; i < n && len < sizeof(buf) - 64; i++)
		len += snprintf(buf + len, sizeof(buf) - len,
		    "cpu%d 0 0 0 0 0 0 0 0 0 0\n", i);
	len += snprintf(buf + len, sizeof(buf) - len, "intr 0\nctxt 0\n"
	    "btime %lld\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n"
	    "softirq 0\n", (long long)time(NULL));
	return (hv_write(dir, "stat", buf, len));
}

/* A boot_id of the worker's own, in the kernel's format. */
static int
hv_boot_id(const char *dir)
{
	unsigned char	 r[16];
	char		 buf[40];

	arc4random_buf(r, sizeof(r));
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(buf, sizeof(buf), "%02x%02x%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x%02x%02x%02x%02x\n", r[0], r[1], r[2], r[3],
	    r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
	    r[14], r[15]);
	return (hv_write(dir, "sys/kernel/random/boot_id", buf,
	    strlen(buf)));
}

/* The files in dir; cpuinfo too, where no real one is (with_cpuinfo). */
static int
hv_generate(const char *dir, uint64_t memory, int with_cpuinfo)
{
	struct utsname	 u;
	char		 buf[512];

	if (uname(&u) == -1)
		return (-1);
	snprintf(buf, sizeof(buf), "Linux version %s (securer) %s\n",
	    u.release, u.version);
	if (hv_write(dir, "version", buf, strlen(buf)) == -1)
		return (-1);
	snprintf(buf, sizeof(buf), "%s\n", u.release);
	if (hv_write(dir, "sys/kernel/osrelease", buf, strlen(buf)) == -1 ||
	    hv_write(dir, "sys/kernel/ostype", "Linux\n", 6) == -1 ||
	    hv_write(dir, "sys/kernel/hostname", HV_HOSTNAME "\n",
	    strlen(HV_HOSTNAME) + 1) == -1 ||
	    hv_write(dir, "cmdline", "\n", 1) == -1 ||
	    hv_write(dir, "loadavg", "0.00 0.00 0.00 1/1 1\n", 21) == -1 ||
	    hv_write(dir, "uptime", "0.00 0.00\n", 10) == -1 ||
	    hv_meminfo(dir, memory) == -1 || hv_stat(dir) == -1 ||
	    hv_boot_id(dir) == -1)
		return (-1);
	if (with_cpuinfo && cpuinfo != NULL &&
	    hv_write(dir, "cpuinfo", cpuinfo, cpuinfo_len) == -1)
		return (-1);
	return (0);
}

/* What the subset procfs holds, where programs look for it. */
static int
hv_links(const char *dir)
{
	const char	*links[][2] = {
		{ "self", "pid/self" }, { "thread-self", "pid/thread-self" },
		{ "1", "pid/1" }, { "mounts", "self/mounts" },
		{ "net", "self/net" },
	};
	char		 path[PATH_MAX];
	size_t		 i;

	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		if (hv_path(path, dir, "/", links[i][0]) == -1 ||
		    symlink(links[i][1], path) == -1)
			return (-1);
	}
	return (0);
}

/* Fallback: each generated file bound over the host's, then unlinked. */
static int
hv_overlay(const char *root)
{
	char	 src[PATH_MAX], dst[PATH_MAX], *s;
	size_t	 i;

	for (i = 0; i < sizeof(hv_files) / sizeof(hv_files[0]); i++) {
		if (hv_path(src, root, HV_STAGING "/", hv_files[i]) == -1 ||
		    hv_path(dst, root, "/proc/", hv_files[i]) == -1)
			return (-1);
		if (mount(src, dst, NULL, MS_BIND, NULL) == -1 ||
		    mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY |
		    MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == -1 ||
		    unlink(src) == -1)
			return (-1);
	}
	/* The directories left, deepest first. */
	for (i = sizeof(hv_files) / sizeof(hv_files[0]); i-- > 0;) {
		if (hv_path(src, root, HV_STAGING "/", hv_files[i]) == -1)
			return (-1);
		while ((s = strrchr(src, '/')) != NULL &&
		    s > src + strlen(root) + strlen(HV_STAGING)) {
			*s = '\0';
			rmdir(src);
		}
	}
	if (hv_path(src, root, "", HV_STAGING) == -1)
		return (-1);
	return (rmdir(src));
}

/* dir, sep and name joined in a PATH_MAX buffer; -1 if too long. */
static int
hv_path(char *buf, const char *dir, const char *sep, const char *name)
{
	if (snprintf(buf, PATH_MAX, "%s%s%s", dir, sep, name) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/* mkdir -p of the directories of name under dir. */
static int
hv_mkdirs(const char *dir, const char *name)
{
	char	 p[PATH_MAX], *s;
	size_t	 skip;

	if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	skip = strlen(dir) + 1;
	for (s = p + skip; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0555) == -1 && errno != EEXIST)
			return (-1);
		*s = '/';
	}
	return (0);
}

static int
hv_write(const char *dir, const char *name, const char *text, size_t len)
{
	char	 path[PATH_MAX];
	int	 fd;

	if (hv_mkdirs(dir, name) == -1)
		return (-1);
	if (hv_path(path, dir, "/", name) == -1)
		return (-1);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0444)) == -1)
		return (-1);
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return (-1);
	}
	return (close(fd));
}

/*
 * Clocks that start at 0: a time namespace entered before anything runs
 * (only a single-threaded process may), and before the worker takes its
 * ids: the change makes it undumpable, which gives its /proc files to a
 * root its namespace does not map, timens_offsets among them.  The offsets bring both clocks
 * back to the second they read now; they never go below 0.
 */
int
hostview_clocks(void)
{
	static int	 said;
	struct timespec	 mono, boot;
	char		 offsets[128];
	size_t		 len;
	int		 fd;

	if (unshare(CLONE_NEWTIME) == -1) {
		if (errno != EINVAL)
			return (-1);
		if (!said++)
			log_warnx("no time namespaces: workers see the host's "
			    "uptime");
		return (0);
	}
	if (clock_gettime(CLOCK_MONOTONIC, &mono) == -1 ||
	    clock_gettime(CLOCK_BOOTTIME, &boot) == -1)
		return (-1);
	len = snprintf(offsets, sizeof(offsets), "monotonic %lld 0\n"
	    "boottime %lld 0\n", -(long long)mono.tv_sec,
	    -(long long)boot.tv_sec);
	if ((fd = open("/proc/self/timens_offsets", O_WRONLY |
	    O_CLOEXEC)) == -1)
		return (-1);
	if (write(fd, offsets, len) != (ssize_t)len) {
		close(fd);
		return (-1);
	}
	close(fd);
	if ((fd = open("/proc/self/ns/time_for_children", O_RDONLY |
	    O_CLOEXEC)) == -1)
		return (-1);
	if (setns(fd, CLONE_NEWTIME) == -1) {
		close(fd);
		return (-1);
	}
	return (close(fd));
}

/* Has the broker moved us: does a line of /proc/self/cgroup leave "/"? */
static int
hv_cgroup_moved(void)
{
	char	 line[512], *p;
	FILE	*f;
	int	 moved = 0;

	if ((f = fopen("/proc/self/cgroup", "re")) == NULL)
		return (-1);
	while (!moved && fgets(line, sizeof(line), f) != NULL)
		if ((p = strchr(line, ':')) != NULL &&
		    (p = strchr(p + 1, ':')) != NULL && strcmp(p + 1, "/\n"))
			moved = 1;
	fclose(f);
	return (moved);
}

/*
 * The cgroup namespace the clone was made in is rooted at the template's
 * cgroup, so the one the broker moves it into shows as a path with the
 * daemon's directory in it.  Once it is there (the broker moves it as
 * soon as the template reports it, while its root is being built),
 * a new one rooted there.  Returns -1 with errno if it never came.
 */
int
hostview_cgroup(void)
{
	struct timespec	 ts = { 0, HV_CGROUP_WAIT_US * 1000 };
	int		 i, moved;

	for (i = 0; i < HV_CGROUP_WAIT_STEPS; i++) {
		if ((moved = hv_cgroup_moved()) == -1)
			return (-1);
		if (moved)
			return (unshare(CLONE_NEWCGROUP));
		nanosleep(&ts, NULL);
	}
	errno = ETIMEDOUT;
	return (-1);
}

/*
 * SIGSYS from the filter's trap: sysinfo(2) answered with the worker's
 * own view; any other trapped call (none is) fails with ENOSYS.  Only
 * async-signal-safe work: memset and the vDSO's clock.  Code that
 * replaces the handler only changes what it tells itself.
 */
static void
hv_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t	*uc = ctx;
	greg_t		*regs = uc->uc_mcontext.gregs;
	struct sysinfo	*out;
	struct timespec	 ts;

	if (si->si_code != HV_SYS_SECCOMP || si->si_syscall != SYS_sysinfo) {
		regs[REG_RAX] = -ENOSYS;
		return;
	}
	out = (struct sysinfo *)regs[REG_RDI];
	memset(out, 0, sizeof(*out));
	if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
		out->uptime = ts.tv_sec;
	out->totalram = shown_memory;
	out->freeram = shown_memory;
	out->procs = 1;
	out->mem_unit = 1;
	regs[REG_RAX] = 0;
}

/* Before the filter is loaded: its trap's handler. */
int
hostview_trap(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = hv_trap;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	return (sigaction(SIGSYS, &sa, NULL));
}
