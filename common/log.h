/*
 * Logging: stderr in the foreground, syslog(3) otherwise.
 */

#ifndef SECURER_LOG_H
#define SECURER_LOG_H

#include <stdarg.h>

void	log_init(int, int);		/* foreground (1/0), syslog facility */
void	log_procinit(const char *);	/* name prefixed to each line */
void	log_setverbose(int);
int	log_getverbose(void);
int	log_getforeground(void);
void	log_warn(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	log_warnx(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	log_info(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	log_debug(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	logit(int, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));
void	vlog(int, const char *, va_list)
	    __attribute__((__format__ (printf, 2, 0)));
__attribute__((__noreturn__)) void	fatal(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
__attribute__((__noreturn__)) void	fatalx(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));

#endif /* SECURER_LOG_H */
