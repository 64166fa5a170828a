/*
 * The sandbox of the template and of its workers: the one place where
 * namespaces, mounts, ids and limits are set up, in this order.
 *
 * Template, before R starts, so R's tempdir never touches the host:
 *	1. a mount namespace (as root) or a user and mount namespace (as
 *	   anyone else) with a small private tmpfs on /tmp;
 *	2. the environment reset to an allowlist;
 *	3. an empty network namespace, which filtered workers share.
 *    If neither namespace can be had, the template goes on with the host's
 *    /tmp and says so once: each worker then gets a private directory
 *    there, but nothing stops it from reading the rest of /tmp.
 *
 * Worker, full sandbox (TPL_NAMESPACES): the template clones it into new
 * user, mount, pid, net, ipc, uts and cgroup namespaces and writes its
 * uid and gid maps (the host ids from the broker's range appear as
 * W_NS_ID inside), then lets it go on:
 *	1. fds: its channel on 3, /dev/null on 0, nothing else;
 *	2. a new session: no controlling terminal;
 *	3. a time namespace whose clocks start at 0 (hostview.c);
 *	4. W_NS_ID as uid and gid, keeping the namespace's capabilities
 *	   (its uid 0 is unmapped, so the kernel does not clear them): the
 *	   files it creates from now on are its own; a fixed host name;
 *	5. a new root on a tmpfs: read-only binds of R, its libraries and
 *	   the few /etc files it reads, generated passwd and group, /dev
 *	   with null, zero, random and urandom, its own /proc (hostview.c),
 *	   a fresh noexec /tmp with size and inode limits; pivot_root, the
 *	   old root detached, the new root read-only;
 *	6. HOME and R's tempdir in /tmp;
 *	7. the environment rebuilt from an allowlist: no secrets;
 *	8. rlimits; once the broker has moved it into its cgroup, a cgroup
 *	   namespace rooted there;
 *	9. no capabilities, no_new_privs;
 *	10. death with the broker (pid namespaces hide the broker's pid; if
 *	   it is already gone, the channel's other end is closed and the
 *	   worker's first read ends it);
 *	11. SIGXFSZ ignored, stdout and stderr to /dev/null;
 *	12. the seccomp filter (TPL_SECCOMP), last, as it forbids mount.
 * Without TPL_NAMESPACES (a host without them), steps 3-5 are a mount
 * namespace with a fresh /tmp, and, as root, the worker's own host uid.
 * A failure logs on the daemon's stderr and exits 71, before the worker
 * has run anything.
 */

#include <sys/types.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

#include <linux/capability.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <nss.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

#include <R_ext/Parse.h>

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
static void	sandbox_nss(void);
static int	sandbox_namespace(void);
static void	sandbox_netns(void);
static int	sandbox_tmpfs(const char *, uint64_t, unsigned int);
static int	sandbox_idmap(pid_t, uid_t, gid_t);
static void	sandbox_nsid(void);
static void	sandbox_root(uint64_t, uint64_t);
static void	root_mkdir(const char *);
static void	root_touch(const char *);
static void	root_bind(const char *, int);
static void	root_etc(void);
static void	root_write(const char *, const char *);
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
static __attribute__((__noreturn__)) void	setup_fail(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));
static __attribute__((__noreturn__)) void	failx(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));

