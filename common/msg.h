/*
 * Each message's layout, in one place: msg_send_X() composes it,
 * msg_get_X() reads it (msgbroker.c, msgworker.c).  A msg_get_X() runs
 * in a handler, after the dispatcher has checked the message against its
 * channel's table, so sizes are known good; what it still checks is
 * meaning (an enum in range, a name of the right characters), and -1
 * there is the peer's violation.  What a get returns points into the
 * message and lives as long as it.
 */

#ifndef SECURER_MSG_H
#define SECURER_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "securerd.h"

struct msg_text {
	const char	*p;
	size_t		 len;
};

/* Messages of one fixed struct, checked to be that size by the table. */
int	 msg_send_fixed(struct chan *, uint32_t, uint32_t, int,
	    const void *, size_t);
void	 msg_get_fixed(struct imsg *, void *, size_t);

/* msgbroker.c: broker <-> monitor, broker <-> template */
int	 msg_send_conf(struct chan *, const struct securerd_conf *);
int	 msg_get_conf(struct imsg *, struct securerd_conf *);
int	 msg_send_audit(struct chan *, const struct audit_event *,
	    const struct msg_text *);
int	 msg_get_audit(struct imsg *, struct audit_event *,
	    struct msg_text *);
int	 msg_get_worker_exit(struct imsg *, struct worker_exit *);
int	 msg_get_tpl_spawned(struct imsg *, struct tpl_spawned *);
int	 msg_get_snap_req(struct imsg *, struct snap_req *,
	    struct msg_text *);
int	 msg_send_snap_req(struct chan *, uint32_t, const struct snap_req *,
	    const char *, size_t, int);
int	 msg_send_snap_info(struct chan *, const struct snap_info *,
	    const void *);
int	 msg_get_snap_info(struct imsg *, struct snap_info *,
	    struct msg_text *);
int	 msg_get_snap_result(struct imsg *, struct snap_result *);

/* msgworker.c: monitor <-> worker */
struct msg_exec {
	uint32_t	 flags;
	uint64_t	 max_value;
	struct msg_text	 code;
};

struct msg_tool_result {
	int		 is_error;
	struct msg_text	 text;
};

struct msg_file_req {
	struct msg_text	 name;
	struct msg_text	 data;		/* put: the chunk */
	uint64_t	 offset;
	uint64_t	 length;	/* get */
	uint64_t	 max;
	uint32_t	 flags;		/* FILE_MORE, FILE_WHOLE */
};

struct msg_output {
	enum w_stream	 stream;
	struct msg_text	 text;
};

struct msg_tool_call {
	struct msg_text	 name;
	struct msg_text	 args;
};

struct msg_result {
	int		 visible;
	int		 omitted;	/* RESULT_OMITTED */
	uint64_t	 value_total;	/* the parts' and value's bytes */
	uint64_t	 omitted_size;
	uint64_t	 frame_total;	/* the frame's bytes, at its end */
	struct msg_text	 value;		/* the last part of it */
	struct msg_text	 printed;
};

struct msg_error {
	enum w_error_kind kind;
	int		 line;
	int		 column;
	struct msg_text	 msg;
	struct msg_text	 call;
	struct msg_text	 classes;	/* comma separated */
};

struct msg_plot {
	uint32_t	 index;
	int		 omitted;
	uint64_t	 size;
	struct msg_text	 data;
};

struct msg_file {
	enum w_file_status status;
	int		 error;
	uint64_t	 size;
	uint64_t	 offset;
	struct msg_text	 data;
};

int	 msg_send_setup(struct chan *, const char *, size_t);
void	 msg_get_setup(struct imsg *, struct msg_text *);
int	 msg_send_exec(struct chan *, uint32_t, uint32_t, uint64_t,
	    const char *, size_t);
void	 msg_get_exec(struct imsg *, struct msg_exec *);
size_t	 msg_tool_result_room(const struct chan *);
int	 msg_send_tool_result(struct chan *, uint32_t, int, const char *,
	    size_t);
void	 msg_get_tool_result(struct imsg *, struct msg_tool_result *);
int	 msg_send_file_put(struct chan *, uint32_t, const char *,
	    const struct msg_file_req *);
int	 msg_send_file_get(struct chan *, uint32_t, const char *,
	    const struct msg_file_req *);
int	 msg_get_file_req(struct imsg *, struct msg_file_req *);
int	 msg_send_output(struct chan *, uint32_t, enum w_stream,
	    const char *, size_t);
int	 msg_get_output(struct imsg *, struct msg_output *);
int	 msg_send_tool_call(struct chan *, uint32_t, const char *, size_t,
	    const char *, size_t);
void	 msg_get_tool_call(struct imsg *, struct msg_tool_call *);
int	 msg_send_result_part(struct chan *, uint32_t, const char *, size_t);
void	 msg_get_result_part(struct imsg *, struct msg_text *);
int	 msg_send_frame_part(struct chan *, uint32_t, const char *, size_t);
struct ibuf *msg_take_frame_part(struct imsg *);
int	 msg_send_result(struct chan *, uint32_t, const struct msg_result *);
int	 msg_get_result(struct imsg *, struct msg_result *);
int	 msg_send_error(struct chan *, uint32_t, enum w_error_kind, int, int,
	    const char *, size_t, const char *, size_t, const char *, size_t);
int	 msg_get_error(struct imsg *, struct msg_error *);
int	 msg_send_advisory(struct chan *, uint32_t, const char *, size_t);
int	 msg_get_advisory(struct imsg *, struct msg_text *);
int	 msg_send_plot(struct chan *, uint32_t, uint32_t, int, uint64_t,
	    const void *, size_t);
int	 msg_get_plot(struct imsg *, struct msg_plot *);
int	 msg_send_file(struct chan *, uint32_t, const struct msg_file *);
int	 msg_get_file(struct imsg *, struct msg_file *);

struct msg_snap_done {
	enum w_snap_status status;
	uint64_t	 bytes;
	struct msg_text	 note;
};

int	 msg_send_snapshot(struct chan *, uint64_t, int);
int	 msg_send_restore(struct chan *, uint64_t, int);
int	 msg_send_snap_done(struct chan *, uint32_t, enum w_snap_status,
	    uint64_t, const char *, size_t);
int	 msg_get_snap_done(struct imsg *, struct msg_snap_done *);

#endif /* SECURER_MSG_H */
