/*
 * The worker's seccomp filter: a default-deny allowlist, installed once
 * R is warm and before the worker reads its first message, so no
 * untrusted code ever runs without it.
 *
 * Laid out for review: each group below is one reason.  Anything not
 * listed kills the whole process (the broker sees SIGSYS and reports a
 * sandbox violation).  What R probes on its own (sockets, fork, exec)
 * and what ordinary libraries call and cope with failing (FIFOs, event
 * loops, priorities) is answered with an errno instead, so it ends as a
 * clean R error.  Only
 * the native ABI passes: i386 and x32 system calls kill.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "filter.h"
#include "log.h"
#include "worker.h"

#define SC(name)	SCMP_SYS(name)

/* Namespace flags: a clone asking for any of them is never allowed. */
#define CLONE_NS_FLAGS	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | \
			    CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
			    CLONE_NEWCGROUP | CLONE_NEWTIME)

/* Memory: R's allocator and the loader (W^X rules are below). */
static const int sc_memory[] = {
	SC(brk), SC(munmap), SC(mremap), SC(madvise), SC(mincore),
	SC(membarrier),
};

/* Files, inside the worker's own root: R reads its library, writes /tmp. */
static const int sc_files[] = {
	SC(open), SC(openat), SC(close), SC(read), SC(write), SC(pread64),
	SC(pwrite64), SC(readv), SC(writev), SC(lseek), SC(fstat), SC(stat),
	SC(lstat), SC(newfstatat), SC(statx), SC(access), SC(faccessat),
	SC(faccessat2), SC(readlink), SC(readlinkat), SC(getdents64),
	SC(getcwd), SC(chdir), SC(fchdir), SC(mkdir), SC(mkdirat),
	SC(rmdir), SC(unlink), SC(unlinkat), SC(rename), SC(renameat),
	SC(renameat2), SC(fcntl), SC(dup), SC(dup2), SC(dup3),
	SC(ftruncate), SC(truncate), SC(fsync), SC(fdatasync), SC(chmod),
	SC(fchmod), SC(fchmodat), SC(umask), SC(utimensat), SC(symlink),
	SC(symlinkat), SC(link), SC(linkat), SC(flock), SC(fadvise64),
	SC(statfs), SC(fstatfs), SC(pipe), SC(pipe2), SC(close_range),
	SC(copy_file_range), SC(sendfile),
};

/* The monitor channel (fd 3): imsg over a socket the broker made. */
static const int sc_channel[] = {
	SC(sendmsg), SC(recvmsg), SC(sendto), SC(recvfrom), SC(shutdown),
	SC(getsockopt),
};

/*
 * Waiting and time: Sys.sleep(), timeouts, proc.time(), Sys.time().
 * restart_syscall is how the kernel resumes a sleep with a timeout that
 * a stop interrupted (the broker holds a resting worker with SIGSTOP,
 * broker/rest.c): it only continues a call already allowed, and without
 * it a worker stopped in such a sleep died of its SIGCONT.
 */
static const int sc_time[] = {
	SC(restart_syscall),
	SC(poll), SC(ppoll), SC(select), SC(pselect6), SC(nanosleep),
	SC(clock_nanosleep), SC(clock_gettime), SC(clock_getres),
	SC(gettimeofday), SC(time), SC(times), SC(getrusage),
	SC(setitimer), SC(getitimer), SC(alarm),
};

/* Signals: R's handlers, and raise(); only itself is in its pid ns. */
static const int sc_signals[] = {
	SC(rt_sigaction), SC(rt_sigprocmask), SC(rt_sigreturn),
	SC(sigaltstack), SC(rt_sigpending), SC(rt_sigtimedwait),
	SC(rt_sigsuspend), SC(kill), SC(tgkill), SC(tkill),
};

/* Facts about itself: ids, limits, uname, randomness, CPUs. */
static const int sc_self[] = {
	SC(getpid), SC(gettid), SC(getppid), SC(getuid), SC(geteuid),
	SC(getgid), SC(getegid), SC(getgroups), SC(getresuid),
	SC(getresgid), SC(getpgrp), SC(getpgid), SC(getsid),
	SC(getrlimit), SC(prlimit64), SC(uname),
	SC(getrandom), SC(sched_getaffinity), SC(sched_yield), SC(getcpu),
	SC(getpriority), SC(capget),
};

