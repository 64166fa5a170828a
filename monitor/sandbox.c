/*
 * The monitor's seccomp filter: a default-deny allowlist installed at the
 * end of its start-up, once it is chrooted, unprivileged and holds its
 * listening socket, its broker channel and libevent's epoll and signal
 * fds.  From then on it only moves bytes between sockets it already has
 * or accepts, and keeps time.
 *
 * Laid out for review: each group is one reason.  Anything else kills
 * the monitor with SIGSYS, which the broker sees and logs.  What a
 * library may try on its own and can do without (syslog reconnecting,
 * a time zone file, a new socket) is answered with an errno.  Only the
 * native ABI passes.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stddef.h>

#include "filter.h"
#include "log.h"
#include "monitor.h"

#define SC(name)	SCMP_SYS(name)

/*
 * The event loop: libevent's epoll backend and its timeouts (by
 * epoll_wait's, the coarse clock: no timerfd); poll for imsg_flush(),
 * which waits while a channel is full.
 */
static const int sc_events[] = {
	SC(epoll_wait), SC(epoll_pwait), SC(epoll_ctl), SC(poll),
	SC(clock_gettime), SC(gettimeofday), SC(time),
};

/* Moving bytes: clients, the broker channel, workers' channels. */
static const int sc_io[] = {
	SC(read), SC(write), SC(readv), SC(writev), SC(recvmsg),
	SC(sendmsg), SC(recvfrom), SC(sendto), SC(close),
};

/* Memory: malloc and free, libevent's buffers (no PROT_EXEC: below). */
static const int sc_memory[] = {
	SC(brk), SC(munmap), SC(mremap), SC(madvise),
};

/* Signals: libevent's SIGTERM/SIGINT handling through its socketpair. */
static const int sc_signals[] = {
	SC(rt_sigaction), SC(rt_sigprocmask), SC(rt_sigreturn),
};

/*
 * Facts about itself: imsg headers carry the pid; session ids need
 * randomness (arc4random); glibc's locks; stdio; the end of the process.
 */
static const int sc_self[] = {
	SC(getpid), SC(gettid), SC(getrandom), SC(futex), SC(exit),
	SC(exit_group), SC(fstat), SC(newfstatat),
};

/*
 * Refused with an errno, never needed: syslog(3) reconnecting to a
 * /dev/log that is not in the chroot, localtime() looking for a zone
 * file.  The monitor carries on without them.
 */
static const int sc_refused[] = {
	SC(socket), SC(connect), SC(open), SC(openat),
};

#if defined(__SANITIZE_ADDRESS__)
/*
 * ASan and LeakSanitizer builds only: the sanitizers' runtime reads
 * /proc/self/maps, and at exit LeakSanitizer stops the world with a
 * ptrace helper thread to scan memory.  Never in a release build.
 */
static const int sc_asan[] = {
	SC(sigaltstack), SC(sched_yield), SC(readlink),
	SC(clone), SC(ptrace), SC(wait4), SC(getdents64), SC(prctl),
	SC(getppid), SC(lseek), SC(tgkill), SC(rt_sigtimedwait),
	SC(getrlimit), SC(prlimit64), SC(pread64),
	SC(process_vm_readv),
};
#endif

/*
 * Rules on arguments: no executable memory; fcntl only to read and set
 * file status flags (O_NONBLOCK on a worker's channel) and descriptor
 * flags, and to duplicate an fd: the listening socket (the fd conn.c
 * holds in reserve, to refuse at EMFILE) and the memfd a hibernating
 * worker writes its state into (hibernate.c: it gets a copy, the broker
 * ours), made by memfd_create, anonymous memory charged to the worker
 * that fills it; getsockopt only for the peer's credentials and groups;
 * accept4 only on the listening socket; ioctl only FIONREAD, which
 * libevent asks before it reads a client's bytes.
 */
static void
add_arg_rules(scmp_filter_ctx ctx, int listen_fd)
{
	int	 r = 0;

	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(fcntl), 1,
	    SCMP_A1(SCMP_CMP_EQ, F_GETFL));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(fcntl), 1,
	    SCMP_A1(SCMP_CMP_EQ, F_SETFL));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(fcntl), 1,
	    SCMP_A1(SCMP_CMP_EQ, F_GETFD));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(fcntl), 1,
	    SCMP_A1(SCMP_CMP_EQ, F_SETFD));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(fcntl), 1,
	    SCMP_A1(SCMP_CMP_EQ, F_DUPFD_CLOEXEC));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(memfd_create), 1,
	    SCMP_A1(SCMP_CMP_EQ, MFD_CLOEXEC));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(getsockopt), 2,
	    SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET),
	    SCMP_A2(SCMP_CMP_EQ, SO_PEERCRED));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(getsockopt), 2,
	    SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET),
	    SCMP_A2(SCMP_CMP_EQ, SO_PEERGROUPS));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(getsockopt), 2,
	    SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET),
	    SCMP_A2(SCMP_CMP_EQ, SO_ERROR));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(ioctl), 1,
	    SCMP_A1(SCMP_CMP_EQ, FIONREAD));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(accept4), 1,
	    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)listen_fd));
	if (r != 0)
		fatalx("seccomp argument rules");
}

/*
 * Load the filter; fatal if it cannot be: the monitor never serves
 * clients without it.  The caller has set no_new_privs.
 */
void
monitor_sandbox(int listen_fd)
{
	scmp_filter_ctx	 ctx;
	int		 rv;

	ctx = filter_new();
	FILTER_ADD(ctx, SCMP_ACT_ALLOW, sc_events);
	FILTER_ADD(ctx, SCMP_ACT_ALLOW, sc_io);
	FILTER_ADD(ctx, SCMP_ACT_ALLOW, sc_memory);
	FILTER_ADD(ctx, SCMP_ACT_ALLOW, sc_signals);
	FILTER_ADD(ctx, SCMP_ACT_ALLOW, sc_self);
	FILTER_ADD(ctx, SCMP_ACT_ERRNO(EACCES), sc_refused);
#if defined(__SANITIZE_ADDRESS__)
	FILTER_ADD(ctx, SCMP_ACT_ALLOW, sc_asan);
#endif
	add_arg_rules(ctx, listen_fd);
	if ((rv = seccomp_load(ctx)) != 0) {
		errno = -rv;
		fatal("seccomp_load");
	}
	seccomp_release(ctx);
}
