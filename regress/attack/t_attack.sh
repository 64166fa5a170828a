#! /usr/bin/env atf-sh
# The attack suite: each row of ATTACKS.md met as a user of the daemon
# meets it, R code through the securer command or raw requests.  Each
# case checks the outcome the row asks for, that the daemon still serves
# a new session and that a session opened before the attack still has
# its state, that no host file changed (canaries in the test's own work
# directory and system files the attack aims at that nothing else
# writes: /etc/passwd is left out, the suite's bootstrap may add users) and what the audit
# log recorded.  What R cannot call is in t_filter: native code under
# the worker's own filter (execve, fork/clone flags, ptrace,
# process_vm_readv, pidfd, TIOCSTI/TIOCLINUX, memfd_create, W+X,
# unshare, setns, mount, bpf, io_uring, userfaultfd, keyctl,
# perf_event_open, i386 and x32 system calls).

. "$(atf_get_srcdir)/daemon.subr"

HELLO='{"id":1,"op":"hello","version":1}'
CREATE='{"id":2,"op":"session.create"}'

# host_state: what hostile code must not change.  Only files no other
# test or process writes: this test's canaries and the host's secrets.
host_state() {
	{
		ls -lA --time-style=full-iso canary
		md5sum canary/* /etc/hosts /etc/R/* 2>/dev/null
		ls -lA --time-style=full-iso /usr/lib/R /usr/lib/R/library/base \
		    /etc/R
	}
}

# attack_start [conf lines...]: a daemon, canaries and a bystander: a
# session of another client that holds state across the attack.
attack_start() {
	start_daemon "$@"
	SEC="$B/securer -s $SOCK"
	mkdir -p canary
	echo precious >canary/file
	ln -sf "$PWD/canary/file" canary/link
	host_state >host.before
	bystander_start
}

bystander_start() {
	rm -f by.in
	mkfifo by.in
	"$B/regress/sockcat" -n 4 "$SOCK" <by.in >by.out &
	echo $! >by.pid
	exec 7>by.in
	printf '%s\n%s\n' "$HELLO" "$CREATE" >&7
	wait_for "the bystander's session" grep -q '"id":2,"ok":true' by.out
	BYSID=$(jq -r 'select(.id == 2) | .session' by.out)
	printf '{"id":3,"op":"execute","session":"%s","code":"x <- 41L"}\n' \
	    "$BYSID" >&7
	wait_for "the bystander's state" grep -q '"id":3,"ok":true' by.out
}

# bystander_check: the bystander's session kept its state.
bystander_check() {
	printf '{"id":4,"op":"execute","session":"%s","code":"x + 1L"}\n' \
	    "$BYSID" >&7
	exec 7>&-
	wait "$(cat by.pid)"
	v=$(jq -c 'select(.id == 4 and has("ok")) | .value.value' by.out)
	[ "$v" = "[42]" ] || atf_fail "the other session lost its state: $v"
}

# attack_end: the daemon serves a new session, the other session kept
# its state, no host file changed and every execution has its start and
# its end in the audit log.
attack_end() {
	atf_check -o inline:'[1] 2\n' $SEC -e '1 + 1'
	bystander_check
	host_state >host.after
	diff host.before host.after >&2 || atf_fail "a host file changed"
	starts=$(count 'select(.event == "exec_start")')
	ends=$(count 'select(.event == "exec_end" or .event == "exec_abort")')
	[ "$starts" -ge 2 ] && [ "$starts" -eq "$ends" ] ||
	    atf_fail "audit: $starts exec_start, $ends exec_end"
	kill -0 "$(daemon_pid)" || atf_fail "the daemon died"
}

# count FILTER: how many audit records the jq filter keeps.
count() {
	jq -c "$1" "$AUDIT" | wc -l
}

# audited STATUS [MESSAGE-REGEX]: an exec_end with that status (the
# broker's names: ok, error, timeout, killed, aborted) and message.
audited() {
	n=$(count "select(.event == \"exec_end\" and .status == \"$1\" and
	    ((.message // \"\") | test(\"${2:-}\")))")
	[ "$n" -ge 1 ] || atf_fail "no exec_end with status $1 ${2:-}"
}

# worker_exit CAUSE: the broker recorded a worker ending for that cause.
worker_exit() {
	[ "$(count "select(.event == \"worker_exit\" and .cause == \"$1\")")" \
	    -ge 1 ] || atf_fail "no worker_exit: $1"
}

# Lines for R: each cat() ends without a trailing blank.
R_TRY='f <- function(e) inherits(try(e, silent = TRUE), "try-error")'

has_workers() {
	[ -n "$(worker_pids)" ]
}

atf_test_case inside cleanup
inside_head() {
	atf_set "descr" "inside a worker: a host uid of its own (not 0), " \
	    "NoNewPrivs 1, Seccomp 2, no capabilities, fds 0-3 only"
}
inside_body() {
	attack_start
	$SEC -e 'Sys.sleep(3)' &
	bg=$!
	wait_for "a worker" has_workers
	for p in $(worker_pids); do
		set -- $(awk '/^Uid:/ { print $2, $3, $4, $5 }' /proc/$p/status)
		for u in "$@"; do
			[ "$u" -ne 0 ] && [ "$u" -ge 1000 ] ||
			    atf_fail "worker $p has host uid $u"
		done
		fds=$(ls /proc/$p/fd | sort -n | tr '\n' ' ')
		[ "$fds" = "0 1 2 3 " ] || atf_fail "worker $p has fds $fds"
		grep -q '^Seccomp:.2' /proc/$p/status ||
		    atf_fail "worker $p without seccomp"
	done
	wait $bg
	atf_check -o match:'^NoNewPrivs:.1$' -o match:'^Seccomp:.2$' \
	    -o match:'^CapEff:.0000000000000000$' \
	    -o match:'^CapPrm:.0000000000000000$' \
	    -o match:'^CapAmb:.0000000000000000$' \
	    -o match:'^CapInh:.0000000000000000$' \
	    $SEC -e 'cat(readLines("/proc/self/status"), sep = "\n")'
	# Seen from inside, list.files() itself holds one more fd open.
	atf_check -o inline:'null null null socket\n' $SEC -e '
		d <- "/proc/self/fd"; l <- Sys.readlink(file.path(d, 0:3))
		cat(sub("^(/dev)?/?(null|socket).*", "\\2", l)); cat("\n")'
	atf_check -o inline:'FALSE\n' $SEC -e 'cat(file.exists("/proc/self/fd/4"))
		cat("\n")'
	[ "$(count 'select(.event == "session_open" and .sandbox == "full")')" \
	    -ge 1 ] || atf_fail "a session without the full sandbox"
	attack_end
}
inside_cleanup() { cleanup_daemon; }

atf_test_case run_program cleanup
run_program_head() {
	atf_set "descr" "system(), system2(), pipe(): clean errors, no process starts"
}
run_program_body() {
	attack_start
	atf_check -o inline:'TRUE TRUE TRUE TRUE\n' -e ignore $SEC -e "$R_TRY"'
		a <- f(system("touch /tmp/pwned; id"))
		b <- f(system2("id", stdout = TRUE))
		c <- f(readLines(pipe("id")))
		m <- grepl("running programs is not allowed",
		    tryCatch(system("id"), error = conditionMessage))
		cat(a, b, c, m); cat("\n")'
	atf_check -o inline:'FALSE\n' $SEC -e 'cat(file.exists("/tmp/pwned")); cat("\n")'
	audited ok
	attack_end
}
run_program_cleanup() { cleanup_daemon; }

atf_test_case fork cleanup
fork_head() {
	atf_set "descr" "mcparallel in a loop: unable to fork; no process started"
}
fork_body() {
	# No ready workers: one replaced while this runs would be a broker
	# child that no fork made.
	attack_start "workers ready 0"
	before=$(daemon_children | wc -l)
	atf_check -s exit:1 -e match:'unable to fork' $SEC -e '
		for (i in 1:200) parallel::mcparallel(Sys.sleep(10))'
	# Nothing was started: the broker has the same children (monitor,
	# template, the bystander's worker); a fork would be one more.
	after=$(daemon_children | wc -l)
	[ "$after" -eq "$before" ] || atf_fail "broker children: $before -> $after"
	audited error 'unable to fork'
	attack_end
}
fork_cleanup() { cleanup_daemon; }

atf_test_case host_files cleanup
host_files_head() {
	atf_set "descr" "HOME, /etc, /usr read-only; ~/.ssh, /root, /etc/shadow, /home absent"
}
host_files_body() {
	attack_start
	tag=securer-attack-$$
	atf_check -o inline:'FALSE FALSE FALSE FALSE FALSE FALSE\nTRUE TRUE TRUE TRUE\n' \
	    -e ignore $SEC -e "$R_TRY"'
		cat(file.exists("/etc/shadow", "/root", "/home", "~/.ssh",
		    "/run", "'"$PWD"'/canary/file")); cat("\n")
		w <- function(p) f(writeLines("x", p))
		cat(w("/etc/passwd"), w("/usr/lib/R/'"$tag"'"), w("/'"$tag"'"),
		    w("'"$PWD"'/canary/file")); cat("\n")'
	[ ! -e /usr/lib/R/$tag ] && [ ! -e /$tag ] || atf_fail "wrote on the host"
	audited ok
	attack_end
}
host_files_cleanup() { cleanup_daemon; }

atf_test_case secrets cleanup
secrets_head() {
	atf_set "descr" "only allowlisted variables; no secret in env, environ or /proc"
}
secrets_body() {
	export SECURER_TEST_SECRET=hunter2-token
	attack_start
	$SEC -e 'cat(names(Sys.getenv()), sep = "\n")' >names
	# SECURER_INPUT, SECURER_OUTPUT: the session's file directories.
	ok='^(HOME|LANG|LC_[A-Z]+|LOGNAME|PATH|TMPDIR|TZ|USER|R_[A-Z0-9_]+|EDITOR|PAGER|SECURER_INPUT|SECURER_OUTPUT)$'
	bad=$(grep -vE "$ok" names | tr '\n' ' ')
	[ -z "$bad" ] || atf_fail "unexpected variables: $bad"
	# The broker's environ and argv, another session's, its own.
	atf_check -o inline:'FALSE\n1\n' -e ignore $SEC -e '
		r <- function(p) tryCatch(paste(rawToChar(readBin(p, "raw", 1e6),
		    multiple = TRUE), collapse = ""), error = function(e) "")
		s <- c(r("/proc/self/environ"), r("/proc/self/cmdline"),
		    r("/proc/1/environ"), r("/proc/1/cmdline"),
		    Sys.getenv(), commandArgs())
		cat(any(grepl("hunter2", s))); cat("\n")
		cat(list.files("/proc", pattern = "^[0-9]+$")); cat("\n")'
	audited ok
	attack_end
}
secrets_cleanup() { cleanup_daemon; }

atf_test_case network cleanup
network_head() {
	atf_set "descr" "sockets, url(), download.file(), servers, the daemon socket: clean errors"
}
network_body() {
	attack_start
	atf_check -o inline:'TRUE TRUE TRUE TRUE TRUE\nFALSE FALSE\n' -e ignore \
	    $SEC -e "$R_TRY"'
		cat(f(socketConnection("127.0.0.1", 22, timeout = 2)),
		    f(readLines(url("http://127.0.0.1/"))),
		    f(suppressWarnings(download.file("http://example.com",
		        tempfile(), quiet = TRUE))),
		    f(serverSocket(8080)),
		    f(socketConnection("localhost", 8081, server = TRUE,
		        timeout = 1))); cat("\n")
		cat(file.exists("'"$SOCK"'", "/run/securer")); cat("\n")'
	# Its network namespace: a loopback that is down, no socket in it.
	atf_check -o inline:'lo\n0\n0\n' $SEC -e '
		cat(sub(":.*", "", trimws(readLines("/proc/net/dev")[-(1:2)])))
		cat("\n", length(readLines("/proc/net/unix")) - 1, "\n",
		    length(readLines("/proc/net/tcp")) - 1, "\n", sep = "")'
	audited ok
	attack_end
}
network_cleanup() { cleanup_daemon; }

atf_test_case other_sessions cleanup
other_sessions_head() {
	atf_set "descr" "a session sees only itself: pid 1 alone, its own /tmp, no signals out"
}
other_sessions_body() {
	attack_start
	$SEC -e 'writeLines("mine", "/tmp/marker"); Sys.sleep(3)' &
	bg=$!
	sleep 1
	atf_check -o inline:'1\nFALSE\nFALSE FALSE\n' $SEC -e '
		cat(list.files("/proc", pattern = "^[0-9]+$")); cat("\n")
		cat(file.exists("/tmp/marker")); cat("\n")
		cat(tools::pskill(2L), tools::pskill('"$(daemon_pid)"'L)); cat("\n")'
	wait $bg || atf_fail "the other session was disturbed"
	kill -0 "$(daemon_pid)" || atf_fail "the daemon was signalled"
	audited ok
	attack_end
}
other_sessions_cleanup() { cleanup_daemon; }

atf_test_case tty cleanup
tty_head() {
	atf_set "descr" "no controlling tty, no /dev/tty (TIOCSTI and TIOCLINUX: t_filter)"
}
tty_body() {
	attack_start
	atf_check -o inline:'0 FALSE FALSE\n' $SEC -e '
		st <- strsplit(readLines("/proc/self/stat"), " ")[[1]]
		cat(st[7], file.exists("/dev/tty"), file.exists("/dev/pts"))
		cat("\n")'
	audited ok
	attack_end
}
tty_cleanup() { cleanup_daemon; }

atf_test_case native_code cleanup
native_code_head() {
	atf_set "descr" "a .so copied to tempdir cannot be loaded (memfd, W+X: t_filter)"
}
native_code_body() {
	attack_start
	atf_check -o match:'^TRUE Error in dyn.load' \
	    -o match:'failed to map segment' $SEC -e '
		so <- file.path(tempdir(), "evil.so")
		file.copy(file.path(R.home("library"), "stats/libs/stats.so"), so)
		r <- try(dyn.load(so), silent = TRUE)
		cat(inherits(r, "try-error"), r, "\n")'
	audited ok
	attack_end
}
native_code_cleanup() { cleanup_daemon; }

atf_test_case kernel_surface cleanup
kernel_surface_head() {
	atf_set "descr" "what R reaches of the kernel: /proc/sys writes refused, no devices " \
	    "(namespaces, mount, bpf, io_uring, keyctl...: t_filter)"
}
kernel_surface_body() {
	attack_start
	# Its /proc/sys is a few generated files on its read-only root
	# (ns_last_pid and the rest are not there at all).
	atf_check -o inline:'securer TRUE securer FALSE\ndev fd null random urandom zero\n' -e ignore $SEC -e "$R_TRY"'
		p <- "/proc/sys/kernel/hostname"
		a <- readLines(p); w <- f(writeLines("pwned", p))
		cat(a, w, readLines(p),
		    file.exists("/proc/sys/kernel/ns_last_pid")); cat("\n")
		cat("dev", sort(list.files("/dev"))); cat("\n")'
	audited ok
	attack_end
}
kernel_surface_cleanup() { cleanup_daemon; }

# in_session code1 code2: both executions, one after the other, in one
# new session of its own; the replies in s.out.
in_session() {
	rm -f s.in s.out
	mkfifo s.in
	"$B/regress/sockcat" -n 4 "$SOCK" <s.in >s.out &
	sp=$!
	exec 8>s.in
	printf '%s\n%s\n' "$HELLO" "$CREATE" >&8
	wait_for "a session" grep -q '"id":2,"ok":true' s.out
	sid=$(jq -r 'select(.id == 2) | .session' s.out)
	jq -nc --arg s "$sid" --arg c "$1" \
	    '{id: 3, op: "execute", session: $s, code: $c, timeout: 30}' >&8
	wait_for "the first execution" sh -c \
	    "jq -e 'select(.id == 3 and has(\"ok\"))' s.out >/dev/null"
	jq -nc --arg s "$sid" --arg c "$2" \
	    '{id: 4, op: "execute", session: $s, code: $c}' >&8
	exec 8>&-
	wait $sp
}

# No worker ended in a sandbox violation.
no_violation() {
	n=$(count 'select(.event == "worker_exit" and
	    (.cause | test("violation")))')
	[ "$n" -eq 0 ] || atf_fail "$n workers died of a sandbox violation"
}

atf_test_case ordinary_r cleanup
ordinary_r_head() {
	atf_set "descr" "names of unmapped owners and unknown users, FIFOs, " \
	    "server sockets, priorities: R values and R errors, the worker lives on"
}
ordinary_r_body() {
	attack_start
	in_session '
		x <- 1L
		i <- file.info(c("/usr/lib/R", "/tmp/home"))
		stopifnot(i$uname == c("nobody", "securer"),
		    i$grname == c("nogroup", "securer"),
		    path.expand("~nosuchuser") == "~nosuchuser",
		    path.expand("~securer") == "/tmp/home",
		    Sys.info()[["user"]] == "securer",
		    utils::nsl("localhost") == "127.0.0.1")
		e <- function(expr) inherits(try(expr, silent = TRUE),
		    "try-error")
		stopifnot(e(fifo(file.path(tempdir(), "f"), "w+")),
		    e(serverSocket(8080)),
		    e(socketConnection(port = 8081, server = TRUE,
		        timeout = 1)),
		    e(utils::make.socket("localhost", 80)),
		    e(url("http://localhost/", open = "r")))
		invisible(suppressWarnings(tools::psnice(value = 5)))
		x <- x + 1L
		"done"' 'x + 40L'
	r3=$(jq -c 'select(.id == 3 and has("ok")) |
	    [.ok, .value.value, .error.message]' s.out)
	[ "$r3" = '[true,["done"],null]' ] || atf_fail "the lookups and refusals: $r3"
	r4=$(jq -c 'select(.id == 4 and has("ok")) | [.ok, .value.value]' s.out)
	[ "$r4" = '[true,[42]]' ] || atf_fail "the worker did not live on: $r4"
	no_violation
	attack_end
}
ordinary_r_cleanup() { cleanup_daemon; }

# A host value that shows inside: the worker tells one host from another.
host_shows() {
	[ -n "$2" ] && grep -qF -- "$2" inside.out &&
	    atf_fail "the host's $1 shows inside: $2"
	true
}

atf_test_case fingerprint cleanup
fingerprint_head() {
	atf_set "descr" "nothing identifies the host: host name, /proc files, " \
	    "clocks, cgroup, uid map and binary are the worker's own"
}
fingerprint_body() {
	attack_start 'memory 256M max 1G'
	$SEC -e '
		r <- function(p) tryCatch(paste(readLines(p, warn = FALSE),
		    collapse = "\n"), error = function(e) "(absent)")
		for (p in c("/proc/sys/kernel/hostname", "/proc/cmdline",
		    "/proc/version", "/proc/sys/kernel/random/boot_id",
		    "/proc/meminfo", "/proc/loadavg", "/proc/stat",
		    "/proc/uptime", "/proc/self/cgroup", "/proc/self/uid_map",
		    "/proc/self/mountinfo"))
			cat("== ", p, "\n", r(p), "\n", sep = "")
		cat("== nodename\n", Sys.info()[["nodename"]], "\n", sep = "")
		cat("== exe\n", Sys.readlink("/proc/self/exe"), "\n", sep = "")
		cat("== proc\n", paste(sort(list.files("/proc")), collapse = " "),
		    "\n", sep = "")
		st <- strsplit(readLines("/proc/self/stat"), " ")[[1]]
		cat("== starttime\n", st[22], "\n", sep = "")' >inside.out ||
	    atf_fail "the probe failed"
	cat inside.out
	section() {
		awk -v s="== $1" '$0 == s { on = 1; next } /^== / { on = 0 }
		    on' inside.out
	}
	[ "$(hostname)" = securer ] || host_shows "host name" "$(hostname)"
	[ "$(section nodename)" = securer ] || atf_fail "nodename $(section nodename)"
	[ "$(section /proc/sys/kernel/hostname)" = securer ] ||
	    atf_fail "/proc/sys/kernel/hostname"
	host_shows "kernel command line" "$(cat /proc/cmdline)"
	host_shows "kernel build string" "$(cat /proc/version)"
	host_shows "boot_id" "$(cat /proc/sys/kernel/random/boot_id)"
	host_shows "boot time" "btime $(awk '/^btime/ { print $2 }' /proc/stat)"
	host_shows "memory" "$(awk '/^MemTotal/ { print $2 }' /proc/meminfo) kB"
	host_shows "build directory" "$B"
	host_shows "work directory" "$PWD"
	section /proc/meminfo | grep -q '^MemTotal: *262144 kB$' ||
	    atf_fail "MemTotal is not the memory limit"
	[ "$(section /proc/loadavg)" = "0.00 0.00 0.00 1/1 1" ] ||
	    atf_fail "loadavg: $(section /proc/loadavg)"
	section /proc/stat | awk '/^(cpu|intr|ctxt|softirq)/ {
	    for (i = 2; i <= NF; i++) if ($i != 0) bad = 1 } END { exit bad }' ||
	    atf_fail "/proc/stat counts the host's: $(section /proc/stat)"
	# Its cgroup namespace is rooted at its own cgroup.
	bad=$(section /proc/self/cgroup | grep -v ':/$' || true)
	[ -z "$bad" ] || atf_fail "cgroup paths: $bad"
	[ "$(section exe)" = "/memfd:securer-worker (deleted)" ] ||
	    atf_fail "exe: $(section exe)"
	if grep -q 'procfs without subset=pid' daemon.log; then
		echo "this kernel has no procfs subset=pid (Linux 5.8):" \
		    "the host-wide files of /proc not replaced stay" >&2
	else
		extra=$(section proc | tr ' ' '\n' | grep -vxE \
		    '1|cmdline|cpuinfo|loadavg|meminfo|mounts|net|pid|self|stat|sys|thread-self|uptime|version' || true)
		[ -z "$extra" ] || atf_fail "more in /proc: $extra"
	fi
	up=$(cut -d. -f1 /proc/uptime)
	if grep -q 'no time namespaces' daemon.log; then
		echo "this kernel has no time namespaces (Linux 5.6):" \
		    "the host's uptime shows" >&2
	elif [ "$up" -gt 600 ]; then
		# Its clocks started with it: its start is ticks from 0.
		[ "$(section starttime)" -lt 30000 ] ||
		    atf_fail "start time $(section starttime) ticks after boot"
	fi
	# Its host uid is drawn from the whole range: the first ones the
	# daemon hands out do not count the workers before them.
	base=$("$B/securerd" -n -v -f "$PWD/conf" 2>/dev/null |
	    awk '/^worker uids/ { print $3 }')
	[ -n "$base" ] || atf_fail "no worker uid range"
	low=0
	for i in 1 2 3; do
		u=$($SEC -e 'cat(scan("/proc/self/uid_map", quiet = TRUE)[2])')
		[ "$u" -lt $((base + 1000)) ] && low=$((low + 1))
	done
	[ "$low" -lt 3 ] || atf_fail "the uids count the workers: all near $base"
	audited ok
	attack_end
}
fingerprint_cleanup() { cleanup_daemon; }

atf_test_case cpu_time cleanup
cpu_time_head() {
	atf_set "descr" "repeat {}, Sys.sleep(1e6): killed at the deadline, timed out"
}
cpu_time_body() {
	attack_start
	atf_check -s exit:1 -e match:'timed out' $SEC -t 2 -e 'repeat {}'
	atf_check -s exit:1 -e match:'timed out' $SEC -t 1 -e 'Sys.sleep(1e6)'
	audited timeout 'timed out after 2 seconds'
	audited timeout 'timed out after 1 seconds?'
	[ "$(count 'select(.event == "timeout")')" -ge 2 ] ||
	    atf_fail "no timeout records"
	attack_end
}
cpu_time_cleanup() { cleanup_daemon; }

atf_test_case cpu_limit cleanup
cpu_limit_head() {
	atf_set "descr" "a busy loop past the CPU limit: CPU time limit exceeded"
}
cpu_limit_body() {
	attack_start 'cpu 1 max 10'
	atf_check -s exit:1 -e match:'CPU time limit exceeded' \
	    $SEC -t 30 -e 'repeat {}'
	audited killed 'CPU time limit exceeded'
	worker_exit 'CPU time limit exceeded'
	attack_end
}
cpu_limit_cleanup() { cleanup_daemon; }

atf_test_case memory cleanup
memory_head() {
	atf_set "descr" "a huge vector, a leak: cannot allocate"
}
memory_body() {
	attack_start
	atf_check -s exit:1 -e match:'cannot allocate' $SEC -e 'x <- numeric(1e10)'
	atf_check -s exit:1 -e match:'cannot allocate|memory limit exceeded' \
	    $SEC -t 60 -e 'v <- list(); repeat v[[length(v) + 1]] <- numeric(1e6)'
	audited error 'cannot allocate vector of size 74.5 Gb'
	attack_end
}
memory_cleanup() { cleanup_daemon; }

atf_test_case oom cleanup
oom_head() {
	atf_set "descr" "memory the rlimit lets through (tmpfs pages) hits the " \
	    "cgroup: killed, memory limit exceeded"
}
oom_body() {
	[ "$(id -u)" -eq 0 ] || atf_skip "cgroups need root"
	attack_start 'memory 200M max 8G' 'tmpfs 1G max 1G'
	atf_check -s exit:1 -e match:'memory limit exceeded' $SEC -t 60 -e '
		for (i in 1:20) writeBin(raw(40e6), file.path(tempdir(), i))'
	audited killed 'memory limit exceeded'
	worker_exit 'memory limit exceeded'
	[ "$(count 'select(.event == "session_restart" and
	    .reason == "memory limit exceeded")')" -ge 1 ] ||
	    atf_fail "no session_restart record"
	attack_end
}
oom_cleanup() { cleanup_daemon; }

atf_test_case disk cleanup
disk_head() {
	atf_set "descr" "a huge file, many small files: clean errors at the size and inode limits"
}
disk_body() {
	attack_start
	atf_check -s exit:1 -e match:'Error' $SEC -e '
		con <- file(file.path(tempdir(), "big"), "wb")
		for (i in 1:200) writeBin(raw(1e6), con); close(con)
		stop("not stopped at the limit")'
	atf_check -s exit:1 -e match:'inode limit at' $SEC -e '
		for (i in 1:100000) if (!file.create(file.path(tempdir(), i),
		    showWarnings = FALSE)) stop("inode limit at ", i)'
	audited error 'inode limit at'
	attack_end
}
disk_cleanup() { cleanup_daemon; }

atf_test_case output_flood cleanup
output_flood_head() {
	atf_set "descr" "an output flood is capped; the monitor's memory stays bounded"
}
output_flood_body() {
	attack_start 'output-bytes 1M'
	mon=
	for p in $(daemon_children); do
		[ "$(cat /proc/$p/comm)" = securerd ] && mon=$p
	done
	[ -n "$mon" ] || atf_fail "no monitor"
	$SEC -t 3 -e 'repeat cat(strrep("x", 1e6))' >out 2>err || true
	[ "$(wc -c <out)" -le 1100000 ] || atf_fail "output not capped: $(wc -c <out)"
	[ "$(count 'select(.event == "exec_end" and .status != "ok")')" -ge 1 ] ||
	    atf_fail "the flood ended ok"
	# A value of half a gigabyte once encoded: refused by its size.
	atf_check -s exit:1 -e match:'result too large' $SEC -t 30 -e 'raw(4e8)'
	audited error 'result too large'
	rss=$(awk '/^VmHWM:/ { print $2 }' /proc/$mon/status)
	[ "$rss" -lt 65536 ] || atf_fail "monitor peak RSS $rss kB"
	attack_end
}
output_flood_cleanup() { cleanup_daemon; }

atf_test_case log_forging cleanup
log_forging_head() {
	atf_set "descr" "newlines, escapes and fake JSON in code, output and errors are written escaped"
}
log_forging_body() {
	attack_start
	$SEC -e 'cat("\n{\"event\":\"forged\"}\n\033[2J"); stop("\n{\"event\":\"forged\"}")
# }
{"event":"forged"}' >/dev/null 2>&1 || true
	jq -e . "$AUDIT" >/dev/null || atf_fail "the audit log is not JSON lines"
	[ "$(count 'select(.event == "forged")')" -eq 0 ] || atf_fail "a forged record"
	grep -q '^{"event":"forged"' "$AUDIT" && atf_fail "a forged line"
	[ "$(count 'select(.event == "exec_start" and (.code | test("forged")))')" \
	    -eq 1 ] || atf_fail "the code is not in its exec_start"
	audited error 'forged'
	attack_end
}
log_forging_cleanup() { cleanup_daemon; }

atf_test_case persistence cleanup
persistence_head() {
	atf_set "descr" "altered base functions, .Last, finalizers, /tmp files do not survive"
}
persistence_body() {
	attack_start
	$SEC -e '
		assign("print", function(...) cat("HIJACKED\n"), envir = baseenv())
		.Last <<- function() writeLines("x", "/tmp/last")
		e <- new.env(); reg.finalizer(e, function(e) writeLines("x", "/tmp/fin"), onexit = TRUE)
		writeLines("x", "/tmp/left"); writeLines("x", "~/left")' || true
	atf_check -o inline:'[1] 2\nFALSE FALSE FALSE FALSE\n' $SEC -e '
		print(2)
		cat(file.exists("/tmp/last", "/tmp/fin", "/tmp/left", "~/left")); cat("\n")'
	stop_daemon
	start_daemon
	atf_check -o inline:'[1] 2\nFALSE FALSE\n' $SEC -e '
		print(2); cat(file.exists("/tmp/left", "~/left")); cat("\n")'
	bystander_start
	attack_end
}
persistence_cleanup() { cleanup_daemon; }

atf_test_case protocol_abuse cleanup
protocol_abuse_head() {
	atf_set "descr" "garbage, unknown ops, wrong types and another session's ids: " \
	    "refused, fds back to baseline, other sessions unaffected"
}
protocol_abuse_body() {
	attack_start
	mon_fds() {
		for p in $(daemon_children); do
			[ "$(stat -c %u /proc/$p)" -ne 0 ] &&
			    [ "$(cat /proc/$p/comm)" = securerd ] &&
			    ls /proc/$p/fd | wc -l
		done
	}
	fds_back() {
		[ "$(mon_fds)" = "$base" ]
	}
	base=$(mon_fds)
	raw 'garbage' "$HELLO" '{"id":7,"op":"frobnicate"}' \
	    '{"id":8,"op":"execute","session":"'"$BYSID"'","code":"x <- 0L"}' \
	    '{"id":9,"op":"session.close","session":"'"$BYSID"'"}' \
	    '{"id":10,"op":"execute","session":42,"code":["q()"]}' \
	    '{"id":11,"op":"execute","session":"'"$BYSID"'","code":"q()","timeout":-1}' \
	    >replies
	for id in 8 9 11; do
		e=$(jq -r "select(.id == $id) | .error.code" replies)
		[ "$e" = no_such_session ] || atf_fail "request $id: $e"
	done
	[ "$(jq -r 'select(.id == 10) | .ok' replies)" = false ] ||
	    atf_fail "a malformed execute was accepted"
	# A flood of connections that go away at once.
	i=0
	pids=
	while [ $i -lt 50 ]; do
		printf '%s\n' "$HELLO" | "$B/regress/sockcat" -n 1 "$SOCK" \
		    >/dev/null &
		pids="$pids $!"
		i=$((i + 1))
	done
	wait $pids
	wait_for "fds back at $base" fds_back
	attack_end
}
protocol_abuse_cleanup() { cleanup_daemon; }

atf_test_case daemon_paths cleanup
daemon_paths_head() {
	atf_set "descr" "audit log or socket pre-created as a symlink, FIFO or file: " \
	    "start-up refuses, the target untouched"
}
daemon_paths_body() {
	securer_init
	echo precious >target
	sum=$(md5sum <target)
	write_conf
	for kind in symlink fifo; do
		rm -f "$AUDIT"
		case $kind in
		symlink) ln -s "$PWD/target" "$AUDIT" ;;
		fifo)	mkfifo "$AUDIT" ;;
		esac
		atf_check -s not-exit:0 -e not-empty -o ignore \
		    timeout 10 "$B/securerd" -d -f "$PWD/conf"
	done
	rm -f "$AUDIT"
	for kind in symlink file; do
		rm -f "$SOCK"
		case $kind in
		symlink) ln -s "$PWD/target" "$SOCK" ;;
		file)	echo precious >"$SOCK" ;;
		esac
		atf_check -s not-exit:0 -e not-empty -o ignore \
		    timeout 10 "$B/securerd" -d -f "$PWD/conf"
	done
	[ "$(md5sum <target)" = "$sum" ] || atf_fail "the target changed"
	[ -L "$SOCK" ] || [ -f "$SOCK" ] || atf_fail "the socket path was replaced"
}
daemon_paths_cleanup() { cleanup_daemon; }

atf_test_case strict_session cleanup
strict_session_head() {
	atf_set "descr" "sandbox_strict sessions: full here"
}
strict_session_body() {
	attack_start
	raw "$HELLO" '{"id":2,"op":"session.create","sandbox_strict":true}' >replies
	atf_check -o inline:'"full"\n' jq -c 'select(.id == 2) | .sandbox' replies
	$SEC -e '1' >/dev/null
	attack_end
}
strict_session_cleanup() { cleanup_daemon; }

atf_test_case monitor cleanup
monitor_head() {
	atf_set "descr" "the monitor: its own user, chrooted to an empty directory, " \
	    "no_new_privs, its own seccomp filter, no capabilities, no fds a worker could use"
}
monitor_body() {
	attack_start
	mon=
	for p in $(daemon_children); do
		[ "$(cat /proc/$p/comm)" = securerd ] && mon=$p
	done
	[ -n "$mon" ] || atf_fail "no monitor"
	st=/proc/$mon/status
	u=$(awk '/^Uid:/ { print $2 }' $st)
	[ "$u" -ne 0 ] || atf_fail "the monitor runs as root"
	grep -q '^NoNewPrivs:.1$' $st || atf_fail "monitor: no NoNewPrivs"
	grep -q '^Seccomp:.2$' $st || atf_fail "monitor: no seccomp filter"
	grep -q '^CapEff:.0000000000000000$' $st || atf_fail "monitor: capabilities"
	root=$(readlink /proc/$mon/root)
	[ "$root" != / ] || atf_fail "monitor not chrooted"
	[ -z "$(ls -A /proc/$mon/root/ 2>/dev/null)" ] ||
	    atf_fail "the monitor's root is not empty"
	# Its fds past stdio (a foreground daemon's, the test's files):
	# sockets, libevent's epoll and pipes; no file, no directory.
	for f in /proc/$mon/fd/*; do
		case "${f##*/}" in
		0|1|2)	continue ;;
		esac
		case "$(readlink $f)" in
		socket:*|anon_inode:*|pipe:*|/dev/null) ;;
		*)	atf_fail "monitor fd $f: $(readlink $f)" ;;
		esac
	done
	attack_end
}
monitor_cleanup() { cleanup_daemon; }

