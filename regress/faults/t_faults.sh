#! /usr/bin/env atf-sh
# Faults caused on purpose, and what must follow each: a stopped worker
# still meets its deadline; the monitor at its fd limit neither spins nor
# fails its sessions, and recovers; a client that goes away or stops
# reading loses its work and sessions; every call of the client and of
# the daemon interrupted or cut to one byte changes no answer.

. "$(atf_get_srcdir)/daemon.subr"

HELLO='{"id":1,"op":"hello","version":1}'
CREATE='{"id":2,"op":"session.create"}'

# CPU time of a process so far, in clock ticks (user + system).
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# ready_count N, worker_count N: exactly N ready or sessions' workers
# (functions, so that wait_for counts again each time).
ready_count() {
	[ "$(ready_pids | wc -l)" -eq "$1" ]
}
worker_count() {
	[ "$(worker_pids | wc -l)" -eq "$1" ]
}
has_worker() {
	[ -n "$(worker_pids)" ]
}

fd_count() {
	ls "/proc/$1/fd" | wc -l
}

# open_client NAME: a connection fed from the fifo NAME.in (on fd 8 of
# this shell: one such client at a time), its replies in NAME.out.
open_client() {
	mkfifo "$1.in"
	"$B/regress/sockcat" -w 60 "$SOCK" <"$1.in" >"$1.out" &
	echo $! >"$1.pid"
	exec 8>"$1.in"
}

# send NAME LINE: sends LINE (with @S@ for the session id) on NAME.
send() {
	sid=$(jq -r 'select(.id == 2) | .session // empty' "$1.out")
	printf '%s\n' "$2" | sed "s/@S@/$sid/g" >&8
}

# final NAME ID: waits for the final reply to ID on NAME and prints it.
final() {
	wait_for "the reply to $2" grep -q "\"id\":$2,\"ok\"" "$1.out"
	jq -c "select(.id == $2 and has(\"ok\"))" "$1.out"
}

# check NAME ID FILTER EXPECTED
check() {
	got=$(final "$1" "$2" | jq -c "$3")
	[ "$got" = "$4" ] || atf_fail "$1, request $2: $3 is $got, not $4"
}

# audit_has FILTER: some audit record matches the jq FILTER.
audit_has() {
	[ -n "$(jq -c "select($1)" "$AUDIT")" ]
}

atf_test_case sigstop cleanup
sigstop_head() {
	atf_set "descr" "a worker stopped with SIGSTOP mid-execution is " \
	    "still killed at the deadline; the session answers again"
}
sigstop_body() {
	start_daemon
	open_client a
	send a "$HELLO"
	send a "$CREATE"
	final a 2 >/dev/null
	send a '{"id":3,"op":"execute","session":"@S@","code":"Sys.sleep(30)","timeout":2}'
	wait_for "the worker" has_worker
	w=$(worker_pids)
	# Let the execution start, then stop the worker under it.
	wait_for "exec_start" audit_has '.event == "exec_start"'
	kill -STOP $w
	start=$(date +%s)
	check a 3 .error.code '"timeout"'
	took=$(( $(date +%s) - start ))
	[ "$took" -le 8 ] || atf_fail "the timeout came after $took s"
	wait_for "the stopped worker to be gone" sh -c "! ps -o stat= -p $w | grep -qv Z"
	send a '{"id":4,"op":"execute","session":"@S@","code":"6 * 7"}'
	check a 4 .value.value '[42]'
	audit_has '.event == "exec_end" and .status == "timeout"' ||
	    atf_fail "no exec_end with status timeout"
	exec 8>&-
}
sigstop_cleanup() {
	cleanup_daemon
}

