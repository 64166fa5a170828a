/*
 * Channels between securerd's processes (chan.c): an imsg stream, the
 * table of what may cross it (channels.h) and the one dispatcher that
 * every process uses, driven by libevent (broker, monitor) or blocking
 * (template, worker).
 *
 * Nothing reaches a handler that its channel's table does not allow: the
 * sender is the peer, the message may come in the receiver's present
 * state, it has exactly the size its rule says and an fd only if the
 * rule lets it.  The header is checked before any memory is taken for
 * the body.  Anything else is a violation: the channel stops and its
 * owner is told (chan->lost), once.  Nothing here frees a channel: its
 * owner does, when it is done with it.
 */

#ifndef SECURER_CHAN_H
#define SECURER_CHAN_H

#include <sys/queue.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <event.h>
#include <stddef.h>
#include <stdint.h>

#include "imsg.h"
#include "proc.h"

/* Size rules: how a message's length must add up. */
#define RULE_EXACT	0	/* its fixed header and nothing more */
#define RULE_LENS	1	/* the header and the lengths it declares */
#define RULE_TAIL	2	/* the header and at most max bytes more */
#define RULE_LENS_MAX	3	/* declared lengths in one header */

#define FD_NO		0	/* an fd with it is a violation */
#define FD_YES		1	/* it carries one (-1 if the kernel dropped it) */

#define ID_ANY		0
#define ID_EXPECTED	1	/* peerid must be the channel's expect_id */

struct chan_rule {
	uint32_t	 type;
	const char	*name;
	uint8_t		 from;		/* enum proc_id of the sender */
	uint8_t		 size_rule;	/* RULE_* */
	uint8_t		 fd;		/* FD_* */
	uint8_t		 id;		/* ID_* */
	uint32_t	 hdr;		/* bytes of its fixed header */
	uint32_t	 max;		/* RULE_TAIL: bytes after the header */
	uint16_t	 lens[RULE_LENS_MAX];	/* RULE_LENS: offset + 1 of
					   each uint32 length; 0 ends */
	uint32_t	 states;	/* receiver's states it may come in */
	const char	*handler;	/* the receiver's handler, by name */
};

struct chan_spec {
	const char		 *name;
	uint8_t			  ends[2];	/* enum proc_id */
	uint32_t		  maxsize;	/* of a message, header included */
	const char *const	 *states[2];	/* each end's, as receiver */
	size_t			  nstates[2];
	const struct chan_rule	 *rules;
	size_t			  nrules;
};

struct chan;
typedef void	(*chan_handler_fn)(struct chan *, struct imsg *);

struct chan_handler {
	uint32_t	 type;
	chan_handler_fn	 fn;
};

struct chan {
	struct imsgbuf			 ibuf;
	const struct chan_spec		*spec;
	const struct chan_handler	*handlers;
	size_t				 nhandlers;
	uint8_t				 self;		/* our end */
	uint8_t				 peer;
	uint32_t			 state;		/* ours, receiving */
	uint32_t			 expect_id;	/* for ID_EXPECTED */
	uint64_t			 rbytes;	/* read, in all */
	void				*owner;
	/* Violation (why) or end of the stream (why NULL): once. */
	void				(*lost)(struct chan *, const char *);
	char				 why[160];
	int				 open;
	int				 failed;	/* nothing more is read */
	int				 mute;		/* sends are dropped */
	int				 paused;	/* nothing more is handled */
	int				 at_eof;	/* ... and its end waits */
	/* Blocking: the last message read, freed when the next comes. */
	struct ibuf			*held;
	/* Driven by libevent: */
	int				 evented;
	struct event			 ev;
	short				 events;
	int				 dirty;		/* to write at turn's end */
	int				 hold;		/* chan_hold(): sends wait */
	TAILQ_ENTRY(chan)		 dirty_entry;
	struct event			 ev_resume;	/* handles what waits */
	int				 resume_set;
};

/* chan.c */
void	 chan_init(struct chan *, const struct chan_spec *, enum proc_id,
	    const struct chan_handler *, size_t, int);
void	 chan_evented(struct chan *);
void	 chan_close(struct chan *);
void	 chan_stop(struct chan *);
void	 chan_pause(struct chan *);
void	 chan_resume(struct chan *);
void	 chan_fail(struct chan *, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));
int	 chan_send(struct chan *, uint32_t, uint32_t, int,
	    const struct iovec *, int);
int	 chan_flush(struct chan *);
void	 chan_hold(struct chan *, int);
int	 chan_dispatch_one(struct chan *);
void	 chan_read_all(struct chan *);
size_t	 chan_room(const struct chan *, uint32_t, size_t);
const struct chan_rule *chan_rule(const struct chan_spec *, uint32_t);
int	 chan_handlers_check(const struct chan_spec *, enum proc_id,
	    const struct chan_handler *, size_t, char *, size_t);

/* The rows of a table that a process receives: those its peer sends. */
#define CHAN_RECV(type, from, rule, states, fd, id, fn)	\
	CHAN_RECV_##from(type, fn)
#define CHAN_HANDLER(type, fn)	{ type, fn },

#endif /* SECURER_CHAN_H */
