/*
 * Configuration defaults, the checks after parsing, and printing it back.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"

#define KiB	1024ULL
#define MiB	(1024ULL * KiB)
#define GiB	(1024ULL * MiB)

#define WORKERS_PER_CPU		16
#define TOOL_CALLS_DEFAULT	10000		/* per execution */
#define AUDIT_ROTATE_DEFAULT	(64 * MiB)

static const struct worker_limits default_limits = {
	.cpu = 60, .memory = 512 * MiB, .fsize = 50 * MiB, .nproc = 50,
	.nofile = 256, .stack = 8 * MiB, .tmp_size = 64 * MiB,
};

static const struct worker_limits max_limits = {
	.cpu = 3600, .memory = 8 * GiB, .fsize = 1 * GiB, .nproc = 1024,
	.nofile = 4096, .stack = 256 * MiB, .tmp_size = 1 * GiB,
};

/* Where a single-user daemon lives: the securer command looks there too. */
static void
private_dir(char *buf, size_t len)
{
	const char	*rt = getenv("XDG_RUNTIME_DIR");

	if (rt != NULL && rt[0] == '/')
		snprintf(buf, len, "%s/securer", rt);
	else
		snprintf(buf, len, "/tmp/securer-%u", getuid());
}

static void
default_worker_path(char *buf, size_t len)
{
	char	exe[PATH_MAX];
	ssize_t	n;

	/* Beside our own binary first, so a build tree runs as it is. */
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		snprintf(buf, len, "%s/securer-worker", dirname(exe));
		if (access(buf, X_OK) == 0)
			return;
	}
	snprintf(buf, len, "%s/securer-worker", SECURER_LIBEXECDIR);
}

void
config_defaults(struct securerd_conf *c)
{
	char	dir[80];

	memset(c, 0, sizeof(*c));
	c->single_user = geteuid() != 0;
	/* A server refuses less isolation; a user's private daemon warns. */
	c->sandbox_policy = c->single_user ? SANDBOX_FALLBACK : SANDBOX_STRICT;
	if (c->single_user) {
		private_dir(dir, sizeof(dir));
		snprintf(c->socket_path, sizeof(c->socket_path),
		    "%s/securerd.sock", dir);
		snprintf(c->audit_path, sizeof(c->audit_path),
		    "%s/audit.jsonl", dir);
		snprintf(c->state_dir, sizeof(c->state_dir), "%s/state", dir);
		c->socket_mode = 0600;
		snprintf(c->user, sizeof(c->user), "%u", getuid());
	} else {
		strlcpy(c->socket_path, "/run/securerd.sock",
		    sizeof(c->socket_path));
		strlcpy(c->audit_path, "/var/log/securer/audit.jsonl",
		    sizeof(c->audit_path));
		strlcpy(c->state_dir, "/var/lib/securerd", sizeof(c->state_dir));
		c->socket_mode = 0666;
		strlcpy(c->user, SECURERD_USER, sizeof(c->user));
		strlcpy(c->chroot, "/var/empty", sizeof(c->chroot));
	}
	default_worker_path(c->worker_path, sizeof(c->worker_path));
	c->uid_base = WORKER_UID_BASE;
	c->uid_count = WORKER_UID_COUNT;
	c->default_timeout = 30;
	c->default_limits = default_limits;
	c->max_limits = max_limits;
	c->max_code = 1 * MiB;
	c->max_output_bytes = 16 * MiB;
	c->max_messages = 1000000;
	c->max_result = WORKER_RESULT_MAX;
	c->max_result_memory = RESULT_MEMORY_DEFAULT;
	/* A server's log is its operators' record: each exec_start on disk
	 * before the code runs.  A private daemon's is its user's own file. */
	c->audit_sync = c->single_user ? AUDIT_SYNC_NEVER : AUDIT_SYNC_ALWAYS;
	c->audit_sync_ms = 100;
	c->audit_code = AUDIT_CODE_MAX;
	c->max_sessions = c->ident.sessions = 64;
	c->cap_auto = CAP_AUTO_WORKERS | CAP_AUTO_MEMORY | CAP_AUTO_SESSIONS;
	c->max_tool_calls = TOOL_CALLS_DEFAULT;
	c->audit_rotate = AUDIT_ROTATE_DEFAULT;
	c->client_grace = 10;
	c->hello_timeout = 5;
	c->ident.pool_size = 16;
	c->max_plots = 16;
	c->max_plot_size = 1 * MiB;
	c->max_files = 64;
	c->max_file_size = 1 * MiB;
	c->max_snapshot = SNAPSHOT_DEFAULT;
	c->snapshot_quota = SNAPSHOT_QUOTA_DEFAULT;
	c->retention = RETENTION_DEFAULT;
	c->ready_min = READY_DEFAULT;
	c->ready_max = READY_DEFAULT_MAX;
	c->socket_uid = c->socket_gid = -1;
}

