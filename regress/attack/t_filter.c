/*
 * The worker's seccomp filter seen from native code: what R cannot call
 * directly, a forked child under the very filter the worker installs
 * (worker/seccomp.c) tries, and the test checks that it was killed by
 * the filter, or got the errno the filter answers with.
 */

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <atf-c.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "sanitizer.h"

int	seccomp_worker(void);

/* Runs fn under the filter in a child; its wait status. */
static int
filtered(int (*fn)(void))
{
	pid_t	 pid;
	int	 status;

	if ((pid = fork()) == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
		    seccomp_worker() == -1)
			_exit(100);
		_exit(fn());
	}
	ATF_REQUIRE(pid > 0);
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	return (status);
}

static void
require_killed(const char *what, int (*fn)(void))
{
	int	 st = filtered(fn);

	ATF_CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
	    "%s: not killed by the filter (status %#x)", what, st);
}

static void
require_exit0(const char *what, int (*fn)(void))
{
	int	 st = filtered(fn);

	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "%s: status %#x", what, st);
}

#define NR(name, call)	static int name(void) { return ((int)(call)); }

NR(f_ptrace, syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0))
NR(f_mount, syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, 0))
NR(f_unshare, syscall(SYS_unshare, CLONE_NEWUSER))
NR(f_setns, syscall(SYS_setns, 0, 0))
NR(f_bpf, syscall(SYS_bpf, 0, 0, 0))
NR(f_io_uring, syscall(SYS_io_uring_setup, 1, 0))
NR(f_userfaultfd, syscall(SYS_userfaultfd, 0))
NR(f_keyctl, syscall(SYS_keyctl, 0, 0, 0, 0, 0))
NR(f_perf, syscall(SYS_perf_event_open, 0, 0, -1, -1, 0))
NR(f_memfd, syscall(SYS_memfd_create, "x", 0))
NR(f_vm_readv, syscall(SYS_process_vm_readv, 1, 0, 0, 0, 0, 0))
NR(f_pidfd, syscall(SYS_pidfd_open, 1, 0))
NR(f_kexec, syscall(SYS_kexec_load, 0, 0, 0, 0))
NR(f_init_module, syscall(SYS_init_module, 0, 0, ""))
NR(f_setuid, syscall(SYS_setuid, 0))
NR(f_chroot, syscall(SYS_chroot, "/"))
NR(f_clone_ns, syscall(SYS_clone, CLONE_THREAD | CLONE_SIGHAND | CLONE_VM |
    CLONE_NEWUSER, 0, 0, 0, 0))
NR(f_tiocsti, ioctl(0, TIOCSTI, "x"))
NR(f_tioclinux, ioctl(0, TIOCLINUX, "\0"))
NR(f_seccomp_off, prctl(PR_SET_SECCOMP, 0, 0, 0, 0))
NR(f_x32, syscall(0x40000000 | SYS_getpid))

static int
f_i386(void)
{
	long	 ret = 20;	/* getpid in the i386 table */

	__asm__ volatile ("int $0x80" : "+a" (ret) : : "memory");
	return (0);
}

ATF_TC_WITHOUT_HEAD(kernel_surface);
ATF_TC_BODY(kernel_surface, tc)
{
	require_killed("ptrace", f_ptrace);
	require_killed("mount", f_mount);
	require_killed("unshare", f_unshare);
	require_killed("setns", f_setns);
	require_killed("bpf", f_bpf);
	require_killed("io_uring_setup", f_io_uring);
	require_killed("userfaultfd", f_userfaultfd);
	require_killed("keyctl", f_keyctl);
	require_killed("perf_event_open", f_perf);
	require_killed("process_vm_readv", f_vm_readv);
	require_killed("pidfd_open", f_pidfd);
	require_killed("kexec_load", f_kexec);
	require_killed("init_module", f_init_module);
	require_killed("setuid", f_setuid);
	require_killed("chroot", f_chroot);
	require_killed("clone with a namespace", f_clone_ns);
	require_killed("prctl(PR_SET_SECCOMP)", f_seccomp_off);
}

/* Whether this kernel runs i386 system calls at all (ia32 emulation). */
static int
kernel_has_i386(void)
{
	pid_t	 pid;
	int	 status;

	if ((pid = fork()) == 0) {
		/* The kernel's SIGSEGV, not a sanitizer's exit, says no. */
		signal(SIGSEGV, SIG_DFL);
		_exit(f_i386());
	}
	ATF_REQUIRE(pid > 0);
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	return (WIFEXITED(status));
}

/*
 * A kernel built or booted without ia32 emulation refuses int 0x80
 * itself (SIGSEGV, before seccomp sees it): nothing for the filter to
 * stop, so only the x32 half is checked there.
 */
ATF_TC_WITHOUT_HEAD(foreign_abi);
ATF_TC_BODY(foreign_abi, tc)
{
	require_killed("x32 getpid", f_x32);
	if (!kernel_has_i386())
		atf_tc_skip("this kernel has no i386 system calls (no ia32 "
		    "emulation): int 0x80 never reaches the filter; x32 "
		    "checked");
	require_killed("i386 int 0x80", f_i386);
}

ATF_TC_WITHOUT_HEAD(tty);
ATF_TC_BODY(tty, tc)
{
	require_killed("TIOCSTI", f_tiocsti);
	require_killed("TIOCLINUX", f_tioclinux);
}