# cgroups_of pid: its worker cgroups exist; no_cgroups_of pid: nothing.
cgroups_of() {
	for d in /sys/fs/cgroup/*/securer.$1/w* /sys/fs/cgroup/securer.$1/w*; do
		[ -d "$d" ] && return 0
	done
	return 1
}

no_cgroups_of() {
	for d in /sys/fs/cgroup/*/securer.$1 /sys/fs/cgroup/securer.$1; do
		[ -d "$d" ] && return 1
	done
	return 0
}

atf_test_case cgroup_sweep cleanup
cgroup_sweep_head() {
	atf_set "descr" "a broker killed with SIGKILL leaves cgroups; the next start removes them"
}
cgroup_sweep_body() {
	[ "$(id -u)" -eq 0 ] || atf_skip "cgroups need root"
	[ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] ||
	    atf_skip "no cgroups"
	start_daemon
	$B/securer -s "$SOCK" -e 'Sys.sleep(1)' >/dev/null 2>&1 &
	bg=$!
	old=$(daemon_pid)
	wait_for "its cgroups" cgroups_of "$old"
	kids=$(daemon_children)
	kill -KILL "$old" $kids
	wait $bg
	rm -f daemon.pid "$SOCK"
	start_daemon
	wait_for "the old cgroups to go" no_cgroups_of "$old"
	atf_check -o inline:'[1] 2\n' $B/securer -s "$SOCK" -e '1 + 1'
}
cgroup_sweep_cleanup() { cleanup_daemon; }

