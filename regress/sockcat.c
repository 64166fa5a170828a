/*
 * sockcat: a raw client of securerd's protocol for tests.  It sends its
 * standard input to the socket as it comes, and prints every line the
 * daemon sends until it has seen the final replies (lines with "ok") of
 * N requests, or the daemon closes the connection.
 *
 *	sockcat [-n replies] [-w seconds] socket
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
connect_to(const char *path)
{
	struct sockaddr_un	sun;
	int			s;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		errx(2, "socket path too long");
	if ((s = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		err(2, "socket");
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		err(2, "connect %s", path);
	return (s);
}

/* Forwards what stdin has now; returns 0 at its end. */
static int
forward_stdin(int s)
{
	char	buf[65536];
	ssize_t	n, off, w;

	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) == -1 &&
	    errno == EINTR)
		;
	if (n <= 0)
		return (0);
	/* The daemon may close on us (a refused line): then just read. */
	for (off = 0; off < n; off += w)
		if ((w = write(s, buf + off, n - off)) == -1) {
			if (errno != EINTR)
				return (0);
			w = 0;
		}
	return (1);
}

/* Prints complete lines from buf; returns how many were final replies. */
static long
print_lines(char *buf, size_t *len)
{
	char	*nl, *p = buf;
	long	 finals = 0;

	while ((nl = memchr(p, '\n', *len - (p - buf))) != NULL) {
		fwrite(p, 1, nl - p + 1, stdout);
		*nl = '\0';
		if (strstr(p, "\"ok\":") != NULL)
			finals++;
		p = nl + 1;
	}
	*len -= p - buf;
	memmove(buf, p, *len);
	fflush(stdout);
	return (finals);
}

int
main(int argc, char *argv[])
{
	static char	 buf[16 * 1024 * 1024];
	struct pollfd	 pfd[2];
	size_t		 len = 0;
	int		 stdin_open = 1;
	ssize_t		 n;
	long		 want = -1, got = 0, wait_ms = 30000;
	int		 ch, s;

	while ((ch = getopt(argc, argv, "n:w:")) != -1) {
		switch (ch) {
		case 'n':
			want = strtol(optarg, NULL, 10);
			break;
		case 'w':
			wait_ms = strtol(optarg, NULL, 10) * 1000;
			break;
		default:
			errx(2, "usage: sockcat [-n replies] [-w s] socket");
		}
	}
	if (optind + 1 != argc)
		errx(2, "usage: sockcat [-n replies] [-w s] socket");
	signal(SIGPIPE, SIG_IGN);
	s = connect_to(argv[optind]);
	pfd[0].fd = s;
	pfd[0].events = POLLIN;
	pfd[1].fd = STDIN_FILENO;
	pfd[1].events = POLLIN;
	while (want == -1 || got < want) {
		/* A bound on the wait, so a broken daemon fails the test. */
		if (poll(pfd, stdin_open ? 2 : 1, wait_ms) == 0)
			errx(3, "no reply within %ld ms", wait_ms);
		if (stdin_open && (pfd[1].revents & (POLLIN | POLLHUP)))
			stdin_open = forward_stdin(s);
		if (!(pfd[0].revents & (POLLIN | POLLHUP)))
			continue;
		if ((n = read(s, buf + len, sizeof(buf) - len)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
		got += print_lines(buf, &len);
		if (len == sizeof(buf))
			errx(3, "line longer than %zu bytes", sizeof(buf));
	}
	if (len > 0)
		fwrite(buf, 1, len, stdout);
	return (0);
}
