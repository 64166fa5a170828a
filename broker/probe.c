/*
 * What isolation the host offers, probed once at start-up: user and the
 * other namespaces, seccomp, no_new_privs, cgroups and the worker uid
 * range.  With "sandbox strict" anything missing stops the daemon,
 * named; with "sandbox fallback" it is said once, and the monitor marks
 * every session with the level it gets.
 */

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"

/* The worker's namespaces, as worker/worker.h's W_NS_FLAGS. */
#define PROBE_NS_FLAGS	(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | \
			    CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | \
			    CLONE_NEWCGROUP)

static void
missing(struct securerd_conf *c, const char *what)
{
	if (c->sandbox_missing[0] != '\0')
		strlcat(c->sandbox_missing, ", ", sizeof(c->sandbox_missing));
	strlcat(c->sandbox_missing, what, sizeof(c->sandbox_missing));
}

/* A clone into every namespace a worker gets, in a throw-away child. */
static int
probe_namespaces(void)
{
	pid_t	 pid;
	int	 status;

	pid = syscall(SYS_clone, PROBE_NS_FLAGS | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		_exit(0);
	if (pid == -1)
		return (-1);
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return (-1);
	return (0);
}

/* Kill-process filters need 4.14; the kernel lists what it can do. */
static int
probe_seccomp(void)
{
	char	 line[256] = "";
	FILE	*f;

	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == -1)
		return (-1);
	if ((f = fopen("/proc/sys/kernel/seccomp/actions_avail", "re")) ==
	    NULL)
		return (-1);
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	return (strstr(line, "kill_process") != NULL ? 0 : -1);
}

/* The range must be ids nobody on the host uses (root can check only). */
static int
probe_uids(const struct securerd_conf *c)
{
	struct passwd	*pw;
	int		 rv = 0;

	if (geteuid() != 0)
		return (-1);
	setpwent();
	while ((pw = getpwent()) != NULL)
		if (pw->pw_uid >= c->uid_base &&
		    pw->pw_uid - c->uid_base < c->uid_count)
			rv = -1;
	endpwent();
	return (rv);
}

/*
 * Fill in c->sandbox_have and c->sandbox_missing.  Returns -1 if the
 * configuration asks for strict and something is missing.
 */
int
sandbox_probe(struct securerd_conf *c)
{
	char	 why[128];

	c->sandbox_have = 0;
	c->sandbox_missing[0] = '\0';
	if (probe_namespaces() == 0)
		c->sandbox_have |= SBX_NAMESPACES;
	else
		missing(c, "user namespaces");
	if (probe_seccomp() == 0)
		c->sandbox_have |= SBX_SECCOMP;
	else
		missing(c, "seccomp");
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != -1)
		c->sandbox_have |= SBX_NNP;
	else
		missing(c, "no_new_privs");
	if ((c->cgroup_version = cgroup_init(why, sizeof(why))) != 0)
		c->sandbox_have |= SBX_CGROUPS;
	else
		missing(c, why);
	if (probe_uids(c) == 0)
		c->sandbox_have |= SBX_UIDS;
	else
		missing(c, geteuid() != 0 ? "a worker uid range (not root)" :
		    "a worker uid range owning no host user");
	if (c->sandbox_have == SBX_ALL)
		return (0);
	if (c->sandbox_policy == SANDBOX_STRICT) {
		log_warnx("sandbox strict: this host lacks %s; refusing to "
		    "start (\"sandbox fallback\" runs with less isolation)",
		    c->sandbox_missing);
		return (-1);
	}
	log_warnx("sandbox fallback: this host lacks %s; workers run "
	    "without that isolation and sessions say \"%s\"",
	    c->sandbox_missing, SANDBOX_LEVEL_PARTIAL);
	return (0);
}