# Runs a command as an unprivileged user.
NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups"

atf_test_case single_user cleanup
single_user_head() {
	atf_set "descr" "securerd run by an unprivileged user: starts with " \
	    "sandbox fallback, runs code filtered, its monitor filtered too"
}
single_user_body() {
	[ "$(id -u)" -eq 0 ] || atf_skip "needs root to become nobody"
	command -v setpriv >/dev/null || atf_skip "no setpriv"
	securer_init
	$NOBODY test -x "$B/securerd" || atf_skip "nobody cannot run $B"
	d=$(mktemp -d /tmp/securer-su.XXXXXX)
	echo "$d" >su.dir
	chown nobody:nogroup "$d"
	printf 'socket "%s"\naudit "%s"\nsandbox fallback\n' "$d/sock" \
	    "$d/audit.jsonl" >"$d/conf"
	$NOBODY "$B/securerd" -d -f "$d/conf" 2>daemon.log &
	echo $! >su.pid
	wait_for "the daemon" test -S "$d/sock"
	atf_check -o inline:'[1] 2\n' $NOBODY "$B/securer" -s "$d/sock" -e '1 + 1'
	atf_check -o match:'^NoNewPrivs:.1$' -o match:'^Seccomp:.2$' \
	    -o match:'^CapEff:.0000000000000000$' \
	    $NOBODY "$B/securer" -s "$d/sock" -e \
	    'cat(readLines("/proc/self/status"), sep = "\n")'
	# Past the R-level refusal of system(): the kernel's, for fork.
	atf_check -s exit:1 -e match:'unable to fork|error' \
	    $NOBODY "$B/securer" -s "$d/sock" -e \
	    'if (.Internal(system("id", FALSE, 0L)) != 0) stop("error")'
	for p in $(pgrep -P "$(cat su.pid)"); do
		[ "$(cat /proc/$p/comm)" = securerd ] || continue
		grep -q '^Seccomp:.2$' /proc/$p/status ||
		    atf_fail "single-user monitor without seccomp"
	done
	[ "$(jq -r 'select(.event == "session_open") | .sandbox' \
	    "$d/audit.jsonl" | sort -u)" = partial ] ||
	    atf_fail "sessions do not say partial"
}
single_user_cleanup() {
	[ -f su.pid ] && kill "$(cat su.pid)" 2>/dev/null
	sleep 0.2
	[ -f su.dir ] && rm -rf "$(cat su.dir)"
	true
}