atf_test_case fd_limit cleanup
fd_limit_head() {
	atf_set "descr" "the monitor at its fd limit stops accepting without " \
	    "spinning, its open sessions keep working, a new session gets " \
	    "a typed error, and it accepts again once fds are free"
	atf_set "timeout" "120"
}
fd_limit_body() {
	# R wants an fd limit of 1024 at least (for its DLLs); the monitor
	# inherits the broker's.  No ready workers: the session created at
	# the limit must need a new worker's channel fd (a ready worker
	# would have one already).
	# Caps above the fd limit, so that the limit is what is reached.
	SECURERD_WRAP="prlimit --nofile=1100:1100" start_daemon \
	    "workers ready 0" "connections 5000" "user-connections 5000"
	wait_for "the monitor" monitor_up
	m=$(monitor_pid)
	[ -n "$m" ] || atf_fail "no monitor"
	open_client a
	send a "$HELLO"
	send a "$CREATE"
	final a 2 >/dev/null
	send a '{"id":3,"op":"execute","session":"@S@","code":"1 + 1"}'
	check a 3 .value.value '[2]'

	mkfifo hog.in
	"$B/regress/connhog" -n 1300 "$SOCK" <hog.in >hog.out &
	exec 9>hog.in
	wait_for "the connections" test -s hog.out
	[ "$(cat hog.out)" -ge 1200 ] ||
	    atf_fail "only $(cat hog.out) connections could be made"
	wait_for "the monitor at its limit" \
	    grep -q "out of file descriptors: refusing" daemon.log
	# A connection at the limit is told so at once (the reserved fd).
	atf_check -o match:'"code":"too_many_connections"' /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
print(s.recv(4096).decode())' "$SOCK"
	n=$(fd_count "$m")
	[ "$n" -ge 1095 ] || atf_fail "the monitor has only $n fds"

	# At the limit for 3 s: no busy loop.
	t0=$(cpu_ticks "$m")
	sleep 3
	t1=$(cpu_ticks "$m")
	[ $((t1 - t0)) -le 30 ] ||
	    atf_fail "the monitor used $((t1 - t0)) ticks in 3 s at its limit"

	# The open session works; a new one fails cleanly (no fd for its
	# worker's channel) and leaves no worker behind.
	send a '{"id":4,"op":"execute","session":"@S@","code":"2 + 2"}'
	check a 4 .value.value '[4]'
	send a '{"id":5,"op":"session.create"}'
	check a 5 .error.code '"spawn_failed"'
	alive "$m" || atf_fail "the monitor died"
	wait_for "one worker" worker_count 1

	# Fds free again: what was queued is served, new clients too.
	exec 9>&-
	wait_for "the hog to go" sh -c "test \$(ls /proc/$m/fd | wc -l) -lt 50"
	atf_check -o inline:'[1] 3\n' "$B/securer" -s "$SOCK" -e '1 + 2'
	grep -q "accepting again" daemon.log || atf_fail "no recovery logged"
	# Once per episode: an fd freed for a moment (the failed spawn's)
	# may end one and a new accept start the next, but never two lines
	# without "accepting again" between them.
	awk '/out of file descriptors: (refusing|not accepting)/ { if (at) bad = 1; at = 1 }
	    /accepting again/ { at = 0 } END { exit bad }' daemon.log ||
	    atf_fail "the fd limit was logged again while still at it"
	send a '{"id":6,"op":"session.create"}'
	check a 6 .ok true
	send a '{"id":7,"op":"execute","session":"@S@","code":"3 + 3"}'
	check a 7 .value.value '[6]'
	exec 8>&-
}
fd_limit_cleanup() {
	exec 9>&- 8>&- 2>/dev/null
	cleanup_daemon
}

atf_test_case fd_limit_ready cleanup
fd_limit_ready_head() {
	atf_set "descr" "at its fd limit the monitor still hands out the " \
	    "ready workers it has; their refill fails without harm and a " \
	    "session beyond them gets spawn_failed; all recover"
	atf_set "require.user" "root"
	atf_set "timeout" 120
}
fd_limit_ready_body() {
	SECURERD_WRAP="prlimit --nofile=1100:1100" start_daemon \
	    "workers ready 2 max 2" "connections 5000" "user-connections 5000"
	wait_for "the monitor" monitor_up
	m=$(monitor_pid)
	[ -n "$m" ] || atf_fail "no monitor"
	open_client a
	send a "$HELLO"
	wait_for "two ready workers" ready_count 2

	mkfifo hog.in
	"$B/regress/connhog" -n 1300 "$SOCK" <hog.in >hog.out &
	exec 9>hog.in
	wait_for "the connections" test -s hog.out
	wait_for "the monitor at its limit" \
	    grep -q "out of file descriptors: refusing" daemon.log

	# Two sessions from the ready workers, then none can be made.
	for id in 2 3; do
		send a "{\"id\":$id,\"op\":\"session.create\"}"
		check a $id .ok true
	done
	send a '{"id":4,"op":"session.create"}'
	check a 4 .error.code '"spawn_failed"'
	send a '{"id":5,"op":"execute","session":"@S@","code":"2 + 2"}'
	check a 5 .value.value '[4]'
	alive "$m" || atf_fail "the monitor died"

	exec 9>&-
	wait_for "the hog to go" sh -c "test \$(ls /proc/$m/fd | wc -l) -lt 50"
	wait_for "the ready workers again" ready_count 2
	atf_check -o inline:'[1] 3\n' "$B/securer" -s "$SOCK" -e '1 + 2'
	exec 8>&-
}
fd_limit_ready_cleanup() {
	exec 9>&- 8>&- 2>/dev/null
	cleanup_daemon
}

