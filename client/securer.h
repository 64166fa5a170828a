/*
 * libsecurer: C client of securerd.  See libsecurer(3).
 *
 * One struct securer is one connection to the daemon.  Calls are
 * synchronous: each sends a request and reads until its final reply,
 * calling the output and tool callbacks for the events in between.
 * A connection is not safe to use from several threads at once.
 */

#ifndef SECURER_H
#define SECURER_H

#include <stddef.h>
#include <stdint.h>

#define SECURER_SOCKET_ENV	"SECURER_SOCKET"
#define SECURER_SYSTEM_SOCKET	"/run/securerd.sock"
/* The longest line read from the daemon: a reply with a value at
 * securerd.conf(5)'s largest result-size, its plots and printed form. */
#define SECURER_REPLY_MAX	(1536U * 1024 * 1024)

enum securer_error {
	SECURER_OK = 0,
	SECURER_ECONNECT,	/* no daemon could be reached or started */
	SECURER_EIO,		/* the connection failed or was closed */
	SECURER_EPROTO,		/* the daemon's reply made no sense */
	SECURER_ENOMEM,
	SECURER_EINVAL,		/* a bad argument to the library */
	SECURER_EREMOTE,	/* the daemon refused or the code failed */
	SECURER_ETOOL,		/* a tool callback failed */
	SECURER_ETRUNCATED,	/* closed in the middle of a line */
	SECURER_ESLOWCLIENT,	/* dropped: it did not read in time */
	SECURER_EOVERBUDGET,	/* dropped: it held too much memory */
};

struct securer;
struct securer_session;

/* Called with each piece of output; stream is stdout, stderr, message
 * or warning.  text is NUL-terminated, len excludes the NUL. */
typedef void	(*securer_output_cb)(void *, const char *stream,
		    const char *text, size_t len);

/*
 * Called for each tool call.  args is a JSON object mapping argument
 * names to encoded values (securer-protocol(7)).  Return 0 and set
 * *value to a malloc'd encoded value, or return -1 and set *error to a
 * malloc'd message.
 */
typedef int	(*securer_tool_cb)(void *, const char *tool,
		    const char *args, char **value, char **error);

struct securer_session_opts {
	const char	*tools;		/* JSON array of tool specs, or NULL */
	const char	*limits;	/* JSON object, or NULL */
	double		 timeout;	/* seconds; 0 none, <0 daemon default */
	long		 max_executions; /* 0 none */
	int		 sandbox_strict;
	const char	*name;		/* kept when the connection goes */
};

struct securer_exec_opts {
	double		 timeout;	/* seconds; 0 none, <0 the session's */
	long		 max_tool_calls;	/* 0 none */
	long		 max_output_lines;	/* 0 none */
	long		 max_output_bytes;	/* 0 none */
	int		 echo;		/* print visible values at top level */
	int		 value_tree;	/* the value as a parsed tree, not text */
	int		 no_plain_printed; /* the caller prints plain vectors */
	securer_output_cb output;
	securer_tool_cb	 tool;
	void		*arg;		/* passed to both callbacks */
};

/* A page the execution drew: a PNG file's name and bytes. */
struct securer_plot {
	char		*name;		/* plot-001.png, ... */
	unsigned char	*data;
	size_t		 len;
};

struct securer_result {
	char		*value;		/* encoded value (JSON text), or NULL */
	void		*value_tree;	/* opts.value_tree: its cJSON tree */
	char		*printed;	/* print() of the value, "" if none */
	int		 visible;
	int		 truncated;
	double		 elapsed;	/* seconds, as the daemon measured */
	struct securer_plot *plots;	/* nplots pages, in order */
	size_t		 nplots;
	size_t		 plots_omitted;	/* pages over the daemon's caps */
	char		*warnings;	/* the reply's "warnings" (JSON) or NULL */
	void		*frame;		/* securer_set_frames(): the bytes */
	size_t		 frame_len;	/* the value's "bin_at" point into */
	int		 resumed;	/* it woke a hibernated session */
	double		 resume_ms;	/* how long the restore took */
	uint64_t	 resume_bytes;	/* the snapshot's size */
	char		*resume_warning; /* what was not restored, or NULL */
};

struct securer	*securer_open(void);
void		 securer_set_binary(struct securer *, int);
void		 securer_set_frames(struct securer *, int);
void		 securer_set_reply_max(struct securer *, size_t);
int		 securer_connect(struct securer *, const char *);
int		 securer_connect_fd(struct securer *, int);
void		 securer_close(struct securer *);
int		 securer_fd(struct securer *);
int		 securer_buffered(const struct securer *);

enum securer_error securer_errcode(const struct securer *);
const char	*securer_errname(const struct securer *);
const char	*securer_errmsg(const struct securer *);
const char	*securer_errjson(const struct securer *);

int		 securer_session_create(struct securer *,
		    const struct securer_session_opts *,
		    struct securer_session **);
const char	*securer_session_id(const struct securer_session *);
const char	*securer_session_sandbox(const struct securer_session *);
int		 securer_execute(struct securer_session *, const char *,
		    const struct securer_exec_opts *, struct securer_result *);
int		 securer_execute_start(struct securer_session *, const char *,
		    const struct securer_exec_opts *);
int		 securer_execute_poll(struct securer_session *, int,
		    struct securer_result *);
void		 securer_result_free(struct securer_result *);
int		 securer_session_restart(struct securer_session *);
int		 securer_session_hibernate(struct securer_session *,
		    uint64_t *);
int		 securer_session_fork(struct securer_session *,
		    struct securer_session **, uint64_t *);
int		 securer_session_attach(struct securer *, const char *,
		    struct securer_session **);
int		 securer_session_attach_id(struct securer *, const char *,
		    struct securer_session **);
const char	*securer_session_state(const struct securer_session *);
int		 securer_session_resumed(const struct securer_session *,
		    double *, uint64_t *, const char **);
int		 securer_file_put(struct securer_session *, const char *,
		    const void *, size_t);
int		 securer_file_get(struct securer_session *, const char *,
		    unsigned char **, size_t *);
int		 securer_file_put_chunk(struct securer_session *, const char *,
		    const void *, size_t, uint64_t, int, uint64_t *);
int		 securer_file_get_range(struct securer_session *, const char *,
		    uint64_t, size_t, unsigned char **, size_t *, uint64_t *);
int		 securer_plots_parse(const char *, struct securer_plot **,
		    size_t *);
void		 securer_plots_free(struct securer_plot *, size_t);
int		 securer_session_close(struct securer_session *);
int		 securer_status(struct securer *, char **);

/* Where the library looks for and starts a daemon. */
int		 securer_private_socket(char *, size_t);
int		 securer_start_daemon(const char *, char *, size_t);

#endif /* SECURER_H */