# loop_start: a third session running 1 + 1 back to back (each request
# sent once the last is answered) until loop.stop exists.
loop_start() {
	rm -f loop.in loop.stop
	mkfifo loop.in
	"$B/regress/sockcat" "$SOCK" <loop.in >loop.out &
	echo $! >loop.pid
	exec 8>loop.in
	printf '%s\n%s\n' "$HELLO" "$CREATE" >&8
	wait_for "the loop's session" grep -q '"id":2,"ok":true' loop.out
	lsid=$(jq -r 'select(.id == 2) | .session' loop.out)
	(
		n=10
		while [ ! -f loop.stop ]; do
			printf '{"id":%d,"op":"execute","session":"%s",' $n "$lsid"
			printf '"code":"1 + 1"}\n'
			until grep -q "\"id\":$n,\"ok\"" loop.out; do
				sleep 0.005
			done
			n=$((n + 1))
		done
	) >&8 &
	echo $! >loopw.pid
}

# loop_check: every execution of the loop was answered with its value.
loop_check() {
	touch loop.stop
	wait "$(cat loopw.pid)"
	exec 8>&-
	kill "$(cat loop.pid)" 2>/dev/null
	ok=$(jq -c 'select(.id >= 10 and .ok == true and
	    .value.value == [2])' loop.out | wc -l)
	bad=$(jq -c 'select(.id >= 10 and .ok == false)' loop.out | wc -l)
	[ "$bad" -eq 0 ] || atf_fail "the loop got $bad errors"
	[ "$ok" -ge 10 ] || atf_fail "the loop ran only $ok executions"
	echo "the loop ran $ok executions" >&2
}

