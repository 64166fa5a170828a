#! /usr/bin/env atf-sh
# Hibernation: a session's state saved by its worker, stored by the
# broker (authenticated), its worker and capacity freed, and restored in
# a fresh worker by the next request (DESIGN.md, "Hibernation").  Each
# case runs beside a bystander (hibernate.py), which must never notice;
# afterwards only the ready workers are left and the audit log verifies.

. "$(atf_get_srcdir)/daemon.subr"

hib_start() {
	start_daemon "audit-sync never" "$@"
	wait_for "the monitor" monitor_up
}

# hib CASE: hibernate.py's case against this daemon, its figures kept.
hib() {
	python3 "$T/regress/monitor/hibernate.py" "$1" "$SOCK" "$PWD/state" \
	    "$(daemon_pid)" >figures 2>&1 || {
		cat figures daemon.log
		atf_fail "$(grep FAIL figures)"
	}
	cat figures
	wait_for "the sessions' workers to go" no_session_workers
	stop_daemon
	atf_check -o match:'0 problems' "$B/securerctl" audit verify "$AUDIT"
}

no_session_workers() {
	[ -z "$(worker_pids)" ]
}

# The audit log has n records of event with status.
audited() {
	n=$(grep -c "\"event\":\"$1\".*\"status\":\"$2\"" "$AUDIT" || true)
	[ "$n" -eq "$3" ] || atf_fail "$n $1 records of status $2, not $3"
}

atf_test_case state cleanup
state_head() {
	atf_set "descr" "variables, functions, packages, the RNG stream, " \
	    "the working directory and files come back; the worker is freed"
	atf_set "timeout" "120"
}
state_body() {
	hib_start
	hib state
	audited session_hibernate ok 2
	audited session_resume ok 2
	# The state directory: 0700, its key 0600, no snapshot left.
	atf_check -o inline:'700\n' stat -c %a state
	atf_check -o inline:'600\n' stat -c %a state/key
	[ -z "$(find state -name '*.snap')" ] ||
	    atf_fail "snapshots left: $(ls state)"
}
state_cleanup() {
	cleanup_daemon
}

atf_test_case tamper cleanup
tamper_head() {
	atf_set "descr" "a snapshot edited, truncated or swapped on disk is " \
	    "refused with a clear error, the session goes on empty"
	atf_set "timeout" "120"
}
tamper_body() {
	hib_start
	hib tamper
	audited session_resume failed 4
}
tamper_cleanup() {
	cleanup_daemon
}

atf_test_case oversize cleanup
oversize_head() {
	atf_set "descr" "a state over snapshot-size is refused, the session " \
	    "keeps its worker and state"
	atf_set "timeout" "120"
}
oversize_body() {
	hib_start "snapshot-size 500K"
	hib oversize
	audited session_hibernate failed 2
}
oversize_cleanup() {
	cleanup_daemon
}

atf_test_case quota cleanup
quota_head() {
	atf_set "descr" "snapshots past snapshot-quota are refused; a closed " \
	    "session's snapshot is deleted and its share freed"
	atf_set "timeout" "120"
}
quota_body() {
	hib_start "snapshot-quota 300K"
	hib quota
}
quota_cleanup() {
	cleanup_daemon
}

atf_test_case after cleanup
after_head() {
	atf_set "descr" "hibernate-after: an idle session hibernates by " \
	    "itself and resumes on its next request"
	atf_set "timeout" "120"
}
after_body() {
	hib_start "hibernate-after 1"
	hib after
	grep -q '"event":"session_hibernate".*"reason":"hibernate-after"' \
	    "$AUDIT" || atf_fail "no hibernation by hibernate-after audited"
}
after_cleanup() {
	cleanup_daemon
}

atf_test_case capacity cleanup
capacity_head() {
	atf_set "descr" "a hibernated session holds no worker of the " \
	    "capacity; it takes one again to resume, or is refused"
	atf_set "timeout" "120"
}
capacity_body() {
	hib_start "capacity workers 1 memory auto"
	hib capacity
}
capacity_cleanup() {
	cleanup_daemon
}

atf_test_case thousand cleanup
thousand_head() {
	atf_set "descr" "1,000 sessions hibernate, hold no worker meanwhile, " \
	    "and each resumes on demand with its state"
	atf_set "timeout" "900"
}
thousand_body() {
	hib_start "sessions 1001"
	hib thousand
	audited session_resume ok 1000
}
thousand_cleanup() {
	cleanup_daemon
}

atf_test_case fork cleanup
fork_head() {
	atf_set "descr" "session.fork: the fork has the source's state, " \
	    "the two change independently both ways, a hibernated source " \
	    "forks from its snapshot"
	atf_set "timeout" "120"
}
fork_body() {
	hib_start
	hib fork
	audited session_fork ok 3
	[ -z "$(find state -name '*.snap')" ] ||
	    atf_fail "snapshots left: $(ls state)"
}
fork_cleanup() {
	cleanup_daemon
}

atf_test_case fork_refused cleanup
fork_refused_head() {
	atf_set "descr" "a fork of a busy source, past the sessions limit, " \
	    "over snapshot-size or of a tampered snapshot is refused and the " \
	    "source goes on; a client or source gone mid-fork leaves nothing"
	atf_set "timeout" "120"
}
fork_refused_body() {
	hib_start "sessions 3" "snapshot-size 500K"
	hib fork_refused
	# Each refusal is audited, and the forks gone with their source or
	# client ("closed", each with the one it waited for).
	for why in "it is busy" "sessions limit" "over snapshot-size" \
	    "changed or is not this session" "the session forked was closed"; do
		grep '"event":"session_fork".*"status":"failed"' "$AUDIT" |
		    grep -q "$why" || atf_fail "no failed fork audited: $why"
	done
	[ -z "$(find state -name '*.snap')" ] ||
	    atf_fail "snapshots left: $(ls state)"
}
fork_refused_cleanup() {
	cleanup_daemon
}

atf_test_case kept cleanup
kept_head() {
	atf_set "descr" "a named session outlives its connection, " \
	    "hibernated, and its owner attaches it again; names are unique"
	atf_set "timeout" "120"
}
kept_body() {
	hib_start
	hib kept
	audited session_hibernate ok 2
	n=$(grep -c '"event":"session_detach"' "$AUDIT")
	[ "$n" -eq 2 ] || atf_fail "$n detaches audited, not 2"
	n=$(grep -c '"event":"session_attach"' "$AUDIT")
	[ "$n" -eq 2 ] || atf_fail "$n attaches audited, not 2"
}
kept_cleanup() {
	cleanup_daemon
}

atf_test_case retention cleanup
retention_head() {
	atf_set "descr" "a kept session is closed after retention, its " \
	    "snapshot deleted"
	atf_set "timeout" "120"
}
retention_body() {
	hib_start "retention 2"
	hib retention
	grep -q '"event":"session_close".*"reason":"retention"' "$AUDIT" ||
	    atf_fail "no close by retention audited"
}
retention_cleanup() {
	cleanup_daemon
}

atf_init_test_cases() {
	atf_add_test_case state
	atf_add_test_case tamper
	atf_add_test_case oversize
	atf_add_test_case quota
	atf_add_test_case after
	atf_add_test_case capacity
	atf_add_test_case thousand
	atf_add_test_case fork
	atf_add_test_case fork_refused
	atf_add_test_case kept
	atf_add_test_case retention
}
