/*
 * The sandbox of the template and of its workers: the one place where
 * namespaces, mounts, ids and limits are set up, in this order.
 *
 * Template, before R starts, so R's tempdir never touches the host:
 *	1. a mount namespace (as root) or a user and mount namespace (as
 *	   anyone else) with a small private tmpfs on /tmp;
 *	2. the environment reset to an allowlist.
 *    If neither namespace can be had, the template goes on with the host's
 *    /tmp and says so once: each worker then gets a private directory
 *    there, but nothing stops it from reading the rest of /tmp.
 *
 * Worker, in the clone, before it reads anything from its monitor:
 *	1. fds: its channel on 3, /dev/null on 0, nothing else;
 *	2. a new session: no controlling terminal;
 *	3. a mount namespace of its own with a fresh tmpfs on /tmp;
 *	4. HOME and R's tempdir in it, owned by the worker's uid;
 *	5. the environment rebuilt from an allowlist: no secrets;
 *	6. rlimits (before the uid change: only root can raise a hard limit);
 *	7. as root, the worker's gid and uid, checked to be irrevocable;
 *	8. no capabilities, no_new_privs;
 *	9. death with the broker, checked to be still there;
 *	10. SIGXFSZ ignored, stdout and stderr to /dev/null.
 * A failure logs on the daemon's stderr and exits 71, before the worker
 * has run anything.
 * XXX user, pid, net, ipc and uts namespaces, read-only binds and the
 * seccomp filter come here next.
 */

#include <sys/types.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/capability.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

#define TPL_TMP_SIZE		(16ULL * 1024 * 1024)
#define TPL_TMP_INODES		1024
#define SINGLE_TMP_SIZE		(64ULL * 1024 * 1024)
#define WORKER_TMP_INODES	16384
#define WORKER_HOME		"/tmp/home"
#define WORKER_PATH		"/usr/bin:/bin"
#define WORKER_USER		"securer"

enum sandbox_mode {
	SANDBOX_NONE,		/* the host's /tmp, a private directory */
	SANDBOX_ROOT,		/* mount namespace, as root */
	SANDBOX_USERNS,		/* user and mount namespaces */
};

static enum sandbox_mode	 mode = SANDBOX_NONE;
static char			*private_dir;	/* removed at exit */
static char			 host_tmpdir[PATH_MAX] = "/tmp";
static char			*host_tz;
static uint32_t			 worker_id;

static void	sandbox_save(void);
static int	sandbox_namespace(void);
static int	sandbox_tmpfs(uint64_t, unsigned int);
static char	*sandbox_private(const char *);
static void	sandbox_env(const char *, const char *, int);
static void	sandbox_fds(int);
static void	sandbox_dirs(const char *, const char *, uid_t, gid_t);
static void	sandbox_limits(const struct worker_limits *);
static void	sandbox_rlimit(int, const char *, uint64_t, uint64_t);
static void	sandbox_setid(uid_t, gid_t);
static void	sandbox_nocaps(void);
static int	write_file(const char *, const char *);
static int	remove_one(const char *, const struct stat *, int,
		    struct FTW *);
static __attribute__((__noreturn__)) void	fail(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));
static __attribute__((__noreturn__)) void	failx(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));

void
sandbox_template(void)
{
	sandbox_save();
	if (sandbox_namespace() == 0 &&
	    sandbox_tmpfs(TPL_TMP_SIZE, TPL_TMP_INODES) == 0) {
		if (mkdir(WORKER_HOME, 0700) == -1)
			fatal("mkdir %s", WORKER_HOME);
		sandbox_env(WORKER_HOME, "/tmp", 0);
		log_debug("private /tmp in a %s namespace",
		    mode == SANDBOX_ROOT ? "mount" : "user and mount");
		return;
	}
	mode = SANDBOX_NONE;
	log_warnx("no private /tmp (namespaces unavailable): workers use "
	    "private directories in %s, without isolation", host_tmpdir);
	if ((private_dir = sandbox_private("securer-template")) == NULL)
		fatalx("no private directory");
	sandbox_env(private_dir, private_dir, 0);
	/* fatal() too; and a worker's exit(3) removes its own. */
	atexit(sandbox_cleanup);
}

