/*
 * connhog: holds connections to a socket open, for the fd-limit test.
 * It connects up to N times (a full backlog ends it early), says how
 * many it holds, and keeps them until its standard input ends.
 *
 *	connhog -n count socket
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
connect_one(const struct sockaddr_un *sun)
{
	int	s;

	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		err(2, "socket");
	if (connect(s, (const struct sockaddr *)sun, sizeof(*sun)) == -1) {
		/* EAGAIN: the listener's backlog is full. */
		if (errno != EAGAIN)
			warn("connect");
		close(s);
		return (-1);
	}
	return (s);
}

int
main(int argc, char *argv[])
{
	struct sockaddr_un	sun;
	char			buf[64];
	long			n = 0, i;
	int			ch;

	while ((ch = getopt(argc, argv, "n:")) != -1) {
		if (ch != 'n')
			errx(2, "usage: connhog -n count socket");
		n = strtol(optarg, NULL, 10);
	}
	if (optind + 1 != argc || n <= 0)
		errx(2, "usage: connhog -n count socket");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, argv[optind], sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		errx(2, "socket path too long");
	for (i = 0; i < n; i++)
		if (connect_one(&sun) == -1)
			break;
	printf("%ld\n", i);
	fflush(stdout);
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	return (0);
}
