#! /usr/bin/env atf-sh
# The client protocol spoken raw over the socket: framing, hello, errors,
# sessions, executions and their values, busy, caps, timeouts, dead workers.

. "$(atf_get_srcdir)/daemon.subr"

HELLO='{"id":1,"op":"hello","version":1}'
CREATE='{"id":2,"op":"session.create"}'

# session_script lines...: hello, create, then the lines with the session
# id put in for @S@, all on one connection.  Prints the replies.
session_script() {
	n=$(( $# + 2 ))
	{
		printf '%s\n%s\n' "$HELLO" "$CREATE"
		# Wait for the session id before the requests that name it.
		while [ ! -s sid ]; do sleep 0.02; done
		for line in "$@"; do
			printf '%s\n' "$line" | sed "s/@S@/$(cat sid)/g"
		done
	} | "$B/regress/sockcat" -n "$n" "$SOCK" | tee replies |
	    while IFS= read -r reply; do
		s=$(printf '%s' "$reply" | jq -r 'select(.id == 2) | .session')
		[ -n "$s" ] && [ "$s" != null ] && printf '%s' "$s" >sid
		printf '%s\n' "$reply"
	done
}

# reply ID FILTER: the jq FILTER applied to the final reply of request ID.
reply() {
	jq -c "select(.id == $1 and has(\"ok\")) | $2" replies
}

atf_test_case framing cleanup
framing_head() {
	atf_set "descr" "hello first; bad JSON, unknown ops and bad versions " \
	    "get typed errors and the connection stays open"
}
framing_body() {
	start_daemon
	raw '{"id":1,"op":"status"}' 'not json' '{"op":"hello"}' \
	    '{"id":2,"op":"hello","version":9}' '{"id":3,"op":"frobnicate"}' \
	    "$HELLO" '{"id":4,"op":"status"}' >replies
	atf_check -o inline:'"hello_required"\n' reply 1 .error.code
	atf_check -o inline:'2\n' -x "jq -c 'select(.id == null) | .error.code' replies | grep -c bad_request"
	atf_check -o inline:'"unsupported_version"\n' reply 2 .error.code
	atf_check -o inline:'"bad_request"\n' reply 3 .error.code
	atf_check -o inline:'true\n' reply 1 '.ok == false'
	atf_check -o inline:'[]\n' reply 4 .sessions
}
framing_cleanup() {
	cleanup_daemon
}

atf_test_case too_large cleanup
too_large_head() {
	atf_set "descr" "a line over 8 MiB is refused and the connection closed"
}
too_large_body() {
	start_daemon
	{ printf '%s\n' "$HELLO"; head -c 9000000 /dev/zero | tr '\0' 'x'; } |
	    "$B/regress/sockcat" "$SOCK" >replies
	atf_check -o inline:'"too_large"\n' \
	    jq -c 'select(.ok == false) | .error.code' replies
	raw "$HELLO" >/dev/null || atf_fail "daemon stopped answering"
}
too_large_cleanup() {
	cleanup_daemon
}

atf_test_case values cleanup
values_head() {
	atf_set "descr" "values come back in the exact encoding"
}
values_body() {
	start_daemon
	session_script \
	    '{"id":3,"op":"execute","session":"@S@","code":"0.1 + 0.2"}' \
	    '{"id":4,"op":"execute","session":"@S@","code":"c(a = 1L, b = NA)"}' \
	    '{"id":5,"op":"execute","session":"@S@","code":"NULL"}' \
	    '{"id":6,"op":"execute","session":"@S@","code":"c(NA, TRUE)"}' \
	    '{"id":7,"op":"execute","session":"@S@","code":"factor(c(\"b\", \"a\"))"}' \
	    '{"id":8,"op":"execute","session":"@S@","code":"invisible(7)"}' \
	    '{"id":9,"op":"execute","session":"@S@","code":"c(NA_real_, NaN, -Inf, -0)"}' \
	    >/dev/null
	atf_check -o inline:'{"type":"double","value":[0.30000000000000004]}\n' \
	    reply 3 .value
	grep -q '"value":\[0.30000000000000004\]' replies ||
	    atf_fail "0.1 + 0.2 not sent in its exact shortest form"
	atf_check -o inline:'{"type":"integer","value":[1,null],"attributes":{"names":{"type":"character","value":["a","b"]}}}\n' \
	    reply 4 .value
	atf_check -o inline:'null\n' reply 5 .value
	atf_check -o inline:'{"type":"logical","value":[null,true]}\n' \
	    reply 6 .value
	atf_check -o inline:'[2,1]\n' reply 7 .value.value
	atf_check -o inline:'{"type":"character","value":["a","b"]}\n' \
	    reply 7 .value.attributes.levels
	atf_check -o inline:'false\n' reply 8 .visible
	atf_check -o inline:'""\n' reply 8 .printed
	atf_check -o inline:'"[1] 0.3\\n"\n' reply 3 .printed
	grep -q '"value":\[null,"NaN","-Inf",-0\]' replies ||
	    atf_fail "NA, NaN, -Inf, -0 not kept apart"
}
values_cleanup() {
	cleanup_daemon
}

atf_test_case state_and_output cleanup
state_and_output_head() {
	atf_set "descr" "state persists; output streams in order, each kind " \
	    "on its stream, before the result"
}
state_and_output_body() {
	start_daemon
	session_script \
	    '{"id":3,"op":"execute","session":"@S@","code":"x <- 41"}' \
	    '{"id":4,"op":"execute","session":"@S@","code":"cat(\"a\\n\"); message(\"b\"); warning(\"c\"); cat(\"d\\n\", file = stderr()); print(1:2); x + 1"}' \
	    >/dev/null
	atf_check -o inline:'[42]\n' reply 4 .value.value
	atf_check -o inline:'stdout:"a\\n"\nmessage:"b\\n"\nwarning:"c"\nstderr:"d\\n"\nstdout:"[1] 1 2\\n"\n' \
	    -x "jq -r 'select(.id == 4 and .event == \"output\") | .stream + \":\" + (.text | tojson)' replies"
	# every event of request 4 comes before its final reply
	atf_check -o inline:'ok\n' -x "jq -r 'select(.id == 4) | if has(\"ok\") then \"ok\" else empty end' replies | tail -1"
}
state_and_output_cleanup() {
	cleanup_daemon
}

atf_test_case errors cleanup
errors_head() {
	atf_set "descr" "R errors and parse errors come back typed with R's " \
	    "message; code that does not parse runs not at all"
}
errors_body() {
	start_daemon
	session_script \
	    '{"id":3,"op":"execute","session":"@S@","code":"f <- function() stop(\"boom\"); f()"}' \
	    '{"id":4,"op":"execute","session":"@S@","code":"y <- 1\nz <- {{"}' \
	    '{"id":5,"op":"execute","session":"@S@","code":"exists(\"y\")"}' \
	    '{"id":6,"op":"execute","session":"@S@","code":"stop(\"top\")"}' \
	    >/dev/null
	atf_check -o inline:'{"code":"r_error","message":"boom","call":"f()"}\n' \
	    reply 3 .error
	atf_check -o inline:'"parse_error"\n' reply 4 .error.code
	atf_check -o inline:'[2,9]\n' reply 4 '[.error.line, .error.column]'
	atf_check -o match:'^"<text>:2:9: unexpected end of input' \
	    reply 4 .error.message
	atf_check -o inline:'[false]\n' reply 5 .value.value
	atf_check -o inline:'"top"\n' reply 6 .error.message
}
errors_cleanup() {
	cleanup_daemon
}

atf_test_case busy_and_caps cleanup
busy_and_caps_head() {
	atf_set "descr" "a second execution while one runs is refused as " \
	    "busy; max_executions and code-size are enforced"
}
busy_and_caps_body() {
	start_daemon "code-size 64"
	CREATE='{"id":2,"op":"session.create","max_executions":2}'
	session_script \
	    '{"id":3,"op":"execute","session":"@S@","code":"Sys.sleep(0.5); 1"}' \
	    '{"id":4,"op":"execute","session":"@S@","code":"2"}' \
	    '{"id":5,"op":"execute","session":"@S@","code":"3"}' \
	    '{"id":6,"op":"execute","session":"@S@","code":"4"}' \
	    >/dev/null
	atf_check -o inline:'"session_busy"\n' reply 4 .error.code
	atf_check -o inline:'[1]\n' reply 3 .value.value
	# 3 and 5 started: the third start is refused
	atf_check -o inline:'[3]\n' reply 5 .value.value
	atf_check -o inline:'"max_executions"\n' reply 6 .error.code
	atf_check -o inline:'"maximum executions (2) reached for this session"\n' \
	    reply 6 .error.message
	CREATE='{"id":2,"op":"session.create"}'
	rm -f sid
	long=$(head -c 65 /dev/zero | tr '\0' '1')
	session_script \
	    "{\"id\":3,\"op\":\"execute\",\"session\":\"@S@\",\"code\":\"$long\"}" \
	    >/dev/null
	atf_check -o inline:'"code too long (65 bytes, max 64)"\n' \
	    reply 3 .error.message
}
busy_and_caps_cleanup() {
	cleanup_daemon
}

atf_test_case timeout cleanup
timeout_head() {
	atf_set "descr" "a timeout kills the worker, says so, and the session " \
	    "works again with its state gone"
}
timeout_body() {
	start_daemon
	session_script \
	    '{"id":3,"op":"execute","session":"@S@","code":"x <- 1"}' \
	    '{"id":4,"op":"execute","session":"@S@","code":"repeat {}","timeout":0.5}' \
	    '{"id":5,"op":"execute","session":"@S@","code":"exists(\"x\")"}' \
	    >/dev/null
	atf_check -o inline:'"timeout"\n' reply 4 .error.code
	atf_check -o inline:'"execution timed out after 0.5 seconds; the session was restarted and its state is gone"\n' \
	    reply 4 .error.message
	atf_check -o inline:'[false]\n' reply 5 .value.value
	atf_check -o match:'"event":"timeout"' cat "$AUDIT"
	atf_check -o match:'"event":"session_restart".*"reason":"timeout"' \
	    cat "$AUDIT"
	atf_check -o match:'"cause":"killed by the daemon"' cat "$AUDIT"
}
timeout_cleanup() {
	cleanup_daemon
}

atf_test_case worker_killed cleanup
worker_killed_head() {
	atf_set "descr" "a worker killed mid-execution gives a typed error " \
	    "with the signal, and the next execution works"
}
worker_killed_body() {
	start_daemon
	(
		# Kill the session's worker while it sleeps.
		while ! grep -q '"id":3' replies 2>/dev/null &&
		    [ -z "$(pgrep -P "$(daemon_pid)" -u 200000-265535 2>/dev/null)" ]; do
			sleep 0.05
		done
		sleep 0.3
		for p in $(pgrep -P "$(daemon_pid)"); do
			u=$(stat -c %u /proc/$p)
			[ "$u" -ge 200000 ] && kill -KILL "$p"
		done
	) &
	session_script \
	    '{"id":3,"op":"execute","session":"@S@","code":"Sys.sleep(5)"}' \
	    '{"id":4,"op":"execute","session":"@S@","code":"1 + 1"}' \
	    >/dev/null
	wait
	atf_check -o inline:'"worker_died"\n' reply 3 .error.code
	atf_check -o inline:'"killed by signal 9 (SIGKILL)"\n' reply 3 .error.cause
	atf_check -o inline:'[2]\n' reply 4 .value.value
	atf_check -o match:'"event":"exec_end".*"status":"killed"' cat "$AUDIT"
}
worker_killed_cleanup() {
	cleanup_daemon
}

atf_test_case sessions cleanup
sessions_head() {
	atf_set "descr" "status, restart and close; another connection's " \
	    "session does not exist for this one"
}
sessions_body() {
	start_daemon
	session_script \
	    '{"id":3,"op":"execute","session":"@S@","code":"x <- 1"}' \
	    '{"id":4,"op":"status"}' \
	    '{"id":5,"op":"session.restart","session":"@S@"}' \
	    '{"id":6,"op":"execute","session":"@S@","code":"exists(\"x\")"}' \
	    '{"id":7,"op":"session.close","session":"@S@"}' \
	    '{"id":8,"op":"execute","session":"@S@","code":"1"}' \
	    >/dev/null
	atf_check -o inline:'"idle"\n' reply 4 '.sessions[0].state'
	atf_check -o inline:'true\n' reply 5 .ok
	atf_check -o inline:'[false]\n' reply 6 .value.value
	atf_check -o inline:'true\n' reply 7 .ok
	atf_check -o inline:'"no_such_session"\n' reply 8 .error.code
	raw "$HELLO" "{\"id\":2,\"op\":\"status\",\"session\":\"$(cat sid)\"}" \
	    >replies
	atf_check -o inline:'"no_such_session"\n' reply 2 .error.code
	atf_check -o match:'"event":"session_close"' cat "$AUDIT"
}
sessions_cleanup() {
	cleanup_daemon
}

atf_init_test_cases() {
	atf_add_test_case framing
	atf_add_test_case too_large
	atf_add_test_case values
	atf_add_test_case state_and_output
	atf_add_test_case errors
	atf_add_test_case busy_and_caps
	atf_add_test_case timeout
	atf_add_test_case worker_killed
	atf_add_test_case sessions
}
