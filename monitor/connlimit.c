/*
 * What clients may hold of the monitor before and after they say who
 * they are: connections per uid and in all, and the bytes buffered for
 * them (requests not yet read whole, replies not yet read) per uid and
 * in all.  The kernel tells us the uid with the connection, so these
 * hold from accept on, before any request is read.
 *
 * The total of connections is kept below the fd limit by a reserve, so
 * that the workers of existing sessions, the control socket and the
 * broker always have descriptors: a uid at its cap, or the daemon at
 * its, costs the others nothing.
 */

#include <sys/types.h>
#include <sys/resource.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "monitor.h"

/* Descriptors kept from clients: channels, control, the log, slack. */
#define FD_RESERVE_MIN		64
/* Connections one uid may have by default: a share, not the whole. */
#define USER_CONNS_MIN		8
#define USER_CONNS_MAX		256

struct connuser {
	TAILQ_ENTRY(connuser)	 entry;
	uid_t			 uid;
	uint32_t		 conns;
	uint64_t		 bytes;
};

static TAILQ_HEAD(, connuser)	users = TAILQ_HEAD_INITIALIZER(users);
static uint32_t			total_conns, max_conns, user_conns;
static uint64_t			total_bytes, max_bytes, user_bytes;

/*
 * The caps the configuration leaves at 0 come from the fd limit (the
 * connections) and from the host's memory (the bytes).
 */
void
connlimit_init(void)
{
	struct rlimit	rl;
	uint64_t	reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	reserve = FD_RESERVE_MIN + (uint64_t)conf->ready_max +
	    (conf->cap_workers ? conf->cap_workers : rl.rlim_cur / 2);
	if (rl.rlim_cur <= reserve + USER_CONNS_MIN)
		max_conns = USER_CONNS_MIN;
	else
		max_conns = rl.rlim_cur - reserve;
	/* Configured, it holds even past the fd limit: then EMFILE says no. */
	if (conf->max_connections != 0)
		max_conns = conf->max_connections;
	user_conns = conf->user_connections;
	if (user_conns == 0) {
		user_conns = max_conns / 4;
		if (user_conns < USER_CONNS_MIN)
			user_conns = USER_CONNS_MIN;
		if (user_conns > USER_CONNS_MAX)
			user_conns = USER_CONNS_MAX;
	}
	/* config.c derived them; a fuzz target's configuration may not. */
	max_bytes = conf->client_memory ? conf->client_memory :
	    CLIENT_MEMORY_MAX;
	user_bytes = conf->user_client_memory ? conf->user_client_memory :
	    max_bytes / 4;
	log_debug("clients: %u connections, %u per uid; %llu bytes "
	    "buffered, %llu per uid", max_conns, user_conns,
	    (unsigned long long)max_bytes, (unsigned long long)user_bytes);
}

uint64_t
connlimit_user_bytes(void)
{
	return (user_bytes);
}

static struct connuser *
user_find(uid_t uid)
{
	struct connuser	*u;

	TAILQ_FOREACH(u, &users, entry)
		if (u->uid == uid)
			return (u);
	return (NULL);
}

/*
 * A new connection of uid's, or NULL and why not.  A uid's record lives
 * while it has connections, so there are at most max_conns of them.
 */
struct connuser *
connlimit_admit(uid_t uid, const char **why)
{
	struct connuser	*u = user_find(uid);

	if (total_conns >= max_conns) {
		*why = "the daemon has as many connections as it takes";
		return (NULL);
	}
	if (u != NULL && u->conns >= user_conns) {
		*why = "this user has as many connections as one user may";
		return (NULL);
	}
	if (u == NULL) {
		if ((u = calloc(1, sizeof(*u))) == NULL)
			fatal("%s", __func__);
		u->uid = uid;
		TAILQ_INSERT_TAIL(&users, u, entry);
	}
	u->conns++;
	total_conns++;
	return (u);
}

void
connlimit_release(struct connuser *u)
{
	total_conns--;
	if (--u->conns == 0) {
		TAILQ_REMOVE(&users, u, entry);
		free(u);
	}
}

/* Bytes buffered for u's connections grew (delta > 0) or shrank. */
void
connlimit_charge(struct connuser *u, int64_t delta)
{
	u->bytes += delta;
	total_bytes += delta;
}

/* Whether u, or all clients together, hold more than they may. */
int
connlimit_user_over(const struct connuser *u)
{
	return (u->bytes > user_bytes);
}

int
connlimit_total_over(void)
{
	return (total_bytes > max_bytes);
}

uint64_t
connlimit_total_bytes(void)
{
	return (total_bytes);
}
