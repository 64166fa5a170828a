#! /usr/bin/env atf-sh
# Parts of the daemon killed with SIGKILL mid-execution: a worker, the
# monitor, the broker.  Each time the client hears, the audit log closes
# the execution with exec_abort, nothing is left running and the daemon
# (or a new one) serves again with the numbering going on.

. "$(atf_get_srcdir)/daemon.subr"

# all_dead PIDS: none of them runs (zombies count as dead).
all_dead() {
	for p in "$@"; do
		alive "$p" && return 1
	done
	return 0
}

# gone PIDS: none of them exists any more, not even as a zombie.
gone() {
	for p in "$@"; do
		ps -p "$p" >/dev/null 2>&1 && return 1
	done
	return 0
}

# slow_exec: an execution that runs long, in the background; its output
# in slow.out and its exit status in slow.rc.
slow_exec() {
	( "$B/securer" -s "$SOCK" -e 'Sys.sleep(30); 1' >slow.out 2>&1
	  echo $? >slow.rc ) &
	wait_for "the execution to start" grep -q '"exec_start"' "$AUDIT"
	wait_for "its worker" have_worker
}

have_worker() {
	[ -n "$(worker_pids)" ]
}

# new_monitor OLD: a monitor runs that is not OLD.
new_monitor() {
	m2=$(monitor_pid)
	[ -n "$m2" ] && [ "$m2" != "$1" ]
}

verify_log() {
	atf_check -o match:"$1" "$B/securerctl" audit verify "$AUDIT"
}

atf_test_case worker cleanup
worker_head() {
	atf_set "descr" "kill -9 of a worker mid-execution: typed error with " \
	    "the signal, exec_abort, a fresh worker, no zombie"
	atf_set "require.progs" "jq"
}
worker_body() {
	start_daemon
	slow_exec
	w=$(worker_pids)
	[ -n "$w" ] || atf_fail "no worker"
	kill -KILL $w
	wait_for "the client" test -f slow.rc
	grep -q 'killed by signal 9' slow.out ||
	    atf_fail "no signal in the error: $(cat slow.out)"
	# Reaped, not a zombie: the broker is its parent and waits for it.
	wait_for "the worker reaped" gone $w
	atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
	stop_daemon
	[ "$(jq -c 'select(.event == "exec_abort" and
	    (.cause | test("signal 9")))' "$AUDIT" | wc -l)" -eq 1 ] ||
	    atf_fail "no exec_abort with the signal"
	verify_log '2 executions: 1 ended, 1 aborted; 0 problems'
}
worker_cleanup() {
	cleanup_daemon
}

atf_test_case monitor cleanup
monitor_head() {
	atf_set "descr" "kill -9 of the monitor: its workers are killed, " \
	    "its executions aborted, a new monitor serves on the same socket"
	atf_set "require.progs" "jq"
}
monitor_body() {
	start_daemon
	slow_exec
	wait_for "the monitor" monitor_up
	m=$(monitor_pid)
	w=$(worker_pids)
	[ -n "$m" ] && [ -n "$w" ] || atf_fail "no monitor or no worker"
	kill -KILL "$m"
	wait_for "the client to hear" test -f slow.rc
	[ "$(cat slow.rc)" -ne 0 ] || atf_fail "the client got a result"
	wait_for "the workers to go" all_dead $w
	wait_for "a new monitor" new_monitor "$m"
	wait_for "the daemon to serve again" sh -c \
	    "'$B/securer' -s '$SOCK' -e '1 + 1' 2>/dev/null | grep -q 2"
	alive "$(daemon_pid)" || atf_fail "the broker died"
	# No R left of the old monitor's: every R is a current worker.  A
	# worker's binary is a memfd copy that names no build
	# (securer-worker(8)): any orphan of it is one too many.
	# Ours: in this daemon's cgroup (others may run beside the test).
	for p in $(pgrep -f 'securer-worker' 2>/dev/null); do
		[ "$(ps -o ppid= -p "$p" | tr -d ' ')" = 1 ] &&
		    readlink "/proc/$p/exe" |
		    grep -qE "^($B/|/memfd:securer-worker)" &&
		    grep -q "securer\.$(daemon_pid)/" "/proc/$p/cgroup" \
		    2>/dev/null &&
		    atf_fail "an orphan worker: $p"
	done
	stop_daemon
	[ "$(jq -c 'select(.event == "exec_abort" and
	    .cause == "monitor died")' "$AUDIT" | wc -l)" -eq 1 ] ||
	    atf_fail "no exec_abort for the monitor's execution"
	grep -q '"event":"monitor_restart"' "$AUDIT" ||
	    atf_fail "no monitor_restart record"
	verify_log '0 problems'
}
monitor_cleanup() {
	cleanup_daemon
}