void
sandbox_template(void)
{
	sandbox_save();
	hostview_prepare();
	if (sandbox_namespace() == 0 &&
	    sandbox_tmpfs("/tmp", TPL_TMP_SIZE, TPL_TMP_INODES) == 0) {
		if (mkdir(WORKER_HOME, 0700) == -1)
			fatal("mkdir %s", WORKER_HOME);
		sandbox_env(WORKER_HOME, "/tmp", 0);
		log_debug("private /tmp in a %s namespace",
		    mode == SANDBOX_ROOT ? "mount" : "user and mount");
		sandbox_netns();
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

/*
 * The template itself has no network: an empty network namespace of its
 * own, made once.  Each worker still gets a new one at its clone (a
 * shared one measured no faster: the kernel tears namespaces down
 * asynchronously).
 */
static void
sandbox_netns(void)
{
	if (unshare(CLONE_NEWNET) == -1)
		log_warn("template network namespace");
}

/* -S: a private /tmp if we are root, else a private directory. */
void
sandbox_single(void)
{
	sandbox_save();
	if (geteuid() == 0 && sandbox_namespace() == 0 &&
	    sandbox_tmpfs("/tmp", SINGLE_TMP_SIZE, WORKER_TMP_INODES) == 0) {
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
 * In the template: clone a worker, the broker's child (CLONE_PARENT), in
 * new namespaces if asked.  The raw system call, which skips glibc's fork
 * handlers: safe, as the template is single-threaded and holds no lock
 * here.  With namespaces the clone waits on a pipe until we have written
 * its id maps: until then it is nobody in its namespace.  Returns 0 in
 * the clone, its pid in the template, -1 if it could not be made.
 */
pid_t
sandbox_spawn(const struct tpl_spawn *ts)
{
	int	 sync[2], flags = CLONE_PARENT | SIGCHLD;
	pid_t	 pid;
	char	 c = 0;

	if (!(ts->flags & TPL_NAMESPACES))
		return (syscall(SYS_clone, flags, 0, 0, 0, 0));
	flags |= W_NS_FLAGS;
	if (pipe2(sync, O_CLOEXEC) == -1)
		return (-1);
	if ((pid = syscall(SYS_clone, flags, 0, 0, 0, 0)) == 0) {
		close(sync[1]);
		if (read(sync[0], &c, 1) != 1)
			_exit(W_EXIT_SETUP);
		close(sync[0]);
		return (0);
	}
	close(sync[0]);
	/* On a failed map the clone reads EOF and exits: the broker reaps. */
	if (pid != -1 && sandbox_idmap(pid, ts->uid, ts->gid) == 0 &&
	    write(sync[1], &c, 1) != 1)
		log_warn("worker %u: sync", ts->worker_id);
	close(sync[1]);
	return (pid);
}

static int
sandbox_idmap(pid_t pid, uid_t uid, gid_t gid)
{
	char	 path[64], map[64];

	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	snprintf(map, sizeof(map), "%u %u 1\n", W_NS_ID, uid);
	if (write_file(path, map) == -1) {
		log_warn("%s", path);
		return (-1);
	}
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	snprintf(map, sizeof(map), "%u %u 1\n", W_NS_ID, gid);
	if (write_file(path, map) == -1) {
		log_warn("%s", path);
		return (-1);
	}
	return (0);
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
	int		 ns = ts->flags & TPL_NAMESPACES;

	private_dir = NULL;		/* that was the template's */
	worker_id = ts->worker_id;
	sandbox_fds(fd);
	if (setsid() == -1)
		setup_fail("setsid");
	if (ns) {
		if (hostview_clocks() == -1)
			setup_fail("time namespace");
		sandbox_nsid();
		if (hostview_names() == -1)
			setup_fail("host name");
		sandbox_root(ts->limits.tmp_size, ts->limits.memory);
		home = WORKER_HOME;
		tmpdir = rtmp;
		envtmp = "/tmp";
	} else if (mode != SANDBOX_NONE) {
		if (unshare(CLONE_NEWNS) == -1)
			setup_fail("unshare");
		/* Already private in the template's namespace: make sure. */
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
			setup_fail("mount private /");
		if (sandbox_tmpfs("/tmp", ts->limits.tmp_size,
		    WORKER_TMP_INODES) == -1)
			failx("no tmpfs on /tmp");
		home = WORKER_HOME;
		tmpdir = rtmp;
		envtmp = "/tmp";
	} else {
		if ((private_dir = sandbox_private("securer-worker")) == NULL)
			failx("no private directory");
		home = tmpdir = envtmp = private_dir;
	}
	sandbox_dirs(home, tmpdir, root && !ns ? ts->uid : (uid_t)-1,
	    root && !ns ? ts->gid : (gid_t)-1);
	sandbox_env(home, envtmp, 1);
	if (chdir(home) == -1)
		setup_fail("chdir %s", home);
	sandbox_limits(&ts->limits);
	if (root && !ns)
		sandbox_setid(ts->uid, ts->gid);
	/* As late as can be: the broker moves it meanwhile. */
	if (ns && (ts->flags & TPL_CGROUP) && hostview_cgroup() == -1)
		setup_fail("cgroup namespace");
	sandbox_nocaps();
	/* After the uid change, which clears it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		setup_fail("prctl PR_SET_PDEATHSIG");
	if (!ns && getppid() != broker)
		failx("the broker is gone");
	/* An oversize write is an R error, not a death. */
	signal(SIGXFSZ, SIG_IGN);
	if (dup2(STDIN_FILENO, STDOUT_FILENO) == -1 ||
	    dup2(STDIN_FILENO, STDERR_FILENO) == -1)
		_exit(W_EXIT_SETUP);
	if ((ts->flags & TPL_SECCOMP) && seccomp_worker() == -1)
		_exit(W_EXIT_SETUP);
	return (tmpdir);
}

/*
 * Our ids in the new user namespace.  Its uid 0 is not mapped, so the
 * kernel keeps the namespace's capabilities across the change (they go
 * in sandbox_nocaps()); from here on what we create is the worker's.
 * A namespace whose parent denies setgroups (single-user mode) keeps
 * the user's groups, which it cannot use for more than the user could.
 */
static void
sandbox_nsid(void)
{
	if (setgroups(0, NULL) == -1 && errno != EPERM)
		setup_fail("setgroups");
	if (setresgid(W_NS_ID, W_NS_ID, W_NS_ID) == -1)
		setup_fail("setresgid");
	if (setresuid(W_NS_ID, W_NS_ID, W_NS_ID) == -1)
		setup_fail("setresuid");
}

/*
 * What the new root holds, at the same paths as on the host: R's files
 * are opened by path long after start-up (lazy-load databases, package
 * libraries), so they must be where the template found them.
 */
static const char *root_dirs[] = {
	SECURER_R_HOME,
	"/usr/share/R",
	"/usr/local/lib/R",
	"/usr/lib/x86_64-linux-gnu",
	"/usr/lib64",
	"/usr/lib/locale",
	"/usr/share/zoneinfo",
	"/etc/R",
	/* The PNG device's text: fontconfig, its cache and the fonts. */
	"/etc/fonts",
	"/usr/share/fontconfig",
	"/usr/share/fonts",
	"/var/cache/fontconfig",
};
static const char *root_files[] = {
	"/etc/ld.so.cache",
	"/dev/null",
	"/dev/zero",
	"/dev/random",
	"/dev/urandom",
};

/* The operator's R libraries (securerd.conf "library"), bound the same. */
static const char	*libraries[LIBRARIES_MAX];
static size_t		 nlibraries;

int
sandbox_library(const char *path)
{
	if (path[0] != '/' || nlibraries >= LIBRARIES_MAX)
		return (-1);
	libraries[nlibraries++] = path;
	return (0);
}

/* Built on a tmpfs mounted over /tmp, whose old content stays outside. */
#define NEWROOT		"/tmp"

static void
sandbox_root(uint64_t tmp_size, uint64_t memory)
{
	size_t	 i;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		setup_fail("mount private /");
	if (mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV,
	    "mode=0755,size=2m,nr_inodes=512") == -1)
		setup_fail("mount root tmpfs");
	for (i = 0; i < sizeof(root_dirs) / sizeof(root_dirs[0]); i++)
		root_bind(root_dirs[i], 1);
	for (i = 0; i < sizeof(root_files) / sizeof(root_files[0]); i++)
		root_bind(root_files[i], 0);
	for (i = 0; i < nlibraries; i++)
		root_bind(libraries[i], 1);
	root_etc();
	root_mkdir("/proc");
	if (hostview_proc(NEWROOT, memory) == -1)
		setup_fail("/proc");
	root_mkdir("/tmp");
	if (sandbox_tmpfs(NEWROOT "/tmp", tmp_size, WORKER_TMP_INODES) == -1)
		failx("no tmpfs on /tmp");
	if (chdir(NEWROOT) == -1 || mkdir(".old", 0700) == -1)
		setup_fail("new root");
	if (syscall(SYS_pivot_root, ".", ".old") == -1)
		setup_fail("pivot_root");
	if (chdir("/") == -1 || umount2("/.old", MNT_DETACH) == -1 ||
	    rmdir("/.old") == -1)
		setup_fail("old root");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY |
	    MS_NOSUID | MS_NODEV, NULL) == -1)
		setup_fail("read-only root");
}

/* mkdir -p of path under the new root. */
static void
root_mkdir(const char *path)
{
	char	 p[PATH_MAX], *s;

	if (snprintf(p, sizeof(p), "%s%s", NEWROOT, path) >= (int)sizeof(p))
		failx("path too long: %s", path);
	for (s = p + strlen(NEWROOT) + 1; (s = strchr(s, '/')) != NULL;
	    s++) {
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			setup_fail("mkdir %s", p);
		*s = '/';
	}
	if (mkdir(p, 0755) == -1 && errno != EEXIST)
		setup_fail("mkdir %s", p);
}

static void
root_touch(const char *path)
{
	char	 p[PATH_MAX], *s;
	int	 fd;

	snprintf(p, sizeof(p), "%s", path);
	if ((s = strrchr(p, '/')) != NULL && s != p) {
		*s = '\0';
		root_mkdir(p);
	}
	snprintf(p, sizeof(p), "%s%s", NEWROOT, path);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) == -1)
		setup_fail("create %s", p);
	close(fd);
}