# records: the audit log, with what was rotated out of it, in order.
records() {
	cat audit.jsonl.[0-9]* audit.jsonl 2>/dev/null
}

# ms_between t1 t2: milliseconds from one audit time to another.
ms_between() {
	echo $(( ($(date -d "$2" +%s%6N) - $(date -d "$1" +%s%6N)) / 1000 ))
}

atf_test_case idle_run cleanup
idle_run_head() {
	atf_set "descr" "native code forges its execution's result and " \
	    "keeps running: killed within 100 ms, audited, the session's " \
	    "next execution told, the next runs in a fresh worker"
}
idle_run_body() {
	idle_run_with
}

# idle_run_with [conf lines]: the attack, on a daemon configured so.
idle_run_with() {
	securer_init
	# Outside /tmp, which workers do not see of the host.
	lib=$(mktemp -d /var/tmp/securer-forge.XXXXXX)
	echo "$lib" >lib.dir
	cp "$B/regress/forge.so" "$lib/"
	chmod 755 "$lib" "$lib/forge.so"
	attack_start "library \"$lib\"" "$@"
	loop_start
	rm -f att.in
	mkfifo att.in
	"$B/regress/sockcat" "$SOCK" <att.in >att.out &
	echo $! >att.pid
	exec 9>att.in
	printf '%s\n%s\n' "$HELLO" "$CREATE" >&9
	wait_for "the attacker's session" grep -q '"id":2,"ok":true' att.out
	asid=$(jq -r 'select(.id == 2) | .session' att.out)
	printf '{"id":3,"op":"execute","session":"%s","code":"y <- 1L"}\n' \
	    "$asid" >&9
	wait_for "the attacker's state" grep -q '"id":3,"ok":true' att.out
	# Held still while idle: its worker is stopped.
	sleep 0.2
	st=$(for p in $(worker_pids); do
		awk '{ print $3 }' "/proc/$p/stat"; done | sort -u | tr -d '\n')
	case "$st" in
	*T*)	;;
	*)	atf_fail "no idle worker is stopped (states $st)" ;;
	esac

	code="dyn.load('$lib/forge.so')
