#! /usr/bin/env atf-sh
# Multi-tenant policy from the side of clients that break it: two users
# of their own (made here, removed in cleanup) who cannot see each
# other's sessions, tokens, rate limits, caps, capacity, the idle
# reaper, and a reload that changes a limit or is refused.

. "$(atf_get_srcdir)/daemon.subr"

HELLO='{"id":1,"op":"hello","version":1}'

# users: two client users of this test's own (names with a random part,
# since other runs of the suite may be going on at the same time), each
# with a group of its name.
users() {
	[ -f users ] && { read UA UB <users; return 0; }
	r=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
	UA=sct_a$r
	UB=sct_b$r
	echo "$UA $UB" >users
	for u in $UA $UB; do
		useradd -M -U -r -s /bin/false "$u" ||
		    atf_skip "cannot create user $u"
	done
}

drop_users() {
	[ -f users ] || return 0
	for u in $(cat users); do
		userdel "$u" >/dev/null 2>&1 || true
	done
}

# pstart [conf lines...]: start_daemon on a socket any user can reach.
pstart() {
	securer_init
	users
	sdir=$(mktemp -d /tmp/securer-policy.XXXXXX)
	chmod 755 "$sdir"
	echo "$sdir" >sockdir
	SOCK=$sdir/sock
	write_conf "$@"
	"$B/securerd" -d -v -f "$PWD/conf" 2>daemon.log &
	echo $! >daemon.pid
	wait_for "the daemon's socket" test -S "$SOCK"
}

pcleanup() {
	securer_init
	stop_daemon
	[ -f sockdir ] && rm -rf "$(cat sockdir)"
	drop_users
}

# as user lines...: sends the lines as that user, all at once, and
# prints the replies.
as() {
	u=$1
	shift
	n=$#
	for line in "$@"; do
		printf '%s\n' "$line"
	done | setpriv --reuid="$u" --regid="$u" --clear-groups \
	    "$B/regress/sockcat" -n "$n" "$SOCK"
}

# reply FILE ID FILTER
reply() {
	jq -c "select(.id == $2 and has(\"ok\")) | $3" "$1"
}

# refused FILE: the connection was refused at accept, before any reply.
refused() {
	got=$(jq -c 'select(.id == null) | .error.code' "$1")
	[ "$got" = '"unauthorized"' ] ||
	    atf_fail "$1: not refused at accept: $(cat "$1")"
}

check() {
	got=$(reply "$1" "$2" "$3")
	if [ "$got" != "$4" ]; then
		cat "$1" >&2
		tail -20 daemon.log >&2
		atf_fail "$1: request $2: $3 is $got, not $4"
	fi
}

atf_test_case isolation cleanup
isolation_head() {
	atf_set "descr" "a user naming another user's session is told " \
	    "there is no such session; status shows only its own"
	atf_set "require.user" "root"
}
isolation_body() {
	pstart
	: >a.out
	{
		printf '%s\n{"id":2,"op":"session.create"}\n' "$HELLO"
		wait_for "a session" grep -q '"id":2,"ok":true' a.out
		sid=$(reply a.out 2 .session | tr -d '"')
		as $UB "$HELLO" \
		    "{\"id\":2,\"op\":\"execute\",\"session\":\"$sid\",\"code\":\"1\"}" \
		    "{\"id\":3,\"op\":\"status\",\"session\":\"$sid\"}" \
		    "{\"id\":4,\"op\":\"session.close\",\"session\":\"$sid\"}" \
		    '{"id":5,"op":"status"}' >b.out
		printf '{"id":3,"op":"execute","session":"%s","code":"6*7"}\n' \
		    "$sid"
	} | setpriv --reuid=$UA --regid=$UA --clear-groups \
	    "$B/regress/sockcat" -n 3 "$SOCK" >>a.out
	check b.out 2 .error.code '"no_such_session"'
	check b.out 3 .error.code '"no_such_session"'
	check b.out 4 .error.code '"no_such_session"'
	check b.out 5 .sessions '[]'
	check b.out 4 .error.message '"no such session"'
	check a.out 3 .value.value '[42]'
	check a.out 1 .uid "$(id -u $UA)"
}
isolation_cleanup() {
	pcleanup
}