atf_test_case disconnect cleanup
disconnect_head() {
	atf_set "descr" "a client that disconnects mid-execution: the " \
	    "execution is stopped, its worker killed, all of it audited"
}
disconnect_body() {
	start_daemon
	open_client a
	send a "$HELLO"
	send a "$CREATE"
	final a 2 >/dev/null
	send a '{"id":3,"op":"execute","session":"@S@","code":"Sys.sleep(60)"}'
	wait_for "exec_start" audit_has '.event == "exec_start"'
	w=$(worker_pids)
	kill "$(cat a.pid)"
	exec 8>&-
	wait_for "the worker to be gone" sh -c "! ps -o stat= -p $w | grep -qv Z"
	wait_for "session_close" audit_has \
	    '.event == "session_close" and .reason == "client disconnected"'
	audit_has '.event == "exec_end" and .status == "aborted"' ||
	    atf_fail "no exec_end with status aborted"
	atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
}
disconnect_cleanup() {
	cleanup_daemon
}

atf_test_case slow_reader cleanup
slow_reader_head() {
	atf_set "descr" "a client that stops reading while its code prints " \
	    "is dropped after client-grace seconds with its session; the " \
	    "monitor's memory stays bounded and other clients are served"
	atf_set "timeout" "120"
}
slow_reader_body() {
	start_daemon "output-bytes none" "output-lines none" "client-grace 4"
	wait_for "the monitor" monitor_up
	m=$(monitor_pid)
	open_client a
	send a "$HELLO"
	send a "$CREATE"
	final a 2 >/dev/null
	# About 2 MB/s, for ever.
	send a '{"id":3,"op":"execute","session":"@S@","code":"repeat { cat(strrep(\"x\", 20000), \"\\n\"); Sys.sleep(0.01) }"}'
	wait_for "output" grep -q '"stream"' a.out
	w=$(worker_pids)
	# The client stops reading.
	kill -STOP "$(cat a.pid)"
	start=$(date +%s)
	# Meanwhile others are served at once.
	for i in 1 2 3; do
		atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
	done
	wait_for "the drop" grep -q "did not read its replies in time" daemon.log
	took=$(( $(date +%s) - start ))
	[ "$took" -ge 3 ] && [ "$took" -le 12 ] ||
	    atf_fail "dropped after $took s, not after the 4 s grace period"
	wait_for "session_close" audit_has \
	    '.event == "session_close" and .reason == "client does not read"'
	audit_has '.event == "exec_end" and .status == "aborted"' ||
	    atf_fail "no exec_end with status aborted"
	wait_for "the worker to be gone" sh -c "! ps -o stat= -p $w | grep -qv Z"
	rss=$(awk '/^VmHWM/ { print $2 }' "/proc/$m/status")
	[ "$rss" -lt 131072 ] || atf_fail "the monitor peaked at $rss kB"
	kill -CONT "$(cat a.pid)"
	exec 8>&-
	atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
}
slow_reader_cleanup() {
	cleanup_daemon
}

atf_test_case pool_closed_early cleanup
pool_closed_early_head() {
	atf_set "descr" "a pool closed before its sessions are ready: " \
	    "pool.create and the waiting pool.execute get closed, none is lost"
}
pool_closed_early_body() {
	start_daemon
	raw "$HELLO" '{"id":2,"op":"pool.create","pool":"p","size":2}' \
	    '{"id":3,"op":"pool.execute","pool":"p","code":"1","acquire_timeout":10}' \
	    '{"id":4,"op":"pool.close","pool":"p"}' >replies
	atf_check -o inline:'[2,"closed"][3,"closed"][4,true]\n' -x \
	    "jq -c 'select(.id > 1) | [.id, .error.code // .ok]' replies | tr -d '\\n'; echo"
	wait_for "no worker" worker_count 0
}
pool_closed_early_cleanup() {
	cleanup_daemon
}

