/*
 * A minimal Rserve client (QAP1 over a Unix socket) for the benchmark:
 * start Rserve, connect, eval a string, close, stop it.  Only what the
 * side-by-side measurements need; replies are read whole, not decoded
 * beyond checking that they succeeded.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define RSERVE_BIN	"/usr/lib/R/site-library/Rserve/libs/Rserve"
#define QAP_ID_LEN	32
#define CMD_EVAL	0x003
#define RESP_OK		0x10001
#define DT_STRING	4

static char	rs_sock[128], rs_pidfile[128];

static int
read_full(int s, void *buf, size_t len)
{
	size_t	off = 0;
	ssize_t	n;

	while (off < len) {
		if ((n = read(s, (char *)buf + off, len - off)) <= 0)
			return (-1);
		off += n;
	}
	return (0);
}

/* Starts Rserve on a private socket; 0, or -1 if it is not installed. */
int
rserve_start(const char *dir)
{
	struct stat	st;
	pid_t		pid;
	int		i;

	if (access(RSERVE_BIN, X_OK) == -1)
		return (-1);
	snprintf(rs_sock, sizeof(rs_sock), "%s/rserve.sock", dir);
	snprintf(rs_pidfile, sizeof(rs_pidfile), "%s/rserve.pid", dir);
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		execlp("R", "R", "CMD", RSERVE_BIN, "--RS-socket", rs_sock,
		    "--RS-pidfile", rs_pidfile, "--no-save", "--vanilla",
		    (char *)NULL);
		_exit(127);
	}
	/* Rserve puts itself in the background; wait for its socket. */
	for (i = 0; i < 200 && (stat(rs_sock, &st) == -1 ||
	    stat(rs_pidfile, &st) == -1); i++)
		usleep(50000);
	return (i < 200 ? 0 : -1);
}

void
rserve_stop(void)
{
	FILE	*f;
	int	 pid;

	if ((f = fopen(rs_pidfile, "r")) != NULL) {
		if (fscanf(f, "%d", &pid) == 1)
			kill(pid, SIGTERM);
		fclose(f);
	}
	unlink(rs_pidfile);
	unlink(rs_sock);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int
rserve_connect(void)
{
	struct sockaddr_un	sun;
	char			id[QAP_ID_LEN];
	int			s;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, rs_sock, sizeof(sun.sun_path));
	if ((s = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		err(1, "connect to Rserve");
	/* Rserve greets with its 32-byte identification. */
	if (read_full(s, id, sizeof(id)) == -1 || memcmp(id, "Rsrv", 4) != 0)
		errx(1, "not an Rserve");
	return (s);
}

/* CMD_eval of a string; the whole reply is read. */
int
rserve_eval(int s, const char *code)
{
	unsigned char	 msg[16 + 4 + 256], *body;
	uint32_t	 hdr[4], len, padded;
	char		 buf[65536], *big;
	int		 rc;

	len = strlen(code) + 1;
	padded = (len + 3) & ~3U;
	if (padded > 256)
		errx(1, "code too long for the benchmark's Rserve client");
	memset(msg, 0, sizeof(msg));
	hdr[0] = CMD_EVAL;
	hdr[1] = 4 + padded;
	hdr[2] = hdr[3] = 0;
	memcpy(msg, hdr, 16);
	body = msg + 16;
	body[0] = DT_STRING;
	body[1] = padded & 0xff;
	body[2] = (padded >> 8) & 0xff;
	body[3] = (padded >> 16) & 0xff;
	memcpy(body + 4, code, len - 1);
	if (write(s, msg, 16 + 4 + padded) != (ssize_t)(16 + 4 + padded))
		return (-1);
	/* hdr[3] is the length's high half, for replies past 4 GB. */
	if (read_full(s, hdr, 16) == -1 || (hdr[0] & 0xfffff) != RESP_OK ||
	    hdr[3] != 0)
		return (-1);
	if (hdr[1] <= sizeof(buf))
		return (read_full(s, buf, hdr[1]));
	/* A big value (row 9) is read whole, as a client would keep it. */
	if ((big = malloc(hdr[1])) == NULL)
		err(1, NULL);
	rc = read_full(s, big, hdr[1]);
	free(big);
	return (rc);
}