atf_test_case authorization cleanup
authorization_head() {
	atf_set "descr" "allow and deny rules by user, a token compared in " \
	    "constant time, failures audited and throttled per uid"
	atf_set "require.user" "root"
}
authorization_body() {
	users
	pstart "deny user \"$UB\"" "allow user \"$UA\" token \"tok-A\"" \
	    "allow user \"root\""
	# A denied uid is refused at accept: one error line, nothing read.
	as $UB "$HELLO" '{"id":2,"op":"status"}' >b.out
	refused b.out
	as $UA '{"id":1,"op":"hello","version":1,"token":"tok-A"}' \
	    '{"id":2,"op":"status"}' >a.out
	check a.out 1 .ok true
	check a.out 2 .sessions '[]'
	as $UA "$HELLO" >a2.out
	check a2.out 1 .error.code '"unauthorized"'
	# Five bad tokens in a row: the uid must wait, even with the right one.
	as $UA '{"id":1,"op":"hello","version":1,"token":"x"}' \
	    '{"id":2,"op":"hello","version":1,"token":"y"}' \
	    '{"id":3,"op":"hello","version":1,"token":"z"}' \
	    '{"id":4,"op":"hello","version":1,"token":"w"}' \
	    '{"id":5,"op":"hello","version":1,"token":"tok-A"}' >a3.out
	check a3.out 4 .error.code '"unauthorized"'
	check a3.out 5 .error.code '"auth_throttled"'
	check a3.out 5 '.error.retry_after > 0' true
	atf_check -o match:'"event":"auth_fail".*"reason":"denied"' \
	    cat "$AUDIT"
	n=$(grep -c '"event":"auth_fail"' "$AUDIT")
	[ "$n" -ge 6 ] || atf_fail "only $n auth_fail records"
	sleep 5.5
	as $UA '{"id":1,"op":"hello","version":1,"token":"tok-A"}' >a4.out
	check a4.out 1 .ok true
	as root "$HELLO" >r.out
	check r.out 1 .ok true
}
authorization_cleanup() {
	pcleanup
}

atf_test_case rate_limit cleanup
rate_limit_head() {
	atf_set "descr" "over its request rate a client is told to retry " \
	    "after a while, on a connection that stays open, and recovers"
	atf_set "require.user" "root"
}
rate_limit_body() {
	pstart "requests 2 burst 3"
	: >r.out
	{
		printf '%s\n' "$HELLO"
		for i in 2 3 4 5 6; do
			printf '{"id":%d,"op":"status"}\n' $i
		done
		wait_for "five replies" grep -q '"id":6,' r.out
		sleep 1.1
		printf '{"id":7,"op":"status"}\n'
	} | setpriv --reuid=$UA --regid=$UA --clear-groups \
	    "$B/regress/sockcat" -n 7 "$SOCK" >>r.out
	check r.out 4 .ok true
	check r.out 5 .error.code '"rate_limited"'
	check r.out 6 .error.code '"rate_limited"'
	check r.out 6 '.error.retry_after > 0 and .error.retry_after <= 0.5' true
	check r.out 6 '.error.message | startswith("rate limited")' true
	check r.out 7 .ok true
	# Another user has a bucket of its own.
	as $UB "$HELLO" '{"id":2,"op":"status"}' >b.out
	check b.out 2 .ok true
}
rate_limit_cleanup() {
	pcleanup
}