static int
check_limits(const struct securerd_conf *c)
{
	const uint64_t	*d = (const uint64_t *)&c->default_limits;
	const uint64_t	*m = (const uint64_t *)&c->max_limits;
	size_t		 i;

	for (i = 0; i < sizeof(c->max_limits) / sizeof(uint64_t); i++)
		if (d[i] > m[i]) {
			log_warnx("a default limit is above its maximum");
			return (-1);
		}
	if (c->max_timeout > 0 && (c->default_timeout == 0 ||
	    c->default_timeout > c->max_timeout)) {
		log_warnx("the default timeout is above its maximum");
		return (-1);
	}
	if (c->max_code == 0 || c->max_code > CLIENT_LINE_MAX / 2) {
		log_warnx("code-size must be between 1 and %u",
		    CLIENT_LINE_MAX / 2);
		return (-1);
	}
	return (0);
}

/*
 * The monitor's chroot: on a server an empty root-owned directory; in
 * single-user mode a fresh one that the monitor deletes once inside.
 */
static int
prepare_chroot(struct securerd_conf *c)
{
	char	dir[80];

	if (c->single_user) {
		private_dir(dir, sizeof(dir));
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
			return (-1);
		snprintf(c->chroot, sizeof(c->chroot), "%s/empty.XXXXXX", dir);
		return (mkdtemp(c->chroot) == NULL ? -1 : 0);
	}
	if (mkdir(c->chroot, 0755) == -1 && errno != EEXIST)
		return (-1);
	return (0);
}

/* Beside the clients' socket unless named: securerd.sock -> .ctl */
static void
default_control(struct securerd_conf *c)
{
	size_t	n = strlen(c->socket_path);

	if (c->control_path[0] != '\0')
		return;
	if (n > 5 && strcmp(c->socket_path + n - 5, ".sock") == 0)
		n -= 5;
	snprintf(c->control_path, sizeof(c->control_path), "%.*s.ctl",
	    (int)n, c->socket_path);
}

/*
 * R libraries the workers see: real directories outside /tmp, which the
 * template and its workers replace with tmpfs of their own.
 */
static int
check_libraries(const struct securerd_conf *c)
{
	struct stat	st;
	uint32_t	i;

	for (i = 0; i < c->nlibraries; i++) {
		if (stat(c->libraries[i], &st) == -1 || !S_ISDIR(st.st_mode)) {
			log_warnx("library %s is not a directory",
			    c->libraries[i]);
			return (-1);
		}
		if (strcmp(c->libraries[i], "/tmp") == 0 ||
		    strncmp(c->libraries[i], "/tmp/", 5) == 0) {
			log_warnx("library %s: workers cannot see /tmp of the "
			    "host", c->libraries[i]);
			return (-1);
		}
	}
	return (0);
}

/*
 * What the host can hold, for the capacities not configured: memory
 * limits adding up to three quarters of its memory, at most
 * WORKERS_PER_CPU workers a CPU; one uid of a shared socket may take
 * half of it, so others are not locked out.
 */
static void
config_capacity(struct securerd_conf *c)
{
	long		pages = sysconf(_SC_PHYS_PAGES);
	long		pagesize = sysconf(_SC_PAGESIZE);
	long		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t	ram, workers;

	ram = pages > 0 && pagesize > 0 ? (uint64_t)pages * pagesize : 4 * GiB;
	if (ncpu < 1)
		ncpu = 1;
	if (c->cap_auto & CAP_AUTO_MEMORY)
		c->cap_memory = ram / 4 * 3;
	if (c->cap_auto & CAP_AUTO_WORKERS) {
		workers = c->cap_memory / (c->default_limits.memory ?
		    c->default_limits.memory : 1);
		if (c->cap_memory == 0 || workers > (uint64_t)ncpu *
		    WORKERS_PER_CPU)
			workers = (uint64_t)ncpu * WORKERS_PER_CPU;
		c->cap_workers = workers < 1 ? 1 : workers;
	}
	if (c->client_memory == 0) {
		c->cap_auto |= CAP_AUTO_CLIENTS;
		c->client_memory = ram / 16 > CLIENT_MEMORY_MAX ?
		    CLIENT_MEMORY_MAX : ram / 16;
	}
	if (c->user_client_memory == 0 ||
	    c->user_client_memory > c->client_memory)
		c->user_client_memory = c->client_memory / 4;
	if (c->cap_auto & CAP_AUTO_SESSIONS) {
		c->ident.sessions = c->cap_workers == 0 ? 64 :
		    c->single_user ? c->cap_workers : c->cap_workers / 2;
		if (c->ident.sessions < 2)
			c->ident.sessions = 2;
		c->max_sessions = c->ident.sessions;
	}
}

