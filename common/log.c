/*
 * Logging: one line per message, on stderr in the foreground ("name:
 * message") and to syslog(3) otherwise.
 *
 * What is shown:
 *	LOG_DEBUG	only with verbose > 1, anywhere;
 *	LOG_INFO and	always to syslog, but on stderr only with
 *	LOG_NOTICE	verbose >= 1 (a daemon run in the foreground for
 *			testing stays quiet unless asked);
 *	the others	always.
 *
 * Messages carry text from clients and workers, so every line is escaped
 * with vis(3) before it is written: a newline, carriage return or
 * terminal escape can neither start a forged line nor reach a terminal.
 */

/* Pick libbsd's OpenBSD strnvis(); also silences its warning. */
#define LIBBSD_OPENBSD_VIS

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <vis.h>

#include "log.h"

#define LOG_LINE_MAX	1024	/* longer messages are cut */

static int	 log_foreground = 1;	/* stderr until log_init() */
static int	 log_verbose;
static char	 log_name[32];

static int	 log_wanted(int);
static void	 log_emit(int, const char *);
static void	 log_format(char *, size_t, int, const char *, va_list)
		    __attribute__((__format__ (printf, 4, 0)));
static void	 vlog_errno(int, int, const char *, va_list)
		    __attribute__((__format__ (printf, 3, 0)));
static void	 vfatal(int, const char *, va_list)
		    __attribute__((__format__ (printf, 2, 0)))
		    __attribute__((__noreturn__));

void
log_init(int foreground, int facility)
{
	log_foreground = foreground;
	if (!foreground) {
		/* Before any chroot: the syslog socket and zone info. */
		tzset();
		openlog("securerd", LOG_PID | LOG_NDELAY, facility);
	}
}

void
log_procinit(const char *name)
{
	if (name != NULL)
		strlcpy(log_name, name, sizeof(log_name));
}

void
log_setverbose(int v)
{
	log_verbose = v;
}

int
log_getforeground(void)
{
	return (log_foreground);
}

int
log_getverbose(void)
{
	return (log_verbose);
}

static int
log_wanted(int pri)
{
	if (LOG_PRI(pri) == LOG_DEBUG)
		return (log_verbose > 1);
	if (LOG_PRI(pri) == LOG_INFO || LOG_PRI(pri) == LOG_NOTICE)
		return (!log_foreground || log_verbose >= 1);
	return (1);
}

/* Escape and write one formatted message. */
static void
log_emit(int pri, const char *msg)
{
	char		 vis[LOG_LINE_MAX * 4 + 1];
	const char	*name;

	strnvis(vis, msg, sizeof(vis),
	    VIS_OCTAL | VIS_CSTYLE | VIS_TAB | VIS_NL);
	name = log_name[0] != '\0' ? log_name : getprogname();
	if (log_foreground)
		fprintf(stderr, "%s: %s\n", name, vis);
	else if (log_name[0] != '\0')
		syslog(pri, "%s: %s", name, vis);
	else
		syslog(pri, "%s", vis);
}

/* Format fmt, followed by the text of errnum if it is not 0. */
static void
log_format(char *buf, size_t size, int errnum, const char *fmt, va_list ap)
{
	size_t	 len;

	buf[0] = '\0';
	if (fmt != NULL)
		vsnprintf(buf, size, fmt, ap);
	if (errnum != 0) {
		len = strlen(buf);
		snprintf(buf + len, size - len, "%s%s", len > 0 ? ": " : "",
		    strerror(errnum));
	}
}

/* errno is kept: logging a failure must not change how it is reported. */
static void
vlog_errno(int pri, int errnum, const char *fmt, va_list ap)
{
	char	 msg[LOG_LINE_MAX];
	int	 saved_errno = errno;

	if (!log_wanted(pri))
		return;
	log_format(msg, sizeof(msg), errnum, fmt, ap);
	log_emit(pri, msg);
	errno = saved_errno;
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	vlog_errno(pri, 0, fmt, ap);
}

void
logit(int pri, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_errno(pri, 0, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved_errno = errno;

	va_start(ap, fmt);
	vlog_errno(LOG_ERR, saved_errno, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_errno(LOG_ERR, 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_errno(LOG_INFO, 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_errno(LOG_DEBUG, 0, fmt, ap);
	va_end(ap);
}

/* Both fatals prefix "fatal: " so the cause of death is easy to find. */
static void
vfatal(int errnum, const char *fmt, va_list ap)
{
	char	 msg[LOG_LINE_MAX];

	log_format(msg, sizeof(msg), errnum, fmt, ap);
	logit(LOG_CRIT, "fatal: %s", msg);
	exit(1);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved_errno = errno;

	va_start(ap, fmt);
	vfatal(saved_errno, fmt, ap);
	va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vfatal(0, fmt, ap);
	va_end(ap);
}
