#! /usr/bin/env atf-sh
# Ready workers (securerd.conf(5) workers ready): spawned ahead of
# demand with the default limits, handed to sessions and to the
# replacement of a worker that timed out, refilled, counted in
# securerctl show status.

. "$(atf_get_srcdir)/daemon.subr"

HELLO='{"id":1,"op":"hello","version":1}'

# session_script create lines...: hello, the create line (id 2), then
# the lines in turn, each sent once the reply to the one before it came,
# with the session id put in for @S@; the replies are in "replies".
session_script() {
	create=$1
	shift
	n=$(( $# + 2 ))
	: >replies
	{
		printf '%s\n%s\n' "$HELLO" "$create"
		wait_final 2
		sid=$(jq -r 'select(.id == 2) | .session' replies)
		for line in "$@"; do
			printf '%s\n' "$line" | sed "s/@S@/$sid/g"
			wait_final "$(printf '%s' "$line" | jq .id)"
		done
	} | "$B/regress/sockcat" -n "$n" "$SOCK" >>replies
}

wait_final() {
	wait_for "the reply to request $1" grep -q "\"id\":$1,\"ok\"" replies
}

# check ID FILTER EXPECTED: the jq FILTER on the final reply to ID.
check() {
	got=$(jq -c "select(.id == $1 and has(\"ok\")) | $2" replies)
	[ "$got" = "$3" ] || atf_fail "request $1: $2 is $got, expected $3"
}

# ready_count N: exactly N ready workers under the daemon.
ready_count() {
	[ "$(ready_pids | wc -l)" -eq "$1" ]
}

has_worker() {
	[ -n "$(worker_pids)" ]
}

# is_one_of PID PIDS...
is_one_of() {
	want=$1
	shift
	for p in "$@"; do
		[ "$p" = "$want" ] && return 0
	done
	return 1
}

atf_test_case taken_and_refilled cleanup
taken_and_refilled_head() {
	atf_set "descr" "a session gets a ready worker, the ready ones are " \
	    "refilled, securerctl status counts them"
	atf_set "require.user" "root"
}
taken_and_refilled_body() {
	start_daemon "control \"$PWD/sock.ctl\"" "workers ready 2 max 2"
	wait_for "two ready workers" ready_count 2
	before=$(ready_pids)
	atf_check -o match:'^ready +2$' "$B/securerctl" -s "$PWD/sock.ctl" \
	    show status
	atf_check -o inline:'2\n' -x "$B/securerctl -s $PWD/sock.ctl -j \
	    show status | jq .result.workers_ready"
	"$B/securer" -s "$SOCK" -e 'Sys.sleep(2); 7' >out &
	bg=$!
	wait_for "the session's worker" has_worker
	w=$(worker_pids)
	is_one_of "$w" $before ||
	    atf_fail "the session's worker $w is not one of the ready $before"
	wait_for "the ready workers refilled" ready_count 2
	wait "$bg" || atf_fail "the execution failed"
	atf_check -o inline:'[1] 7\n' cat out
}
taken_and_refilled_cleanup() {
	cleanup_daemon
}

atf_test_case other_limits cleanup
other_limits_head() {
	atf_set "descr" "a session whose limits differ from the defaults " \
	    "gets a fresh worker and leaves the ready one alone"
	atf_set "require.user" "root"
}
other_limits_body() {
	start_daemon "workers ready 1 max 1"
	wait_for "a ready worker" ready_count 1
	before=$(ready_pids)
	session_script '{"id":2,"op":"session.create","limits":{"cpu":5}}' \
	    '{"id":3,"op":"execute","session":"@S@","code":"Sys.getpid() > 0"}'
	check 2 .ok true
	check 3 .value.value '[true]'
	[ "$(ready_pids)" = "$before" ] ||
	    atf_fail "the ready worker changed: $(ready_pids), was $before"
}
other_limits_cleanup() {
	cleanup_daemon
}

atf_test_case timeout_takes_ready cleanup
timeout_takes_ready_head() {
	atf_set "descr" "after a timeout the session goes on with a ready " \
	    "worker, which is then replaced"
	atf_set "require.user" "root"
}
timeout_takes_ready_body() {
	start_daemon "workers ready 1 max 1"
	session_script '{"id":2,"op":"session.create"}' \
	    '{"id":3,"op":"execute","session":"@S@","code":"x <- 1"}'
	wait_for "a ready worker" ready_count 1
	spare=$(ready_pids)
	session_script '{"id":2,"op":"session.create"}' \
	    '{"id":3,"op":"execute","session":"@S@","code":"repeat {}","timeout":0.5}' \
	    '{"id":4,"op":"execute","session":"@S@","code":"exists(\"x\")"}'
	check 3 .error.code '"timeout"'
	check 4 .value.value '[false]'
	atf_check -o match:'"event":"session_restart".*"reason":"timeout"' \
	    cat "$AUDIT"
	# The ready worker was used (by the create or the replacement) and
	# another one waits in its place.
	wait_for "the ready worker replaced" ready_count 1
	[ "$(ready_pids)" != "$spare" ] ||
	    atf_fail "the ready worker $spare was never taken"
}
timeout_takes_ready_cleanup() {
	cleanup_daemon
}

atf_test_case none_ready cleanup
none_ready_head() {
	atf_set "descr" "workers ready 0: no worker waits, sessions still work"
}
none_ready_body() {
	start_daemon "workers ready 0"
	atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
	[ -z "$(ready_pids)" ] || atf_fail "ready workers with workers ready 0"
}
none_ready_cleanup() {
	cleanup_daemon
}

atf_test_case bad_config
bad_config_head() {
	atf_set "descr" "workers ready is bounded, and max is at least ready"
}
bad_config_body() {
	securer_init
	printf 'worker "/bin/true"\nworkers ready 65\n' >a.conf
	atf_check -s exit:1 -e inline:"securerd: a.conf:2: workers ready must be at most 64\n" \
	    "$B/securerd" -n -f a.conf
	printf 'worker "/bin/true"\nworkers ready 3 max 2\n' >b.conf
	atf_check -s exit:1 -e inline:"securerd: b.conf:2: workers ready max must be between 3 and 64\n" \
	    "$B/securerd" -n -f b.conf
}

atf_init_test_cases() {
	atf_add_test_case taken_and_refilled
	atf_add_test_case other_limits
	atf_add_test_case timeout_takes_ready
	atf_add_test_case none_ready
	atf_add_test_case bad_config
}