int
config_finish(struct securerd_conf *c)
{
	default_control(c);
	config_capacity(c);
	if (!c->single_user && getpwnam(c->user) == NULL) {
		log_warnx("user %s does not exist; create it (the README's "
		    "set-up does) or name another with \"user\"", c->user);
		return (-1);
	}
	if (c->uid_base == 0 || c->uid_count == 0 ||
	    (uint64_t)c->uid_base + c->uid_count > UINT32_MAX) {
		log_warnx("worker uids must be a range of nonzero uids");
		return (-1);
	}
	if (check_libraries(c) == -1)
		return (-1);
	if (check_limits(c) == -1)
		return (-1);
	/* One value at the largest size must fit in what the monitor holds. */
	if (c->max_result > c->max_result_memory) {
		log_warnx("result-size (%llu) is over result-memory (%llu)",
		    (unsigned long long)c->max_result,
		    (unsigned long long)c->max_result_memory);
		return (-1);
	}
	if (access(c->worker_path, X_OK) == -1) {
		log_warn("worker %s", c->worker_path);
		return (-1);
	}
	return (0);
}

/* Called after -n too late to matter; a real start needs the chroot. */
int
config_chroot(struct securerd_conf *c)
{
	if (prepare_chroot(c) == -1) {
		log_warn("chroot directory %s", c->chroot);
		return (-1);
	}
	return (0);
}

void
config_cleanup(const struct securerd_conf *c)
{
	/* The monitor removes it once inside; this covers a failed start. */
	if (c != NULL && c->single_user)
		rmdir(c->chroot);
}

static void
print_value(uint64_t v)
{
	if (v == LIMIT_NONE)
		printf("none");
	else
		printf("%llu", (unsigned long long)v);
}

static void
print_limit(const char *name, uint64_t v, uint64_t max)
{
	printf("%s ", name);
	print_value(v);
	printf(" max ");
	print_value(max);
	printf("\n");
}

/* Caps where 0 means none. */
static void
print_cap(const char *name, uint64_t v)
{
	printf("%s ", name);
	print_value(v == 0 ? LIMIT_NONE : v);
	printf("\n");
}

static void
print_timeout(double t)
{
	if (t == 0)
		printf("none");
	else
		printf("%g", t);
}

/* Rates where 0 means none. */
static void
print_rate(const char *name, double rate, double burst)
{
	if (rate < 0)
		printf(" %s none", name);
	else if (rate > 0)
		printf(" %s %g burst %g", name, rate, burst);
}

static void
print_global_rate(const char *name, double rate, double burst)
{
	if (rate > 0)
		printf("%s %g burst %g\n", name, rate, burst);
	else
		printf("%s none\n", name);
}

static void
print_rule(const struct policy_rule *r)
{
	printf("%s ", r->action == RULE_ALLOW ? "allow" : "deny");
	if (r->match == MATCH_ALL)
		printf("all");
	else
		printf("%s \"%s\"", r->match == MATCH_USER ? "user" : "group",
		    r->name);
	/* The secret itself stays out of printouts and logs. */
	if (r->token[0] != '\0')
		printf(" token \"********\"");
	if (r->limits.sessions)
		printf(" sessions %u", r->limits.sessions);
	if (r->limits.executions)
		printf(" executions %u", r->limits.executions);
	if (r->limits.pool_size)
		printf(" pool-size %u", r->limits.pool_size);
	print_rate("requests", r->limits.requests, r->limits.requests_burst);
	print_rate("tool-rate", r->limits.tool_rate, r->limits.tool_burst);
	printf("\n");
}

