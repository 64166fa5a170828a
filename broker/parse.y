/*
 * securerd.conf(5) grammar.  One statement per line; errors are reported
 * as file:line and the whole file is refused.
 */

%{
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "log.h"

static struct securerd_conf	*pconf;
static struct policy_rule	*prule;
static double			 rate_r, rate_b;
static FILE			*pfile;
static const char		*pname;
static int			 lineno, errors, newline_seen, eof_seen;

static int	 yylex(void);
static int	 yyerror(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));
static int	 set_string(char *, size_t, char **, const char *);
static int	 to_u64(double, uint64_t *);
static int	 package_name_ok(const char *);
static int	 ascii_letter(char);
static int	 conn_count_set(uint32_t *, double);
static uint64_t	*limit_field(struct worker_limits *, int);
static int	 rule_new(int);
static int	 lookup_id(const char *, int, uint32_t *);
static int	 set_name(char *, char **, int, uint32_t *);

typedef struct {
	union {
		double	 number;
		char	*string;
		int	 token;
	} v;
} YYSTYPE;
#define YYSTYPE_IS_DECLARED 1
%}

%token	AUDIT CHROOT CODESIZE COUNT CPU FALLBACK FSIZE MAX MEMORY MODE NOFILE
%token	NONE NPROC OUTPUTBYTES OUTPUTLINES SANDBOX SESSIONS SOCKET STACK
%token	STRICT TIMEOUT TMPFS TOOLCALLS UIDS USER WORKER ERROR
%token	ALL ALLOW BURST CAPACITY CONTROL DENY EXECUTIONS GROUP IDLETTL LIFETIME
%token	OWNER
%token	MESSAGES POOLSIZE REQUESTS TOKEN TOOLRATE WORKERS
%token	AUDITSYNC ALWAYS NEVER RESULTSIZE RESULTMEMORY LIBRARY PRELOAD BATCH AUDITROTATE AUDITCODE
%token	PLOTS PLOTSIZE FILES FILESIZE
%token	STATEDIR SNAPSHOTSIZE SNAPSHOTQUOTA HIBERNATEAFTER RETENTION
%token	HIBERNATEONSTOP
%token	CLIENTGRACE CLIENTMEMORY CONNECTIONS HELLOTIMEOUT USERCONNECTIONS
%token	USERCLIENTMEMORY AUTO
%token	READY
%token	<v.string>	STRING
/* A string dropped by error recovery is still ours to free. */
%destructor	{ free($$); }	<v.string>
%token	<v.number>	NUMBER
%type	<v.number>	value count seconds
%type	<v.token>	limit

%%

grammar	: /* empty */
	| grammar '\n'
	| grammar main '\n'
	| grammar error '\n'		{ yyerrok; }
	;

value	: NUMBER
	| NONE				{ $$ = -1; }
	;

count	: NUMBER {
		/* Past 2^64 a conversion to a count is undefined. */
		if ($1 < 0 || $1 != floor($1) || $1 >= 1.8e19) {
			yyerror("%g is not a whole number of at most 2^64", $1);
			YYERROR;
		}
		$$ = $1;
	}
	;

limit	: CPU		{ $$ = CPU; }
	| MEMORY	{ $$ = MEMORY; }
	| FSIZE		{ $$ = FSIZE; }
	| NPROC		{ $$ = NPROC; }
	| NOFILE	{ $$ = NOFILE; }
	| STACK		{ $$ = STACK; }
	| TMPFS		{ $$ = TMPFS; }
	;