/* Threads (BLAS may start some) and the end of the process. */
static const int sc_threads[] = {
	SC(futex), SC(set_robust_list), SC(get_robust_list), SC(rseq),
	SC(set_tid_address), SC(exit), SC(exit_group), SC(wait4),
	SC(waitid),
};

/* R probes these: an errno makes a clean R error ("cannot open"...). */
static const int sc_refused[] = {
	SC(socket), SC(socketpair), SC(connect), SC(bind), SC(listen),
	SC(accept), SC(accept4), SC(execve), SC(execveat),
};

/*
 * What ordinary R and the libraries it loads call and cope with failing:
 * EPERM, an R error, rather than a kill.  Safe because each one refused
 * grants nothing and none is a step of an escape that a kill would have
 * stopped: a FIFO (fifo()) would only reach the worker itself, as a
 * pipe does; socket options, names and an event loop (what a server
 * such as httpuv sets up around socket(), bind() and listen(), already
 * refused above) have no socket to act on; priority and CPU affinity
 * (tools::psnice(), parallel::mcaffinity()) are the broker's to set.
 * What only an attack asks for (ptrace, mount, namespaces, bpf,
 * io_uring, keyctl...) still kills, so that it is seen and audited.
 */
static const int sc_refused_perm[] = {
	SC(mknod), SC(mknodat), SC(setsockopt), SC(getsockname),
	SC(getpeername), SC(epoll_create), SC(epoll_create1),
	SC(epoll_ctl), SC(epoll_wait), SC(epoll_pwait), SC(epoll_pwait2),
	SC(eventfd), SC(eventfd2), SC(timerfd_create), SC(signalfd),
	SC(signalfd4), SC(inotify_init), SC(inotify_init1),
	SC(setpriority), SC(sched_setaffinity), SC(sched_setscheduler),
	SC(sched_setparam), SC(ioprio_set),
};

/*
 * W^X: no new executable memory.  The loader maps a library's text from
 * its file (allowed: only the read-only binds are not noexec), but an
 * anonymous executable mapping, or making any mapping executable later,
 * is refused: a .so or shellcode written by the session cannot run.
 */
static void
add_memory_rules(scmp_filter_ctx ctx)
{
	int	 r = 0;

	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(mmap), 2,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC | PROT_WRITE, PROT_EXEC),
	    SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, 0));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SC(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC | PROT_WRITE,
	    PROT_EXEC | PROT_WRITE));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SC(mmap), 2,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC | PROT_WRITE, PROT_EXEC),
	    SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, MAP_ANONYMOUS));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SC(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
	if (r != 0)
		fatalx("seccomp memory rules");
}

/*
 * Threads, yes; processes, no.  A clone with CLONE_THREAD and no
 * namespace flag is a thread; one without CLONE_THREAD is a fork, which
 * gets EAGAIN, so system() and mcparallel() say "unable to fork"; a
 * thread asking for namespaces kills.  clone3 passes its flags in
 * memory a filter cannot read: ENOSYS makes glibc use clone.
 */
static void
add_process_rules(scmp_filter_ctx ctx)
{
	int	 r = 0;

	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD | CLONE_NS_FLAGS,
	    CLONE_THREAD));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAGAIN), SC(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SC(clone3), 0);
	r |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAGAIN), SC(fork), 0);
	r |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAGAIN), SC(vfork), 0);
	if (r != 0)
		fatalx("seccomp process rules");
}

/*
 * ioctl: only what isatty() and R's console size ask.  TIOCSTI,
 * TIOCLINUX and the rest kill (there is no tty to reach anyway).
 */
static void
add_ioctl_rules(scmp_filter_ctx ctx)
{
	const unsigned long	 ok[] = { TCGETS, TIOCGWINSZ, FIONREAD,
				    FIONBIO, FIOCLEX };
	size_t			 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(ioctl), 1,
		    SCMP_A1(SCMP_CMP_EQ, ok[i])) != 0)
			fatalx("seccomp ioctl rule");
}

