#! /usr/bin/env atf-sh
# Hostile tenants: what one uid does before and after hello, and what
# sandboxed code makes the daemon write, must not exhaust it for the
# others.  Each attack runs beside a bystander (tenants.py: root's `1+1`
# in a loop, median under 50 ms, never an error); afterwards the
# monitor's fds and memory are back, and the audit log verifies.

. "$(atf_get_srcdir)/daemon.subr"

# The socket where nobody can reach it; the attacker runs as nobody.
tenants_init() {
	[ "$(id -u)" -eq 0 ] || atf_skip "needs root to become nobody"
	command -v setpriv >/dev/null || atf_skip "no setpriv"
	SECURER_TEST_SOCKDIR=$(mktemp -d /tmp/securer-tenants.XXXXXX)
	chmod 755 "$SECURER_TEST_SOCKDIR"
	echo "$SECURER_TEST_SOCKDIR" >sockdir
	export SECURER_TEST_SOCKDIR
}

# The daemon of each attack: the defaults, but no fsync per record, whose
# latency is the disk's and other work's on the host, not the daemon's.
# Under ASan, freed memory waits in its quarantine (256 MiB by default)
# before it is reused or unmapped: that is the instrumentation's memory,
# not the daemon's, so the quarantine is made small enough not to hide
# what the monitor itself holds, and free pages go back to the system at
# once (ASan's allocator, not malloc_trim(3), decides that there).
tenants_start() {
	[ -n "${ASAN_OPTIONS:-}" ] &&
	    export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=8:allocator_release_to_os_interval_ms=0"
	start_daemon "audit-sync never" "$@"
}

# attack NAME ARGS...: tenants.py beside a bystander, its figures kept.
attack() {
	wait_for "the monitor" monitor_up
	python3 "$T/regress/monitor/tenants.py" "$SOCK" "$(monitor_pid)" "$@" \
	    >figures 2>&1 || { cat figures; atf_fail "$(grep FAIL figures)"; }
	cat figures
	# Every session is gone, and with it its worker and cgroup: only
	# the ready workers are left, each with its own.
	wait_for "the sessions' workers to go" no_session_workers
	wait_for "the cgroups to be the ready workers'" cgroups_are_ready
}

no_session_workers() {
	[ -z "$(worker_pids)" ]
}

cgroups_are_ready() {
	dir=/sys/fs/cgroup/securer.$(daemon_pid)
	[ -d "$dir" ] || return 0	# no cgroups on this host
	n=$(find "$dir" -mindepth 1 -maxdepth 1 -type d -name 'w*' | wc -l)
	[ "$n" -eq "$(ready_pids | wc -l)" ]
}

tenants_cleanup() {
	cleanup_daemon
	[ -f sockdir ] && rm -rf "$(cat sockdir)"
	return 0
}

verify_audit() {
	stop_daemon
	atf_check -o match:'0 problems' "$B/securerctl" audit verify "$AUDIT"
}

atf_test_case idle_connections cleanup
idle_connections_head() {
	atf_set "descr" "a uid that opens connections and never says hello " \
	    "is refused at its cap, with an error, and each held one times out"
	atf_set "timeout" "120"
}
idle_connections_body() {
	tenants_init
	tenants_start
	attack idle 30000
	held=$(awk '$1 == "idle_held" { print $2 }' figures)
	# The default cap: a quarter of the connections, at most 256.
	[ "$held" -ge 8 ] && [ "$held" -le 256 ] ||
	    atf_fail "nobody held $held connections"
	t=$(awk '$1 == "hello_timeout_s" { print int($2) }' figures)
	[ "$t" -le 6 ] || atf_fail "the hello deadline took $t s"
	verify_audit
}
idle_connections_cleanup() {
	tenants_cleanup
}

atf_test_case long_lines cleanup
long_lines_head() {
	atf_set "descr" "400 connections each sending 8 MiB without a newline " \
	    "before hello are cut at 4 KiB; the monitor does not grow"
	atf_set "timeout" "300"
}
long_lines_body() {
	tenants_init
	tenants_start
	attack lines 400
	verify_audit
}
long_lines_cleanup() {
	tenants_cleanup
}

atf_test_case buffered_budget cleanup
buffered_budget_head() {
	atf_set "descr" "after hello, unfinished lines of one uid are held to " \
	    "its budget: the largest goes with over_budget, memory returns"
	atf_set "timeout" "300"
}
buffered_budget_body() {
	tenants_init
	tenants_start "client-memory 64M"
	attack budget 40
	grep -q 'over_budget\|unread data' daemon.log ||
	    atf_fail "no connection was dropped over its budget"
	verify_audit
}
buffered_budget_cleanup() {
	tenants_cleanup
}