/*
 * A read-only bind of a host path, nosuid and nodev.  The remount keeps
 * the flags the kernel locked on the host mount (atime, noexec): a user
 * namespace may not clear them.  A path the host lacks is left out.
 */
static void
root_bind(const char *path, int dir)
{
	struct statvfs	 sv;
	struct stat	 st;
	char		 dst[PATH_MAX];
	unsigned long	 fl = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID |
			    MS_NODEV;

	if (stat(path, &st) == -1 || statvfs(path, &sv) == -1)
		return;
	if (dir)
		root_mkdir(path);
	else
		root_touch(path);
	snprintf(dst, sizeof(dst), "%s%s", NEWROOT, path);
	if (mount(path, dst, NULL, MS_BIND | MS_REC, NULL) == -1)
		setup_fail("bind %s", path);
	if (sv.f_flag & ST_NOEXEC)
		fl |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		fl |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		fl |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		fl |= MS_RELATIME;
	if (mount(NULL, dst, NULL, fl, NULL) == -1)
		setup_fail("read-only %s", path);
}

/*
 * /etc: only what R and glibc read.  passwd and group name the worker
 * and the kernel's overflow ids, which the files of the host that the
 * worker's uid map leaves out show as their owner (file.info() on R's
 * library); nsswitch.conf sends every lookup to those files (no nscd,
 * no network: sandbox_nss() pinned the same in the process); localtime
 * is the host's link into the zoneinfo bound above.
 */
