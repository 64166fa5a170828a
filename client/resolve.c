/*
 * Where libsecurer finds securerd, and how it starts a private one.
 *
 * A private daemon's socket lives in a directory that only its user can
 * enter: in a shared place like /tmp, anyone else could otherwise put a
 * socket of their own there and read the code and tool calls meant for
 * the daemon.
 *
 * A private daemon's audit log is in that directory too, named to the
 * daemon on its command line: root's private daemon would otherwise
 * share the system daemon's, which one daemon holds at a time.
 *
 * The client makes the daemon's listening socket itself and hands it over
 * as fd 3 (systemd's socket activation protocol).  The socket accepts
 * connections from the moment it is made, so the client can connect as
 * soon as the daemon has said it started: no polling for the socket.
 */

#include <sys/types.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <paths.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resolve.h"
#include "securer.h"

#ifndef SECURER_SBINDIR
#define SECURER_SBINDIR	"/usr/local/sbin"
#endif

#define LOCK_NAME	"securerd.lock"
#define LOG_NAME	"securerd.log"
#define AUDIT_NAME	"audit.jsonl"
#define IDLE_SECONDS	"600"	/* a private daemon exits when unused */
#define PIDVAR		"LISTEN_PID="

/* What the child needs to exec the daemon, all made before the fork. */
struct start {
	char	 bin[PATH_MAX];
	char	 pidvar[sizeof(PIDVAR) + 20];
	char	 audit[PATH_MAX];
	char	*argv[8];
	char	**envp;
	int	 sock;
	int	 log;
	off_t	 logoff;	/* where the daemon's output starts */
};

extern char	**environ;

static int	 sun_fill(struct sockaddr_un *, const char *);
static int	 unix_connect(const char *);
static int	 connect_to(const char *, char *, size_t);
static int	 connect_private(char *, size_t);
static int	 dir_of(const char *, char *, size_t, char *, size_t);
static int	 private_dir(const char *, char *, size_t);
static int	 audit_path(const char *, char *, size_t, char *, size_t);
static int	 spawn(int, const char *, const char *, char *, size_t);
static int	 daemon_bin(char *, size_t);
static int	 listen_at(const char *, char *, size_t);
static char	**daemon_env(char *);
static void	 exec_daemon(struct start *) __attribute__((__noreturn__));
static void	 fmt_pid(char *, pid_t);
static int	 wait_daemon(struct start *, pid_t, const char *,
		    const char *, char *, size_t);
static void	 log_tail(int, off_t, char *, size_t);

static int
sun_fill(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlcpy(sun->sun_path, path, sizeof(sun->sun_path)) >=
	    sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/* Connect to the socket at path: -1 and errno if nobody answers there. */
static int
unix_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, saved;

	if (sun_fill(&sun, path) == -1)
		return (-1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

static int
connect_to(const char *path, char *err, size_t errlen)
{
	int	 fd;

	if ((fd = unix_connect(path)) == -1)
		snprintf(err, errlen, "cannot connect to %s: %s", path,
		    strerror(errno));
	return (fd);
}

/*
 * A socket named by the caller or by $SECURER_SOCKET is connected to and
 * nothing else: starting a daemon there was not asked for.
 */
int
resolve_connect(const char *path, char *err, size_t errlen)
{
	const char	*env;
	int		 fd;

	if (path != NULL)
		return (connect_to(path, err, errlen));
	if ((env = getenv(SECURER_SOCKET_ENV)) != NULL && *env != '\0')
		return (connect_to(env, err, errlen));
	if ((fd = unix_connect(SECURER_SYSTEM_SOCKET)) != -1)
		return (fd);
	return (connect_private(err, errlen));
}

static int
connect_private(char *err, size_t errlen)
{
	char	 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char	 dir[sizeof(path)];
	int	 fd;

	if (securer_private_socket(path, sizeof(path)) == -1) {
		snprintf(err, errlen, "private socket path: %s",
		    strerror(errno));
		return (-1);
	}
	/* Check the directory before trusting what answers in it. */
	if (dir_of(path, dir, sizeof(dir), err, errlen) == -1 ||
	    (fd = private_dir(dir, err, errlen)) == -1)
		return (-1);
	close(fd);
	if ((fd = unix_connect(path)) != -1)
		return (fd);
	if (securer_start_daemon(path, err, errlen) == -1)
		return (-1);
	return (connect_to(path, err, errlen));
}

int
securer_private_socket(char *buf, size_t len)
{
	const char	*xdg;
	int		 n;

	/* The XDG specification wants an absolute path; ignore others. */
	if ((xdg = getenv("XDG_RUNTIME_DIR")) != NULL && xdg[0] == '/')
		n = snprintf(buf, len, "%s/securer/securerd.sock", xdg);
	else
		n = snprintf(buf, len, "/tmp/securer-%u/securerd.sock",
		    (unsigned int)geteuid());
	if (n < 0 || (size_t)n >= len ||
	    (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

static int
dir_of(const char *path, char *dir, size_t len, char *err, size_t errlen)
{
	const char	*slash;

	if ((slash = strrchr(path, '/')) == NULL)
		return (strlcpy(dir, ".", len) < len ? 0 : -1);
	if (slash == path)
		slash++;
	if ((size_t)(slash - path) >= len) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENAMETOOLONG));
		return (-1);
	}
	memcpy(dir, path, slash - path);
	dir[slash - path] = '\0';
	return (0);
}

/*
 * Open the directory of a private socket, making it if need be.  It must
 * be a directory, not a symbolic link to one, owned by the caller, and
 * closed to everyone else.
 */
static int
private_dir(const char *dir, char *err, size_t errlen)
{
	struct stat	 st;
	int		 fd;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return (-1);
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ELOOP || errno == ENOTDIR)
			snprintf(err, errlen, "%s is a symbolic link or not "
			    "a directory: refusing to use it", dir);
		else
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1)
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
	else if (st.st_uid != geteuid())
		snprintf(err, errlen, "%s belongs to uid %u, not to you: "
		    "refusing to use it", dir, (unsigned int)st.st_uid);
	else if ((st.st_mode & 077) != 0)
		snprintf(err, errlen, "%s has mode %03o: refusing to use it "
		    "unless only you can enter it (mode 700)", dir,
		    (unsigned int)(st.st_mode & 0777));
	else
		return (fd);
	close(fd);
	return (-1);
}