/* -S: a private /tmp if we are root, else a private directory. */
void
sandbox_single(void)
{
	sandbox_save();
	if (geteuid() == 0 && sandbox_namespace() == 0 &&
	    sandbox_tmpfs(SINGLE_TMP_SIZE, WORKER_TMP_INODES) == 0) {
		if (mkdir(WORKER_HOME, 0700) == -1)
			fatal("mkdir %s", WORKER_HOME);
		sandbox_env(WORKER_HOME, "/tmp", 0);
	} else {
		mode = SANDBOX_NONE;
		if ((private_dir = sandbox_private("securer-worker")) == NULL)
			fatalx("no private directory");
		sandbox_env(private_dir, private_dir, 0);
		atexit(sandbox_cleanup);
	}
	if (chdir(getenv("HOME")) == -1)
		fatal("chdir %s", getenv("HOME"));
}

/*
 * Lock down the clone; see the steps at the top.  rtmp is the template's
 * R tempdir.  Returns the tempdir R must use from now on.
 */
const char *
sandbox_worker(int fd, const struct tpl_spawn *ts, pid_t broker,
    const char *rtmp)
{
	const char	*home, *tmpdir, *envtmp;
	int		 root = geteuid() == 0;

	private_dir = NULL;		/* that was the template's */
	worker_id = ts->worker_id;
	sandbox_fds(fd);
	if (setsid() == -1)
		fail("setsid");
	if (mode != SANDBOX_NONE) {
		if (unshare(CLONE_NEWNS) == -1)
			fail("unshare");
		/* Already private in the template's namespace: make sure. */
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
			fail("mount private /");
		if (sandbox_tmpfs(ts->limits.tmp_size, WORKER_TMP_INODES) == -1)
			failx("no tmpfs on /tmp");
		home = WORKER_HOME;
		tmpdir = rtmp;
		envtmp = "/tmp";
	} else {
		if ((private_dir = sandbox_private("securer-worker")) == NULL)
			failx("no private directory");
		home = tmpdir = envtmp = private_dir;
	}
	sandbox_dirs(home, tmpdir, root ? ts->uid : (uid_t)-1,
	    root ? ts->gid : (gid_t)-1);
	sandbox_env(home, envtmp, 1);
	if (chdir(home) == -1)
		fail("chdir %s", home);
	sandbox_limits(&ts->limits);
	if (root)
		sandbox_setid(ts->uid, ts->gid);
	sandbox_nocaps();
	/* After the uid change, which clears it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		fail("prctl PR_SET_PDEATHSIG");
	if (getppid() != broker)
		failx("the broker is gone");
	/* An oversize write is an R error, not a death. */
	signal(SIGXFSZ, SIG_IGN);
	if (dup2(STDIN_FILENO, STDOUT_FILENO) == -1 ||
	    dup2(STDIN_FILENO, STDERR_FILENO) == -1)
		_exit(W_EXIT_SETUP);
	return (tmpdir);
}

/* At exit: the private directory, if we made one. */
void
sandbox_cleanup(void)
{
	if (private_dir == NULL)
		return;
	nftw(private_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	free(private_dir);
	private_dir = NULL;
}

static int
remove_one(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	remove(path);
	return (0);
}

/* What we keep from the broker's environment, read before it is reset. */
static void
sandbox_save(void)
{
	const char	*s;

	if ((s = getenv("TMPDIR")) != NULL && s[0] == '/')
		strlcpy(host_tmpdir, s, sizeof(host_tmpdir));
	if ((s = getenv("TZ")) != NULL && (host_tz = strdup(s)) == NULL)
		fatal("strdup");
	if (getenv("R_HOME") == NULL && setenv("R_HOME", SECURER_R_HOME, 1))
		fatal("setenv");
}

/*
 * A mount namespace whose mounts stay in it.  Not root, we first enter
 * a user namespace, as ourselves, in which we may mount.
 */
static int
sandbox_namespace(void)
{
	char	 map[64];
	uid_t	 uid = geteuid();
	gid_t	 gid = getegid();

	if (uid == 0) {
		if (unshare(CLONE_NEWNS) == -1)
			return (-1);
		mode = SANDBOX_ROOT;
	} else {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) == -1)
			return (-1);
		/*
		 * Left unmapped, we would still be ourselves to the kernel,
		 * only unable to mount: degraded, but no worse.
		 */
		snprintf(map, sizeof(map), "%u %u 1", uid, uid);
		if (write_file("/proc/self/setgroups", "deny") == -1 ||
		    write_file("/proc/self/uid_map", map) == -1) {
			log_warn("uid_map");
			return (-1);
		}
		snprintf(map, sizeof(map), "%u %u 1", gid, gid);
		if (write_file("/proc/self/gid_map", map) == -1) {
			log_warn("gid_map");
			return (-1);
		}
		mode = SANDBOX_USERNS;
	}
	/* Else a shared / would carry our tmpfs to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1) {
		log_warn("mount private /");
		mode = SANDBOX_NONE;
		return (-1);
	}
	return (0);
}

static int
sandbox_tmpfs(uint64_t size, unsigned int inodes)
{
	char	 opts[128];

	if (size == LIMIT_NONE)
		snprintf(opts, sizeof(opts), "mode=1777,nr_inodes=%u",
		    inodes);
	else
		snprintf(opts, sizeof(opts), "mode=1777,nr_inodes=%u,size=%llu",
		    inodes, (unsigned long long)size);
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    opts) == -1) {
		log_warn("mount tmpfs on /tmp");
		return (-1);
	}
	return (0);
}

/* Degraded: a directory of our own in the host's TMPDIR; NULL if not. */
static char *
sandbox_private(const char *prefix)
{
	char	*dir;

	if (asprintf(&dir, "%s/%s.XXXXXX", host_tmpdir, prefix) == -1)
		return (NULL);
	if (mkdtemp(dir) == NULL) {
		log_warn("mkdtemp %s", dir);
		free(dir);
		return (NULL);
	}
	return (dir);
}