f <- '$lib/id'
while (!file.exists(f)) Sys.sleep(0.01)
w <- .C('forge_result', as.integer(readLines(f)), 0L)[[2]]
repeat {}"
	jq -cn --arg s "$asid" --arg c "$code" \
	    '{id: 4, op: "execute", session: $s, code: $c, timeout: 3}' >&9
	exec_id() {
		jq -r "select(.event == \"exec_start\" and
		    .session == \"$asid\") | .exec" audit.jsonl | tail -1
	}
	wait_for "its start" test "$(exec_id)" != "$(jq -r "select(.event ==
	    \"exec_end\" and .session == \"$asid\") | .exec" audit.jsonl |
	    tail -1)"
	eid=$(exec_id)
	echo "$eid" >"$lib/id.new"
	chmod 644 "$lib/id.new"
	mv "$lib/id.new" "$lib/id"
	wait_for "the forged result" grep -q '"id":4,' att.out
	grep '"id":4,' att.out >&2
	[ "$(jq -c 'select(.id == 4) | .value.value' att.out)" = \
	    '["forged"]' ] || atf_fail "the forged result did not come"
	wait_for "the violation" grep -q '"event":"protocol_violation"' \
	    audit.jsonl
	records | jq -c "select(.exec == $eid or
	    .event == \"protocol_violation\")" >&2
	end=$(records | jq -r "select(.event == \"exec_end\" and
	    .exec == $eid) | .time")
	pv=$(records | jq -r "select(.event == \"protocol_violation\" and
	    .session == \"$asid\") | .time")
	[ -n "$end" ] && [ -n "$pv" ] || atf_fail "no end or no violation"
	records | jq -r 'select(.event == "protocol_violation") | .what' |
	    grep -q 'after its job ended' ||
	    atf_fail "the violation does not say what it was"
	ms=$(ms_between "$end" "$pv")
	echo "killed and audited ${ms} ms after its end" >&2
	[ "$ms" -lt 100 ] || atf_fail "audited $ms ms after its end"
	wid=$(records | jq -r "select(.event == \"protocol_violation\") |
	    .worker")
	exited() {
		records | jq -c "select(.event == \"worker_exit\" and
		    .worker == $wid)" | grep -q .
	}
	wait_for "its exit" exited
	wx=$(records | jq -r "select(.event == \"worker_exit\" and
	    .worker == $wid) | .time")
	# Killed when the violation is audited; the kernel's teardown of
	# the dead process is the rest.
	ms=$(ms_between "$end" "$wx")
	echo "reaped ${ms} ms after its end" >&2
	[ "$ms" -lt 1000 ] || atf_fail "the worker went $ms ms after its end"

	# The next execution says so, the one after runs in a fresh worker.
	printf '{"id":5,"op":"execute","session":"%s","code":"1"}\n' \
	    "$asid" >&9
	wait_for "the next execution" grep -q '"id":5,' att.out
	grep '"id":5,' att.out >&2
	[ "$(jq -r 'select(.id == 5) | .error.code' att.out)" = protocol ] ||
	    atf_fail "the next execution was not told"
	jq -r 'select(.id == 5) | .error.message' att.out |
	    grep -q 'killed while the session was idle' ||
	    atf_fail "the next execution's error does not say why"
	printf '{"id":6,"op":"execute","session":"%s","code":"exists(\\"y\\")"}\n' \
	    "$asid" >&9
	wait_for "an execution in a fresh worker" grep -q '"id":6,' att.out
	[ "$(jq -c 'select(.id == 6) | .value.value' att.out)" = '[false]' ] ||
	    atf_fail "not a fresh worker: $(grep '"id":6,' att.out)"

	# The worker's own native, called by the code: its result goes when
	# the code ends, which its deadline sees to.
	jq -cn --arg s "$asid" --arg c '.Call(getNativeSymbolInfo(
	    "securer_result", "(embedding)"), "fake", TRUE); repeat {}' \
	    '{id: 7, op: "execute", session: $s, code: $c, timeout: 1}' >&9
	wait_for "the native's execution" grep -q '"id":7,' att.out
	[ "$(jq -r 'select(.id == 7) | .error.code' att.out)" = timeout ] ||
	    atf_fail "a result made by the code ended it: $(grep '"id":7,' att.out)"
	exec 9>&-
	kill "$(cat att.pid)" 2>/dev/null
	loop_check
	attack_end
}
idle_run_cleanup() {
	[ -f loop.stop ] || touch loop.stop
	for f in loopw.pid loop.pid att.pid; do
		[ -f $f ] && kill "$(cat $f)" 2>/dev/null
	done
	cleanup_daemon
	[ -f lib.dir ] && rm -rf "$(cat lib.dir)"
	true
}