int
securer_start_daemon(const char *path, char *err, size_t errlen)
{
	char	 dir[PATH_MAX];
	int	 dfd, lock, fd, rv = -1;

	if (dir_of(path, dir, sizeof(dir), err, errlen) == -1 ||
	    (dfd = private_dir(dir, err, errlen)) == -1)
		return (-1);
	/*
	 * Of two clients starting a daemon at once, the second waits here
	 * and then finds the first one's daemon answering.
	 */
	lock = openat(dfd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (lock == -1)
		snprintf(err, errlen, "%s/%s: %s", dir, LOCK_NAME,
		    strerror(errno));
	else if (flock(lock, LOCK_EX) == -1)
		snprintf(err, errlen, "flock %s/%s: %s", dir, LOCK_NAME,
		    strerror(errno));
	else if ((fd = unix_connect(path)) != -1) {
		close(fd);
		rv = 0;
	} else
		rv = spawn(dfd, dir, path, err, errlen);
	if (lock != -1)
		close(lock);
	close(dfd);
	return (rv);
}

/* The audit log in dir, absolute as securerd wants it. */
static int
audit_path(const char *dir, char *buf, size_t len, char *err, size_t errlen)
{
	char	cwd[PATH_MAX];
	int	n;

	if (dir[0] == '/')
		n = snprintf(buf, len, "%s/%s", dir, AUDIT_NAME);
	else if (getcwd(cwd, sizeof(cwd)) == NULL) {
		snprintf(err, errlen, "getcwd: %s", strerror(errno));
		return (-1);
	} else
		n = snprintf(buf, len, "%s/%s/%s", cwd, dir, AUDIT_NAME);
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "%s/%s: %s", dir, AUDIT_NAME,
		    strerror(ENAMETOOLONG));
		return (-1);
	}
	return (0);
}

/* Start securerd on a new socket at path, with the lock held. */
static int
spawn(int dfd, const char *dir, const char *path, char *err, size_t errlen)
{
	struct start	 st;
	pid_t		 pid;
	int		 rv = -1;

	memset(&st, 0, sizeof(st));
	st.sock = st.log = -1;
	if (daemon_bin(st.bin, sizeof(st.bin)) == -1 ||
	    access(st.bin, X_OK) == -1) {
		snprintf(err, errlen, "cannot execute %s: %s", st.bin,
		    strerror(errno));
		return (-1);
	}
	st.argv[0] = "securerd";
	st.argv[1] = "-I";
	st.argv[2] = IDLE_SECONDS;
	st.argv[3] = "-s";
	st.argv[4] = (char *)path;
	if (audit_path(dir, st.audit, sizeof(st.audit), err, errlen) == -1)
		return (-1);
	st.argv[5] = "-a";
	st.argv[6] = st.audit;
	strlcpy(st.pidvar, PIDVAR, sizeof(st.pidvar));
	if ((st.envp = daemon_env(st.pidvar)) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto done;
	}
	if ((st.log = openat(dfd, LOG_NAME, O_RDWR | O_CREAT | O_APPEND |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1 ||
	    (st.logoff = lseek(st.log, 0, SEEK_END)) == -1) {
		snprintf(err, errlen, "%s/%s: %s", dir, LOG_NAME,
		    strerror(errno));
		goto done;
	}
	if ((st.sock = listen_at(path, err, errlen)) == -1)
		goto done;
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(st.sock);
		unlink(path);
		goto done;
	}
	if (pid == 0)
		exec_daemon(&st);
	/* Only the daemon may hold the socket, or a dead daemon's socket
	 * would take connections that nobody answers. */
	close(st.sock);
	rv = wait_daemon(&st, pid, dir, path, err, errlen);
 done:
	if (st.log != -1)
		close(st.log);
	free(st.envp);
	return (rv);
}

/* $SECURERD, else securerd beside this program, else the installed one. */
static int
daemon_bin(char *buf, size_t len)
{
	const char	*env;
	char		 self[PATH_MAX], *slash;
	ssize_t		 n;

	if ((env = getenv("SECURERD")) != NULL && *env != '\0') {
		if (strlcpy(buf, env, len) < len)
			return (0);
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(buf, len, "%s/securerd", self) <
			    len && access(buf, X_OK) == 0)
				return (0);
		}
	}
	strlcpy(buf, SECURER_SBINDIR "/securerd", len);
	return (0);
}