main	: SOCKET STRING {
		if (set_string(pconf->socket_path,
		    sizeof(pconf->socket_path), &$2, "socket") == -1)
			YYERROR;
	} sockopts
	| CONTROL STRING {
		if (set_string(pconf->control_path,
		    sizeof(pconf->control_path), &$2, "control") == -1)
			YYERROR;
	}
	| USER STRING {
		if (set_string(pconf->user, sizeof(pconf->user), &$2,
		    "user") == -1)
			YYERROR;
	}
	| CHROOT STRING {
		if (set_string(pconf->chroot, sizeof(pconf->chroot), &$2,
		    "chroot") == -1)
			YYERROR;
	}
	| AUDIT STRING {
		if (set_string(pconf->audit_path, sizeof(pconf->audit_path),
		    &$2, "audit") == -1)
			YYERROR;
	}
	| LIBRARY STRING {
		if (pconf->nlibraries >= LIBRARIES_MAX) {
			yyerror("at most %d libraries", LIBRARIES_MAX);
			free($2);
			$2 = NULL;
			YYERROR;
		}
		if (set_string(pconf->libraries[pconf->nlibraries],
		    sizeof(pconf->libraries[0]), &$2, "library") == -1)
			YYERROR;
		pconf->nlibraries++;
	}
	| PRELOAD packages
	| AUDITSYNC ALWAYS	{ pconf->audit_sync = AUDIT_SYNC_ALWAYS; }
	| AUDITSYNC NEVER	{ pconf->audit_sync = AUDIT_SYNC_NEVER; }
	| AUDITSYNC BATCH count {
		if ($3 < 1 || $3 > 10000) {
			yyerror("audit-sync batch must be between 1 and 10000 "
			    "milliseconds");
			YYERROR;
		}
		pconf->audit_sync = AUDIT_SYNC_BATCH;
		pconf->audit_sync_ms = $3;
	}
	| AUDITROTATE count {
		if ($2 != 0 && $2 < 4096) {
			yyerror("audit-rotate must be 0 (never) or at least "
			    "4096 bytes");
			YYERROR;
		}
		pconf->audit_rotate = $2;
	}
	| AUDITCODE count {
		if ($2 > AUDIT_CODE_LIMIT) {
			yyerror("audit-code must be at most %u bytes",
			    AUDIT_CODE_LIMIT);
			YYERROR;
		}
		pconf->audit_code = $2;
	}
	| RESULTSIZE count {
		if ($2 < 1 || $2 > WORKER_RESULT_LIMIT) {
			yyerror("result-size must be between 1 and %llu",
			    (unsigned long long)WORKER_RESULT_LIMIT);
			YYERROR;
		}
		pconf->max_result = $2;
	}
	| RESULTMEMORY count {
		if ($2 < 1 || $2 > RESULT_MEMORY_LIMIT) {
			yyerror("result-memory must be between 1 and %llu",
			    (unsigned long long)RESULT_MEMORY_LIMIT);
			YYERROR;
		}
		pconf->max_result_memory = $2;
	}
	| PLOTS count {
		if ($2 > PLOTS_MAX) {
			yyerror("plots must be at most %d", PLOTS_MAX);
			YYERROR;
		}
		pconf->max_plots = $2;
	}
	| PLOTSIZE count {
		if ($2 < 1 || $2 > PLOT_SIZE_MAX) {
			yyerror("plot-size must be between 1 and %u",
			    PLOT_SIZE_MAX);
			YYERROR;
		}
		pconf->max_plot_size = $2;
	}
	| FILES count {
		if ($2 > FILES_MAX) {
			yyerror("files must be at most %d", FILES_MAX);
			YYERROR;
		}
		pconf->max_files = $2;
	}
	| FILESIZE count {
		if ($2 < 1 || $2 > FILE_SIZE_MAX) {
			yyerror("file-size must be between 1 and %llu",
			    (unsigned long long)FILE_SIZE_MAX);
			YYERROR;
		}
		pconf->max_file_size = $2;
	}
	| WORKER STRING {
		if (set_string(pconf->worker_path,
		    sizeof(pconf->worker_path), &$2, "worker") == -1)
			YYERROR;
	}
	| WORKER UIDS count COUNT count {
		if ($3 < 1 || $5 < 1 || $3 + $5 > UINT32_MAX) {
			yyerror("worker uids must be a range of nonzero uids");
			YYERROR;
		}
		pconf->uid_base = $3;
		pconf->uid_count = $5;
	}
	| TIMEOUT value MAX value {
		if (($2 < 0 && $2 != -1) || ($4 < 0 && $4 != -1)) {
			yyerror("timeouts must be positive or none");
			YYERROR;
		}
		pconf->default_timeout = $2 < 0 ? 0 : $2;
		pconf->max_timeout = $4 < 0 ? 0 : $4;
	}
	| limit value MAX value {
		uint64_t	*d = limit_field(&pconf->default_limits, $1);
		uint64_t	*m = limit_field(&pconf->max_limits, $1);

		if (to_u64($2, d) == -1 || to_u64($4, m) == -1)
			YYERROR;
	}
	| CODESIZE count		{ pconf->max_code = $2; }
	| OUTPUTBYTES value {
		if (to_u64($2, &pconf->max_output_bytes) == -1)
			YYERROR;
		if (pconf->max_output_bytes == LIMIT_NONE)
			pconf->max_output_bytes = 0;
	}
	| OUTPUTLINES value {
		if (to_u64($2, &pconf->max_output_lines) == -1)
			YYERROR;
		if (pconf->max_output_lines == LIMIT_NONE)
			pconf->max_output_lines = 0;
	}
	| MESSAGES value {
		if (to_u64($2, &pconf->max_messages) == -1)
			YYERROR;
		if (pconf->max_messages == LIMIT_NONE)
			pconf->max_messages = 0;
	}
	| TOOLCALLS value {
		if (to_u64($2, &pconf->max_tool_calls) == -1)
			YYERROR;
		if (pconf->max_tool_calls == LIMIT_NONE)
			pconf->max_tool_calls = 0;
	}
	| SANDBOX STRICT		{ pconf->sandbox_policy = SANDBOX_STRICT; }
	| SANDBOX FALLBACK	{ pconf->sandbox_policy = SANDBOX_FALLBACK; }
	| SESSIONS count {
		if ($2 < 1 || $2 > 1000000) {
			yyerror("sessions must be between 1 and 1000000");
			YYERROR;
		}
		pconf->max_sessions = pconf->ident.sessions = $2;
		pconf->cap_auto &= ~CAP_AUTO_SESSIONS;
	}
	| SESSIONS AUTO		{ pconf->cap_auto |= CAP_AUTO_SESSIONS; }
	| EXECUTIONS value {
		if ($2 == 0 || $2 > 1000000 || ($2 > 0 && $2 != floor($2))) {
			yyerror("executions must be between 1 and 1000000 "
			    "or none");
			YYERROR;
		}
		pconf->ident.executions = $2 < 0 ? 0 : $2;
	}
	| POOLSIZE count {
		if ($2 < 1 || $2 > 10000) {
			yyerror("pool-size must be between 1 and 10000");
			YYERROR;
		}
		pconf->ident.pool_size = $2;
	}
	| REQUESTS rate {
		pconf->ident.requests = rate_r < 0 ? 0 : rate_r;
		pconf->ident.requests_burst = rate_b;
	}
	| TOOLRATE rate {
		pconf->ident.tool_rate = rate_r < 0 ? 0 : rate_r;
		pconf->ident.tool_burst = rate_b;
	}
	| CAPACITY capopts
	| IDLETTL seconds		{ pconf->idle_ttl = $2; }
	| HIBERNATEAFTER seconds	{ pconf->hibernate_after = $2; }
	| RETENTION seconds		{ pconf->retention = $2; }
	| HIBERNATEONSTOP seconds	{ pconf->hibernate_on_stop = $2; }
	| STATEDIR STRING {
		if (set_string(pconf->state_dir, sizeof(pconf->state_dir),
		    &$2, "state-dir") == -1)
			YYERROR;
		if (pconf->state_dir[0] != '/') {
			yyerror("state-dir must be an absolute path");
			YYERROR;
		}
	}
	| SNAPSHOTSIZE count {
		if ($2 < 1 || $2 > SNAPSHOT_SIZE_MAX) {
			yyerror("snapshot-size must be between 1 and %llu",
			    (unsigned long long)SNAPSHOT_SIZE_MAX);
			YYERROR;
		}
		pconf->max_snapshot = $2;
	}
	| SNAPSHOTQUOTA count		{ pconf->snapshot_quota = $2; }
	| LIFETIME seconds		{ pconf->lifetime = $2; }
	| CLIENTGRACE seconds		{ pconf->client_grace = $2; }
	| HELLOTIMEOUT seconds		{ pconf->hello_timeout = $2; }
	| CONNECTIONS value {
		if (conn_count_set(&pconf->max_connections, $2) == -1)
			YYERROR;
	}
	| USERCONNECTIONS value {
		if (conn_count_set(&pconf->user_connections, $2) == -1)
			YYERROR;
	}
	| CLIENTMEMORY value {
		if (to_u64($2, &pconf->client_memory) == -1)
			YYERROR;
		if (pconf->client_memory == LIMIT_NONE)
			pconf->client_memory = 0;
	}
	| USERCLIENTMEMORY value {
		if (to_u64($2, &pconf->user_client_memory) == -1)
			YYERROR;
		if (pconf->user_client_memory == LIMIT_NONE)
			pconf->user_client_memory = 0;
	}
	| WORKERS READY count {
		if ($3 > READY_MAX) {
			yyerror("workers ready must be at most %d", READY_MAX);
			YYERROR;
		}
		pconf->ready_min = $3;
		/* Without max: room for bursts of four times as many. */
		pconf->ready_max = 4 * $3 > READY_MAX ? READY_MAX : 4 * $3;
	} readymax
	| ALLOW {
		if (rule_new(RULE_ALLOW) == -1)
			YYERROR;
	} target ruleopts
	| DENY {
		if (rule_new(RULE_DENY) == -1)
			YYERROR;
	} target
	;