/*
 * clearenv and an allowlist: whatever secrets the broker's environment
 * held stay out of R.  The template starts R in this environment, and R
 * adds its own R_* variables from R_HOME/etc/Renviron; workers keep
 * those (keep_r), as no other R_* variable can be left by then.
 */
static void
sandbox_env(const char *home, const char *tmpdir, int keep_r)
{
	extern char	**environ;
	char		**keep = NULL, *rhome, *eq;
	size_t		 i, n = 0;

	if ((rhome = strdup(getenv("R_HOME"))) == NULL)
		fatal("strdup");
	for (i = 0; keep_r && environ[i] != NULL; i++)
		n++;
	if ((keep = calloc(n + 1, sizeof(*keep))) == NULL)
		fatal("calloc");
	for (i = 0, n = 0; keep_r && environ[i] != NULL; i++)
		if (strncmp(environ[i], "R_", 2) == 0 &&
		    (keep[n++] = strdup(environ[i])) == NULL)
			fatal("strdup");
	if (clearenv() != 0)
		fatalx("clearenv");
	for (i = 0; i < n; i++) {
		if ((eq = strchr(keep[i], '=')) == NULL)
			continue;
		*eq = '\0';
		if (setenv(keep[i], eq + 1, 1) == -1)
			fatal("setenv");
		free(keep[i]);
	}
	if (setenv("HOME", home, 1) || setenv("TMPDIR", tmpdir, 1) ||
	    setenv("LANG", "C.UTF-8", 1) || setenv("R_HOME", rhome, 1) ||
	    setenv("PATH", WORKER_PATH, 1) ||
	    setenv("USER", WORKER_USER, 1) ||
	    setenv("LOGNAME", WORKER_USER, 1) ||
	    (host_tz != NULL && setenv("TZ", host_tz, 1)))
		fatal("setenv");
	free(keep);
	free(rhome);
}

static void
sandbox_fds(int fd)
{
	int	 null;

	if (dup2(fd, W_CHAN_FD) == -1)
		fail("dup2 channel");
	close(fd);
	if ((null = open("/dev/null", O_RDWR)) == -1)
		fail("/dev/null");
	if (dup2(null, STDIN_FILENO) == -1)
		fail("dup2 /dev/null");
	if (null > W_CHAN_FD)
		close(null);
	if (close_range(W_CHAN_FD + 1, ~0U, 0) == -1)
		fail("close_range");
}

/* uid -1: leave the owner alone (we are not root). */
static void
sandbox_dirs(const char *home, const char *tmpdir, uid_t uid, gid_t gid)
{
	const char	*dirs[] = { home, tmpdir };
	size_t		 i;

	for (i = 0; i < 2; i++) {
		if (mkdir(dirs[i], 0700) == -1 && errno != EEXIST)
			fail("mkdir %s", dirs[i]);
		if (uid != (uid_t)-1 && chown(dirs[i], uid, gid) == -1)
			fail("chown %s", dirs[i]);
	}
}