atf_test_case caps cleanup
caps_head() {
	atf_set "descr" "sessions and executions per identity: over a count " \
	    "the error names the limit"
	atf_set "require.user" "root"
}
caps_body() {
	pstart "sessions 2" "executions 1"
	: >c.out
	{
		printf '%s\n' "$HELLO"
		printf '{"id":2,"op":"session.create"}\n'
		printf '{"id":3,"op":"session.create"}\n'
		wait_for "two sessions" grep -q '"id":3,"ok":true' c.out
		printf '{"id":4,"op":"session.create"}\n'
		s1=$(reply c.out 2 .session | tr -d '"')
		s2=$(reply c.out 3 .session | tr -d '"')
		printf '{"id":5,"op":"execute","session":"%s","code":"Sys.sleep(1); 1"}\n' "$s1"
		sleep 0.2
		printf '{"id":6,"op":"execute","session":"%s","code":"2"}\n' "$s2"
		wait_for "the first execution" grep -q '"id":5,"ok"' c.out
		printf '{"id":7,"op":"execute","session":"%s","code":"3"}\n' "$s2"
	} | setpriv --reuid=$UA --regid=$UA --clear-groups \
	    "$B/regress/sockcat" -n 7 "$SOCK" >>c.out
	check c.out 4 .error.code '"too_many_sessions"'
	check c.out 4 '.error.message | contains("\"sessions\"")' true
	check c.out 6 .error.code '"too_many_executions"'
	check c.out 6 '.error.message | contains("\"executions\"")' true
	check c.out 5 .value.value '[1]'
	check c.out 7 .value.value '[3]'
}
caps_cleanup() {
	pcleanup
}

atf_test_case capacity cleanup
capacity_head() {
	atf_set "descr" "with every worker in use a new session is refused " \
	    "at once as capacity exhausted"
	atf_set "require.user" "root"
}
capacity_body() {
	pstart "capacity workers 1"
	: >a.out
	{
		printf '%s\n{"id":2,"op":"session.create"}\n' "$HELLO"
		wait_for "a session" grep -q '"id":2,"ok":true' a.out
		t0=$(date +%s%N)
		as $UB "$HELLO" '{"id":2,"op":"session.create"}' >b.out
		t1=$(date +%s%N)
		echo $(( (t1 - t0) / 1000000 )) >ms
		printf '{"id":3,"op":"status"}\n'
	} | setpriv --reuid=$UA --regid=$UA --clear-groups \
	    "$B/regress/sockcat" -n 3 "$SOCK" >>a.out
	check b.out 2 .error.code '"capacity_exhausted"'
	check b.out 2 '.error.message | startswith("capacity exhausted")' true
	[ "$(cat ms)" -lt 2000 ] || atf_fail "refusal took $(cat ms) ms"
	# Once the first user's connection (and session) is gone, room again.
	as $UB "$HELLO" '{"id":2,"op":"session.create"}' >b2.out
	check b2.out 2 .ok true
}
capacity_cleanup() {
	pcleanup
}

atf_test_case idle_ttl cleanup
idle_ttl_head() {
	atf_set "descr" "a session idle past idle-ttl is closed and audited"
	atf_set "require.user" "root"
}
idle_ttl_body() {
	pstart "idle-ttl 1"
	: >i.out
	{
		printf '%s\n{"id":2,"op":"session.create"}\n' "$HELLO"
		wait_for "a session" grep -q '"id":2,"ok":true' i.out
		sid=$(reply i.out 2 .session | tr -d '"')
		printf '{"id":3,"op":"execute","session":"%s","code":"Sys.sleep(1.5); 1"}\n' "$sid"
		wait_for "the execution" grep -q '"id":3,"ok"' i.out
		sleep 1.5
		printf '{"id":4,"op":"status","session":"%s"}\n' "$sid"
	} | setpriv --reuid=$UA --regid=$UA --clear-groups \
	    "$B/regress/sockcat" -n 4 "$SOCK" >>i.out
	# A busy session is not idle: the execution outlived the ttl.
	check i.out 3 .value.value '[1]'
	check i.out 4 .error.code '"no_such_session"'
	atf_check -o match:'"event":"session_close".*"reason":"idle-ttl"' \
	    cat "$AUDIT"
}
idle_ttl_cleanup() {
	pcleanup
}