atf_test_case slow_but_reading cleanup
slow_but_reading_head() {
	atf_set "descr" "a client that falls behind, but each time reads " \
	    "its backlog within client-grace seconds, is never dropped"
	atf_set "timeout" "120"
}
slow_but_reading_body() {
	start_daemon "output-bytes none" "output-lines none" "client-grace 2"
	open_client a
	send a "$HELLO"
	send a "$CREATE"
	final a 2 >/dev/null
	# About 2 MB/s for a few seconds.
	send a '{"id":3,"op":"execute","session":"@S@","code":"for (i in 1:400) { cat(strrep(\"x\", 20000), \"\\n\"); Sys.sleep(0.01) }; 42"}'
	wait_for "output" grep -q '"stream"' a.out
	# Behind for 1.5 s at a time, 4.5 s in all: more than the grace
	# period in sum, never in one stretch.
	for i in 1 2 3; do
		kill -STOP "$(cat a.pid)"
		sleep 1.5
		kill -CONT "$(cat a.pid)"
		sleep 0.5
	done
	check a 3 .value.value '[42]'
	grep -q "did not read\|dropped" daemon.log &&
	    atf_fail "the client was dropped"
	# Held back, not dropped (said once a connection: a client that
	# falls behind again and again is not a line each time).
	grep -q 'is behind: its output is held back' daemon.log ||
	    atf_fail "the client was never behind: $(cat daemon.log)"
	exec 8>&-
}
slow_but_reading_cleanup() {
	cleanup_daemon
}

# requests: the same set every time, through the securer command: values,
# streaming output, R errors, a syntax error, a timeout, tool calls.
# Output pieces joined where one stream goes on: the worker batches lines
# as they come, so where one piece ends depends on timing, not the shim.
JOIN='if .output then .output |= reduce .[] as $p ([];
    if length > 0 and .[-1].stream == $p.stream
    then .[-1].text += $p.text else . + [$p] end) else . end'

requests() {
	s="$B/securer -s $SOCK"
	for e in '1 + 1' 'x <- c(a = 1.5, b = NA); x' \
	    'list(a = 1L, b = "z", c = list(TRUE, NULL))' \
	    'for (i in 1:300) cat(i, strrep("y", 200), "\n"); message("m"); warning("w"); invisible(7)' \
	    'stop("boom")' '1 +' 'echo(x = c(1.5, 2))$x' \
	    'tryCatch(fail("x"), error = function(e) conditionMessage(e))' \
	    'paste(rep("é", 5000), collapse = "")'; do
		$s --tools tools.json -e "$e"
		echo "exit $?"
		$s -j --tools tools.json -e "$e" | jq -c "del(.elapsed) | $JOIN"
		echo "exit $?"
	done 2>&1
	$s -t 1 -e 'Sys.sleep(10)' 2>&1
	echo "exit $?"
	printf '%s\n' "$HELLO" "$CREATE" | "$B/regress/sockcat" -n 2 "$SOCK" |
	    jq -c 'del(.pid, .session)'
}

tools_json() {
	printf '#!/bin/sh\ncat\n' >echo.sh
	printf '#!/bin/sh\necho "  no such city  " >&2; exit 1\n' >fail.sh
	chmod +x echo.sh fail.sh
	cat >tools.json <<EOF
[{"name": "echo", "description": "Echo", "args": {"x": null},
  "command": ["$PWD/echo.sh"]},
 {"name": "fail", "description": "Fail", "args": {"city": "character"},
  "command": ["$PWD/fail.sh"]}]
EOF
}

atf_test_case shim cleanup
shim_head() {
	atf_set "descr" "with every socket call interrupted once and then " \
	    "cut to one byte (an LD_PRELOAD shim), in the client and then " \
	    "in the daemon too, every answer is the same"
	atf_set "timeout" "300"
}
shim_body() {
	securer_init
	shim=$B/regress/faultshim.so
	tools_json
	start_daemon
	requests >plain
	grep -q 'timed out' plain || atf_fail "no timeout in the requests"
	FAULTSHIM_LOG=$PWD/client.log LD_PRELOAD=$shim requests >client
	test -s client.log || atf_fail "the shim was not in effect"
	atf_check -o empty diff -u plain client
	stop_daemon

	SECURERD_WRAP="env FAULTSHIM_LOG=stderr LD_PRELOAD=$shim" start_daemon
	FAULTSHIM_LOG=$PWD/client.log LD_PRELOAD=$shim requests >both
	grep -q 'faultshim: recvmsg' daemon.log ||
	    atf_fail "the shim was not in effect in the daemon"
	atf_check -o empty diff -u plain both
	# The monitor's client socket went through the shim too.
	grep -q 'faultshim: readv' daemon.log ||
	    atf_fail "the monitor's reads did not go through the shim"
}
shim_cleanup() {
	cleanup_daemon
}

