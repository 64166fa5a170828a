/*
 * Workers seen from the broker: spawn on the monitor's request (through
 * the template), hand the channel to the monitor, kill, reap and report.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"

#define EARLY_EXITS	64

static TAILQ_HEAD(, worker_proc) workers = TAILQ_HEAD_INITIALIZER(workers);

/* Exits reaped before the template told us the pid (a short race). */
static struct early_exit {
	pid_t		pid;
	int		status;
	struct rusage	ru;
} early[EARLY_EXITS];

static struct worker_proc *
spawn_find(uint32_t id)
{
	struct worker_proc	*wp;

	TAILQ_FOREACH(wp, &workers, entry)
		if (wp->id == id)
			return (wp);
	return (NULL);
}

static int
uid_in_use(uid_t uid)
{
	struct worker_proc	*wp;

	TAILQ_FOREACH(wp, &workers, entry)
		if (wp->uid == uid)
			return (1);
	return (0);
}

/*
 * Only in a build made to measure the sandbox (never
 * installed: built with -DSECURER_BENCH_UNSANDBOXED, see regress/attack/
 * t_attack.sh): SECURER_BENCH_NO_SANDBOX in the broker's environment
 * spawns workers without namespaces, seccomp and cgroups, so
 * securer-bench can compare session starts with and without them.
 */
static int
bench_unsandboxed(void)
{
#if defined(SECURER_BENCH_UNSANDBOXED)
	static int	 off = -1;

	if (off == -1 && (off = getenv("SECURER_BENCH_NO_SANDBOX") != NULL))
		log_warnx("benchmark build: workers run WITHOUT the sandbox");
	return (off);
#else
	return (0);
#endif
}

/*
 * Each worker gets a uid of its own, so rlimits and signals stay its own.
 * The first free one from a random place in the range: the worker sees
 * its host uid in its uid_map, which must not count the workers started
 * before it.
 */
static int
uid_alloc(uid_t *uid)
{
	uint32_t	i, start;

	if (geteuid() != 0) {
		*uid = getuid();
		return (0);
	}
	start = arc4random_uniform(conf->uid_count);
	for (i = 0; i < conf->uid_count; i++) {
		*uid = conf->uid_base + (start + i) % conf->uid_count;
		if (!uid_in_use(*uid))
			return (0);
	}
	return (-1);
}

static void
clamp_limits(struct worker_limits *l)
{
	uint64_t	*v = (uint64_t *)l;
	const uint64_t	*max = (const uint64_t *)&conf->max_limits;
	size_t		 i;

	/* Defence in depth: the monitor checked these already. */
	for (i = 0; i < sizeof(*l) / sizeof(uint64_t); i++)
		if (v[i] > max[i])
			v[i] = max[i];
}

static void
spawn_send(struct worker_proc *wp)
{
	struct tpl_spawn	ts;
	int			pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1) {
		log_warn("socketpair");
		spawn_failed(wp->id, errno);
		return;
	}
	memset(&ts, 0, sizeof(ts));
	ts.worker_id = wp->id;
	ts.uid = ts.gid = wp->uid;
	if (geteuid() != 0)
		ts.gid = getgid();
	ts.limits = wp->limits;
	if (conf->sandbox_have & SBX_NAMESPACES)
		ts.flags |= TPL_NAMESPACES;
	if (conf->sandbox_have & SBX_CGROUPS)
		ts.flags |= TPL_CGROUP;
	if ((conf->sandbox_have & (SBX_SECCOMP | SBX_NNP)) ==
	    (SBX_SECCOMP | SBX_NNP))
		ts.flags |= TPL_SECCOMP;
	if (bench_unsandboxed())
		ts.flags = 0;
	wp->monitor_fd = pair[0];
	wp->sent = 1;
	if (template_spawn(&ts, pair[1]) == -1)
		spawn_failed(wp->id, EAGAIN);
}

void
spawn_request(const struct spawn_req *req)
{
	struct worker_proc	*wp;
	struct spawn_failed	 sf;

	if (spawn_find(req->worker_id) != NULL) {
		log_warnx("monitor reused worker id %u", req->worker_id);
		return;
	}
	if ((wp = calloc(1, sizeof(*wp))) == NULL)
		fatal("%s", __func__);
	wp->id = req->worker_id;
	wp->monitor_fd = -1;
	wp->limits = req->limits;
	clamp_limits(&wp->limits);
	if (uid_alloc(&wp->uid) == -1) {
		free(wp);
		sf.worker_id = req->worker_id;
		sf.error = EAGAIN;
		log_warnx("no free worker uid");
		monitor_send(IMSG_SPAWN_FAILED, sf.worker_id, -1, &sf,
		    sizeof(sf));
		return;
	}
	if (!bench_unsandboxed() &&
	    cgroup_create(wp->id, &wp->limits) == -1) {
		free(wp);
		sf.worker_id = req->worker_id;
		sf.error = EAGAIN;
		monitor_send(IMSG_SPAWN_FAILED, sf.worker_id, -1, &sf,
		    sizeof(sf));
		return;
	}
	TAILQ_INSERT_TAIL(&workers, wp, entry);
	if (template_ready())
		spawn_send(wp);
}

/* The template is ready: send what waited for it. */
void
spawn_flush(void)
{
	struct worker_proc	*wp, *next;

	TAILQ_FOREACH_SAFE(wp, &workers, entry, next)
		if (!wp->sent)
			spawn_send(wp);
}

static void
spawn_free(struct worker_proc *wp)
{
	if (wp->monitor_fd != -1)
		close(wp->monitor_fd);
	rest_cancel(wp);
	cgroup_remove(wp->id);
	TAILQ_REMOVE(&workers, wp, entry);
	free(wp);
}