atf_test_case reload cleanup
reload_head() {
	atf_set "descr" "SIGHUP applies a changed limit and keeps sessions; " \
	    "a bad file is refused with its line and the old one stays"
	atf_set "require.user" "root"
}
reload_body() {
	pstart "sessions 1"
	: >r.out
	{
		printf '%s\n{"id":2,"op":"session.create"}\n' "$HELLO"
		wait_for "a session" grep -q '"id":2,"ok":true' r.out
		printf '{"id":3,"op":"session.create"}\n'
		wait_for "a refusal" grep -q '"id":3,"ok":false' r.out
		write_conf "sessions 2"
		kill -HUP "$(daemon_pid)"
		wait_for "the reload" grep -q "configuration reloaded" \
		    daemon.log
		sleep 0.2
		sid=$(reply r.out 2 .session | tr -d '"')
		printf '{"id":4,"op":"session.create"}\n'
		printf '{"id":5,"op":"execute","session":"%s","code":"5"}\n' \
		    "$sid"
		wait_for "a second session" grep -q '"id":4,"ok"' r.out
		write_conf "sessions 3" "sessions 0"
		kill -HUP "$(daemon_pid)"
		wait_for "the refusal" grep -q "reload failed" daemon.log
		printf '{"id":6,"op":"session.create"}\n'
	} | setpriv --reuid=$UA --regid=$UA --clear-groups \
	    "$B/regress/sockcat" -n 6 "$SOCK" >>r.out
	SOCK=$(cat sockdir)/sock
	check r.out 3 .error.code '"too_many_sessions"'
	check r.out 4 .ok true
	check r.out 5 .value.value '[5]'
	check r.out 6 .error.code '"too_many_sessions"'
	atf_check -o match:'conf:4: sessions must be between 1 and 1000000' \
	    cat daemon.log
	atf_check -o match:'"event":"reload_failed"' cat "$AUDIT"
}
reload_cleanup() {
	pcleanup
}

atf_test_case tool_rate cleanup
tool_rate_head() {
	atf_set "descr" "tool calls over the identity's tool-rate are " \
	    "refused to the sandboxed code with a retry time"
	atf_set "require.user" "root"
}
tool_rate_body() {
	pstart "tool-rate 0.5 burst 2"
	printf '#!/bin/sh\ncat >/dev/null\necho 17\n' >now.sh
	chmod +x now.sh
	printf '[{"name": "now", "description": "17", "args": {}, "command": ["%s/now.sh"]}]\n' \
	    "$PWD" >tools.json
	atf_check -o match:'^\[1\] 34$' \
	    -o match:'tool calls rate limited; retry after' \
	    "$B/securer" -s "$SOCK" --tools tools.json -e \
	    'print(now() + now()); tryCatch(now(), error = function(e) conditionMessage(e))'
}
tool_rate_cleanup() {
	pcleanup
}

# count_ok n files...: at least n final replies in the files.
count_ok() {
	n=$1
	shift
	[ "$(cat "$@" 2>/dev/null | grep -c '"ok":')" -ge "$n" ]
}

# hold user lines...: as user, sends the lines, waits for their replies
# in "held", and keeps the connection open (sockcat waits for one reply
# more) until the file "release" is there.
hold() {
	u=$1
	shift
	n=$#
	: >held
	{
		for line in "$@"; do
			printf '%s\n' "$line"
		done
		while [ ! -f release ]; do sleep 0.05; done
		printf '{"id":99,"op":"status"}\n'
	} | setpriv --reuid="$u" --regid="$u" --clear-groups \
	    "$B/regress/sockcat" -n $((n + 1)) "$SOCK" >>held &
	held_pid=$!
	wait_for "the held connection's replies" count_ok "$n" held
}

