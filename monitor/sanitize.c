/*
 * Error sanitization: what a tool's error says about the host (paths,
 * process ids, addresses, stack traces) is removed before sandboxed code
 * or a client sees it.  The rules follow securer's sanitize_error_message
 * and close its gaps (paths anywhere, ~ paths, URLs, single-digit pids).
 */

#include <sys/types.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "monitor.h"

#define SANITIZE_MAX	500

static const struct rule {
	const char	*pattern;
	int		 icase;
	int		 keep;		/* leading group kept verbatim */
	const char	*repl;
	int		 tail;		/* this group is put back after */
} rules[] = {
	/* URLs first: their paths, hosts and credentials go with them. */
	{ "[A-Za-z][A-Za-z0-9+.-]*://[^] \t\n'\"<>)}]+", 0, 0, "[url]", 0 },
	/* user:password@host without a scheme */
	{ "[A-Za-z0-9._%+-]+:[^@ \t\n'\"/]+@[A-Za-z0-9.-]+", 0, 0,
	    "[credentials]", 0 },
	{ "(^|[^A-Za-z0-9_.~/])/[A-Za-z0-9_.+@-][^ \t\n'\",:;)}]*", 0, 1,
	    "[path]", 0 },
	{ "(^|[^A-Za-z0-9_])~[A-Za-z0-9_.-]*(/[^ \t\n'\",:;)}]*)?", 0, 1,
	    "[path]", 0 },
	{ "[A-Z]:\\\\[^ \t\n'\",:)}]+", 0, 0, "[path]", 0 },
	{ "(process[[:space:]]*)'[0-9]+'", 1, 1, "'[pid]'", 0 },
	{ "(process[[:space:]]+)[0-9]+", 1, 1, "[pid]", 0 },
	{ "(pid[[:space:]]*[:=]?[[:space:]]*)[0-9]+", 1, 1, "[pid]", 0 },
	{ "[0-9]{1,3}(\\.[0-9]{1,3}){3}(:[0-9]+)?", 0, 0, "[host]", 0 },
	/* IPv6: four to nine hex groups, empty ones for "::" */
	{ "[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}:[0-9A-Fa-f]{1,4}", 0, 0,
	    "[host]", 0 },
	/*
	 * Host names anywhere, by their last label: a list, since R's
	 * own dotted names (model.frame.default) look the same.
	 */
	{ "(^|[^A-Za-z0-9_.-])[A-Za-z0-9][-A-Za-z0-9]*(\\.[-A-Za-z0-9]+)*\\."
	    "(com|net|org|io|edu|gov|mil|cloud|internal|lan|corp|intranet|"
	    "localdomain|example|invalid)(:[0-9]+)?"
	    "([^A-Za-z0-9_.-]|$)", 1, 1, "[host]", 5 },
	{ "(^|[^A-Za-z0-9_.-])localhost(:[0-9]+)?", 1, 1, "[host]", 0 },
	{ "((connect|resolve|host|server|connection)[[:space:]]+(to[[:space:]]+)?"
	    "['\"]?)[A-Za-z0-9][-A-Za-z0-9.]*\\.[A-Za-z]{2,}(:[0-9]+)?", 1, 1,
	    "[host]", 0 },
};

static regex_t	compiled[sizeof(rules) / sizeof(rules[0])];
static regex_t	trace_re;
static int	ready;

static void
sanitize_init(void)
{
	size_t	i;
	int	flags;

	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		flags = REG_EXTENDED | (rules[i].icase ? REG_ICASE : 0);
		if (regcomp(&compiled[i], rules[i].pattern, flags) != 0)
			fatalx("sanitize rule %zu does not compile", i);
	}
	if (regcomp(&trace_re, "(Traceback|Call stack|Stack trace):?"
	    "[[:space:]]*\n", REG_EXTENDED) != 0)
		fatalx("sanitize trace rule does not compile");
	ready = 1;
}

/* Replaces every match of rule r in s, which it frees. */
static char *
apply_rule(char *s, size_t r)
{
	regmatch_t	 m[8];
	FILE		*f;
	char		*out, *p = s;
	size_t		 size, keep;
	int		 t = rules[r].tail;

	if ((f = open_memstream(&out, &size)) == NULL)
		fatal("%s", __func__);
	while (regexec(&compiled[r], p, 8, m, p == s ? 0 : REG_NOTBOL) == 0 &&
	    m[0].rm_eo > m[0].rm_so) {
		keep = rules[r].keep && m[1].rm_so != -1 ?
		    (size_t)(m[1].rm_eo - m[1].rm_so) : 0;
		fwrite(p, 1, m[0].rm_so + keep, f);
		fputs(rules[r].repl, f);
		/* The character after a name is only its end: not eaten. */
		p += t && m[t].rm_so != -1 ? m[t].rm_so : m[0].rm_eo;
	}
	fputs(p, f);
	if (fclose(f) != 0)
		fatal("%s", __func__);
	free(s);
	return (out);
}

char *
sanitize_error(const char *msg, size_t len)
{
	regmatch_t	 m;
	char		*s;
	size_t		 i, n;

	if (!ready)
		sanitize_init();
	if ((s = utf8_sanitize(msg, len, &n)) == NULL)
		return (NULL);
	if (regexec(&trace_re, s, 1, &m, 0) == 0)
		s[m.rm_so] = '\0';
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		s = apply_rule(s, i);
	if (strlen(s) > SANITIZE_MAX) {
		/* Cut on a character boundary, then mark the cut. */
		n = SANITIZE_MAX - 3;
		while (n > 0 && (s[n] & 0xc0) == 0x80)
			n--;
		memcpy(s + n, "...", 4);
	}
	return (s);
}