static void
print_policy(const struct securerd_conf *c)
{
	print_cap("executions", c->ident.executions);
	printf("pool-size %u\n", c->ident.pool_size);
	print_global_rate("requests", c->ident.requests,
	    c->ident.requests_burst);
	print_global_rate("tool-rate", c->ident.tool_rate,
	    c->ident.tool_burst);
	printf("capacity workers ");
	if (c->cap_auto & CAP_AUTO_WORKERS)
		printf("auto");
	else
		print_value(c->cap_workers == 0 ? LIMIT_NONE : c->cap_workers);
	printf(" memory ");
	if (c->cap_auto & CAP_AUTO_MEMORY)
		printf("auto");
	else
		print_value(c->cap_memory == 0 ? LIMIT_NONE : c->cap_memory);
	printf("\n");
	print_cap("idle-ttl", c->idle_ttl);
	print_cap("lifetime", c->lifetime);
	print_cap("client-grace", c->client_grace);
	/* Only when set: configurations printed before them stay the same. */
	if (c->hello_timeout != 5)
		print_cap("hello-timeout", c->hello_timeout);
	if (c->max_connections != 0)
		printf("connections %u\n", c->max_connections);
	if (c->user_connections != 0)
		printf("user-connections %u\n", c->user_connections);
	if (!(c->cap_auto & CAP_AUTO_CLIENTS)) {
		printf("client-memory ");
		print_value(c->client_memory);
		printf("\n");
	}
	if (!(c->cap_auto & CAP_AUTO_CLIENTS) ||
	    c->user_client_memory != c->client_memory / 4) {
		printf("user-client-memory ");
		print_value(c->user_client_memory);
		printf("\n");
	}
	/* Only when set: configurations printed before it stay the same. */
	if (c->ready_min != READY_DEFAULT || c->ready_max != READY_DEFAULT_MAX)
		printf("workers ready %u max %u\n", c->ready_min,
		    c->ready_max);
}

/*
 * A reload changes the policy and the limits; what was set up at start
 * (socket, users, paths, the probed sandbox) stays as it is.
 */
void
config_keep_fixed(struct securerd_conf *nc, const struct securerd_conf *old)
{
	struct securerd_conf	keep = *old;

	if (strcmp(nc->socket_path, old->socket_path) != 0 ||
	    strcmp(nc->user, old->user) != 0 ||
	    strcmp(nc->audit_path, old->audit_path) != 0 ||
	    strcmp(nc->state_dir, old->state_dir) != 0 ||
	    strcmp(nc->worker_path, old->worker_path) != 0 ||
	    nc->uid_base != old->uid_base || nc->uid_count != old->uid_count ||
	    nc->socket_mode != old->socket_mode ||
	    nc->socket_uid != old->socket_uid ||
	    nc->socket_gid != old->socket_gid)
		log_warnx("reload: socket, user, audit, state-dir, worker and "
		    "worker uids take effect only at a restart");
	if (strcmp(nc->control_path, old->control_path) != 0)
		log_warnx("reload: control takes effect only at a restart");
	if (nc->nlibraries != old->nlibraries ||
	    memcmp(nc->libraries, old->libraries, sizeof(nc->libraries)) != 0)
		log_warnx("reload: library takes effect only at a restart");
	if (nc->npreload != old->npreload ||
	    memcmp(nc->preload, old->preload, sizeof(nc->preload)) != 0)
		log_warnx("reload: preload takes effect only at a restart");
	keep.default_timeout = nc->default_timeout;
	keep.max_timeout = nc->max_timeout;
	keep.default_limits = nc->default_limits;
	keep.max_limits = nc->max_limits;
	keep.max_code = nc->max_code;
	keep.max_output_bytes = nc->max_output_bytes;
	keep.max_output_lines = nc->max_output_lines;
	keep.max_tool_calls = nc->max_tool_calls;
	keep.max_messages = nc->max_messages;
	keep.max_result = nc->max_result;
	keep.max_result_memory = nc->max_result_memory;
	keep.max_plots = nc->max_plots;
	keep.max_plot_size = nc->max_plot_size;
	keep.max_files = nc->max_files;
	keep.max_file_size = nc->max_file_size;
	keep.max_snapshot = nc->max_snapshot;
	keep.snapshot_quota = nc->snapshot_quota;
	keep.hibernate_after = nc->hibernate_after;
	keep.retention = nc->retention;
	keep.hibernate_on_stop = nc->hibernate_on_stop;
	keep.audit_sync = nc->audit_sync;
	keep.audit_sync_ms = nc->audit_sync_ms;
	keep.audit_rotate = nc->audit_rotate;
	keep.audit_code = nc->audit_code;
	keep.max_sessions = nc->max_sessions;
	keep.ident = nc->ident;
	keep.cap_workers = nc->cap_workers;
	keep.cap_memory = nc->cap_memory;
	keep.idle_ttl = nc->idle_ttl;
	keep.lifetime = nc->lifetime;
	keep.client_grace = nc->client_grace;
	keep.ready_min = nc->ready_min;
	keep.ready_max = nc->ready_max;
	keep.nrules = nc->nrules;
	memcpy(keep.rules, nc->rules, sizeof(keep.rules));
	*nc = keep;
}

