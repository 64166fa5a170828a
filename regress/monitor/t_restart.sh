#! /usr/bin/env atf-sh
# Hibernated sessions outlive the daemon and its monitor (DESIGN.md,
# "Hibernation"): the snapshot carries the session's record, the broker
# lists the stored sessions to every monitor that starts, and each is
# taken on, kept, for its owner to attach by name or id.  securerctl
# hibernate all, and hibernate-on-stop at SIGTERM, save the live ones.
# The steps after a restart run beside a bystander (restart.py); the
# audit log verifies across the restarts, and no worker nor snapshot is
# left.

. "$(atf_get_srcdir)/daemon.subr"

rs_start() {
	[ -f daemon.log ] && cat daemon.log >>daemons.log
	start_daemon "audit-sync never" "$@"
	wait_for "the monitor" monitor_up
}

# step NAME: restart.py's step against this daemon, its figures kept.
step() {
	python3 "$T/regress/monitor/restart.py" "$1" "$SOCK" "$PWD/state" \
	    "$(daemon_pid)" >figures 2>&1 || {
		cat figures daemons.log daemon.log 2>/dev/null
		atf_fail "$1: $(grep FAIL figures)"
	}
	cat figures
}

# begin NAME: a step before a restart, in the background: it keeps its
# connections open until the daemon closes them (restart.py's hold()).
# Returns once it is done ("held"); wait_step waits for its end.
begin() {
	rm -f held go
	python3 "$T/regress/monitor/restart.py" "$1" "$SOCK" "$PWD/state" \
	    "$(daemon_pid)" >figures 2>&1 &
	py=$!
	i=0
	until [ -f held ]; do
		if ! kill -0 $py 2>/dev/null || [ $i -gt 1200 ]; then
			cat figures daemon.log
			atf_fail "$1: $(grep FAIL figures)"
		fi
		i=$((i + 1))
		sleep 0.05
	done
}

# go: a step in the background got to where the shell acts.
go_seen() {
	[ -f go ] || ! kill -0 $py 2>/dev/null
}

wait_step() {
	wait $py || { cat figures daemon.log; atf_fail "$(grep FAIL figures)"; }
	cat figures
}

no_session_workers() {
	[ -z "$(worker_pids)" ]
}

# The end of a case: nothing left, the log whole.
rs_end() {
	wait_for "the sessions' workers to go" no_session_workers
	stop_daemon
	[ -z "$(find state -name '*.snap')" ] ||
	    atf_fail "snapshots left: $(ls state)"
	atf_check -o match:'0 problems' "$B/securerctl" audit verify "$AUDIT"
}

# n records of event with status (and more of the line) in the log.
audited() {
	n=$(grep -c "\"event\":\"$1\".*\"status\":\"$2\"$4" "$AUDIT" || true)
	[ "$n" -eq "$3" ] || atf_fail "$n $1 records of status $2$4, not $3"
}

atf_test_case daemon_restart cleanup
daemon_restart_head() {
	atf_set "descr" "named, unnamed and forked sessions, hibernated, " \
	    "come back after the daemon restarts; by name and by id"
	atf_set "timeout" "180"
}
daemon_restart_body() {
	rs_start
	begin daemon_restart_before
	stop_daemon
	wait_step
	rs_start
	# Taken on before the first connection is served: listed as kept.
	atf_check -o match:'hibernated .* work$' \
	    "$B/securerctl" -s "$SOCK.ctl" show sessions
	step daemon_restart_after
	audited session_adopt ok 3
	rs_end
}
daemon_restart_cleanup() {
	cleanup_daemon
}

atf_test_case monitor_crash cleanup
monitor_crash_head() {
	atf_set "descr" "a hibernated session comes back after its " \
	    "monitor is killed; a live one's state died with it"
	atf_set "timeout" "180"
}
monitor_crash_body() {
	rs_start
	begin monitor_crash_before
	old=$(monitor_pid)
	kill -KILL "$old"
	new_monitor() {
		p=$(monitor_pid)
		[ -n "$p" ] && [ "$p" != "$old" ]
	}
	wait_for "a new monitor" new_monitor
	wait_step
	step monitor_crash_after
	audited session_adopt ok 1
	rs_end
}
monitor_crash_cleanup() {
	cleanup_daemon
}