/* Whole seconds, or none (0 inside). */
seconds	: value {
		if ($1 == 0 || $1 > 315360000 ||
		    ($1 > 0 && $1 != floor($1))) {
			yyerror("%g is not a number of seconds", $1);
			YYERROR;
		}
		$$ = $1 < 0 ? 0 : $1;
	}
	;

rate	: NONE				{ rate_r = -1; rate_b = 0; }
	| NUMBER BURST count {
		if ($1 <= 0 || $1 > 1e6 || $3 < 1 || $3 > 1e6) {
			yyerror("a rate must be above 0 and its burst at "
			    "least 1");
			YYERROR;
		}
		rate_r = $1;
		rate_b = $3;
	}
	;

readymax : /* empty */
	| MAX count {
		if ($2 < pconf->ready_min || $2 > READY_MAX) {
			yyerror("workers ready max must be between %u and %d",
			    pconf->ready_min, READY_MAX);
			YYERROR;
		}
		pconf->ready_max = $2;
	}
	;

packages : package
	| packages package
	;

package	: STRING {
		if (pconf->npreload >= PRELOAD_MAX) {
			yyerror("at most %d packages preloaded", PRELOAD_MAX);
			free($1);
			$1 = NULL;
			YYERROR;
		}
		if (!package_name_ok($1)) {
			yyerror("preload: \"%s\" is not an R package name",
			    $1);
			free($1);
			$1 = NULL;
			YYERROR;
		}
		strlcpy(pconf->preload[pconf->npreload], $1,
		    sizeof(pconf->preload[0]));
		free($1);
		$1 = NULL;
		pconf->npreload++;
	}
	;

