/*
 * Small helpers shared by the daemon's processes.
 */

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "securerd.h"

const char *
exit_cause_str(enum exit_cause cause, int status, char *buf, size_t len)
{
	switch (cause) {
	case EXIT_NORMAL:
		snprintf(buf, len, "exited with status %d", status);
		break;
	case EXIT_SIGNAL:
		snprintf(buf, len, "killed by signal %d (SIG%s)", status,
		    sigabbrev_np(status) ? sigabbrev_np(status) : "?");
		break;
	case EXIT_KILLED:
		snprintf(buf, len, "killed by the daemon");
		break;
	case EXIT_CPU:
		snprintf(buf, len, "CPU time limit exceeded");
		break;
	case EXIT_MEMORY:
		snprintf(buf, len, "memory limit exceeded");
		break;
	case EXIT_VIOLATION:
		snprintf(buf, len, "sandbox violation");
		break;
	default:
		snprintf(buf, len, "ended for an unknown reason");
		break;
	}
	return (buf);
}

const char *
exec_status_str(enum exec_status status)
{
	switch (status) {
	case EXEC_OK:
		return ("ok");
	case EXEC_ERROR:
		return ("error");
	case EXEC_TIMEOUT:
		return ("timeout");
	case EXEC_KILLED:
		return ("killed");
	case EXEC_ABORTED:
		return ("aborted");
	}
	return ("unknown");
}

uint64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}