atf_test_case pools cleanup
pools_head() {
	atf_set "descr" "a pool of warm sessions used from several client " \
	    "processes of one user at once, in parallel up to its size; " \
	    "busy, reset between uses, dead sessions replaced, pool-size"
	atf_set "require.user" "root"
	atf_set "timeout" "120"
}
pools_body() {
	pstart "pool-size 3"
	hold $UA "$HELLO" \
	    '{"id":2,"op":"pool.create","pool":"p","size":2}' \
	    '{"id":3,"op":"pool.create","pool":"r","size":1,"reset_between_uses":true}'
	check held 2 '.total' 2
	check held 2 '.idle' 2
	# Each execution says when it ran, by the sandbox's clock.
	for i in 1 2 3 4; do
		as $UA "$HELLO" "{\"id\":2,\"op\":\"pool.execute\",\"pool\":\"p\",\"acquire_timeout\":20,\"code\":\"t0 <- as.numeric(Sys.time()); Sys.sleep(0.6); c($i, t0, as.numeric(Sys.time()))\"}" >x$i.out &
	done
	wait_for "four executions" count_ok 8 x1.out x2.out x3.out x4.out
	for i in 1 2 3 4; do
		check x$i.out 2 '.value.value[0]' "$i"
		jq -r 'select(.id == 2) | .value.value | "\(.[1]) \(.[2])"' \
		    x$i.out
	done >spans
	# Two at a time, never more: as many run when each starts, at most.
	most=$(awk '{ s[NR] = $1; e[NR] = $2 }
	    END { for (i = 1; i <= NR; i++) { n = 0
		for (j = 1; j <= NR; j++) if (s[j] <= s[i] && e[j] > s[i]) n++
		if (n > m) m = n } print m + 0 }' spans)
	[ "$most" -eq 2 ] || atf_fail "a pool of two ran $most at once: $(cat spans | tr '\n' ' ')"
	# Busy with no acquire_timeout: said at once.
	as $UA "$HELLO" \
	    '{"id":2,"op":"pool.execute","pool":"r","code":"Sys.sleep(1)"}' \
	    >slow.out &
	slow=$!
	sleep 0.4
	as $UA "$HELLO" '{"id":2,"op":"pool.execute","pool":"r","code":"1"}' >busy.out
	check busy.out 2 .error.code '"pool_busy"'
	check busy.out 2 .error.message '"All sessions are busy."'
	wait $slow
	check slow.out 2 .ok true
	# Reset between uses: nothing carries over.
	as $UA "$HELLO" \
	    '{"id":2,"op":"pool.execute","pool":"r","acquire_timeout":10,"code":"x <- 1; x"}' \
	    '{"id":3,"op":"pool.execute","pool":"r","acquire_timeout":10,"code":"exists(\"x\")"}' \
	    >reset.out
	check reset.out 3 .value.value '[false]'
	# Another user sees no pool of that name.
	as $UB "$HELLO" '{"id":2,"op":"pool.status","pool":"p"}' \
	    '{"id":3,"op":"pool.execute","pool":"p","code":"1"}' >b.out
	check b.out 2 .error.code '"no_such_pool"'
	check b.out 3 .error.code '"no_such_pool"'
	as $UA "$HELLO" '{"id":2,"op":"pool.create","pool":"big","size":4}' >big.out
	check big.out 2 .error.code '"pool_too_large"'
	check big.out 2 '.error.message | contains("\"pool-size\"")' true
	# A worker killed from outside: the pool replaces it.
	kill -KILL $(worker_pids | head -1)
	ok=0
	for i in $(seq 1 100); do
		as $UA "$HELLO" '{"id":2,"op":"pool.status","pool":"p"}' >st.out
		if [ "$(reply st.out 2 '.idle')" = 2 ] &&
		    grep -q session_restart "$AUDIT"; then
			ok=1
			break
		fi
		sleep 0.1
	done
	[ $ok = 1 ] || { cat st.out >&2; atf_fail "the pool was not refilled"; }
	check st.out 2 .total 2
	check st.out 2 .dead 0
	as $UA "$HELLO" '{"id":2,"op":"pool.close","pool":"p"}' \
	    '{"id":3,"op":"pool.status","pool":"p"}' >close.out
	check close.out 2 .ok true
	check close.out 3 .error.code '"no_such_pool"'
	touch release
	wait $held_pid
}
pools_cleanup() {
	touch release
	pcleanup
}

atf_test_case sanitize_and_advice cleanup
sanitize_and_advice_head() {
	atf_set "descr" "execute with sanitize: true cleans the R error of " \
	    "host details; risky calls found in the parsed code come back " \
	    "as warnings, comments and strings not counted"
	atf_set "require.user" "root"
}
sanitize_and_advice_body() {
	pstart
	msg='cannot open /home/alice/s.csv on db1.corp.example.com and localhost:5432 as bob:hunter2@db.lan via https://u:p@x.io/a for pid 4242 at 10.1.2.3; t.test(x)'
	as $UA "$HELLO" '{"id":2,"op":"pool.create","pool":"p","size":1}' \
	    "{\"id\":3,\"op\":\"pool.execute\",\"pool\":\"p\",\"acquire_timeout\":10,\"sanitize\":true,\"code\":\"stop('$msg')\"}" \
	    "{\"id\":4,\"op\":\"pool.execute\",\"pool\":\"p\",\"acquire_timeout\":10,\"code\":\"stop('$msg')\"}" \
	    '{"id":5,"op":"pool.execute","pool":"p","acquire_timeout":10,"code":"# system(1)\nf <- system; g <- function() .Internal(foo()); x <- \"dyn.load\"; 1"}' \
	    '{"id":6,"op":"pool.execute","pool":"p","acquire_timeout":10,"code":"if (FALSE) url(); stop(\"no\")"}' \
	    '{"id":7,"op":"pool.execute","pool":"p","acquire_timeout":10,"code":"sum(1:3)"}' >s.out
	check s.out 3 .error.message '"cannot open [path] on [host] and [host] as [credentials] via [url] for pid [pid] at [host]; t.test(x)"'
	check s.out 4 .error.message "\"$msg\""
	check s.out 5 '[.warnings[].call]' '[".Internal","system"]'
	check s.out 5 .value.value '[1]'
	check s.out 6 '.error.warnings[0].call' '"url"'
	check s.out 7 'has("warnings")' false
}
sanitize_and_advice_cleanup() {
	pcleanup
}

atf_test_case securerctl cleanup
securerctl_head() {
	atf_set "descr" "securerctl shows status, sessions, one session and " \
	    "counters as text and JSON, kills a session and reloads, " \
	    "over a socket no other user can use"
	atf_set "require.user" "root"
}
securerctl_body() {
	pstart "capacity workers 4"
	CTL="$B/securerctl -s $SOCK.ctl"
	atf_check -o match:'^srw------- root root$' \
	    stat -c '%A %U %G' "$SOCK.ctl"
	hold $UA "$HELLO" '{"id":2,"op":"session.create"}' \
	    '{"id":3,"op":"pool.create","pool":"q","size":1}'
	sid=$(reply held 2 .session | tr -d '"')
	uid=$(id -u $UA)
	atf_check -o match:'^sessions +2$' -o match:'^workers +2 of 4$' \
	    -o match:"^pool q uid $uid size 1 busy 0 idle 1" \
	    -o match:"^identity uid $uid clients 1 sessions 2 executions 0$" \
	    $CTL show status
	atf_check -o inline:'2\n' -x "$CTL -j show status | jq .result.sessions"
	atf_check -o match:"^$sid +$uid idle" -o match:" q " \
	    $CTL show sessions
	atf_check -o match:"^state +idle$" -o match:"^uid +$uid$" \
	    $CTL show session "$sid"
	atf_check -o match:'^sessions_opened +2$' \
	    -o match:'^connections +1$' $CTL show counters
	# Nobody else gets in, not even to look.
	atf_check -s not-exit:0 -e match:'Permission denied' \
	    setpriv --reuid=$UB --regid=$UB --clear-groups \
	    "$B/securerctl" -s "$SOCK.ctl" show status
	atf_check -o inline:"session $sid killed\n" $CTL kill session "$sid"
	atf_check -s exit:1 -e match:'no such session' \
	    $CTL show session "$sid"
	atf_check -o match:'"reason":"killed by the operator"' cat "$AUDIT"
	atf_check -o match:'^operator_kills +1$' $CTL show counters
	write_conf "capacity workers 8"
	atf_check -o inline:'reload requested\n' $CTL reload
	wait_for "the reload" grep -q "configuration reloaded" daemon.log
	atf_check -o match:'^workers +1 of 8$' $CTL show status
	touch release
	wait $held_pid
}
securerctl_cleanup() {
	touch release
	pcleanup
}

atf_test_case group_rule cleanup
group_rule_head() {
	atf_set "descr" "an allow rule by group lets its members in with the " \
	    "rule's own limits; others match no rule and are refused"
	atf_set "require.user" "root"
}
group_rule_body() {
	users
	pstart "allow group \"$UA\" sessions 1 requests 100 burst 100" \
	    "allow user \"root\""
	as $UA "$HELLO" '{"id":2,"op":"session.create"}' \
	    '{"id":3,"op":"session.create"}' >a.out
	check a.out 2 .ok true
	check a.out 3 .error.code '"too_many_sessions"'
	check a.out 3 '.error.message | contains("at most 1 session open")' true
	as $UB "$HELLO" >b.out
	refused b.out
}
group_rule_cleanup() {
	pcleanup
}

atf_test_case lifetime cleanup
lifetime_head() {
	atf_set "descr" "a session past its lifetime is closed even while " \
	    "it executes, and audited"
	atf_set "require.user" "root"
}
lifetime_body() {
	pstart "lifetime 1"
	: >l.out
	{
		printf '%s\n{"id":2,"op":"session.create"}\n' "$HELLO"
		wait_for "a session" grep -q '"id":2,"ok":true' l.out
		sid=$(reply l.out 2 .session | tr -d '"')
		printf '{"id":3,"op":"execute","session":"%s","code":"Sys.sleep(5); 1"}\n' "$sid"
		wait_for "the execution's end" grep -q '"id":3,"ok"' l.out
		printf '{"id":4,"op":"status","session":"%s"}\n' "$sid"
	} | setpriv --reuid=$UA --regid=$UA --clear-groups \
	    "$B/regress/sockcat" -n 4 "$SOCK" >>l.out
	check l.out 3 .error.code '"closed"'
	check l.out 4 .error.code '"no_such_session"'
	atf_check -o match:'"event":"session_close".*"reason":"lifetime"' \
	    cat "$AUDIT"
}
lifetime_cleanup() {
	pcleanup
}

atf_test_case flood cleanup
flood_head() {
	atf_set "descr" "a worker that sends more messages in one execution " \
	    "than \"messages\" allows is killed, its output having been " \
	    "cut first; the session goes on with a fresh worker"
	atf_set "require.user" "root"
}
flood_body() {
	pstart "messages 200" "output-lines 10"
	as $UA "$HELLO" '{"id":2,"op":"pool.create","pool":"p","size":1}' \
	    '{"id":3,"op":"pool.execute","pool":"p","acquire_timeout":10,"code":"for (i in 1:100000) message(i)"}' \
	    '{"id":4,"op":"pool.execute","pool":"p","acquire_timeout":10,"code":"6*7"}' >f.out
	check f.out 3 .error.code '"too_many_messages"'
	check f.out 3 '.error.message | contains("\"messages\"")' true
	check f.out 4 .value.value '[42]'
	atf_check -o match:'"event":"truncated"' cat f.out
	atf_check -o match:'"cause":"killed' cat "$AUDIT"
}
flood_cleanup() {
	pcleanup
}

atf_test_case socket_group cleanup
socket_group_head() {
	atf_set "descr" "socket owner, group and mode: only the group's " \
	    "members can connect at all"
	atf_set "require.user" "root"
}
socket_group_body() {
	users
	sdir=$(mktemp -d /tmp/securer-policy.XXXXXX)
	chmod 755 "$sdir"
	echo "$sdir" >sockdir
	securer_init
	SOCK=$sdir/sock
	write_conf
	sed -i "s|^socket .*|socket \"$SOCK\" mode 0660 owner \"root\" group \"$UA\"|" conf
	"$B/securerd" -d -v -f "$PWD/conf" 2>daemon.log &
	echo $! >daemon.pid
	wait_for "the daemon's socket" test -S "$SOCK"
	atf_check -o inline:"srw-rw---- root $UA\n" stat -c '%A %U %G' "$SOCK"
	as $UA "$HELLO" >a.out
	check a.out 1 .ok true
	atf_check -s not-exit:0 -e match:'Permission denied' \
	    setpriv --reuid=$UB --regid=$UB --clear-groups \
	    "$B/regress/sockcat" -n 1 "$SOCK"
}
socket_group_cleanup() {
	pcleanup
}

atf_init_test_cases() {
	atf_add_test_case isolation
	atf_add_test_case authorization
	atf_add_test_case rate_limit
	atf_add_test_case caps
	atf_add_test_case capacity
	atf_add_test_case idle_ttl
	atf_add_test_case reload
	atf_add_test_case tool_rate
	atf_add_test_case pools
	atf_add_test_case sanitize_and_advice
	atf_add_test_case securerctl
	atf_add_test_case group_rule
	atf_add_test_case lifetime
	atf_add_test_case flood
	atf_add_test_case socket_group
}
