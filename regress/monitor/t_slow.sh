#! /usr/bin/env atf-sh
# Slow clients: one that reads, however slowly, is held back (its
# workers wait for it) and never dropped; the monitor does not grow with
# what it has not read; a deadline still ends a held execution.  One
# dropped for not reading, or over its budget, is told so in a last
# whole line, after whole messages.  Each
# test checks the monitor's fds, the workers and the audit log after, as
# t_tenants does.

. "$(atf_get_srcdir)/daemon.subr"

# The daemon of each test; the one-client tests run with no ready
# workers, whose channels would come and go under the fd count.
slow_start() {
	[ -n "${ASAN_OPTIONS:-}" ] &&
	    export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=8:allocator_release_to_os_interval_ms=0"
	start_daemon "audit-sync never" "$@"
	wait_for "the monitor" monitor_up
}

# slow TEST ARGS...: slow.py against the daemon, its figures kept.
slow() {
	python3 "$T/regress/monitor/slow.py" "$SOCK" "$(monitor_pid)" "$@" \
	    >figures 2>&1 || { cat figures; atf_fail "$(grep FAIL figures)"; }
	cat figures
	wait_for "the sessions' workers to go" no_session_workers
}

no_session_workers() {
	[ -z "$(worker_pids)" ]
}

verify_audit() {
	stop_daemon
	atf_check -o match:'0 problems' "$B/securerctl" audit verify "$AUDIT"
}

atf_test_case flow cleanup
flow_head() {
	atf_set "descr" "a client reading 1e6 lines slowly gets them all, in " \
	    "order, and is not dropped though it is behind for longer than " \
	    "client-grace; the monitor does not grow with them"
	atf_set "timeout" "300"
}
flow_body() {
	slow_start "client-grace 2"
	slow flow 1000000
	grep -q 'is behind' daemon.log ||
	    atf_fail "the client was never behind: the test tests nothing"
	grep 'did not read' daemon.log && atf_fail "a reading client was dropped"
	verify_audit
}
flow_cleanup() {
	cleanup_daemon
}

atf_test_case deadline cleanup
deadline_head() {
	atf_set "descr" "the timeout of an execution held for a client that " \
	    "does not read still ends it"
	atf_set "timeout" "120"
}
deadline_body() {
	slow_start "client-grace 30" "workers ready 0"
	slow deadline
	verify_audit
}
deadline_cleanup() {
	cleanup_daemon
}

atf_test_case not_reading cleanup
not_reading_head() {
	atf_set "descr" "a client that reads nothing for client-grace while " \
	    "behind is dropped; what it reads then ends with a whole " \
	    "slow_client line, after whole messages"
	atf_set "timeout" "120"
}
not_reading_body() {
	slow_start "client-grace 3" "workers ready 0"
	slow dropped slow_client 4.5
	grep -q 'did not read its replies in time' daemon.log ||
	    atf_fail "the client was not dropped for not reading"
	verify_audit
}
not_reading_cleanup() {
	cleanup_daemon
}

atf_test_case over_budget cleanup
over_budget_head() {
	atf_set "descr" "a connection dropped over its uid's budget reads " \
	    "whole messages and then a whole over_budget line"
	atf_set "timeout" "120"
}
over_budget_body() {
	slow_start "user-client-memory 512K" "workers ready 0"
	slow dropped over_budget 2
	grep -q 'unread data' daemon.log ||
	    atf_fail "no connection was dropped over its budget"
	verify_audit
}
over_budget_cleanup() {
	cleanup_daemon
}

atf_init_test_cases() {
	atf_add_test_case flow
	atf_add_test_case deadline
	atf_add_test_case not_reading
	atf_add_test_case over_budget
}