void
spawn_failed(uint32_t id, int error)
{
	struct worker_proc	*wp;
	struct spawn_failed	 sf;

	if ((wp = spawn_find(id)) == NULL)
		return;
	sf.worker_id = id;
	sf.error = error;
	monitor_send(IMSG_SPAWN_FAILED, id, -1, &sf, sizeof(sf));
	spawn_free(wp);
}

static void
worker_report(struct worker_proc *wp, int status, const struct rusage *ru)
{
	struct worker_exit	we;
	char			cause[128];
	uint64_t		cpu;

	memset(&we, 0, sizeof(we));
	we.worker_id = wp->id;
	cpu = ru->ru_utime.tv_sec + ru->ru_stime.tv_sec;
	if (WIFEXITED(status)) {
		we.cause = EXIT_NORMAL;
		we.status = WEXITSTATUS(status);
	} else {
		we.status = WTERMSIG(status);
		if (we.status == SIGSYS)
			we.cause = EXIT_VIOLATION;
		else if (we.status == SIGKILL && cgroup_oom(wp->id))
			we.cause = EXIT_MEMORY;
		else if (we.status == SIGXCPU ||
		    (we.status == SIGKILL && cpu >= wp->limits.cpu))
			we.cause = EXIT_CPU;
		else if (wp->kill_requested && we.status == SIGKILL)
			we.cause = EXIT_KILLED;
		else
			we.cause = EXIT_SIGNAL;
	}
	exit_cause_str(we.cause, we.status, cause, sizeof(cause));
	audit_worker_exit(wp->id, wp->pid, cause);
	monitor_send(IMSG_WORKER_EXIT, wp->id, -1, &we, sizeof(we));
	spawn_free(wp);
}

static int
early_exit_take(pid_t pid, int *status, struct rusage *ru)
{
	size_t	i;

	for (i = 0; i < EARLY_EXITS; i++)
		if (early[i].pid == pid) {
			*status = early[i].status;
			*ru = early[i].ru;
			early[i].pid = 0;
			return (0);
		}
	return (-1);
}

void
spawn_started(const struct tpl_spawned *ts)
{
	struct worker_proc	*wp;
	struct worker_ref	 ref;
	struct rusage		 ru;
	int			 status;

	if ((wp = spawn_find(ts->worker_id)) == NULL || !wp->sent ||
	    wp->pid != 0 || ts->pid <= 0) {
		log_warnx("template reported an unknown worker %u",
		    ts->worker_id);
		return;
	}
	wp->pid = ts->pid;
	/* Into its cgroup before its monitor can send it any code. */
	if (cgroup_attach(wp->id, wp->pid) == -1) {
		wp->kill_requested = 1;
		kill(wp->pid, SIGKILL);
	}
	ref.worker_id = wp->id;
	monitor_send(IMSG_WORKER_FD, wp->id, wp->monitor_fd, &ref,
	    sizeof(ref));
	wp->monitor_fd = -1;
	if (early_exit_take(wp->pid, &status, &ru) == 0)
		worker_report(wp, status, &ru);
	else if (wp->kill_requested)
		kill(wp->pid, SIGKILL);
}

void
spawn_kill(uint32_t id)
{
	struct worker_proc	*wp;
	struct rusage		 ru;

	if ((wp = spawn_find(id)) == NULL)
		return;
	wp->kill_requested = 1;
	rest_cancel(wp);	/* dying takes CPU: no violation */
	if (wp->pid > 0)
		kill(wp->pid, SIGKILL);
	else if (!wp->sent) {
		memset(&ru, 0, sizeof(ru));
		worker_report(wp, SIGKILL, &ru);
	}
}

int
spawn_reaped(pid_t pid, int status, const struct rusage *ru)
{
	struct worker_proc	*wp;
	size_t			 i;

	TAILQ_FOREACH(wp, &workers, entry)
		if (wp->pid == pid) {
			worker_report(wp, status, ru);
			return (0);
		}
	for (i = 0; i < EARLY_EXITS; i++)
		if (early[i].pid == 0) {
			early[i].pid = pid;
			early[i].status = status;
			early[i].ru = *ru;
			return (0);
		}
	log_warnx("reaped unknown child %d", pid);
	return (-1);
}

/* The template died: spawns it had not answered will never be. */
void
spawn_template_lost(void)
{
	struct worker_proc	*wp, *next;

	TAILQ_FOREACH_SAFE(wp, &workers, entry, next)
		if (wp->sent && wp->pid == 0)
			spawn_failed(wp->id, ECHILD);
}

void
spawn_kill_all(void)
{
	struct worker_proc	*wp;

	TAILQ_FOREACH(wp, &workers, entry)
		if (wp->pid > 0)
			kill(wp->pid, SIGKILL);
	while ((wp = TAILQ_FIRST(&workers)) != NULL) {
		if (wp->pid > 0)
			waitpid(wp->pid, NULL, 0);
		spawn_free(wp);
	}
}

/* Its job ended: it may not run until the next (rest.c). */
void
spawn_idle(uint32_t id)
{
	struct worker_proc	*wp;

	if ((wp = spawn_find(id)) != NULL)
		rest_begin(wp);
}

void
spawn_wake(uint32_t id)
{
	struct worker_proc	*wp;

	if ((wp = spawn_find(id)) != NULL)
		rest_end(wp);
}

/* The worker's uid, for its audit records. */
int
spawn_worker_uid(uint32_t id, uid_t *uid)
{
	struct worker_proc	*wp;

	if ((wp = spawn_find(id)) == NULL)
		return (-1);
	*uid = wp->uid;
	return (0);
}