/* Only what is not the default: configurations printed before stay. */
static void
print_snapshots(const struct securerd_conf *c)
{
	struct securerd_conf	d;

	config_defaults(&d);
	if (strcmp(c->state_dir, d.state_dir) != 0)
		printf("state-dir \"%s\"\n", c->state_dir);
	if (c->max_snapshot != d.max_snapshot)
		printf("snapshot-size %llu\n",
		    (unsigned long long)c->max_snapshot);
	if (c->snapshot_quota != d.snapshot_quota)
		printf("snapshot-quota %llu\n",
		    (unsigned long long)c->snapshot_quota);
	if (c->hibernate_after != 0)
		print_cap("hibernate-after", c->hibernate_after);
	if (c->retention != d.retention)
		print_cap("retention", c->retention);
	if (c->hibernate_on_stop != 0)
		print_cap("hibernate-on-stop", c->hibernate_on_stop);
}

void
config_print(const struct securerd_conf *c)
{
	const struct worker_limits	*d = &c->default_limits;
	const struct worker_limits	*m = &c->max_limits;
	uint32_t			 i;

	printf("socket \"%s\" mode %04o", c->socket_path, c->socket_mode);
	if (c->socket_owner[0] != '\0')
		printf(" owner \"%s\"", c->socket_owner);
	if (c->socket_group[0] != '\0')
		printf(" group \"%s\"", c->socket_group);
	printf("\n");
	printf("control \"%s\"\n", c->control_path);
	printf("user \"%s\"\n", c->user);
	if (!c->single_user)
		printf("chroot \"%s\"\n", c->chroot);
	printf("audit \"%s\"\n", c->audit_path);
	if (c->audit_sync == AUDIT_SYNC_BATCH)
		printf("audit-sync batch %u\n", c->audit_sync_ms);
	else
		printf("audit-sync %s\n", c->audit_sync ? "always" : "never");
	if (c->audit_rotate != 0)
		printf("audit-rotate %llu\n",
		    (unsigned long long)c->audit_rotate);
	if (c->audit_code != AUDIT_CODE_MAX)
		printf("audit-code %u\n", c->audit_code);
	for (i = 0; i < c->nlibraries; i++)
		printf("library \"%s\"\n", c->libraries[i]);
	if (c->npreload > 0) {
		printf("preload");
		for (i = 0; i < c->npreload; i++)
			printf(" \"%s\"", c->preload[i]);
		printf("\n");
	}
	printf("worker \"%s\"\n", c->worker_path);
	printf("worker uids %u count %u\n", c->uid_base, c->uid_count);
	printf("timeout ");
	print_timeout(c->default_timeout);
	printf(" max ");
	print_timeout(c->max_timeout);
	printf("\n");
	print_limit("cpu", d->cpu, m->cpu);
	print_limit("memory", d->memory, m->memory);
	print_limit("fsize", d->fsize, m->fsize);
	print_limit("nproc", d->nproc, m->nproc);
	print_limit("nofile", d->nofile, m->nofile);
	print_limit("stack", d->stack, m->stack);
	print_limit("tmpfs", d->tmp_size, m->tmp_size);
	printf("code-size %llu\n", (unsigned long long)c->max_code);
	print_cap("output-bytes", c->max_output_bytes);
	print_cap("output-lines", c->max_output_lines);
	print_cap("tool-calls", c->max_tool_calls);
	print_cap("messages", c->max_messages);
	printf("result-size %llu\n", (unsigned long long)c->max_result);
	printf("result-memory %llu\n",
	    (unsigned long long)c->max_result_memory);
	printf("plots %u\nplot-size %llu\n", c->max_plots,
	    (unsigned long long)c->max_plot_size);
	printf("files %u\nfile-size %llu\n", c->max_files,
	    (unsigned long long)c->max_file_size);
	print_snapshots(c);
	if (c->cap_auto & CAP_AUTO_SESSIONS)
		printf("sessions auto\n");
	else
		printf("sessions %u\n", c->max_sessions);
	print_policy(c);
	printf("sandbox %s\n", c->sandbox_policy == SANDBOX_STRICT ?
	    "strict" : "fallback");
	for (i = 0; i < c->nrules; i++)
		print_rule(&c->rules[i]);
}