# Under audit-sync never the monitor hands a job to its worker without
# waiting for the broker, which may not have read the job's wake yet.
atf_test_case idle_run_never cleanup
idle_run_never_head() {
	atf_set "descr" "the forged result and run, under audit-sync " \
	    "never, where nothing waits for the broker: killed as well"
}
idle_run_never_body() {
	idle_run_with "audit-sync never"
}
idle_run_never_cleanup() {
	idle_run_cleanup
}

atf_test_case idle_honest_never cleanup
idle_honest_never_head() {
	atf_set "descr" "under audit-sync never, honest jobs of a few ms " \
	    "of CPU each, 0 to 15 ms apart (the next job reaching its " \
	    "worker while the broker watches it): none is killed"
	atf_set "timeout" "300"
}
idle_honest_never_body() {
	start_daemon "audit-sync never"
	# Each burns some ms of CPU: more than the watch's 2 ms bound.
	cat >honest.py <<'EOF'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rwb")
def call(req):
    f.write((json.dumps(req) + "\n").encode()); f.flush()
    while True:
        r = json.loads(f.readline())
        if r.get("id") == req["id"]:
            return r
call({"id": 1, "op": "hello", "version": 1})
sid = call({"id": 2, "op": "session.create"})["session"]
bad = 0
for i in range(300):
    r = call({"id": 10 + i, "op": "execute", "session": sid,
              "code": "s <- 0; for (k in 1:200000) s <- s + k; s"})
    if not r.get("ok"):
        bad += 1
        print(json.dumps(r), file=sys.stderr)
    time.sleep((i % 16) / 1000)
print(bad)
EOF
	atf_check -o inline:"0\n" -e ignore python3 honest.py "$SOCK"
	grep -q '"event":"protocol_violation"' audit.jsonl &&
	    atf_fail "an honest worker was killed: $(grep protocol_violation audit.jsonl)"
	true
}
idle_honest_never_cleanup() {
	cleanup_daemon
}

cleanup_daemon() {
	securer_init
	[ -f by.pid ] && kill "$(cat by.pid)" 2>/dev/null
	stop_daemon
}

atf_init_test_cases() {
	for t in inside run_program fork host_files secrets network \
	    ordinary_r fingerprint \
	    other_sessions tty native_code kernel_surface cpu_time cpu_limit \
	    memory oom disk output_flood log_forging persistence \
	    protocol_abuse daemon_paths strict_session monitor cgroup_sweep \
	    single_user idle_run idle_run_never idle_honest_never; do
		atf_add_test_case $t
	done
}
