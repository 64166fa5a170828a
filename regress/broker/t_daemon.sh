#! /usr/bin/env atf-sh
# The broker: its process tree, its socket and audit log paths, and that
# it leaves nothing behind.

. "$(atf_get_srcdir)/daemon.subr"

atf_test_case process_tree cleanup
process_tree_head() {
	atf_set "descr" "the monitor runs as _securer chrooted; SIGTERM " \
	    "takes every process, the socket and the pid file"
}
process_tree_body() {
	start_daemon
	pid=$(daemon_pid)
	[ -n "$(daemon_children)" ] || atf_fail "no monitor or template"
	wait_for "a child running as _securer" monitor_up
	monitor=$(monitor_pid)
	atf_check -o inline:"/var/empty\n" readlink /proc/$monitor/root
	atf_check -o match:'^NoNewPrivs:[[:space:]]1' cat /proc/$monitor/status
	atf_check -o inline:"$pid\n" cat "$SOCK.pid"
	kill -TERM "$pid"
	i=0
	while alive "$pid" && [ $i -lt 100 ]; do
		sleep 0.05; i=$((i + 1))
	done
	alive "$pid" && atf_fail "broker still running"
	for k in $kids; do
		alive "$k" && atf_fail "child $k left behind"
	done
	[ -e "$SOCK" ] && atf_fail "socket left behind"
	[ -e "$SOCK.pid" ] && atf_fail "pid file left behind"
	rm -f daemon.pid
}
process_tree_cleanup() {
	cleanup_daemon
}

atf_test_case socket_not_socket cleanup
socket_not_socket_head() {
	atf_set "descr" "a regular file, FIFO or symlink at the socket path " \
	    "is refused and left untouched"
}
socket_not_socket_body() {
	securer_init
	write_conf
	echo precious >"$SOCK"
	atf_check -s exit:1 -e match:"is not a socket; refusing" \
	    "$B/securerd" -d -f conf
	atf_check -o inline:"precious\n" cat "$SOCK"
	rm "$SOCK"
	echo target >target
	ln -s "$PWD/target" "$SOCK"
	atf_check -s exit:1 -e match:"is not a socket; refusing" \
	    "$B/securerd" -d -f conf
	atf_check -o inline:"target\n" cat target
	rm "$SOCK"
	mkfifo "$SOCK"
	atf_check -s exit:1 -e match:"is not a socket; refusing" \
	    "$B/securerd" -d -f conf
	test -p "$SOCK" || atf_fail "FIFO replaced"
}
socket_not_socket_cleanup() {
	cleanup_daemon
}

atf_test_case socket_in_use cleanup
socket_in_use_head() {
	atf_set "descr" "a second daemon on a live socket refuses to start; " \
	    "a stale socket is replaced"
}
socket_in_use_body() {
	start_daemon
	# A log of its own, or the audit log's lock refuses it first.
	atf_check -s exit:1 -e match:"another securerd is running at" \
	    "$B/securerd" -d -f conf -a "$PWD/other.jsonl"
	kill -0 "$(daemon_pid)" || atf_fail "first daemon died"
	# kill -9 the broker: everything under it dies, the socket stays.
	kids=$(daemon_children)
	kill -KILL "$(daemon_pid)"
	sleep 0.5
	for k in $kids; do
		alive "$k" && atf_fail "child $k outlived the broker"
	done
	test -S "$SOCK" || atf_fail "expected a stale socket"
	rm -f daemon.pid
	start_daemon
	kill -0 "$(daemon_pid)" || atf_fail "daemon did not replace the stale socket"
}
socket_in_use_cleanup() {
	cleanup_daemon
}

atf_test_case audit_path cleanup
audit_path_head() {
	atf_set "descr" "an audit log path that is a symlink, FIFO or device " \
	    "is refused at once; its target is untouched"
}
audit_path_body() {
	securer_init
	write_conf
	echo target >target
	ln -s "$PWD/target" "$AUDIT"
	atf_check -s exit:1 -e match:"symbolic link; refusing" \
	    "$B/securerd" -d -f conf
	atf_check -o inline:"target\n" cat target
	rm "$AUDIT"
	mkfifo "$AUDIT"
	atf_check -s exit:1 -e match:"not a regular file" \
	    timeout 5 "$B/securerd" -d -f conf
	rm "$AUDIT"
	ln "$PWD/target" "$AUDIT"
	atf_check -s exit:1 -e match:"one link" "$B/securerd" -d -f conf
	test -e "$SOCK" && atf_fail "socket created although start failed"
	true
}
audit_path_cleanup() {
	cleanup_daemon
}