/*
 * The CPU limit's hard limit is a second above the soft one, so the
 * kernel sends SIGXCPU first: the broker tells that from other kills.
 */
static void
sandbox_limits(const struct worker_limits *l)
{
	sandbox_rlimit(RLIMIT_CPU, "cpu", l->cpu,
	    l->cpu == LIMIT_NONE ? LIMIT_NONE : l->cpu + 1);
#if defined(__SANITIZE_ADDRESS__)
	/*
	 * An ASan build (for tests only) has terabytes of shadow mapped:
	 * any address-space limit would kill it, so such a build does not
	 * limit memory with an rlimit.
	 */
	log_debug("ASan build: memory rlimit not set");
#else
	sandbox_rlimit(RLIMIT_AS, "memory", l->memory, l->memory);
#endif
	sandbox_rlimit(RLIMIT_FSIZE, "fsize", l->fsize, l->fsize);
	sandbox_rlimit(RLIMIT_NPROC, "nproc", l->nproc, l->nproc);
	sandbox_rlimit(RLIMIT_NOFILE, "nofile", l->nofile, l->nofile);
	sandbox_rlimit(RLIMIT_STACK, "stack", l->stack, l->stack);
}

/*
 * Not root, we cannot raise a hard limit (nor can root raise nofile past
 * fs.nr_open): we then keep the current hard limit, which is lower than
 * asked, so the worker is never less limited than it should be.
 */
static void
sandbox_rlimit(int res, const char *name, uint64_t soft, uint64_t hard)
{
	struct rlimit	 rl, cur;

	rl.rlim_cur = soft == LIMIT_NONE ? RLIM_INFINITY : soft;
	rl.rlim_max = hard == LIMIT_NONE ? RLIM_INFINITY : hard;
	if (setrlimit(res, &rl) == 0)
		return;
	if (errno != EPERM || getrlimit(res, &cur) == -1 ||
	    rl.rlim_max <= cur.rlim_max)
		fail("setrlimit %s", name);
	rl.rlim_max = cur.rlim_max;
	if (rl.rlim_cur > rl.rlim_max)
		rl.rlim_cur = rl.rlim_max;
	if (setrlimit(res, &rl) == -1)
		fail("setrlimit %s", name);
}

/* The privilege drop: groups, gid, uid, then proof it cannot be undone. */
static void
sandbox_setid(uid_t uid, gid_t gid)
{
	uid_t	 ru, eu, su;
	gid_t	 rg, eg, sg;

	if (uid == 0 || gid == 0)
		failx("refusing to run as uid %u gid %u", uid, gid);
	if (setgroups(0, NULL) == -1)
		fail("setgroups");
	if (setresgid(gid, gid, gid) == -1)
		fail("setresgid %u", gid);
	if (setresuid(uid, uid, uid) == -1)
		fail("setresuid %u", uid);
	if (setresuid(0, 0, 0) != -1 || setresgid(0, 0, 0) != -1)
		failx("could regain root");
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		fail("getresuid");
	if (ru != uid || eu != uid || su != uid ||
	    rg != gid || eg != gid || sg != gid || getgroups(0, NULL) != 0)
		failx("ids not changed");
}

/*
 * In a user namespace the clone still holds every capability there;
 * as root the uid change cleared them already.  Either way: none, and
 * nothing can bring them back.
 */
static void
sandbox_nocaps(void)
{
	struct __user_cap_header_struct	 hdr;
	struct __user_cap_data_struct	 data[_LINUX_CAPABILITY_U32S_3];

	memset(&hdr, 0, sizeof(hdr));
	memset(data, 0, sizeof(data));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	if (syscall(SYS_capset, &hdr, data) == -1)
		fail("capset");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fail("prctl PR_SET_NO_NEW_PRIVS");
}

static int
write_file(const char *path, const char *s)
{
	size_t	 len = strlen(s);
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return (-1);
	if (write(fd, s, len) != (ssize_t)len) {
		close(fd);
		return (-1);
	}
	return (close(fd));
}

static void
fail(const char *fmt, ...)
{
	char	 msg[256];
	va_list	 ap;
	int	 saved_errno = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errno = saved_errno;
	log_warn("worker %u: %s", worker_id, msg);
	sandbox_cleanup();
	_exit(W_EXIT_SETUP);
}

static void
failx(const char *fmt, ...)
{
	char	 msg[256];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("worker %u: %s", worker_id, msg);
	sandbox_cleanup();
	_exit(W_EXIT_SETUP);
}