capopts	: capopt
	| capopts capopt
	;

capopt	: WORKERS AUTO		{ pconf->cap_auto |= CAP_AUTO_WORKERS; }
	| MEMORY AUTO		{ pconf->cap_auto |= CAP_AUTO_MEMORY; }
	| WORKERS value {
		if ($2 == 0 || $2 > 1000000 || ($2 > 0 && $2 != floor($2))) {
			yyerror("capacity workers must be between 1 and "
			    "1000000 or none");
			YYERROR;
		}
		pconf->cap_workers = $2 < 0 ? 0 : $2;
		pconf->cap_auto &= ~CAP_AUTO_WORKERS;
	}
	| MEMORY value {
		if (to_u64($2, &pconf->cap_memory) == -1)
			YYERROR;
		if (pconf->cap_memory == LIMIT_NONE)
			pconf->cap_memory = 0;
		pconf->cap_auto &= ~CAP_AUTO_MEMORY;
	}
	;

target	: ALL				{ prule->match = MATCH_ALL; }
	| USER STRING {
		if (set_name(prule->name, &$2, MATCH_USER, &prule->id) == -1)
			YYERROR;
		prule->match = MATCH_USER;
	}
	| GROUP STRING {
		if (set_name(prule->name, &$2, MATCH_GROUP, &prule->id) == -1)
			YYERROR;
		prule->match = MATCH_GROUP;
	}
	;

ruleopts : /* empty */
	| ruleopts ruleopt
	;