atf_test_case end_before_result cleanup
end_before_result_head() {
	atf_set "descr" "a monitor that dies right after a result reached " \
	    "its client had put the execution's exec_end on the broker's " \
	    "channel first (audit-sync never: nothing waits for the broker)"
	atf_set "timeout" "120"
}
end_before_result_body() {
	securer_init
	mark=securer-crash-mark
	SECURERD_WRAP="env CRASHSHIM_MARK=$mark \
	    LD_PRELOAD=$B/regress/crashshim.so" start_daemon "audit-sync never"
	wait_for "the monitor" monitor_up
	old=$(monitor_pid)
	# Results without the mark go out, and the monitor lives on.
	atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
	open_client a
	printf '%s\n%s\n' "$HELLO" "$CREATE" >&8
	final a 2 >/dev/null
	# The mark is in the result, not in the code: the one write that ends
	# the monitor is the result's.
	send a '{"id":3,"op":"execute","session":"@S@","code":"paste0(\"securer-crash-\", \"mark\")"}'
	check a 3 .value.value "[\"$mark\"]"
	new_monitor() {
		p=$(monitor_pid)
		[ -n "$p" ] && [ "$p" != "$old" ]
	}
	wait_for "a new monitor" new_monitor
	exec 8>&-
	start=$(jq -c 'select(.event == "exec_start" and
	    (.code | contains("securer-crash-")))' "$AUDIT")
	[ -n "$start" ] || atf_fail "no exec_start of the marked code"
	sess=$(printf '%s' "$start" | jq -r .session)
	ex=$(printf '%s' "$start" | jq -r .exec)
	ends=$(jq -c "select(.session == \"$sess\" and .exec == $ex and
	    (.event == \"exec_end\" or .event == \"exec_abort\"))" "$AUDIT")
	printf '%s\n' "$ends"
	printf '%s\n' "$ends" | jq -e 'select(.event == "exec_end" and
	    .status == "ok")' >/dev/null ||
	    atf_fail "the result went out, its exec_end is not in the log"
	printf '%s\n' "$ends" | grep -q exec_abort &&
	    atf_fail "the execution whose result went out was aborted"
	# The daemon goes on, for anybody.
	wait_for "an answer from the new monitor" sh -c \
	    "'$B/securer' -s '$SOCK' -e '6 * 7' | grep -q 42"
}
end_before_result_cleanup() {
	cleanup_daemon
}

atf_test_case shim_libsecurer
shim_libsecurer_head() {
	atf_set "descr" "libsecurer's own tests (a fake daemon on the other " \
	    "end) pass with every socket call interrupted or cut to one byte"
	atf_set "timeout" "300"
}
shim_libsecurer_body() {
	securer_init
	shim=$B/regress/faultshim.so
	for tc in $("$B/regress/t_libsecurer" -l | awk '/^ident:/ { print $2 }')
	do
		case "$tc" in
		# 8 MiB lines one byte at a time take minutes: their limits
		# do not depend on how the bytes come.
		line_max|line_too_long)	continue ;;
		esac
		mkdir "$tc"
		(cd "$tc" && LD_PRELOAD=$shim FAULTSHIM_LOG=$PWD/shim.log \
		    "$B/regress/t_libsecurer" -r result "$tc" >out 2>&1)
		grep -q '^passed' "$tc/result" ||
		    atf_fail "$tc under the shim: $(cat "$tc/result" "$tc/out")"
	done
	test -s hello/shim.log || atf_fail "the shim was not in effect"
}

atf_init_test_cases() {
	atf_add_test_case sigstop
	atf_add_test_case fd_limit
	atf_add_test_case fd_limit_ready
	atf_add_test_case disconnect
	atf_add_test_case slow_reader
	atf_add_test_case slow_but_reading
	atf_add_test_case pool_closed_early
	atf_add_test_case shim
	atf_add_test_case end_before_result
	atf_add_test_case shim_libsecurer
}