ATF_TC_WITHOUT_HEAD(native_code);
ATF_TC_BODY(native_code, tc)
{
	require_killed("memfd_create", f_memfd);
}

#define ERRNO(name, call, err) \
	static int name(void) { return ((call) == -1 && errno == (err) ? 0 : 1); }

ERRNO(e_socket, socket(AF_INET, SOCK_STREAM, 0), EACCES)
ERRNO(e_unix, socket(AF_UNIX, SOCK_STREAM, 0), EACCES)
ERRNO(e_socketpair, socketpair(AF_UNIX, SOCK_STREAM, 0, (int[2]){ 0, 0 }),
    EACCES)
ERRNO(e_execve, execve("/bin/true", (char *[]){ "true", NULL }, NULL),
    EACCES)
ERRNO(e_fork, syscall(SYS_fork), EAGAIN)
ERRNO(e_vfork_clone, syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0), EAGAIN)
ERRNO(e_clone3, syscall(SYS_clone3, NULL, 0), ENOSYS)

static int
e_wx_mmap(void)
{
	void	*p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return (p == MAP_FAILED && errno == EACCES ? 0 : 1);
}

static int
e_x_anon(void)
{
	void	*p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return (p == MAP_FAILED && errno == EACCES ? 0 : 1);
}

static int
e_mprotect_x(void)
{
	void	*p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return (2);
	return (mprotect(p, 4096, PROT_READ | PROT_EXEC) == -1 &&
	    errno == EACCES ? 0 : 1);
}

/*
 * What a server such as httpuv does to start: an event loop, a socket,
 * its options, bind and listen.  Each step an errno, none a kill; the
 * channel on fd 3 stands in for the socket that socket() refused.
 */
static int
e_server(void)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	int			 one = 1;

	if (epoll_create1(EPOLL_CLOEXEC) != -1 || errno != EPERM)
		return (1);
	if (eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) != -1 || errno != EPERM)
		return (2);
	if (socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0) != -1 ||
	    errno != EACCES)
		return (3);
	if (setsockopt(3, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) !=
	    -1 || errno != EPERM)
		return (4);
	if (bind(3, (struct sockaddr *)&sin, sizeof(sin)) != -1 ||
	    errno != EACCES)
		return (5);
	if (listen(3, 5) != -1 || errno != EACCES)
		return (6);
	return (0);
}

/* fifo(): mkfifo() is mknodat(); device nodes are refused the same. */
ERRNO(e_mkfifo, mkfifo("/tmp/securer-t_filter-fifo", 0600), EPERM)
ERRNO(e_mknod, mknod("/tmp/securer-t_filter-null", S_IFCHR | 0600,
    makedev(1, 3)), EPERM)
ERRNO(e_setpriority, setpriority(PRIO_PROCESS, 0, 5), EPERM)

/* sysinfo(2): the worker's own view (hostview.c), not the host's. */
static int
e_sysinfo(void)
{
	struct sysinfo	 si;

	memset(&si, 0xff, sizeof(si));
	if (sysinfo(&si) != 0)
		return (1);
	return (si.procs == 1 && si.loads[0] == 0 && si.mem_unit == 1 &&
	    si.totalram == si.freeram && si.totalram > 0 ? 0 : 2);
}

static int
ok_basics(void)
{
	void	*p = malloc(1 << 20);
	char	 buf[16];

	return (p != NULL && getpid() > 0 && write(1, "", 0) == 0 &&
	    read(0, buf, 0) >= 0 ? 0 : 1);
}

ATF_TC_WITHOUT_HEAD(errno_answers);
ATF_TC_BODY(errno_answers, tc)
{
	require_exit0("socket(AF_INET) EACCES", e_socket);
	require_exit0("socket(AF_UNIX) EACCES", e_unix);
	require_exit0("socketpair EACCES", e_socketpair);
	require_exit0("execve EACCES", e_execve);
	require_exit0("fork EAGAIN", e_fork);
	require_exit0("clone (a fork) EAGAIN", e_vfork_clone);
	require_exit0("clone3 ENOSYS", e_clone3);
	require_exit0("allowed basics", ok_basics);
}

ATF_TC_WITHOUT_HEAD(ordinary_refusals);
ATF_TC_BODY(ordinary_refusals, tc)
{
	require_exit0("a server's start (epoll, eventfd, socket, setsockopt, "
	    "bind, listen)", e_server);
	require_exit0("mkfifo EPERM", e_mkfifo);
	require_exit0("mknod EPERM", e_mknod);
	require_exit0("setpriority EPERM", e_setpriority);
	require_exit0("sysinfo answered by the worker", e_sysinfo);
}

ATF_TC_WITHOUT_HEAD(wx);
ATF_TC_BODY(wx, tc)
{
	require_exit0("mmap RWX anonymous EACCES", e_wx_mmap);
	require_exit0("mmap RX anonymous EACCES", e_x_anon);
	require_exit0("mprotect +X EACCES", e_mprotect_x);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, kernel_surface);
	ATF_TP_ADD_TC(tp, foreign_abi);
	ATF_TP_ADD_TC(tp, tty);
	ATF_TP_ADD_TC(tp, native_code);
	ATF_TP_ADD_TC(tp, errno_answers);
	ATF_TP_ADD_TC(tp, ordinary_refusals);
	ATF_TP_ADD_TC(tp, wx);
	return (atf_no_error());
}
