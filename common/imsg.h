/*
 * imsg: framed messages with optional fd passing over a stream socket.
 *
 * The API and wire format follow OpenBSD's imsg_init(3) family; the code
 * is our own.  Every message starts with a 16-byte header in host byte
 * order: type, len (header included; the top bit marks a passed fd),
 * peerid and pid.  A channel has a maximum message size, checked against
 * the header before any memory is allocated for the body, and passes fds
 * only if imsgbuf_allow_fdpass() was called on it.
 */

#ifndef SECURER_IMSG_H
#define SECURER_IMSG_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include <stdint.h>

#define IMSG_HEADER_SIZE	sizeof(struct imsg_hdr)
#define MAX_IMSGSIZE		16384	/* default per-channel maximum */
#define IMSG_FD_MARK		0x80000000U
#define IBUF_READ_SIZE		65536

struct ibuf {
	TAILQ_ENTRY(ibuf)	 entry;
	unsigned char		*buf;
	size_t			 size;	/* allocated */
	size_t			 max;	/* growth limit, 0 for fixed */
	size_t			 wpos;	/* end of data */
	size_t			 rpos;	/* read cursor */
	int			 fd;	/* fd to pass with this buffer, -1 */
};

struct msgbuf {
	TAILQ_HEAD(, ibuf)	 bufs;
	uint32_t		 queued;
	/* Written, kept until the next message is queued (if keep_spent). */
	TAILQ_HEAD(, ibuf)	 spent;
	int			 keep_spent;
};

struct imsg_fd {
	TAILQ_ENTRY(imsg_fd)	 entry;
	int			 fd;
};

struct imsg_hdr {
	uint32_t	 type;
	uint32_t	 len;
	uint32_t	 peerid;
	uint32_t	 pid;
};

struct imsgbuf {
	struct msgbuf		 w;		/* write queue */
	TAILQ_HEAD(, imsg_fd)	 fds;		/* fds received, in order */
	unsigned char		*rbuf;		/* IBUF_READ_SIZE bytes */
	size_t			 rpos;		/* first unread byte */
	size_t			 rlen;		/* end of what was read */
	struct ibuf		*rmsg;		/* large message being read */
	int			 fd;
	pid_t			 pid;
	uint32_t		 maxsize;	/* header included */
	int			 flags;
#define IMSGF_FDPASS	0x01
	/* Asked of each header before its body is read: 0, or -1 to stop. */
	int			(*check)(const struct imsg_hdr *, void *);
	void			*check_arg;
};

struct imsg {
	struct imsg_hdr	 hdr;
	void		*data;		/* hdr.len - header bytes, or NULL */
	struct ibuf	*buf;
	int		 fd;		/* -1 unless the message carried one */
};

/* imsg-buffer.c */
struct ibuf	*ibuf_open(size_t);
struct ibuf	*ibuf_dynamic(size_t, size_t);
int		 ibuf_add(struct ibuf *, const void *, size_t);
void		*ibuf_reserve(struct ibuf *, size_t);
void		*ibuf_seek(struct ibuf *, size_t, size_t);
void		*ibuf_data(const struct ibuf *);
size_t		 ibuf_size(const struct ibuf *);
size_t		 ibuf_left(const struct ibuf *);
int		 ibuf_get(struct ibuf *, void *, size_t);
int		 ibuf_skip(struct ibuf *, size_t);
void		 ibuf_fd_set(struct ibuf *, int);
int		 ibuf_fd_get(struct ibuf *);
void		 ibuf_free(struct ibuf *);
void		 ibuf_free_plain(struct ibuf *);
void		 msgbuf_init(struct msgbuf *);
void		 msgbuf_enqueue(struct msgbuf *, struct ibuf *);
void		 msgbuf_clear(struct msgbuf *);
void		 msgbuf_free_spent(struct msgbuf *);
int		 msgbuf_write(int, struct msgbuf *, int);

/* imsg.c */
int		 imsgbuf_init(struct imsgbuf *, int);
void		 imsgbuf_allow_fdpass(struct imsgbuf *);
int		 imsgbuf_set_maxsize(struct imsgbuf *, uint32_t);
int		 imsgbuf_read(struct imsgbuf *);
int		 imsgbuf_write(struct imsgbuf *);
int		 imsgbuf_flush(struct imsgbuf *);
void		 imsgbuf_clear(struct imsgbuf *);
uint32_t	 imsgbuf_queuelen(struct imsgbuf *);
ssize_t		 imsg_get(struct imsgbuf *, struct imsg *);
int		 imsg_compose(struct imsgbuf *, uint32_t, uint32_t, pid_t, int,
		    const void *, size_t);
int		 imsg_composev(struct imsgbuf *, uint32_t, uint32_t, pid_t,
		    int, const struct iovec *, int);
struct ibuf	*imsg_create(struct imsgbuf *, uint32_t, uint32_t, pid_t,
		    size_t);
int		 imsg_add(struct ibuf *, const void *, size_t);
void		 imsg_close(struct imsgbuf *, struct ibuf *);
void		 imsg_free(struct imsg *);
uint32_t	 imsg_get_type(const struct imsg *);
uint32_t	 imsg_get_id(const struct imsg *);
pid_t		 imsg_get_pid(const struct imsg *);
size_t		 imsg_get_len(const struct imsg *);
int		 imsg_get_fd(struct imsg *);
int		 imsg_get_data(struct imsg *, void *, size_t);
int		 imsg_get_ibuf(struct imsg *, struct ibuf *);

#endif /* SECURER_IMSG_H */
