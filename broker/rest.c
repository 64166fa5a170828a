/*
 * Workers at rest: between two of its jobs a worker runs nothing.
 *
 * Sandboxed code runs native code and may end its execution itself (a
 * forged result on its channel) and go on running.  So when a job ends
 * the monitor says IMSG_WORKER_IDLE, and the broker looks at the worker
 * REST_FIRST_MS later and every REST_CHECK_MS from then on.  An honest
 * worker sends its result as its very last act and then waits on its
 * channel: none of its threads is runnable (/proc/PID/task/TID/stat),
 * and the first check that finds it so stops it (SIGSTOP): from then
 * on it cannot run at all, however it meant to hide (a sleep past the
 * checks).  Not "used no CPU since the last check": on a loaded host a
 * runnable thread may wait longer than that for a CPU.
 *
 * A worker that stays runnable has its CPU time read (its process's
 * CPU clock: every thread, with or without cgroups), and once it used
 * more than REST_CPU_MAX_US it is killed and the monitor told
 * (IMSG_WORKER_RAN), which audits the violation and restarts the
 * session.  The clock is first read at the first check, a tick or more
 * after the job ended, never at once: the process clock of a worker
 * with a CPU limit (RLIMIT_CPU) is brought up to date only at the
 * kernel's accounting points (a tick, a switch), so a read from one
 * still on its CPU can miss a tick's worth of the job's own
 * time, which the next read would blame on its rest (an honest worker
 * was killed so, for 2.4 ms, on a loaded host).
 *
 * IMSG_WORKER_WAKE, sent by the monitor ahead of the next job's start
 * record, lets a stopped worker run again (SIGCONT), and ends the
 * watch of one the next job came to before it was stopped (a client
 * that executes back to back), with nothing read: the two messages are
 * all a job costs then.  If such a worker is still running, its thread
 * that spins is either the one that should read the job (which then
 * meets its deadline) or another, watched again when that job ends.
 *
 * SIGSTOP rather than the cgroup freezer: it works on every host the
 * daemon runs on (cgroup v1, v2, none, an unprivileged daemon), a
 * stopped worker can still be killed (one frozen by cgroup v1 cannot),
 * and it is one system call each way.  The worker cannot undo it: it
 * cannot run, and nothing else runs in its pid namespace (it may not
 * fork).  Stop and continue are not reported by waitpid() without
 * WUNTRACED, so the reaper does not see them.
 */

#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "log.h"

#define REST_FIRST_MS	10		/* a tick at least: HZ 100 */
#define REST_CHECK_MS	5
#define REST_CPU_MAX_US	2000		/* more, after its job: killed */

static void	rest_check(int, short, void *);

/* The worker's CPU time, all its threads', in nanoseconds. */
static int
rest_cpu(const struct worker_proc *wp, uint64_t *ns)
{
	struct timespec	ts;
	clockid_t	clk;

	if (clock_getcpuclockid(wp->pid, &clk) != 0 ||
	    clock_gettime(clk, &ts) == -1)
		return (-1);
	*ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	return (0);
}

/* Is the thread's state (/proc/PID/task/TID/stat) R, running? */
static int
rest_thread_runs(pid_t pid, const char *tid)
{
	char	 path[64], stat[512], *p;
	FILE	*f;
	int	 runs = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%.16s/stat", (int)pid,
	    tid);
	if ((f = fopen(path, "re")) == NULL)
		return (0);
	if (fgets(stat, sizeof(stat), f) != NULL &&
	    (p = strrchr(stat, ')')) != NULL && p[1] == ' ')
		runs = p[2] == 'R';
	fclose(f);
	return (runs);
}

/* Does any thread of the worker run, or wait for a CPU to run on? */
static int
rest_runnable(const struct worker_proc *wp)
{
	char		 path[64];
	DIR		*d;
	struct dirent	*de;
	int		 runs = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)wp->pid);
	if ((d = opendir(path)) == NULL)
		return (0);
	while (!runs && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			runs = rest_thread_runs(wp->pid, de->d_name);
	closedir(d);
	return (runs);
}

/* It ran while idle: killed, and the monitor told how much. */
static void
rest_violation(struct worker_proc *wp, uint64_t used_ns)
{
	struct worker_ran	wr;

	log_warnx("worker %u: ran %llu us of CPU in the %llu us after its job "
	    "ended: killed", wp->id, (unsigned long long)(used_ns / 1000),
	    (unsigned long long)(now_us() - wp->rest_us));
	wp->rest = REST_NONE;
	wp->kill_requested = 1;
	kill(wp->pid, SIGKILL);
	memset(&wr, 0, sizeof(wr));
	wr.worker_id = wp->id;
	wr.cpu_us = used_ns / 1000;
	monitor_send(IMSG_WORKER_RAN, wp->id, -1, &wr, sizeof(wr));
}

/*
 * Is what the runnable worker used since its clock was first read over
 * the bound?  Then it goes.  The first time, the clock is only read.
 */
static int
rest_over(struct worker_proc *wp)
{
	uint64_t	now;

	if (rest_cpu(wp, &now) == -1)
		return (0);
	if (!wp->rest_based) {
		wp->rest_based = 1;
		wp->rest_cpu0 = now;
		return (0);
	}
	if (now - wp->rest_cpu0 <= REST_CPU_MAX_US * 1000ULL)
		return (0);
	if (!wp->rest_marked) {
		wp->rest_marked = 1;
		wp->rest_mark = monitor_read_mark();
	}
	if (!monitor_read_past(wp->rest_mark))
		return (0);
	rest_violation(wp, now - wp->rest_cpu0);
	return (1);
}

static void
rest_arm(struct worker_proc *wp, long ms)
{
	struct timeval	tv = { 0, ms * 1000 };

	evtimer_add(&wp->ev_rest, &tv);
}

/* IMSG_WORKER_IDLE: its job ended; from now on it may not run. */
void
rest_begin(struct worker_proc *wp)
{
	if (wp->pid <= 0 || wp->kill_requested || wp->rest != REST_NONE)
		return;
	wp->rest = REST_WATCHED;
	wp->rest_based = 0;
	wp->rest_marked = 0;
	wp->rest_us = now_us();
	evtimer_set(&wp->ev_rest, rest_check, wp);
	wp->rest_timer = 1;
	rest_arm(wp, REST_FIRST_MS);
}

static void
rest_check(int fd, short event, void *arg)
{
	struct worker_proc	*wp = arg;

	if (rest_runnable(wp)) {
		if (!rest_over(wp))
			rest_arm(wp, REST_CHECK_MS);
		return;
	}
	if (kill(wp->pid, SIGSTOP) == -1) {
		log_warn("worker %u: stop", wp->id);
		return;
	}
	log_debug("worker %u: stopped %llu us after its job ended", wp->id,
	    (unsigned long long)(now_us() - wp->rest_us));
	wp->rest = REST_STOPPED;
}

/* IMSG_WORKER_WAKE: a job is coming; it may run again. */
void
rest_end(struct worker_proc *wp)
{
	int	stopped = wp->rest == REST_STOPPED;

	if (wp->rest == REST_NONE)
		return;
	rest_cancel(wp);
	wp->rest = REST_NONE;
	if (stopped && kill(wp->pid, SIGCONT) == -1)
		log_warn("worker %u: continue", wp->id);
}

/* The worker is going, or its watch is over. */
void
rest_cancel(struct worker_proc *wp)
{
	if (wp->rest_timer)
		evtimer_del(&wp->ev_rest);
	wp->rest_timer = 0;
	if (wp->kill_requested)
		wp->rest = REST_NONE;
}