/* prctl: reading and naming only; nothing that changes privilege. */
/*
 * sysinfo(2) would tell the host's free memory, load and process count
 * (a side channel on other tenants): trapped, and answered in the worker
 * from its own limits (hostview.c).
 */
static void
add_trap_rules(scmp_filter_ctx ctx)
{
	if (seccomp_rule_add(ctx, SCMP_ACT_TRAP, SC(sysinfo), 0) != 0)
		fatalx("seccomp trap rule");
}

static void
add_prctl_rules(scmp_filter_ctx ctx)
{
	const int	 ok[] = { PR_GET_NAME, PR_SET_NAME, PR_GET_DUMPABLE,
			    PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP };
	size_t		 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SC(prctl), 1,
		    SCMP_A0(SCMP_CMP_EQ, ok[i])) != 0)
			fatalx("seccomp prctl rule");
}

/* The allowlist above as a libseccomp context; fatal on any error. */
static scmp_filter_ctx
seccomp_build(void)
{
	scmp_filter_ctx	 ctx;

	ctx = filter_new();
	FILTER_ADD(ctx, SCMP_ACT_ALLOW, sc_memory);
	FILTER_ADD(ctx, SCMP_ACT_ALLOW, sc_files);
	FILTER_ADD(ctx, SCMP_ACT_ALLOW, sc_channel);
	FILTER_ADD(ctx, SCMP_ACT_ALLOW, sc_time);
	FILTER_ADD(ctx, SCMP_ACT_ALLOW, sc_signals);
	FILTER_ADD(ctx, SCMP_ACT_ALLOW, sc_self);
	FILTER_ADD(ctx, SCMP_ACT_ALLOW, sc_threads);
	FILTER_ADD(ctx, SCMP_ACT_ERRNO(EACCES), sc_refused);
	FILTER_ADD(ctx, SCMP_ACT_ERRNO(EPERM), sc_refused_perm);
	add_memory_rules(ctx);
	add_process_rules(ctx);
	add_ioctl_rules(ctx);
	add_prctl_rules(ctx);
	add_trap_rules(ctx);
	return (ctx);
}

/* The compiled filter, made once in the template (seccomp_prepare()). */
static struct sock_filter	*prog;
static unsigned short		 prog_len;

/*
 * In the template, once: compile the filter to BPF.  libseccomp's
 * compiler costs milliseconds, more than the rest of a worker's
 * sandbox; every worker then only loads the same program.  Where it
 * cannot be compiled here, each worker builds its own.
 */
void
seccomp_prepare(void)
{
	scmp_filter_ctx	 ctx;
	char		 buf[65536];
	ssize_t		 n;
	size_t		 len = 0;
	int		 p[2];

	ctx = seccomp_build();
	/* The program fits a pipe's buffer: a few hundred instructions. */
	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe");
	if (seccomp_export_bpf(ctx, p[1]) != 0) {
		log_warnx("seccomp filter not precompiled");
		goto done;
	}
	close(p[1]);
	p[1] = -1;
	while (len < sizeof(buf) &&
	    (n = read(p[0], buf + len, sizeof(buf) - len)) > 0)
		len += n;
	if (len == 0 || len % sizeof(struct sock_filter) != 0 ||
	    len / sizeof(struct sock_filter) > BPF_MAXINSNS)
		fatalx("seccomp program of %zu bytes", len);
	if ((prog = malloc(len)) == NULL)
		fatal("%s", __func__);
	memcpy(prog, buf, len);
	prog_len = len / sizeof(struct sock_filter);
done:
	if (p[1] != -1)
		close(p[1]);
	close(p[0]);
	seccomp_release(ctx);
}

/*
 * Load the filter; 0 if it is loaded, -1 with errno if the kernel would
 * not take it.  The caller has set no_new_privs.
 */
int
seccomp_worker(void)
{
	struct sock_fprog	 fp;
	scmp_filter_ctx		 ctx;
	int			 rv;

	if (hostview_trap() == -1)
		return (-1);
	if (prog != NULL) {
		fp.len = prog_len;
		fp.filter = prog;
		return (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp));
	}
	ctx = seccomp_build();
	rv = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rv != 0) {
		errno = -rv;
		return (-1);
	}
	return (0);
}
