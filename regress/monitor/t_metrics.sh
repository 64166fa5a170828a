#! /usr/bin/env atf-sh
# securerctl metrics: known events (executions that succeed, fail, time
# out or are killed, tool calls of every outcome) show as exact counts,
# the histograms agree with themselves and with the counters, gauges
# follow what is open, and every line is valid Prometheus text format.

. "$(atf_get_srcdir)/daemon.subr"

# metrics: the exposition into m.txt, checked line by line.
metrics() {
	"$B/securerctl" -s "$SOCK.ctl" metrics >m.txt ||
	    atf_fail "securerctl metrics failed"
	awk -f "$T/regress/monitor/promcheck.awk" m.txt >check.out ||
	    { cat check.out m.txt >&2; atf_fail "bad exposition format"; }
	if command -v promtool >/dev/null; then
		promtool check metrics <m.txt >&2 ||
		    atf_fail "promtool check metrics failed"
	fi
}

# value 'series': its value in m.txt, exactly as printed.
value() {
	awk -v s="$1" '$1 == s { print $2; n++ } END { exit n != 1 }' m.txt ||
	    atf_fail "no single series $1"
}

# expect 'series' value: after a fresh scrape.
expect() {
	v=$(value "$1")
	[ "$v" = "$2" ] || { cat m.txt >&2; atf_fail "$1 is $v, not $2"; }
}

# settled 'series' value: scrapes until it holds (worker exits and the
# reaping behind gauges come a moment after the replies).
settled() {
	wait_for "$1 to be $2" scraped "$1" "$2"
}

scraped() {
	metrics
	[ "$(value "$1")" = "$2" ]
}