atf_test_case audit_log cleanup
audit_log_head() {
	atf_set "descr" "the audit log is 0600 JSON lines whose sequence " \
	    "numbers continue across restarts"
}
audit_log_body() {
	securer_init
	touch "$AUDIT"
	chmod 644 "$AUDIT"
	start_daemon
	stop_daemon
	atf_check -o inline:"600\n" stat -c %a "$AUDIT"
	start_daemon
	stop_daemon
	atf_check -o inline:"1\n2\n3\n4\n" \
	    sh -c "grep -o '\"seq\":[0-9]*' '$AUDIT' | cut -d: -f2"
	atf_check -o match:'"event":"daemon_start"' cat "$AUDIT"
	atf_check -o match:'"time":"20[0-9-]*T[0-9:.]*Z"' cat "$AUDIT"
}
audit_log_cleanup() {
	cleanup_daemon
}

atf_test_case library cleanup
library_head() {
	atf_set "descr" "a library of the configuration is in the workers' " \
	    ".libPaths() and its packages load; without it they do not"
	atf_set "timeout" "120"
}
library_body() {
	securer_init
	# Outside /tmp: the template and workers have /tmp of their own.
	lib=/var/tmp/securer-test-lib.$$
	echo "$lib" >libdir
	mkdir -p "$lib" pkg/sctpkg/R
	printf 'Package: sctpkg\nVersion: 0.1\nTitle: t\nDescription: t.\nLicense: MIT\nAuthor: t\nMaintainer: t <t@t.invalid>\n' \
	    >pkg/sctpkg/DESCRIPTION
	echo 'export(sct_answer)' >pkg/sctpkg/NAMESPACE
	echo 'sct_answer <- function() 42L' >pkg/sctpkg/R/a.R
	R CMD INSTALL -l "$lib" pkg/sctpkg >install.log 2>&1 ||
	    { cat install.log; atf_fail "cannot build the test package"; }
	start_daemon "library \"$lib\""
	atf_check -o inline:"[1] 42\n" "$B/securer" -s "$SOCK" \
	    -e 'library(sctpkg); sct_answer()'
	atf_check -o match:"^\\[1\\] \"$lib\"" "$B/securer" -s "$SOCK" \
	    -e '.libPaths()'
	stop_daemon
	start_daemon
	atf_check -s exit:1 -e match:"there is no package called" \
	    "$B/securer" -s "$SOCK" -e 'library(sctpkg)'
	printf 'worker "/bin/true"\nlibrary "/tmp"\n' >tmplib.conf
	atf_check -s exit:1 -e match:"cannot see /tmp of the host" \
	    "$B/securerd" -n -f tmplib.conf
}
library_cleanup() {
	cleanup_daemon
	[ -f libdir ] && rm -rf "$(cat libdir)"
	true
}

# make_pkg dir name onload: a package "name" in dir whose .onLoad runs
# the R code onload; installed into $lib.
make_pkg() {
	mkdir -p "pkg/$1/R"
	printf 'Package: %s\nVersion: 0.1\nTitle: t\nDescription: t.\nLicense: MIT\nAuthor: t\nMaintainer: t <t@t.invalid>\n' \
	    "$1" >"pkg/$1/DESCRIPTION"
	printf '%s\n' "$2" >"pkg/$1/NAMESPACE"
	printf '%s\n' "$3" >"pkg/$1/R/a.R"
	R CMD INSTALL --no-test-load -l "$lib" "pkg/$1" >"install-$1.log" 2>&1 ||
	    { cat "install-$1.log"; atf_fail "cannot build package $1"; }
}