atf_test_case backoff cleanup
backoff_head() {
	atf_set "descr" "a monitor that keeps dying is restarted after 0.1, " \
	    "0.2, 0.4 s: the delay doubles"
	atf_set "require.progs" "jq"
}
backoff_body() {
	start_daemon
	wait_for "the monitor" monitor_up
	m=$(monitor_pid)
	for i in 1 2 3; do
		kill -KILL "$m"
		wait_for "a new monitor" new_monitor "$m"
		m=$(monitor_pid)
	done
	atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
	stop_daemon
	# Seconds from each monitor_died to the next monitor_restart.
	jq -r 'select(.event == "monitor_died" or
	    .event == "monitor_restart") | (.time[11:13] | tonumber) * 3600 +
	    (.time[14:16] | tonumber) * 60 + (.time[17:26] | tonumber)' \
	    "$AUDIT" |
	    paste - - | awk '{ printf "%.3f\n", $2 - $1 }' >delays
	[ "$(wc -l <delays)" -eq 3 ] || atf_fail "not 3 restarts: $(cat delays)"
	awk 'NR == 1 && ($1 < 0.09 || $1 > 2) { exit 1 }
	    NR == 2 && $1 < 0.19 { exit 1 }
	    NR == 3 && $1 < 0.39 { exit 1 }' delays ||
	    atf_fail "the delays do not double: $(cat delays | tr '\n' ' ')"
}
backoff_cleanup() {
	cleanup_daemon
}

atf_test_case down_refused cleanup
down_refused_head() {
	atf_set "descr" "while the monitor is down a new connection is told " \
	    "so at once (unavailable), never left waiting"
}
down_refused_body() {
	start_daemon
	wait_for "the monitor" monitor_up
	m=$(monitor_pid)
	# Quick deaths: the fourth restart waits 0.8 s.
	for i in 1 2 3; do
		kill -KILL "$m"
		wait_for "a new monitor" new_monitor "$m"
		m=$(monitor_pid)
	done
	# The fourth kill and the connection from one process, at once.
	python3 - "$SOCK" "$m" >down.out <<'PY'
import os, socket, sys, time
os.kill(int(sys.argv[2]), 9)
time.sleep(0.05)
t = time.monotonic()
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
line = s.makefile("rb").readline().decode()
print("%.3f %s" % (time.monotonic() - t, line.strip()))
PY
	cat down.out
	atf_check -o match:'"code":"unavailable"' cat down.out
	awk '$1 > 0.5 { exit 1 }' down.out || atf_fail "the answer took long"
	wait_for "a new monitor" new_monitor "$m"
	atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
}
down_refused_cleanup() {
	cleanup_daemon
}

atf_test_case broker cleanup
broker_head() {
	atf_set "descr" "kill -9 of the broker: monitor and workers gone " \
	    "within a second; a new daemon replaces the stale socket, closes " \
	    "the open start and numbers on"
	atf_set "require.progs" "jq"
}
broker_body() {
	start_daemon
	slow_exec
	b=$(daemon_pid)
	kids=$(daemon_children)
	[ -n "$kids" ] || atf_fail "no children"
	kill -KILL "$b"
	sleep 1
	for p in $kids; do
		alive "$p" && atf_fail "$p outlived the broker by a second:" \
		    "$(ps -o pid=,comm= -p "$p")"
	done
	wait_for "the client to hear" test -f slow.rc
	[ -S "$SOCK" ] || atf_fail "no stale socket to replace"
	last=$(tail -1 "$AUDIT" | jq .seq)
	rm -f daemon.pid
	# The stale socket is there, so start_daemon does not wait.
	start_daemon
	wait_for "the new daemon" grep -q 'started, socket' daemon.log
	atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
	stop_daemon
	[ "$(jq -c "select(.seq == $((last + 1)))" "$AUDIT" | wc -l)" -eq 1 ] ||
	    atf_fail "the numbering did not go on from $last"
	[ "$(jq -c 'select(.event == "exec_abort" and
	    .cause == "daemon restart")' "$AUDIT" | wc -l)" -eq 1 ] ||
	    atf_fail "the open start was not aborted"
	verify_log '2 executions: 1 ended, 1 aborted; 0 problems'
}
broker_cleanup() {
	cleanup_daemon
}

atf_init_test_cases() {
	atf_add_test_case worker
	atf_add_test_case monitor
	atf_add_test_case backoff
	atf_add_test_case down_refused
	atf_add_test_case broker
}
