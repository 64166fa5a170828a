/*
 * Hostile native code for t_attack's idle_run case, as code that got out
 * of R would run it: loaded into a worker from a library directory, it
 * writes a well-formed IMSG_W_RESULT for execution *id on the worker's
 * channel (fd 3) and returns, so that its R caller goes on running
 * after the monitor took its execution for ended.
 */

#include <sys/types.h>

#include <string.h>
#include <unistd.h>

#include "imsg.h"
#include "securerd.h"

void	forge_result(int *, int *);

void
forge_result(int *id, int *written)
{
	static const char	 value[] =
	    "{\"type\":\"character\",\"value\":[\"forged\"]}";
	static const char	 printed[] = "[1] \"forged\"";
	unsigned char		 buf[sizeof(struct imsg_hdr) +
				    sizeof(struct w_result) + sizeof(value) +
				    sizeof(printed)];
	struct imsg_hdr		 hdr;
	struct w_result		 r;
	size_t			 off = 0, vlen = strlen(value);
	size_t			 plen = strlen(printed);

	memset(&hdr, 0, sizeof(hdr));
	hdr.type = IMSG_W_RESULT;
	hdr.len = sizeof(hdr) + sizeof(r) + vlen + plen;
	hdr.peerid = (uint32_t)*id;
	memset(&r, 0, sizeof(r));
	r.visible = 1;
	r.value_len = vlen;
	r.printed_len = plen;
	r.value_total = vlen;
	memcpy(buf + off, &hdr, sizeof(hdr));
	off += sizeof(hdr);
	memcpy(buf + off, &r, sizeof(r));
	off += sizeof(r);
	memcpy(buf + off, value, vlen);
	off += vlen;
	memcpy(buf + off, printed, plen);
	off += plen;
	*written = (int)write(3, buf, off);
}
