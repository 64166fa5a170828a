/*
 * securer-worker: the R process of a session.
 *
 * The broker execs it once as a template, which sets up a private /tmp,
 * starts R and then forks one worker per session on request (worker.c,
 * sandbox.c).  A worker evaluates the code of its session's executions
 * (eval.c) in the R embedded by rembed.c, sends values as JSON
 * (rvalue/, the codec it shares with the R package), and calls the
 * session's tools through the monitor (tools.c).
 */

#ifndef WORKER_H
#define WORKER_H

#include <stddef.h>
#include <stdint.h>

#define R_NO_REMAP
#include <Rinternals.h>

#include "chan.h"
#include "imsg.h"
#include "msg.h"
#include "rvalue.h"
#include "securerd.h"

#define W_CHAN_FD	3			/* broker or monitor channel */
#define WORKER_NAME	"securer-worker"	/* its comm, serving a session */
#define WORKER_NAME_READY "securer-ready"	/* waiting for one */
#define W_CHUNK_MAX	32768			/* output sent at this size */
#define W_VALUE_MAX	(4U * 1024 * 1024)	/* a tool call's arguments */
#define W_PRINTED_MAX	(1024U * 1024)		/* a printed form */
#define W_TEXT_MAX	(1024U * 1024)		/* a message or error */
#define W_CALL_MAX	4096			/* a deparsed call */

#define W_EXIT_SETUP	71	/* EX_OSERR: a worker could not be set up */

/* The full sandbox: the worker's namespaces and its ids inside them. */
#define W_NS_FLAGS	(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | \
			    CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | \
			    CLONE_NEWCGROUP)
#define W_NS_ID		1000
/* What unmapped ids show as in it: the kernel's default overflowuid. */
#define W_OVERFLOW_ID	65534

/* worker.c: the handlers of WORKER_CHANNEL and BROKER_TEMPLATE_CHANNEL */
void		 template_recv_spawn(struct chan *, struct imsg *);
void		 worker_recv_setup(struct chan *, struct imsg *);
void		 worker_recv_exec(struct chan *, struct imsg *);
void		 worker_recv_file_put(struct chan *, struct imsg *);
void		 worker_recv_file_get(struct chan *, struct imsg *);
void		 worker_recv_snapshot(struct chan *, struct imsg *);
void		 worker_recv_restore(struct chan *, struct imsg *);
struct chan	*worker_chan(void);
void		 worker_sent(int);
char		*w_text(const char *, size_t, size_t, size_t *);
__attribute__((__noreturn__)) void	worker_exit(int);

/* sandbox.c */
void		 sandbox_template(void);
void		 sandbox_single(void);
pid_t		 sandbox_spawn(const struct tpl_spawn *);
const char	*sandbox_worker(int, const struct tpl_spawn *, pid_t,
		    const char *);
void		 sandbox_warm(void);
int		 sandbox_library(const char *);
void		 sandbox_cleanup(void);

/* hostview.c */
void		 hostview_prepare(void);
int		 hostview_names(void);
int		 hostview_proc(const char *, uint64_t);
int		 hostview_clocks(void);
int		 hostview_cgroup(void);
int		 hostview_trap(void);

/* seccomp.c */
void		 seccomp_prepare(void);
int		 seccomp_worker(void);

/* snapshot.c: the session's state, written out and read back */
void		 snapshot_write(int, uint64_t);
void		 snapshot_restore(int, uint64_t);

/* preload.c */
int		 preload_add(const char *);
void		 preload_load(void);

/* plots.c */
int		 proc_threads(void);

/* rembed.c */
void		 rembed_init(void);
void		 rembed_worker(const char *, uint64_t);
const char	*rembed_tempdir(void);
SEXP		 rembed_env(void);
SEXP		 rembed_fn(const char *);
SEXP		 rembed_printed_plain(SEXP);
int		 rembed_is_plain(SEXP);
SEXP		 rembed_apply(const char *, SEXP);
void		 out_begin(uint32_t);
void		 out_end(void);
void		 out_write(int, const char *, size_t);
void		 out_send(int, const char *, size_t);
void		 out_flush(void);
SEXP		 capture_call(SEXP, SEXP);

/* eval.c */
void		 eval_exec(uint32_t, const struct msg_exec *);
void		 eval_warm(void);
SEXP		 eval_result_call(SEXP, SEXP);
SEXP		 eval_error_call(SEXP, SEXP, SEXP);
SEXP		 eval_stream_call(SEXP, SEXP);

/* plots.c */
void		 plots_init(void);
void		 plots_warm(void);
void		 plots_collect(uint32_t);
SEXP		 plots_opened_call(SEXP);
uint64_t	 plots_memory(uint64_t);

/* files.c */
#define FILES_PARTIAL	".securer-upload"	/* in HOME: a put under way */
void		 files_init(void);
void		 files_put(uint32_t, const struct msg_file_req *);
void		 files_get(uint32_t, const struct msg_file_req *);
void		 files_discard(void);
const char	*files_home(void);
int		 files_home_open(void);

/* tools.c */
void		 worker_recv_tool_result(struct chan *, struct imsg *);
void		 tools_setup(const char *, size_t);
SEXP		 tools_call(SEXP, SEXP);

#endif /* WORKER_H */