ruleopt	: TOKEN STRING {
		size_t	i, n = strlen($2);

		for (i = 0; i < n; i++)
			if (!isgraph((unsigned char)$2[i]))
				break;
		if (n == 0 || i < n || n >= sizeof(prule->token)) {
			yyerror("a token must be 1 to %zu printable "
			    "characters without spaces",
			    sizeof(prule->token) - 1);
			free($2);
			$2 = NULL;
			YYERROR;
		}
		strlcpy(prule->token, $2, sizeof(prule->token));
		explicit_bzero($2, n);
		free($2);
		$2 = NULL;	/* the %destructor may see it again */
	}
	| SESSIONS count {
		if ($2 < 1 || $2 > 1000000) {
			yyerror("sessions must be between 1 and 1000000");
			YYERROR;
		}
		prule->limits.sessions = $2;
	}
	| EXECUTIONS count {
		if ($2 < 1 || $2 > 1000000) {
			yyerror("executions must be between 1 and 1000000");
			YYERROR;
		}
		prule->limits.executions = $2;
	}
	| POOLSIZE count {
		if ($2 < 1 || $2 > 10000) {
			yyerror("pool-size must be between 1 and 10000");
			YYERROR;
		}
		prule->limits.pool_size = $2;
	}
	| REQUESTS rate {
		prule->limits.requests = rate_r;
		prule->limits.requests_burst = rate_b;
	}
	| TOOLRATE rate {
		prule->limits.tool_rate = rate_r;
		prule->limits.tool_burst = rate_b;
	}
	;

sockopts : /* empty */
	| sockopts sockopt
	;

sockopt	: OWNER STRING {
		uint32_t	id;

		if (set_name(pconf->socket_owner, &$2, MATCH_USER, &id) == -1)
			YYERROR;
		pconf->socket_uid = id;
	}
	| GROUP STRING {
		uint32_t	id;

		if (set_name(pconf->socket_group, &$2, MATCH_GROUP, &id) == -1)
			YYERROR;
		pconf->socket_gid = id;
	}
	| MODE count {
		/* Written in octal, read by the lexer as decimal digits. */
		char	buf[32], *end;
		long	mode;

		snprintf(buf, sizeof(buf), "%.0f", $2);
		mode = strtol(buf, &end, 8);
		if (*end != '\0' || mode > 0777) {
			yyerror("mode %s is not an octal mode", buf);
			YYERROR;
		}
		pconf->socket_mode = mode;
	}
	;

%%

static const struct keyword {
	const char	*name;
	int		 token;
} keywords[] = {
	/* sorted for bsearch */
	{ "all",		ALL },
	{ "allow",		ALLOW },
	{ "always",		ALWAYS },
	{ "audit",		AUDIT },
	{ "audit-code",		AUDITCODE },
	{ "audit-rotate",	AUDITROTATE },
	{ "audit-sync",		AUDITSYNC },
	{ "auto",		AUTO },
	{ "batch",		BATCH },
	{ "burst",		BURST },
	{ "capacity",		CAPACITY },
	{ "chroot",		CHROOT },
	{ "client-grace",	CLIENTGRACE },
	{ "client-memory",	CLIENTMEMORY },
	{ "code-size",		CODESIZE },
	{ "connections",	CONNECTIONS },
	{ "control",		CONTROL },
	{ "count",		COUNT },
	{ "cpu",		CPU },
	{ "deny",		DENY },
	{ "executions",		EXECUTIONS },
	{ "fallback",		FALLBACK },
	{ "file-size",		FILESIZE },
	{ "files",		FILES },
	{ "fsize",		FSIZE },
	{ "group",		GROUP },
	{ "hello-timeout",	HELLOTIMEOUT },
	{ "hibernate-after",	HIBERNATEAFTER },
	{ "hibernate-on-stop",	HIBERNATEONSTOP },
	{ "idle-ttl",		IDLETTL },
	{ "library",		LIBRARY },
	{ "lifetime",		LIFETIME },
	{ "max",		MAX },
	{ "memory",		MEMORY },
	{ "messages",		MESSAGES },
	{ "mode",		MODE },
	{ "never",		NEVER },
	{ "nofile",		NOFILE },
	{ "none",		NONE },
	{ "nproc",		NPROC },
	{ "output-bytes",	OUTPUTBYTES },
	{ "output-lines",	OUTPUTLINES },
	{ "owner",		OWNER },
	{ "plot-size",		PLOTSIZE },
	{ "plots",		PLOTS },
	{ "pool-size",		POOLSIZE },
	{ "preload",		PRELOAD },
	{ "ready",		READY },
	{ "requests",		REQUESTS },
	{ "result-memory",	RESULTMEMORY },
	{ "result-size",	RESULTSIZE },
	{ "retention",		RETENTION },
	{ "sandbox",		SANDBOX },
	{ "sessions",		SESSIONS },
	{ "snapshot-quota",	SNAPSHOTQUOTA },
	{ "snapshot-size",	SNAPSHOTSIZE },
	{ "socket",		SOCKET },
	{ "stack",		STACK },
	{ "state-dir",		STATEDIR },
	{ "strict",		STRICT },
	{ "timeout",		TIMEOUT },
	{ "tmpfs",		TMPFS },
	{ "token",		TOKEN },
	{ "tool-calls",		TOOLCALLS },
	{ "tool-rate",		TOOLRATE },
	{ "uids",		UIDS },
	{ "user",		USER },
	{ "user-client-memory",	USERCLIENTMEMORY },
	{ "user-connections",	USERCONNECTIONS },
	{ "worker",		WORKER },
	{ "workers",		WORKERS },
};

