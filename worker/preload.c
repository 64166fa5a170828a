/*
 * Namespaces the operator preloads ("preload" in securerd.conf(5)): the
 * template loads them once, before it forks any worker, so every
 * session starts with them loaded and library() only attaches them.
 * Their pages are the template's, shared copy-on-write by the workers.
 *
 * Loaded before the worker's lockdown, as R itself is, from the
 * operator's libraries: the packages are the operator's choice, not the
 * sandboxed code's.  A package that leaves a thread running cannot be
 * loaded in a process that forks (the child would inherit a lock held
 * by a thread it does not have): the template refuses to start then.
 * One such thread is known and stopped: cli's, which only sets a flag
 * for progress bars every few hundred milliseconds, and which nearly
 * every tidyverse package brings (cli has the entry that stops it; in a
 * worker progress bars then update at each step, not on a timer).
 * Files a package opened are closed in every worker (sandbox_worker()).
 */

#include <sys/types.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "worker.h"

#include <Rinternals.h>
#include <R_ext/Memory.h>
#include <R_ext/Parse.h>

static const char	*packages[PRELOAD_MAX];
static size_t		 npackages;

static void	preload_one(const char *);
static void	preload_stop_threads(void);
static const char *error_text(void);

/* -P name: kept for preload_load(); the broker checked the name. */
int
preload_add(const char *name)
{
	if (npackages >= PRELOAD_MAX || strlen(name) >= PACKAGE_NAME_MAX)
		return (-1);
	packages[npackages++] = name;
	return (0);
}

/* In the template, after R and its library paths are set up. */
void
preload_load(void)
{
	uint64_t	 t0;
	size_t		 i;

	for (i = 0; i < npackages; i++) {
		t0 = now_us();
		preload_one(packages[i]);
		log_debug("preloaded %s in %llu us", packages[i],
		    (unsigned long long)(now_us() - t0));
	}
	if (npackages > 0) {
		preload_stop_threads();
		/*
		 * What they allocated goes to R's oldest generation now,
		 * in the template: a worker's minor collections then leave
		 * those pages alone, shared.
		 */
		R_gc();
		R_gc();
	}
}

/*
 * Stop cli's ticking thread if cli came in, then wait (up to a second:
 * a cancelled thread ends at its next sleep) until the template is
 * alone again.
 */
static void
preload_stop_threads(void)
{
	static const char	 stop[] =
	    "if (isNamespaceLoaded('cli') && "
	    "exists('clic_stop_thread', asNamespace('cli'))) "
	    ".Call(get('clic_stop_thread', asNamespace('cli')))";
	struct timespec		 ts = { 0, 1000000 };
	ParseStatus		 status;
	SEXP			 expr;
	int			 err, i;

	if (proc_threads() <= 1)
		return;
	expr = PROTECT(R_ParseVector(PROTECT(Rf_mkString(stop)), 1,
	    &status, R_NilValue));
	if (status != PARSE_OK)
		fatalx("preload: cannot parse the thread stop");
	R_tryEvalSilent(VECTOR_ELT(expr, 0), R_GlobalEnv, &err);
	UNPROTECT(2);
	for (i = 0; i < 1000 && proc_threads() > 1; i++)
		nanosleep(&ts, NULL);
	if (proc_threads() > 1)
		fatalx("preload: the packages left %d thread(s) running; a "
		    "package that starts threads cannot be preloaded",
		    proc_threads() - 1);
}

/* loadNamespace(name), the name a string: R never parses it as code. */
static void
preload_one(const char *name)
{
	SEXP	 call;
	int	 err;

	call = PROTECT(Rf_lang2(Rf_install("loadNamespace"),
	    PROTECT(Rf_mkString(name))));
	R_tryEvalSilent(call, R_GlobalEnv, &err);
	if (err)
		fatalx("preload %s: %s", name, error_text());
	UNPROTECT(2);
}

/*
 * R's message of the error just caught, on one line: without its
 * "Error in call :" head and its "Calls:" tail.
 */
static const char *
error_text(void)
{
	static char	 buf[256];
	const char	*msg = R_curErrorBuf(), *colon;
	char		*p;

	if (strncmp(msg, "Error in ", 9) == 0 &&
	    (colon = strstr(msg, " : ")) != NULL)
		msg = colon + 3;
	else if (strncmp(msg, "Error: ", 7) == 0)
		msg = msg + 7;
	strlcpy(buf, msg, sizeof(buf));
	if ((p = strstr(buf, "Calls:")) != NULL)
		*p = '\0';
	for (p = buf; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	while (p > buf && p[-1] == ' ')
		*--p = '\0';
	for (p = buf; *p == ' '; p++)
		;
	return (p);
}