static int
listen_at(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 s;

	/* A socket left by a daemon that died may go; nothing else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket",
			    path);
			return (-1);
		}
		if (unlink(path) == -1) {
			snprintf(err, errlen, "unlink %s: %s", path,
			    strerror(errno));
			return (-1);
		}
	}
	if (sun_fill(&sun, path) == -1 ||
	    (s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	/* The directory is closed to others, so the mode set after bind
	 * leaves no window; chmod rather than umask, which is per process. */
	if (bind(s, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, 0600) == -1 || listen(s, SOMAXCONN) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(s);
		unlink(path);
		return (-1);
	}
	return (s);
}

/* The caller's environment, less any LISTEN_*, plus the daemon's. */
static char **
daemon_env(char *pidvar)
{
	char	**envp;
	size_t	 i, n;

	for (n = 0; environ[n] != NULL; n++)
		;
	if ((envp = reallocarray(NULL, n + 3, sizeof(*envp))) == NULL)
		return (NULL);
	for (i = n = 0; environ[i] != NULL; i++)
		if (strncmp(environ[i], "LISTEN_", 7) != 0)
			envp[n++] = environ[i];
	envp[n++] = "LISTEN_FDS=1";
	envp[n++] = pidvar;
	envp[n] = NULL;
	return (envp);
}

/*
 * In the child: only async-signal-safe calls, as the caller may have
 * threads.  Signal dispositions are reset as an ignored SIGCHLD or
 * SIGPIPE of the caller's would survive the exec and confuse the daemon.
 */
static void
exec_daemon(struct start *st)
{
	static const char	 msg[] = "securer: cannot execute securerd\n";
	struct sigaction	 sa;
	sigset_t		 all;
	int			 nul, sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, NULL);
	(void)setsid();
	/* Move out of the way of 0 to 3, which the dup2s fill. */
	if ((st->sock = fcntl(st->sock, F_DUPFD, 4)) == -1 ||
	    (st->log = fcntl(st->log, F_DUPFD, 4)) == -1 ||
	    (nul = open(_PATH_DEVNULL, O_RDWR)) == -1 ||
	    dup2(nul, STDIN_FILENO) == -1 ||
	    dup2(st->log, STDOUT_FILENO) == -1 ||
	    dup2(st->log, STDERR_FILENO) == -1 ||
	    dup2(st->sock, 3) == -1)
		_exit(126);
	(void)close_range(4, ~0U, 0);
	fmt_pid(st->pidvar + strlen(PIDVAR), getpid());
	execve(st->bin, st->argv, st->envp);
	(void)write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(127);
}

/* snprintf is not async-signal-safe. */
static void
fmt_pid(char *buf, pid_t pid)
{
	char	 tmp[20];
	size_t	 n = 0;

	do {
		tmp[n++] = '0' + pid % 10;
		pid /= 10;
	} while (pid > 0 && n < sizeof(tmp));
	while (n > 0)
		*buf++ = tmp[--n];
	*buf = '\0';
}

/*
 * securerd puts itself in the background once it is up: its first
 * process exits 0 then, or non-zero having logged why it could not start.
 */
static int
wait_daemon(struct start *st, pid_t pid, const char *dir, const char *path,
    char *err, size_t errlen)
{
	char	 why[64], line[256];
	int	 status;

	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			/* The caller reaps its children itself (SIGCHLD
			 * ignored): connecting will tell whether it is up. */
			return (0);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return (0);
	if (WIFEXITED(status))
		snprintf(why, sizeof(why), "exited with status %d",
		    WEXITSTATUS(status));
	else
		snprintf(why, sizeof(why), "was killed by signal %d",
		    WTERMSIG(status));
	log_tail(st->log, st->logoff, line, sizeof(line));
	unlink(path);
	snprintf(err, errlen, "securerd %s%s%s (see %s/%s)", why,
	    line[0] != '\0' ? ": " : "", line, dir, LOG_NAME);
	return (-1);
}

/* The last line the daemon logged since from, to say why it failed. */
static void
log_tail(int fd, off_t from, char *line, size_t len)
{
	char	 buf[512], *p;
	off_t	 to;
	ssize_t	 n;

	line[0] = '\0';
	if ((to = lseek(fd, 0, SEEK_END)) == -1 || to <= from)
		return;
	if (to - from > (off_t)sizeof(buf) - 1)
		from = to - (off_t)(sizeof(buf) - 1);
	if ((n = pread(fd, buf, to - from, from)) <= 0)
		return;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	p = strrchr(buf, '\n');
	strlcpy(line, p != NULL ? p + 1 : buf, len);
}