static int
yyerror(const char *fmt, ...)
{
	va_list	ap;
	char	msg[512];

	errors++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s:%d: %s", pname, lineno, msg);
	return (0);
}

static int
keyword_cmp(const void *k, const void *e)
{
	return (strcmp(k, ((const struct keyword *)e)->name));
}

/* Takes the string: it is freed and the grammar's copy cleared. */
static int
set_string(char *dst, size_t size, char **sp, const char *what)
{
	char	*s = *sp;
	int	rv = 0;

	if (strlcpy(dst, s, size) >= size) {
		yyerror("%s: \"%s\" is too long", what, s);
		rv = -1;
	} else if (strcmp(what, "user") != 0 && s[0] != '/') {
		yyerror("%s: \"%s\" is not an absolute path", what, s);
		rv = -1;
	}
	free(s);
	*sp = NULL;
	return (rv);
}

/*
 * An R package's name (Writing R Extensions 1.1.1): letters, digits and
 * dots, from a letter, not ending in a dot, at least two characters.
 * It reaches the template as an argument and R as a string, never code.
 */
static int
package_name_ok(const char *s)
{
	size_t	len = strlen(s), i;

	if (len < 2 || len >= PACKAGE_NAME_MAX || s[len - 1] == '.' ||
	    !ascii_letter(s[0]))
		return (0);
	for (i = 0; i < len; i++)
		if (!ascii_letter(s[i]) && !(s[i] >= '0' && s[i] <= '9') &&
		    s[i] != '.')
			return (0);
	return (1);
}

