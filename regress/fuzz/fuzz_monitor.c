/*
 * The monitor's handlers of what a worker sends (the WORKER_CHANNEL
 * table, monitor/workermsg.c, core.c): a session with a tool is opened
 * and an execution
 * started on the monitor running in this process (fakemon.c); then the
 * input speaks for the worker.  Workers run hostile code: whatever they
 * send, the monitor must answer its client with well-formed replies,
 * kill the worker on a violation, and leave nothing behind.
 *
 * Input: messages, each a byte choosing the type, a byte choosing the
 * peer id, two bytes of length and the payload.  Some type bytes stand
 * for what else may happen meanwhile: 0xff starts another execution
 * (the payload is its code; sanitized if the id byte is odd, as the
 * first one is), 0xfe has the broker report the worker's
 * exit (the id byte is the cause), 0xfd makes the next spawns fail
 * (as many as the id byte says, up to 3), 0xfc reaches the deadlines.
 */

#include <sys/types.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "securerd.h"
#include "fakemon.h"
#include "fuzz.h"

static const uint32_t	types[] = {
	IMSG_W_SETUP_DONE, IMSG_W_OUTPUT, IMSG_W_TOOL_CALL, IMSG_W_RESULT,
	IMSG_W_ERROR, IMSG_W_ADVISORY, IMSG_W_PLOT, IMSG_W_READY,
};
#define NTYPES	(sizeof(types) / sizeof(types[0]))

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fm_init();
	fm_auto = FM_AUTO_TOOLS;
	return (0);
}

static void
execute(struct fm_client *fc, const uint8_t *code, size_t len, int sanitize)
{
	cJSON	*s;
	char	*q;

	/* The code as a JSON string, whatever its bytes. */
	if ((s = cJSON_CreateString("")) == NULL)
		err(1, "cJSON");
	free(s->valuestring);
	if ((s->valuestring = strndup((const char *)code, len)) == NULL ||
	    (q = cJSON_PrintUnformatted(s)) == NULL)
		err(1, "cJSON");
	fm_request(fc, "{\"id\":%llu,\"op\":\"execute\",\"session\":\"%s\","
	    "\"code\":%s,\"sanitize\":%s}", (unsigned long long)fc->next_id++,
	    fc->session, q, sanitize ? "true" : "false");
	free(q);
	cJSON_Delete(s);
	fm_pump();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_client	*fc;
	struct fm_worker	*fw;
	uint32_t		 id;
	size_t			 len;
	uint8_t			 sel, idsel;

	fuzz_begin();
	if ((fc = fm_connect()) == NULL)
		errx(1, "no connection");
	fm_request(fc, "{\"id\":1,\"op\":\"hello\",\"version\":1}");
	fm_request(fc, "{\"id\":2,\"op\":\"session.create\",\"tools\":["
	    "{\"name\":\"add\",\"description\":\"Add\",\"args\":"
	    "{\"a\":\"numeric\",\"b\":\"numeric\"}}]}");
	fm_pump();
	execute(fc, (const uint8_t *)"add(1, 2)", 9, 1);
	while (size >= 4) {
		sel = data[0];
		idsel = data[1];
		len = data[2] | data[3] << 8;
		data += 4;
		size -= 4;
		if (len > size)
			len = size;
		fw = fm_worker_last();
		if (sel == 0xff)
			execute(fc, data, len, idsel & 1);
		else if (sel == 0xfe && fw != NULL)
			fm_worker_exit(fw, idsel % (EXIT_VIOLATION + 1),
			    len > 0 ? data[0] : 0);
		else if (sel == 0xfd)
			fm_spawn_fail = idsel & 3;
		else if (sel == 0xfc)
			fm_deadlines();
		else if ((fw = fm_worker_last()) != NULL) {
			switch (idsel & 3) {
			case 0:
				id = fw->exec_id;
				break;
			case 1:
				id = ++fw->call_id;
				break;
			case 2:
				id = fw->call_id;
				break;
			default:
				id = idsel >> 2;
				break;
			}
			fm_worker_send(fw, sel < 0x80 ? types[sel % NTYPES] :
			    sel & 0x1f, id, data, len);
			fm_pump();
		}
		data += len;
		size -= len;
	}
	fm_spawn_fail = 0;
	fm_end();
	fuzz_end();
	return (0);
}
