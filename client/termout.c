/*
 * What the securer command writes that came from the sandbox.  Code in
 * the sandbox chooses every byte of its output, its printed value and
 * its error messages; written as they are to a terminal, escape
 * sequences among them would act on the user's terminal: set the
 * clipboard (OSC 52), retitle the window, clear the screen, move the
 * cursor over what was printed before.  So control characters are shown
 * instead of sent: C0 controls but newline and tab, DEL, the C1 controls
 * U+0080 to U+009F and any byte that is not part of valid UTF-8.
 * Printable UTF-8 goes through.
 *
 * The R code's own output goes as it is when it does not go to a
 * terminal (a file, a pipe), where its bytes may matter; what securer
 * itself says (errors, notes) is escaped wherever it goes, as logs of it
 * end up on terminals.  --raw turns it all off.  See securer(1).
 */

#include <sys/types.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "utf8.h"

static int	raw;

static size_t	 seq_len(const unsigned char *, size_t);
static void	 put_escaped(FILE *, const char *, size_t);

void
term_init(int wantraw)
{
	raw = wantraw;
}

/*
 * The length of the valid UTF-8 sequence at p, 1 for ASCII, 0 if the
 * byte there starts none.
 */
static size_t
seq_len(const unsigned char *p, size_t left)
{
	size_t	n;

	if (p[0] < 0x80)
		return (1);
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return (0);
	if (n > left || !utf8_valid((const char *)p, n))
		return (0);
	return (n);
}

/*
 * The escaped form of len bytes at s, NUL-terminated, its length in
 * *outlen: \xHH for a control byte or a byte of no valid sequence,
 * \u00HH for a C1 control (two bytes in UTF-8, one character).
 */
char *
term_escape(const char *s, size_t len, size_t *outlen)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			*out;
	size_t			 i = 0, o = 0, n;

	/* At worst each byte becomes four: \xHH. */
	if (len > (SIZE_MAX - 1) / 4 || (out = malloc(len * 4 + 1)) == NULL)
		return (NULL);
	while (i < len) {
		n = seq_len(p + i, len - i);
		if (n == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0) {
			o += snprintf(out + o, 7, "\\u%04x", p[i + 1]);
		} else if (n == 0 || (n == 1 && ((p[i] < 0x20 &&
		    p[i] != '\n' && p[i] != '\t') || p[i] == 0x7f))) {
			o += snprintf(out + o, 5, "\\x%02x", p[i]);
			n = 1;
		} else {
			memcpy(out + o, p + i, n);
			o += n;
		}
		i += n;
	}
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return (out);
}

static void
put_escaped(FILE *fp, const char *s, size_t len)
{
	char	*e;
	size_t	 n;

	if ((e = term_escape(s, len, &n)) == NULL) {
		fputs("securer: out of memory\n", stderr);
		exit(1);
	}
	fwrite(e, 1, n, fp);
	free(e);
}

/* The R code's output: escaped on a terminal. */
void
term_output(FILE *fp, const char *s, size_t len)
{
	if (raw || !isatty(fileno(fp)))
		fwrite(s, 1, len, fp);
	else
		put_escaped(fp, s, len);
}

/* Words of securer's own, with the sandbox's text in them: escaped. */
void
term_note(FILE *fp, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n == -1) {
		fputs("securer: out of memory\n", stderr);
		exit(1);
	}
	if (raw)
		fwrite(s, 1, n, fp);
	else
		put_escaped(fp, s, n);
	free(s);
}

/*
 * --json: the printer escapes C0 controls already; DEL and C1 controls
 * (only ever inside strings) become \u escapes too, the same JSON.
 */
void
term_json(FILE *fp, const char *text)
{
	const unsigned char	*p = (const unsigned char *)text;
	size_t			 i, run = 0;

	for (i = 0; !raw && p[i] != '\0'; i++) {
		if (p[i] == 0x7f) {
			fwrite(text + run, 1, i - run, fp);
			fputs("\\u007f", fp);
			run = i + 1;
		} else if (p[i] == 0xc2 && p[i + 1] >= 0x80 &&
		    p[i + 1] < 0xa0) {
			fwrite(text + run, 1, i - run, fp);
			fprintf(fp, "\\u%04x", p[i + 1]);
			run = i + 2;
			i++;
		}
	}
	fputs(text + run, fp);
	fputc('\n', fp);
}