static int
ascii_letter(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

/* A count of connections, or none (0: derived from the fd limit). */
static int
conn_count_set(uint32_t *out, double v)
{
	if (v == -1) {
		*out = 0;
		return (0);
	}
	if (v < 1 || v > 1000000 || v != floor(v)) {
		yyerror("%g is not a number of connections", v);
		return (-1);
	}
	*out = v;
	return (0);
}

static int
to_u64(double v, uint64_t *out)
{
	if (v == -1) {
		*out = LIMIT_NONE;
		return (0);
	}
	if (v < 1 || v != floor(v) || v >= 1.8e19) {
		yyerror("%g is not a positive whole number", v);
		return (-1);
	}
	*out = v;
	return (0);
}

static uint64_t *
limit_field(struct worker_limits *l, int token)
{
	switch (token) {
	case CPU:
		return (&l->cpu);
	case MEMORY:
		return (&l->memory);
	case FSIZE:
		return (&l->fsize);
	case NPROC:
		return (&l->nproc);
	case NOFILE:
		return (&l->nofile);
	case STACK:
		return (&l->stack);
	}
	return (&l->tmp_size);
}

static int
rule_new(int action)
{
	if (pconf->nrules >= POLICY_RULES_MAX) {
		yyerror("too many allow and deny rules (at most %d)",
		    POLICY_RULES_MAX);
		return (-1);
	}
	prule = &pconf->rules[pconf->nrules++];
	memset(prule, 0, sizeof(*prule));
	prule->action = action;
	return (0);
}

/* A user or group by name or number; the broker can still read them. */
static int
lookup_id(const char *name, int what, uint32_t *id)
{
	struct passwd	*pw;
	struct group	*gr;
	const char	*errstr;

	*id = strtonum(name, 0, UINT32_MAX - 1, &errstr);
	if (errstr == NULL)
		return (0);
	if (what == MATCH_USER && (pw = getpwnam(name)) != NULL) {
		*id = pw->pw_uid;
		return (0);
	}
	if (what == MATCH_GROUP && (gr = getgrnam(name)) != NULL) {
		*id = gr->gr_gid;
		return (0);
	}
	yyerror("unknown %s \"%s\"", what == MATCH_USER ? "user" : "group",
	    name);
	return (-1);
}

static int
set_name(char *dst, char **sp, int what, uint32_t *id)
{
	char	*s = *sp;
	int	rv = -1;

	if (strlen(s) >= POLICY_NAME_MAX)
		yyerror("name \"%s\" is too long", s);
	else if (lookup_id(s, what, id) == 0) {
		strlcpy(dst, s, POLICY_NAME_MAX);
		rv = 0;
	}
	free(s);
	*sp = NULL;
	return (rv);
}

static int
lex_string(void)
{
	char	buf[1024];
	size_t	n = 0;
	int	c;

	while ((c = getc(pfile)) != '"') {
		if (c == '\\')
			c = getc(pfile);
		if (c == EOF || c == '\n') {
			yyerror("unterminated string");
			return (ERROR);
		}
		if (n >= sizeof(buf) - 1) {
			yyerror("string too long");
			return (ERROR);
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	if ((yylval.v.string = strdup(buf)) == NULL)
		fatal("%s", __func__);
	return (STRING);
}

/* A number with an optional K, M or G suffix (powers of 1024). */
static int
lex_number(const char *word)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(word, &end);
	if (errno != 0 || end == word)
		goto bad;
	switch (*end) {
	case 'K': case 'k':
		v *= 1024;
		end++;
		break;
	case 'M': case 'm':
		v *= 1024 * 1024;
		end++;
		break;
	case 'G': case 'g':
		v *= 1024.0 * 1024 * 1024;
		end++;
		break;
	}
	if (*end != '\0' || !isfinite(v))
		goto bad;
	yylval.v.number = v;
	return (NUMBER);
 bad:
	yyerror("\"%s\" is not a number", word);
	return (ERROR);
}

static int
yylex(void)
{
	const struct keyword	*kw;
	char			 word[128];
	size_t			 n = 0;
	int			 c;

	/* Count a line only once its newline is parsed: errors name it. */
	if (newline_seen) {
		lineno++;
		newline_seen = 0;
	}
	while ((c = getc(pfile)) == ' ' || c == '\t')
		;
	if (c == '#')
		while ((c = getc(pfile)) != '\n' && c != EOF)
			;
	if (c == EOF) {
		/* A last line without its newline still counts. */
		if (eof_seen++)
			return (0);
		return ('\n');
	}
	if (c == '\n') {
		newline_seen = 1;
		return ('\n');
	}
	if (c == '"')
		return (lex_string());
	while (c != EOF && !isspace(c) && c != '#' && c != '"') {
		if (n >= sizeof(word) - 1) {
			yyerror("word too long");
			return (ERROR);
		}
		word[n++] = c;
		c = getc(pfile);
	}
	ungetc(c, pfile);
	word[n] = '\0';
	if (n == 0) {
		yyerror("unexpected character '%c'", c);
		getc(pfile);
		return (ERROR);
	}
	if (isdigit((unsigned char)word[0]) || word[0] == '.')
		return (lex_number(word));
	kw = bsearch(word, keywords, sizeof(keywords) / sizeof(keywords[0]),
	    sizeof(keywords[0]), keyword_cmp);
	if (kw == NULL) {
		yyerror("unknown keyword \"%s\"", word);
		return (ERROR);
	}
	return (kw->token);
}

int
parse_config(const char *file, struct securerd_conf *c)
{
	struct securerd_conf	copy = *c;
	struct stat		st;

	if ((pfile = fopen(file, "r")) == NULL) {
		log_warn("%s", file);
		return (-1);
	}
	/* A directory reads as an empty file: the defaults, unasked. */
	if (fstat(fileno(pfile), &st) == -1 || !S_ISREG(st.st_mode)) {
		log_warnx("%s: not a regular file", file);
		fclose(pfile);
		return (-1);
	}
	pconf = &copy;
	pname = file;
	lineno = 1;
	errors = newline_seen = eof_seen = 0;
	yyparse();
	fclose(pfile);
	if (errors > 0)
		return (-1);
	*c = copy;
	return (0);
}