atf_test_case hibernate_all cleanup
hibernate_all_head() {
	atf_set "descr" "securerctl hibernate all: idle sessions now, a " \
	    "busy one when its execution ends; they survive a restart"
	atf_set "timeout" "180"
}
hibernate_all_body() {
	rs_start
	rm -f held go
	python3 "$T/regress/monitor/restart.py" hibernate_all_before "$SOCK" \
	    "$PWD/state" "$(daemon_pid)" >figures 2>&1 &
	py=$!
	wait_for "the sessions" go_seen
	atf_check -o inline:'2 hibernated, 1 were already, 0 failed, 0 closed meanwhile\n' \
	    "$B/securerctl" -s "$SOCK.ctl" hibernate all
	wait_for "the step" test -f held
	audited session_hibernate ok 2 '.*"reason":"operator"'
	wait_for "the workers to go" no_session_workers
	# One at a time, by id; one that is not there.
	atf_check -s exit:1 -e match:'no such session' \
	    "$B/securerctl" -s "$SOCK.ctl" hibernate session 0123
	stop_daemon
	wait_step
	rs_start
	step hibernate_all_after
	rs_end
}
hibernate_all_cleanup() {
	cleanup_daemon
}

atf_test_case stop cleanup
stop_head() {
	atf_set "descr" "hibernate-on-stop: SIGTERM hibernates every " \
	    "session once its execution ends, then the daemon exits"
	atf_set "timeout" "180"
}
stop_body() {
	rs_start "hibernate-on-stop 30"
	rm -f held go
	python3 "$T/regress/monitor/restart.py" stop_before "$SOCK" \
	    "$PWD/state" "$(daemon_pid)" >figures 2>&1 &
	py=$!
	wait_for "the sessions" go_seen
	pid=$(daemon_pid)
	kill -TERM "$pid"
	wait_step
	i=0
	while alive "$pid"; do
		i=$((i + 1))
		[ $i -gt 400 ] && { cat daemon.log; atf_fail "no exit"; }
		sleep 0.05
	done
	rm -f daemon.pid
	grep -q 'stopping: 3 sessions hibernated' daemon.log || {
		cat daemon.log
		atf_fail "the monitor did not say it hibernated 3 sessions"
	}
	audited session_hibernate ok 3 '.*"reason":"stop"'
	rs_start "hibernate-on-stop 30"
	step stop_after
	rs_end
}
stop_cleanup() {
	cleanup_daemon
}

atf_test_case refused cleanup
refused_head() {
	atf_set "descr" "a stored session whose record was edited, or " \
	    "whose owner the rules no longer let in, is not taken on"
	atf_set "timeout" "180"
}
refused_body() {
	rs_start 'allow user "root" token "tok-alpha"' 'allow all'
	begin refused_before
	stop_daemon
	wait_step
	edited=$(python3 -c 'import json; print(json.load(open("ids.json"))["edited"])')
	# A byte of its record ("name":"edited" -> "edites"), length kept.
	sed -i 's/"edited"/"edites"/' "state/$edited.snap"
	rs_start 'allow all'
	grep -q "snapshot $edited: its record does not verify" daemon.log ||
	    atf_fail "the edited record was not refused"
	grep -q 'not taken on again: the rules do not let its owner in' \
	    daemon.log || atf_fail "the other identity's session was taken on"
	step refused_after
	audited session_adopt ok 1
	audited session_adopt failed 1
	# The edited one is left for the operator, not served.
	[ -f "state/$edited.snap" ] || atf_fail "the edited snapshot went"
	rm "state/$edited.snap"
	rs_end
}
refused_cleanup() {
	cleanup_daemon
}

atf_test_case retention cleanup
retention_head() {
	atf_set "descr" "an adopted session's retention counts from its " \
	    "store: it is closed on time after a restart"
	atf_set "timeout" "180"
}
retention_body() {
	rs_start "retention 4"
	begin retention_before
	stop_daemon
	wait_step
	rs_start "retention 4"
	step retention_after
	grep -q '"event":"session_close".*"reason":"retention"' "$AUDIT" ||
	    atf_fail "no close by retention audited"
	rs_end
}
retention_cleanup() {
	cleanup_daemon
}

atf_test_case thousand cleanup
thousand_head() {
	atf_set "descr" "1,000 hibernated sessions are taken on after a " \
	    "restart, and each comes back with its state"
	atf_set "timeout" "900"
}
thousand_body() {
	rs_start "sessions 1001"
	begin thousand_before
	stop_daemon
	wait_step
	t0=$(date +%s%N)
	rs_start "sessions 1001"
	# Serving once all are taken on: the first answer waits for them.
	atf_check -o ignore "$B/securerctl" -s "$SOCK.ctl" show status
	echo "started_and_adopted_ms $(( ($(date +%s%N) - t0) / 1000000 ))"
	grep -q '1000 stored sessions taken on' daemon.log ||
	    atf_fail "not 1000 sessions taken on"
	step thousand_after
	audited session_adopt ok 1000
	rs_end
}
thousand_cleanup() {
	cleanup_daemon
}

atf_init_test_cases() {
	atf_add_test_case daemon_restart
	atf_add_test_case monitor_crash
	atf_add_test_case hibernate_all
	atf_add_test_case stop
	atf_add_test_case refused
	atf_add_test_case retention
	atf_add_test_case thousand
}