static void
root_etc(void)
{
	char	 buf[256], link[PATH_MAX];
	ssize_t	 n;

	root_mkdir("/etc");
	snprintf(buf, sizeof(buf), "%s:x:%u:%u::%s:/nonexistent\n"
	    "nobody:x:%u:%u::/nonexistent:/nonexistent\n",
	    WORKER_USER, W_NS_ID, W_NS_ID, WORKER_HOME, W_OVERFLOW_ID,
	    W_OVERFLOW_ID);
	root_write("/etc/passwd", buf);
	snprintf(buf, sizeof(buf), "%s:x:%u:\nnogroup:x:%u:\n", WORKER_USER,
	    W_NS_ID, W_OVERFLOW_ID);
	root_write("/etc/group", buf);
	root_write("/etc/nsswitch.conf", "passwd: files\ngroup: files\n"
	    "shadow: files\ngshadow: files\ninitgroups: files\n"
	    "hosts: files\nnetworks: files\nprotocols: files\n"
	    "services: files\nethers: files\nrpc: files\n"
	    "netgroup: files\naliases: files\npublickey: files\n");
	root_write("/etc/hosts", "127.0.0.1 localhost\n");
	if ((n = readlink("/etc/localtime", link, sizeof(link) - 1)) > 0) {
		link[n] = '\0';
		if (symlink(link, NEWROOT "/etc/localtime") == -1)
			setup_fail("symlink /etc/localtime");
	}
	if (symlink("usr/lib", NEWROOT "/lib") == -1 ||
	    symlink("usr/lib64", NEWROOT "/lib64") == -1 ||
	    symlink("/proc/self/fd", NEWROOT "/dev/fd") == -1)
		setup_fail("symlink");
}