atf_test_case preload cleanup
preload_head() {
	atf_set "descr" "preloaded namespaces are loaded in the template, " \
	    "before any worker: a session has them loaded at once, and the " \
	    "sandbox holds as without them"
	atf_set "timeout" "180"
}
preload_body() {
	securer_init
	lib=/var/tmp/securer-test-lib.$$
	echo "$lib" >libdir
	mkdir -p "$lib"
	# Its .onLoad runs once, in the template: the pid it records is
	# not the worker's, and the option it sets is inherited.
	make_pkg scpre 'export(scpre_pid)' \
	    'scpre_pid <- function() getOption("scpre.pid")
.onLoad <- function(lib, pkg) options(scpre.pid = Sys.getpid())'
	start_daemon "library \"$lib\"" 'preload "scpre" "stats4"'
	atf_check -o inline:"[1]  TRUE  TRUE FALSE\n" "$B/securer" -s "$SOCK" \
	    -e 'c(isNamespaceLoaded("scpre"), isNamespaceLoaded("stats4"),
	        "package:stats4" %in% search())'
	atf_check -o inline:"[1] TRUE\n" "$B/securer" -s "$SOCK" -e \
	    'library(scpre); is.numeric(scpre_pid()) && scpre_pid() != Sys.getpid()'
	atf_check -o inline:"[1] \"mle\"\n" "$B/securer" -s "$SOCK" -e \
	    'library(stats4); class(mle(function(m = 1) (m - 2)^2))[[1]]'
	# The same lockdown: programs, the host's files.
	atf_check -s exit:1 -e match:"not allowed" "$B/securer" -s "$SOCK" \
	    -e 'system("true")'
	atf_check -o inline:"[1] FALSE\n" "$B/securer" -s "$SOCK" \
	    -e 'file.exists("/etc/shadow")'
	atf_check -o match:'preload "scpre" "stats4"' "$B/securerd" -nv -f conf
	if Rscript -e 'quit(status = !requireNamespace("ggplot2", quietly = TRUE))' \
	    >/dev/null 2>&1; then
		stop_daemon
		start_daemon 'preload "ggplot2"'
		# cli's ticking thread came with it and was stopped.
		atf_check -o match:'^\[1\] TRUE' "$B/securer" -s "$SOCK" -e \
		    't <- system.time(library(ggplot2))[["elapsed"]]; t < 0.1'
	fi
}
preload_cleanup() {
	cleanup_daemon
	[ -f libdir ] && rm -rf "$(cat libdir)"
	true
}

atf_test_case preload_refused cleanup
preload_refused_head() {
	atf_set "descr" "a bad package name is a configuration error; a " \
	    "package that is missing, fails to load or leaves a thread " \
	    "running stops the daemon at start with its reason"
	atf_set "timeout" "180"
}
preload_refused_body() {
	securer_init
	lib=/var/tmp/securer-test-lib.$$
	echo "$lib" >libdir
	mkdir -p "$lib"
	printf 'worker "/bin/true"\npreload "9lives"\n' >bad.conf
	atf_check -s exit:1 -e match:'"9lives" is not an R package name' \
	    "$B/securerd" -n -f bad.conf
	printf 'worker "/bin/true"\npreload "a;b"\n' >bad.conf
	atf_check -s exit:1 -e match:'is not an R package name' \
	    "$B/securerd" -n -f bad.conf
	write_conf 'preload "scnosuch"'
	atf_check -s exit:1 -e match:"preload scnosuch: there is no package" \
	    -e match:"giving up" timeout 120 "$B/securerd" -d -f conf
	make_pkg scfail '' '.onLoad <- function(lib, pkg) stop("scfail refuses")'
	write_conf "library \"$lib\"" 'preload "scfail"'
	atf_check -s exit:1 -e match:"preload scfail: .*scfail refuses" \
	    timeout 120 "$B/securerd" -d -f conf
	# A thread of its own, sleeping: the template would fork with it.
	mkdir -p pkg/scthread/src
	cat >pkg/scthread/src/t.c <<'EOC'
#include <pthread.h>
#include <unistd.h>
#include <Rinternals.h>
static void *sleeper(void *arg) { for (;;) pause(); return arg; }
SEXP scthread_start(void) {
	pthread_t t;
	pthread_create(&t, NULL, sleeper, NULL);
	return R_NilValue;
}
EOC
	echo 'PKG_LIBS = -lpthread' >pkg/scthread/src/Makevars
	make_pkg scthread 'useDynLib(scthread, scthread_start)' \
	    '.onLoad <- function(lib, pkg) .Call(scthread_start)'
	write_conf "library \"$lib\"" 'preload "scthread"'
	atf_check -s exit:1 -e match:"left 1 thread\\(s\\) running" \
	    timeout 120 "$B/securerd" -d -f conf
}
preload_refused_cleanup() {
	cleanup_daemon
	[ -f libdir ] && rm -rf "$(cat libdir)"
	true
}

atf_init_test_cases() {
	atf_add_test_case process_tree
	atf_add_test_case socket_not_socket
	atf_add_test_case socket_in_use
	atf_add_test_case audit_path
	atf_add_test_case audit_log
	atf_add_test_case library
	atf_add_test_case preload
	atf_add_test_case preload_refused
}
