#!/bin/sh
# What the sandbox costs on session start: securer-bench against two
# daemons of a benchmark build, one with the sandbox and one without
# (SECURER_BENCH_NO_SANDBOX, honoured only by a build made with
# -DSECURER_BENCH_UNSANDBOXED, never by the installed daemon).  Not part
# of the suite: run it by hand, as root, from the top of the tree.
#
#	sh regress/attack/sandbox_cost.sh [count]
set -eu

n=${1:-300}
O=build-bench
make -f Makefile.linux O=$O CFLAGS="-O2 -g -DSECURER_BENCH_UNSANDBOXED" \
    all $O/securer-bench >/dev/null || [ -x $O/securer-bench ]
dir=$(mktemp -d /tmp/securer-cost.XXXXXX)
trap 'kill $pids 2>/dev/null; rm -rf "$dir"' EXIT
pids=
for mode in sandbox none; do
	mkdir "$dir/$mode"
	printf 'socket "%s"\naudit "%s"\nsessions 100000\n' \
	    "$dir/$mode/sock" "$dir/$mode/audit.jsonl" >"$dir/$mode/conf"
	if [ $mode = none ]; then
		SECURER_BENCH_NO_SANDBOX=1 $O/securerd -d -f "$dir/$mode/conf" \
		    2>"$dir/$mode/log" &
	else
		$O/securerd -d -f "$dir/$mode/conf" 2>"$dir/$mode/log" &
	fi
	pids="$pids $!"
done
for mode in sandbox none; do
	i=0
	while [ ! -S "$dir/$mode/sock" ] && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
done
for mode in sandbox none; do
	echo "== $mode"
	$O/securer-bench -n "$n" -S 20 -s "$dir/$mode/sock" 2>&1 |
	    grep -E 'median|ready|session'
	jq -r 'select(.event == "session_open") | .sandbox' \
	    "$dir/$mode/audit.jsonl" | sort | uniq -c
done