static void
root_write(const char *path, const char *text)
{
	char	 p[PATH_MAX];
	size_t	 len = strlen(text);
	int	 fd;

	snprintf(p, sizeof(p), "%s%s", NEWROOT, path);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0644)) == -1 || write(fd, text, len) != (ssize_t)len)
		setup_fail("write %s", p);
	close(fd);
}

/*
 * In the template, R just started: what the filter will forbid later is
 * done now.  PCRE's JIT would need executable anonymous memory, which
 * the filter refuses (W^X), so it is off; a regular expression and a
 * time zone are used once so their tables are loaded.
 */
static const char warm_code[] =
    "options(PCRE_use_JIT = FALSE)\n"
    "invisible(grepl('^a+$', 'aa', perl = TRUE))\n"
    "invisible(format(Sys.time(), '%Y-%m-%d %H:%M:%S %Z'))\n";

/* The operator's libraries first in .libPaths(), as R_LIBS would. */
static void
warm_libraries(void)
{
	SEXP	 cur, all;
	R_xlen_t i, n;
	int	 err;

	if (nlibraries == 0)
		return;
	cur = PROTECT(R_tryEval(PROTECT(Rf_lang1(Rf_install(".libPaths"))),
	    R_GlobalEnv, &err));
	if (err)
		fatalx(".libPaths() fails");
	n = XLENGTH(cur);
	all = PROTECT(Rf_allocVector(STRSXP, nlibraries + n));
	for (i = 0; i < (R_xlen_t)nlibraries; i++)
		SET_STRING_ELT(all, i, Rf_mkChar(libraries[i]));
	for (i = 0; i < n; i++)
		SET_STRING_ELT(all, nlibraries + i, STRING_ELT(cur, i));
	R_tryEval(PROTECT(Rf_lang2(Rf_install(".libPaths"), all)),
	    R_GlobalEnv, &err);
	if (err)
		fatalx("cannot set .libPaths()");
	UNPROTECT(4);
}

void
sandbox_warm(void)
{
	ParseStatus	 status;
	SEXP		 code, exprs;
	R_xlen_t	 i;
	int		 err;

	code = PROTECT(Rf_mkString(warm_code));
	exprs = PROTECT(R_ParseVector(code, -1, &status, R_NilValue));
	if (status != PARSE_OK)
		fatalx("warm-up code does not parse");
	for (i = 0; i < XLENGTH(exprs); i++) {
		R_tryEval(VECTOR_ELT(exprs, i), R_GlobalEnv, &err);
		if (err)
			fatalx("warm-up code fails");
	}
	UNPROTECT(2);
	warm_libraries();
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
	sandbox_nss();
}