# hist name: _count equals +Inf; prints _count.
hist_count() {
	c=$(value "${1}_count")
	[ "$(value "${1}_bucket{le=\"+Inf\"}")" = "$c" ] ||
	    atf_fail "$1: +Inf bucket is not _count"
	echo "$c"
}

tools() {
	cat >add.sh <<'EOF'
#!/bin/sh
exec jq -c '.a + .b'
EOF
	cat >fail.sh <<'EOF'
#!/bin/sh
echo "no" >&2
exit 1
EOF
	chmod +x add.sh fail.sh
	cat >tools.json <<EOF
[{"name": "add", "description": "a + b",
  "args": {"a": "numeric", "b": "numeric"}, "command": ["$PWD/add.sh"]},
 {"name": "fail", "description": "always fails", "args": {},
  "command": ["$PWD/fail.sh"]}]
EOF
}

atf_test_case counts cleanup
counts_head() {
	atf_set "descr" "executions ok, error and timeout and tool calls ok, " \
	    "error and refused give exact counters, histograms and kills"
}
counts_body() {
	# No workers ready ahead of demand: every worker is a session's.
	start_daemon 'workers ready 0'
	tools
	S="$B/securer -s $SOCK"
	metrics
	expect 'securer_executions_total{outcome="ok"}' 0
	expect 'securer_execution_duration_seconds_count' 0
	expect 'securer_workers_ready' 0
	atf_check -o inline:'[1] 2\n' $S -e '1+1'
	atf_check -s exit:1 -e match:boom $S -e 'stop("boom")'
	atf_check -s exit:1 -e match:'timed out' $S -t 0.5 -e 'Sys.sleep(30)'
	atf_check -o inline:'[1] 3\n' $S -T tools.json -e 'add(1, 2)'
	atf_check -o inline:'[1] 0\n' $S -T tools.json \
	    -e 'tryCatch(fail(), error = function(e) 0)'
	atf_check -s exit:1 -e match:numeric $S -T tools.json -e 'add("a", 2)'
	# Seven workers ended: six closed with their sessions, one timed out.
	settled 'securer_workers_running' 0
	settled 'securer_worker_kills_total{cause="closed"}' 6
	expect 'securer_worker_kills_total{cause="timeout"}' 1
	expect 'securer_worker_kills_total{cause="cpu"}' 0
	expect 'securer_worker_exits_total' 0
	expect 'securer_worker_spawn_failures_total' 0
	expect 'securer_executions_total{outcome="ok"}' 3
	expect 'securer_executions_total{outcome="error"}' 2
	expect 'securer_executions_total{outcome="timeout"}' 1
	expect 'securer_executions_total{outcome="killed"}' 0
	expect 'securer_executions_total{outcome="aborted"}' 0
	expect 'securer_executions_started_total' 6
	expect 'securer_timeouts_total{kind="execution"}' 1
	expect 'securer_timeouts_total{kind="pool_acquire"}' 0
	expect 'securer_tool_calls_total{outcome="ok"}' 1
	expect 'securer_tool_calls_total{outcome="error"}' 1
	expect 'securer_tool_calls_total{outcome="refused"}' 1
	expect 'securer_tool_calls_total{outcome="too_many"}' 0
	expect 'securer_tool_calls_total{outcome="rate_limited"}' 0
	expect 'securer_connections_total' 6
	expect 'securer_sessions_opened_total' 6
	expect 'securer_sessions_closed_total' 6
	expect 'securer_sessions{state="idle"}' 0
	expect 'securer_clients' 0
	# Every execution reached its worker: one observation each, and
	# the one that timed out after 0.5 s is above the 0.25 s bucket.
	n=$(hist_count securer_execution_duration_seconds)
	[ "$n" -eq 6 ] || atf_fail "$n executions timed, not 6"
	b=$(value 'securer_execution_duration_seconds_bucket{le="0.25"}')
	[ "$b" -le 5 ] || atf_fail "the timeout is in the 0.25 s bucket"
	sum=$(value securer_execution_duration_seconds_sum)
	awk -v s="$sum" 'BEGIN { exit !(s >= 0.5) }' ||
	    atf_fail "execution time sum $sum under the 0.5 s timeout"
	n=$(hist_count securer_session_start_seconds)
	[ "$n" -eq 6 ] || atf_fail "$n session starts timed, not 6"
	n=$(hist_count securer_tool_call_duration_seconds)
	[ "$n" -eq 2 ] || atf_fail "$n tool calls timed, not 2"
	# The same text inside the JSON reply with -j.
	"$B/securerctl" -s "$SOCK.ctl" -j metrics | jq -j .result >j.txt
	"$B/securerctl" -s "$SOCK.ctl" metrics >m2.txt
	atf_check -o match:'^securer_executions_total\{outcome="ok"\} 3$' \
	    cat j.txt
	atf_check cmp -s j.txt m2.txt
}
counts_cleanup() {
	cleanup_daemon
}

atf_test_case gauges cleanup
gauges_head() {
	atf_set "descr" "gauges follow a running execution and go back to 0"
}
gauges_body() {
	start_daemon 'workers ready 0'
	"$B/securer" -s "$SOCK" -e 'Sys.sleep(2); 1' >slow.out 2>&1 &
	echo $! >slow.pid
	settled 'securer_sessions{state="busy"}' 1
	expect 'securer_clients' 1
	expect 'securer_workers_running' 1
	expect 'securer_sessions{state="idle"}' 0
	expect 'securer_pools' 0
	wait "$(cat slow.pid)"
	atf_check -o inline:'[1] 1\n' cat slow.out
	settled 'securer_workers_running' 0
	expect 'securer_sessions{state="busy"}' 0
	expect 'securer_clients' 0
	expect 'securer_executions_total{outcome="ok"}' 1
}
gauges_cleanup() {
	[ -f slow.pid ] && kill "$(cat slow.pid)" 2>/dev/null
	cleanup_daemon
}

atf_test_case pools cleanup
pools_head() {
	atf_set "descr" "a pool's sessions by state with its name and uid, " \
	    "and a request that waited past acquire_timeout"
}
pools_body() {
	start_daemon 'workers ready 0'
	{
		echo '{"id":1,"op":"hello","version":1}'
		echo '{"id":2,"op":"pool.create","pool":"q.1","size":1}'
		echo '{"id":3,"op":"pool.execute","pool":"q.1","code":"Sys.sleep(2); 1","acquire_timeout":10}'
		echo '{"id":4,"op":"pool.execute","pool":"q.1","code":"2","acquire_timeout":0.2}'
	} | "$B/regress/sockcat" -n 4 "$SOCK" >pool.out &
	echo $! >pool.pid
	q="securer_pool_sessions{pool=\"q.1\",uid=\"$(id -u)\""
	settled "$q,state=\"busy\"}" 1
	expect "$q,state=\"idle\"}" 0
	expect 'securer_pools' 1
	expect 'securer_sessions{state="busy"}' 1
	settled 'securer_timeouts_total{kind="pool_acquire"}' 1
	expect 'securer_refused_total{reason="pool_busy"}' 1
	wait "$(cat pool.pid)"
	atf_check -o match:'"id":4,"ok":false.*pool_busy' \
	    -o match:'"id":3,"ok":true' cat pool.out
	settled 'securer_pools' 0
	expect 'securer_executions_total{outcome="ok"}' 1
}
pools_cleanup() {
	[ -f pool.pid ] && kill "$(cat pool.pid)" 2>/dev/null
	cleanup_daemon
}

atf_test_case ready cleanup
ready_head() {
	atf_set "descr" "workers started ahead of demand show as ready and " \
	    "running, and one taken is replaced"
}
ready_body() {
	start_daemon 'workers ready 2 max 2'
	settled 'securer_workers_ready' 2
	expect 'securer_workers_running' 2
	atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1+1'
	settled 'securer_workers_ready' 2
	expect 'securer_executions_total{outcome="ok"}' 1
	n=$(hist_count securer_session_start_seconds)
	[ "$n" -eq 1 ] || atf_fail "$n session starts timed, not 1"
}
ready_cleanup() {
	cleanup_daemon
}

atf_test_case cpu_kill cleanup
cpu_kill_head() {
	atf_set "descr" "a worker past its CPU limit counts as a kill by cpu " \
	    "and an execution killed"
}
cpu_kill_body() {
	start_daemon 'cpu 1 max 10' 'workers ready 0'
	atf_check -s exit:1 -e match:'CPU time limit exceeded' \
	    "$B/securer" -s "$SOCK" -t 30 -e 'repeat {}'
	settled 'securer_workers_running' 0
	expect 'securer_worker_kills_total{cause="cpu"}' 1
	expect 'securer_executions_total{outcome="killed"}' 1
	n=$(hist_count securer_execution_duration_seconds)
	[ "$n" -eq 1 ] || atf_fail "$n executions timed, not 1"
}
cpu_kill_cleanup() {
	cleanup_daemon
}

atf_test_case memory_kill cleanup
memory_kill_head() {
	atf_set "descr" "a worker over its cgroup's memory counts as a kill " \
	    "by memory"
}
memory_kill_body() {
	[ "$(id -u)" -eq 0 ] || atf_skip "cgroups need root"
	start_daemon 'memory 200M max 8G' 'tmpfs 1G max 1G' 'workers ready 0'
	atf_check -s exit:1 -e match:'memory limit exceeded' \
	    "$B/securer" -s "$SOCK" -t 60 -e '
		for (i in 1:20) writeBin(raw(40e6), file.path(tempdir(), i))'
	settled 'securer_worker_kills_total{cause="memory"}' 1
	expect 'securer_executions_total{outcome="killed"}' 1
}
memory_kill_cleanup() {
	cleanup_daemon
}

atf_test_case checker
checker_head() {
	atf_set "descr" "the format checker refuses what a scraper would"
}
checker_body() {
	T=$(atf_config_get top)
	C="awk -f $T/regress/monitor/promcheck.awk"
	printf '# HELP a_total Fine.\n# TYPE a_total counter\na_total 1\n' >ok
	printf '# TYPE h histogram\nh_bucket{le="0.1"} 1\n' >>ok
	printf 'h_bucket{le="+Inf"} 2\nh_sum 0.5\nh_count 2\n' >>ok
	printf '# TYPE g gauge\ng{a="q\\"\\\\\\n",b="x"} -1.5e3\n' >>ok
	atf_check -o empty $C ok
	bad() {
		printf "$1" >in
		atf_check -s exit:1 -o match:"$2" $C in
	}
	bad '# TYPE a counter\na 1\n' 'not named _total'
	bad 'a_total 1\n' 'without a TYPE'
	bad '# TYPE g gauge\ng{a="\\q"} 1\n' 'bad labels'
	bad '# TYPE g gauge\ng{a="x",} 1\n' 'bad labels'
	bad '# TYPE g gauge\ng{a="x"\n' 'unterminated'
	bad '# TYPE g gauge\ng 1x\n' 'bad value'
	bad '# TYPE g gauge\ng 1\ng 2\n' 'series twice'
	bad '# TYPE g gauge\ng 1\n# TYPE g gauge\n' 'second TYPE'
	bad '# TYPE g gauge\n# TYPE f gauge\ng 1\nf 1\ng{a="b"} 1\n' \
	    'not together'
	bad '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="0.5"} 2\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n' \
	    'not ascending'
	bad '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n' \
	    'goes down'
	bad '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n' \
	    'but _count 3'
	bad '# TYPE h histogram\nh_bucket{le="1"} 2\nh_sum 1\nh_count 2\n' \
	    'no le="\+Inf"'
	bad '# TYPE g gauge\n\ng 1\n' 'empty line'
}

atf_init_test_cases() {
	atf_add_test_case counts
	atf_add_test_case gauges
	atf_add_test_case pools
	atf_add_test_case ready
	atf_add_test_case cpu_kill
	atf_add_test_case memory_kill
	atf_add_test_case checker
}
