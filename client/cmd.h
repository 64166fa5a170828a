/*
 * The securer command: what securer.c and cmdtools.c share.
 */

#ifndef SECURER_CMD_H
#define SECURER_CMD_H

#include <stddef.h>
#include <stdio.h>

/* The most read of the code, the tools file or a tool's output. */
#define CMD_INPUT_MAX	(8U * 1024 * 1024)

struct cJSON;

/* A tool of the tools file: the command that runs it, no shell. */
struct cmdtool {
	char	 *name;
	char	**argv;
};

struct cmdtools {
	struct cmdtool	*v;
	size_t		 n;
	char		*specs;		/* JSON array for session.create */
	double		 deadline;	/* CLOCK_MONOTONIC seconds, 0 none */
};

/* cmdtools.c */
struct cJSON	*cj_must(struct cJSON *);
void		 cj_add(struct cJSON *, const char *, struct cJSON *);
char		*read_all(FILE *, const char *, size_t *);
struct cmdtools	*tools_load(const char *);
void		 cmdtools_free(struct cmdtools *);
void		 tools_deadline(struct cmdtools *, double);
int		 cmdtools_call(struct cmdtools *, const char *, const char *,
		    char **, char **);
struct cJSON	*value_to_plain(const struct cJSON *);
int		 value_unbin(struct cJSON *);
struct cJSON	*plain_to_value(const struct cJSON *);

/* mcp.c */
int		 mcp_main(int, char **);

/* termout.c */
void		 term_init(int);
char		*term_escape(const char *, size_t, size_t *);
void		 term_output(FILE *, const char *, size_t);
void		 term_note(FILE *, const char *, ...)
		    __attribute__((__format__(printf, 2, 3)));
void		 term_json(FILE *, const char *);

/* cmdfiles.c */
struct securer_plot;
struct securer_session;
int		 plots_write(const char *, const struct securer_plot *, size_t,
		    size_t);
int		 plots_write_error(const char *, const char *);
int		 file_put_path(struct securer_session *, const char *);
int		 file_get_name(struct securer_session *, const char *,
		    const char *);

#endif /* SECURER_CMD_H */