/*
 * Name service lookups (getpwuid(), getgrgid(), getaddrinfo()...) from
 * files only, before anything looks a name up.  glibc reads the host's
 * nsswitch.conf once per process and, once the root has changed, never
 * again: left alone, the template would load the host's configuration
 * and a worker would run the modules it names (systemd, sssd, ldap)
 * under its filter, which kills it for what they do (a prctl, a socket
 * to a daemon).  Pinned here, every lookup reads the files of the
 * worker's own root, which name its uid (root_etc()).  A database
 * glibc does not know is refused with -1: nothing to pin then.
 */
static const char *nss_databases[] = {
	"aliases", "ethers", "group", "gshadow", "hosts", "initgroups",
	"netgroup", "networks", "passwd", "protocols", "publickey", "rpc",
	"services", "shadow",
};

static void
sandbox_nss(void)
{
#if defined(__GLIBC__)
	size_t	 i;

	for (i = 0; i < sizeof(nss_databases) / sizeof(nss_databases[0]); i++)
		if (__nss_configure_lookup(nss_databases[i], "files") == -1)
			log_debug("nss: %s not pinned", nss_databases[i]);
#endif
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
sandbox_tmpfs(const char *target, uint64_t size, unsigned int inodes)
{
	char	 opts[128];

	if (size == LIMIT_NONE)
		snprintf(opts, sizeof(opts), "mode=1777,nr_inodes=%u",
		    inodes);
	else
		snprintf(opts, sizeof(opts), "mode=1777,nr_inodes=%u,size=%llu",
		    inodes, (unsigned long long)size);
	if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    opts) == -1) {
		log_warn("mount tmpfs on %s", target);
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
		setup_fail("dup2 channel");
	close(fd);
	if ((null = open("/dev/null", O_RDWR)) == -1)
		setup_fail("/dev/null");
	if (dup2(null, STDIN_FILENO) == -1)
		setup_fail("dup2 /dev/null");
	if (null > W_CHAN_FD)
		close(null);
	if (close_range(W_CHAN_FD + 1, ~0U, 0) == -1)
		setup_fail("close_range");
}

/* uid -1: leave the owner alone (we are not root). */
static void
sandbox_dirs(const char *home, const char *tmpdir, uid_t uid, gid_t gid)
{
	const char	*dirs[] = { home, tmpdir };
	size_t		 i;

	for (i = 0; i < 2; i++) {
		if (mkdir(dirs[i], 0700) == -1 && errno != EEXIST)
			setup_fail("mkdir %s", dirs[i]);
		if (uid != (uid_t)-1 && chown(dirs[i], uid, gid) == -1)
			setup_fail("chown %s", dirs[i]);
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
	sandbox_rlimit(RLIMIT_AS, "memory", plots_memory(l->memory),
	    plots_memory(l->memory));
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
		setup_fail("setrlimit %s", name);
	rl.rlim_max = cur.rlim_max;
	if (rl.rlim_cur > rl.rlim_max)
		rl.rlim_cur = rl.rlim_max;
	if (setrlimit(res, &rl) == -1)
		setup_fail("setrlimit %s", name);
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
		setup_fail("setgroups");
	if (setresgid(gid, gid, gid) == -1)
		setup_fail("setresgid %u", gid);
	if (setresuid(uid, uid, uid) == -1)
		setup_fail("setresuid %u", uid);
	if (setresuid(0, 0, 0) != -1 || setresgid(0, 0, 0) != -1)
		failx("could regain root");
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		setup_fail("getresuid");
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
		setup_fail("capset");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		setup_fail("prctl PR_SET_NO_NEW_PRIVS");
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
setup_fail(const char *fmt, ...)
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
