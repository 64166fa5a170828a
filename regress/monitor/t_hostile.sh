#! /usr/bin/env atf-sh
# Hostile peers: what one client or one worker does must not reach the
# others.  Each attack runs beside a bystander client, which must not
# notice; afterwards the monitor is the one it was and the audit log
# verifies.

. "$(atf_get_srcdir)/daemon.subr"

HELLO='{"id":1,"op":"hello","version":1}'

# bystander_start: an execution of another client that outlives the
# attack; bystander_check: it completed, unharmed.
bystander_start() {
	"$B/securer" -s "$SOCK" -e 'Sys.sleep(4); 6 * 7' >bystander.out \
	    2>bystander.err &
	echo $! >bystander.pid
}

bystander_check() {
	wait "$(cat bystander.pid)" ||
	    atf_fail "the bystander failed: $(cat bystander.err)"
	[ "$(cat bystander.out)" = "[1] 42" ] ||
	    atf_fail "the bystander got: $(cat bystander.out bystander.err)"
}

# A tool's answer too large for the worker's channel (its value
# printed grows: 1E9 becomes 1000000000): the monitor freed the
# execution twice, crashed, and every other client's work went with it.
atf_test_case tool_result_too_large cleanup
tool_result_too_large_head() {
	atf_set "descr" "a tool result the worker's channel cannot carry is " \
	    "refused on both sides; nobody else notices"
	atf_set "timeout" "120"
}
tool_result_too_large_body() {
	start_daemon
	wait_for "the monitor" monitor_up
	m=$(monitor_pid)
	bystander_start
	python3 -c 'import sys
sys.stdout.write("[" + ",".join(["1E9"] * 900000) + "]")' >big.json
	: >replies
	{
		printf '%s\n' "$HELLO"
		printf '%s\n' '{"id":2,"op":"session.create","tools":[{"name":"t"}]}'
		wait_for "the session" grep -q '"id":2,"ok":true' replies
		sid=$(jq -r 'select(.id == 2) | .session' replies)
		printf '{"id":3,"op":"execute","session":"%s","code":"r <- tryCatch(t(), error = function(e) conditionMessage(e)); r"}\n' "$sid"
		wait_for "the tool call" grep -q '"event":"tool_call"' replies
		call=$(jq -r 'select(.event == "tool_call") | .call' replies)
		printf '{"id":4,"op":"tool_result","session":"%s","call":%s,"value":{"type":"double","value":' "$sid" "$call"
		cat big.json
		printf '}}\n'
		wait_for "the execution" grep -q '"id":3,"ok"' replies
		printf '{"id":5,"op":"execute","session":"%s","code":"1 + 1"}\n' "$sid"
	} | "$B/regress/sockcat" -n 5 -w 60 "$SOCK" >>replies
	atf_check -o inline:'"tool_result_too_large"\n' \
	    jq -c 'select(.id == 4) | .error.code' replies
	atf_check -o match:'too large' \
	    jq -r 'select(.id == 3 and .ok) | .value.value[0]' replies
	atf_check -o inline:'[2]\n' \
	    jq -c 'select(.id == 5 and .ok) | .value.value' replies
	bystander_check
	[ "$(monitor_pid)" = "$m" ] || atf_fail "the monitor was restarted"
	grep -q "monitor died" daemon.log && atf_fail "the monitor died"
	atf_check -o match:'0 problems' "$B/securerctl" audit verify "$AUDIT"
}
tool_result_too_large_cleanup() {
	cleanup_daemon
}

atf_init_test_cases() {
	atf_add_test_case tool_result_too_large
}