atf_test_case audit_flood cleanup
audit_flood_head() {
	atf_set "descr" "sandboxed code calling an unknown tool 20,000 times " \
	    "writes 8 records and one summary, not 20,000"
	atf_set "timeout" "300"
}
audit_flood_body() {
	tenants_init
	tenants_start
	attack flood 20000
	atf_check -o inline:'flood_reply tool_calls_exceeded\n' \
	    grep '^flood_reply' figures
	stop_daemon
	n=$(jq -c 'select(.event == "tool_call")' "$AUDIT" | wc -l)
	[ "$n" -eq 9 ] || atf_fail "$n tool_call records"
	atf_check -o match:'19992 more refused tool calls' \
	    jq -r 'select(.event == "tool_call") | .error // empty' \
	    "$AUDIT"
	# The attacker's session's records (the bystander's are beside them).
	sid=$(jq -r 'select(.event == "exec_start" and
	    (.code | contains("securer_tool_call"))) | .session' "$AUDIT")
	bytes=$(grep -F "\"session\":\"$sid\"" "$AUDIT" | wc -c)
	echo "audit bytes of the attacking session: $bytes"
	[ "$bytes" -lt 16384 ] || atf_fail "$bytes bytes of audit"
	atf_check -o match:'0 problems' "$B/securerctl" audit verify "$AUDIT"
}
audit_flood_cleanup() {
	tenants_cleanup
}

atf_test_case deny_at_accept cleanup
deny_at_accept_head() {
	atf_set "descr" "a denied uid is refused at accept, before any request"
}
deny_at_accept_body() {
	tenants_init
	tenants_start 'deny user "nobody"' "allow all"
	wait_for "the monitor" monitor_up
	atf_check -o match:'"code":"unauthorized"' setpriv --reuid=nobody \
	    --regid=nogroup --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
print(s.recv(4096).decode())' "$SOCK"
	atf_check -o match:'"ok":true' -x \
	    "printf '%s\n' '{\"id\":1,\"op\":\"hello\",\"version\":1}' |
	    \"$B/regress/sockcat\" -n 1 -w 10 \"$SOCK\""
}
deny_at_accept_cleanup() {
	tenants_cleanup
}

atf_test_case protocol cleanup
protocol_head() {
	atf_set "descr" "a request naming a member twice is bad_request; a " \
	    "half-closed client's pending session.create is answered"
	atf_set "timeout" "60"
}
protocol_body() {
	start_daemon
	wait_for "the monitor" monitor_up
	atf_check -o match:'"id":2,"ok":false,"error":\{"code":"bad_request","message":"request has a name twice' -x \
	    "printf '%s\n%s\n' '{\"id\":1,\"op\":\"hello\",\"version\":1}' \
	    '{\"id\":2,\"op\":\"status\",\"op\":\"hello\"}' |
	    \"$B/regress/sockcat\" -n 2 -w 10 \"$SOCK\""
	# Nested too: a proxy reading the last "code" would run another one.
	atf_check -o match:'"id":2,"ok":false,"error":\{"code":"bad_request"' -x \
	    "printf '%s\n%s\n' '{\"id\":1,\"op\":\"hello\",\"version\":1}' \
	    '{\"id\":2,\"op\":\"session.create\",\"tools\":[{\"name\":\"a\",\"name\":\"b\"}]}' |
	    \"$B/regress/sockcat\" -n 2 -w 10 \"$SOCK\""
	python3 - "$SOCK" >halfclose <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1])
s.sendall(b'{"id":1,"op":"hello","version":1}\n'
          b'{"id":2,"op":"session.create"}\n')
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.decode())
PY
	cat halfclose
	grep -q '"id":2,"ok":' halfclose || atf_fail "session.create unanswered"
	wait_for "no session" sh -c "! \"$B/securerctl\" -s \"${SOCK%.sock}.ctl\" status 2>/dev/null | grep -q '\"session\"'"
	verify_audit
}
protocol_cleanup() {
	cleanup_daemon
}

atf_test_case capacity_from_host cleanup
capacity_from_host_head() {
	atf_set "descr" "with no capacity configured it comes from the host's " \
	    "memory; past it a session is refused at once"
	atf_set "timeout" "120"
}
capacity_from_host_body() {
	securer_init
	echo 'worker "/bin/true"' >auto.conf
	atf_check -o match:'^capacity workers auto memory auto$' \
	    -o match:'^sessions auto$' "$B/securerd" -nv -f auto.conf
	# 8G limits: three quarters of this host's memory over 8G workers.
	kb=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)
	cap=$((kb * 1024 / 4 * 3 / (8 * 1024 * 1024 * 1024)))
	[ "$cap" -ge 1 ] || atf_skip "less than 11 GiB of memory"
	start_daemon "memory 8G max 8G"
	grep -q "capacity: $cap workers" daemon.log ||
	    atf_fail "capacity not $cap: $(grep capacity: daemon.log)"
	python3 - "$SOCK" "$cap" >capacity <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(60); s.connect(sys.argv[1])
f = s.makefile("rwb", buffering=0)
f.write(b'{"id":1,"op":"hello","version":1}\n'); f.readline()
for i in range(int(sys.argv[2]) + 1):
    f.write(json.dumps({"id": 2 + i, "op": "session.create"}).encode()
            + b"\n")
    while True:
        r = json.loads(f.readline())
        if "ok" in r:
            break
    print(r["ok"], r.get("error", {}).get("code", ""))
PY
	cat capacity
	[ "$(grep -c True capacity)" -eq "$cap" ] || atf_fail "not $cap sessions"
	grep -q 'False capacity_exhausted\|False too_many_sessions' capacity ||
	    atf_fail "the one past the capacity was not refused"
}
capacity_from_host_cleanup() {
	cleanup_daemon
}

atf_init_test_cases() {
	atf_add_test_case idle_connections
	atf_add_test_case long_lines
	atf_add_test_case buffered_budget
	atf_add_test_case audit_flood
	atf_add_test_case deny_at_accept
	atf_add_test_case protocol
	atf_add_test_case capacity_from_host
}
