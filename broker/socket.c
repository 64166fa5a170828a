/*
 * The clients' listening socket: made here, or inherited from whoever
 * started us (systemd, or the securer command starting a private daemon)
 * as fd 3 with LISTEN_FDS=1 and LISTEN_PID set to our pid.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"

static char	sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static char	ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static ino_t	sock_ino;
static dev_t	sock_dev;

static int
inherited_socket(void)
{
	const char	*pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int		 listening = 0, domain = 0;
	socklen_t	 len = sizeof(listening);

	if (pid == NULL || fds == NULL || atoi(pid) != getpid())
		return (-1);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	if (strcmp(fds, "1") != 0) {
		log_warnx("LISTEN_FDS=%s: expected exactly one socket", fds);
		return (-1);
	}
	if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == -1 ||
	    !listening || (len = sizeof(domain), getsockopt(3, SOL_SOCKET,
	    SO_DOMAIN, &domain, &len)) == -1 || domain != AF_UNIX) {
		log_warnx("fd 3 is not a listening Unix socket");
		return (-1);
	}
	if (fcntl(3, F_SETFD, FD_CLOEXEC) == -1)
		return (-1);
	return (3);
}

/* A path in the way: a live daemon, a stale socket, or something else. */
static int
path_clear(const char *path, const struct sockaddr_un *sun)
{
	struct stat	st;
	int		s, rv;

	if (lstat(path, &st) == -1)
		return (errno == ENOENT ? 0 : -1);
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx("%s exists and is not a socket; refusing to replace "
		    "it", path);
		return (-1);
	}
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	rv = connect(s, (const struct sockaddr *)sun, sizeof(*sun));
	close(s);
	if (rv == 0) {
		log_warnx("another securerd is running at %s", path);
		return (-1);
	}
	if (unlink(path) == -1) {
		log_warn("cannot remove stale socket %s", path);
		return (-1);
	}
	return (0);
}

static int
make_socket_dir(const char *path)
{
	char	dir[sizeof(sock_path)], *slash;

	strlcpy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return (0);
	*slash = '\0';
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		return (-1);
	}
	return (0);
}

static void
remember(const char *path)
{
	struct stat	st;

	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		strlcpy(sock_path, path, sizeof(sock_path));
		sock_ino = st.st_ino;
		sock_dev = st.st_dev;
	}
}

int
socket_open(const struct securerd_conf *c)
{
	struct sockaddr_un	 sun;
	mode_t			 old;
	int			 s;

	if ((s = inherited_socket()) != -1) {
		remember(c->socket_path);
		return (s);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, c->socket_path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		log_warnx("socket path too long: %s", c->socket_path);
		return (-1);
	}
	if (make_socket_dir(c->socket_path) == -1 ||
	    path_clear(c->socket_path, &sun) == -1)
		return (-1);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return (-1);
	}
	old = umask(0077);
	if (bind(s, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("bind %s", c->socket_path);
		umask(old);
		close(s);
		return (-1);
	}
	umask(old);
	/* Owner and group first: the mode may open it to that group. */
	if (chown(c->socket_path, c->socket_uid, c->socket_gid) == -1 ||
	    chmod(c->socket_path, c->socket_mode) == -1 ||
	    listen(s, SOMAXCONN) == -1) {
		log_warn("%s", c->socket_path);
		unlink(c->socket_path);
		close(s);
		return (-1);
	}
	remember(c->socket_path);
	return (s);
}

/*
 * securerctl's socket: mode 0600 and our owner (root, or the single
 * user), so only they can connect; the monitor checks the peer again.
 */
int
control_open(const struct securerd_conf *c)
{
	struct sockaddr_un	 sun;
	mode_t			 old;
	int			 s;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, c->control_path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		log_warnx("control path too long: %s", c->control_path);
		return (-1);
	}
	if (path_clear(c->control_path, &sun) == -1)
		return (-1);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return (-1);
	}
	old = umask(0177);
	if (bind(s, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(c->control_path, 0600) == -1 || listen(s, 16) == -1) {
		log_warn("control socket %s", c->control_path);
		umask(old);
		close(s);
		return (-1);
	}
	umask(old);
	strlcpy(ctl_path, c->control_path, sizeof(ctl_path));
	return (s);
}

/*
 * A securerctl connection: accepted here, where no filter limits which
 * socket may be accepted on, checked, and handed to the monitor, which
 * reads it.  The broker never reads what comes on it.
 */
static void
control_accept(int fd, short event, void *arg)
{
	struct ucred	cred;
	socklen_t	len = sizeof(cred);
	int		s;

	if ((s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
		return;
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		log_warnx("control: uid %u refused", cred.uid);
		close(s);
		return;
	}
	monitor_send(IMSG_CTL_FD, 0, s, NULL, 0);
}

void
control_events(int fd)
{
	static struct event	ev;

	event_set(&ev, fd, EV_READ | EV_PERSIST, control_accept, NULL);
	event_add(&ev, NULL);
}

/* Remove the socket only if it is still the one we listened on. */
void
socket_cleanup(void)
{
	struct stat	st;

	if (ctl_path[0] != '\0')
		unlink(ctl_path);
	if (sock_path[0] == '\0')
		return;
	if (lstat(sock_path, &st) == 0 && st.st_ino == sock_ino &&
	    st.st_dev == sock_dev)
		unlink(sock_path);
}
