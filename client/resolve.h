/*
 * Internal to libsecurer: finding, and if need be starting, a daemon.
 */

#ifndef SECURER_RESOLVE_H
#define SECURER_RESOLVE_H

#include <stddef.h>

/* resolve.c */
int	 resolve_connect(const char *, char *, size_t);

#endif /* SECURER_RESOLVE_H */
