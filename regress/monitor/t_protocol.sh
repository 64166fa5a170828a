#! /usr/bin/env atf-sh
# The client protocol spoken raw over the socket: framing, hello, errors,
# sessions, executions and their values, busy, caps, timeouts, dead workers.

. "$(atf_get_srcdir)/daemon.subr"

HELLO='{"id":1,"op":"hello","version":1}'
CREATE='{"id":2,"op":"session.create"}'

# session_script lines...: hello, create, then the lines in turn, each
# sent once the reply to the one before it came (a line starting with
# "&" goes without waiting), with the session id put in for @S@.  The
# replies are in the file "replies".
session_script() {
	n=$(( $# + 2 ))
	: >replies
	{
		printf '%s\n%s\n' "$HELLO" "$CREATE"
		wait_final 2
		sid=$(jq -r 'select(.id == 2) | .session' replies)
		sent=""
		for line in "$@"; do
			case "$line" in
			"&"*)	line=${line#&} ;;
			*)	for id in $sent; do wait_final "$id"; done ;;
			esac
			printf '%s\n' "$line" | sed "s/@S@/$sid/g"
			sent="$sent $(printf '%s' "$line" | jq .id)"
		done
	} | "$B/regress/sockcat" -n "$n" "$SOCK" >>replies
}

# wait_final ID: until the final reply to request ID is in "replies".
wait_final() {
	wait_for "the reply to request $1" grep -q "\"id\":$1,\"ok\"" replies
}

# reply ID FILTER: the jq FILTER applied to the final reply of request ID.
reply() {
	jq -c "select(.id == $1 and has(\"ok\")) | $2" replies
}

# check_reply ID FILTER EXPECTED
check_reply() {
	got=$(reply "$1" "$2")
	[ "$got" = "$3" ] ||
	    atf_fail "request $1: $2 is $got, expected $3"
}

atf_test_case framing cleanup
framing_head() {
	atf_set "descr" "hello first; bad JSON, unknown ops and bad versions " \
	    "get typed errors and the connection stays open"
}
framing_body() {
	start_daemon
	raw '{"id":10,"op":"status"}' 'not json' '{"op":"hello"}' \
	    '{"id":2,"op":"hello","version":9}' '{"id":3,"op":"frobnicate"}' \
	    "$HELLO" '{"id":4,"op":"status"}' >replies
	check_reply 10 .error.code '"hello_required"'
	atf_check -o inline:'2\n' -x "jq -c 'select(.id == null) | .error.code' replies | grep -c bad_request"
	check_reply 2 .error.code '"unsupported_version"'
	check_reply 3 .error.code '"bad_request"'
	check_reply 10 '.ok == false' 'true'
	check_reply 4 .sessions '[]'
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
	check_reply 3 .value '{"type":"double","value":[0.30000000000000004]}'
	grep -q '"value":\[0.30000000000000004\]' replies ||
	    atf_fail "0.1 + 0.2 not sent in its exact shortest form"
	check_reply 4 .value '{"type":"integer","value":[1,null],"attributes":{"names":{"type":"character","value":["a","b"]}}}'
	check_reply 5 .value 'null'
	check_reply 6 .value '{"type":"logical","value":[null,true]}'
	check_reply 7 .value.value '[2,1]'
	check_reply 7 .value.attributes.levels '{"type":"character","value":["a","b"]}'
	check_reply 8 .visible 'false'
	check_reply 8 .printed '""'
	check_reply 3 .printed '"[1] 0.3\n"'
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
	check_reply 4 .value.value '[42]'
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
	check_reply 3 .error '{"code":"r_error","message":"boom","call":"f()"}'
	check_reply 4 .error.code '"parse_error"'
	check_reply 4 '[.error.line, .error.column]' '[3,0]'
	reply 4 .error.message | grep -q '^"<text>:3:0: unexpected end of input' ||
	    atf_fail "parse error message: $(reply 4 .error.message)"
	check_reply 5 .value.value '[false]'
	check_reply 6 .error.message '"top"'
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
	    '&{"id":4,"op":"execute","session":"@S@","code":"2"}' \
	    '{"id":5,"op":"execute","session":"@S@","code":"3"}' \
	    '{"id":6,"op":"execute","session":"@S@","code":"4"}' \
	    >/dev/null
	check_reply 4 .error.code '"session_busy"'
	check_reply 3 .value.value '[1]'
	# 3 and 5 started: the third start is refused
	check_reply 5 .value.value '[3]'
	check_reply 6 .error.code '"max_executions"'
	check_reply 6 .error.message '"maximum executions (2) reached for this session"'
	CREATE='{"id":2,"op":"session.create"}'
	long=$(head -c 65 /dev/zero | tr '\0' '1')
	session_script \
	    "{\"id\":3,\"op\":\"execute\",\"session\":\"@S@\",\"code\":\"$long\"}" \
	    >/dev/null
	check_reply 3 .error.message '"code too long (65 bytes, max 64)"'
}
busy_and_caps_cleanup() {
	cleanup_daemon
}

atf_test_case result_cap cleanup
result_cap_head() {
	atf_set "descr" "a value over result-size is refused with its size, " \
	    "and the session goes on with its state"
}
result_cap_body() {
	start_daemon "result-size 1K"
	session_script \
	    '{"id":3,"op":"execute","session":"@S@","code":"x <- 1:1000; x"}' \
	    '{"id":4,"op":"execute","session":"@S@","code":"length(x)"}' \
	    >/dev/null
	check_reply 3 .error.code '"result_too_large"'
	reply 3 .error.message | grep -q '^"result too large ([0-9]* bytes, max 1024)"$' ||
	    atf_fail "message: $(reply 3 .error.message)"
	check_reply 4 .value.value '[1000]'
}
result_cap_cleanup() {
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
	check_reply 4 .error.code '"timeout"'
	check_reply 4 .error.message '"execution timed out after 0.5 seconds; the session was restarted and its state is gone"'
	check_reply 5 .value.value '[false]'
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
		# Kill the session's worker once its execution started.
		wait_for "the execution" grep -q exec_start "$AUDIT"
		sleep 0.3
		kill -KILL $(worker_pids)
	) &
	killer=$!
	session_script \
	    '{"id":3,"op":"execute","session":"@S@","code":"Sys.sleep(5)"}' \
	    '{"id":4,"op":"execute","session":"@S@","code":"1 + 1"}' \
	    >/dev/null
	wait "$killer"
	check_reply 3 .error.code '"worker_died"'
	check_reply 3 .error.cause '"killed by signal 9 (SIGKILL)"'
	check_reply 4 .value.value '[2]'
	# An outside kill aborts the execution: exec_abort, with the signal.
	atf_check -o match:'"event":"exec_abort".*"cause":"killed by signal 9 \(SIGKILL\)".*"status":"killed"' \
	    cat "$AUDIT"
	atf_check -o inline:'0\n' -x "grep -c '\"event\":\"exec_end\".*\"exec\":1,' $AUDIT || true"
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
	check_reply 4 '.sessions[0].state' '"idle"'
	check_reply 5 .ok 'true'
	check_reply 6 .value.value '[false]'
	check_reply 7 .ok 'true'
	check_reply 8 .error.code '"no_such_session"'
	sid=$(jq -r 'select(.id == 2) | .session' replies)
	raw "$HELLO" "{\"id\":2,\"op\":\"status\",\"session\":\"$sid\"}" \
	    >replies
	check_reply 2 .error.code '"no_such_session"'
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
	atf_add_test_case result_cap
	atf_add_test_case timeout
	atf_add_test_case worker_killed
	atf_add_test_case sessions
}
