#! /usr/bin/env atf-sh
# The benchmarks run: a short run of securer-bench (C) and of bench.R
# (the R package beside RSclient), every row printed with its numbers.
# Their numbers are not checked: on a shared machine they are noise.

. "$(atf_get_srcdir)/daemon.subr"

atf_test_case c_bench
c_bench_head() {
	atf_set "descr" "securer-bench runs every row against its own " \
	    "daemons and Rserve, and leaves nothing behind"
	atf_set "timeout" "600"
}
# Once, in the plain build: under the sanitizers they measure those.
skip_sanitized() {
	ldd "$B/securerd" | grep -q libasan &&
	    atf_skip "the benchmarks run in the plain build"
	true
}

c_bench_body() {
	securer_init
	skip_sanitized
	before=$(ls -d /tmp/securer-bench.* 2>/dev/null | wc -l)
	atf_check -o save:bench.out -e save:bench.err \
	    "$B/securer-bench" -n 100 -S 100 -T 1
	cat bench.out
	num='[0-9][0-9.]*'
	for r in "1 session ready" "1 ... one every 20 ms" "2 execute 1+1" \
	    "3 tool call" "7 timeout: error late by" \
	    "7 timeout: answers again in" "9 1e6 doubles returned" \
	    "9 1e5 output lines"; do
		grep -F "$r" bench.out | grep -q " $num  *$num" ||
		    atf_fail "row \"$r\" missing or without numbers"
	done
	grep -q "^4 throughput  *$num executions/s" bench.out ||
	    atf_fail "row 4 missing"
	# PSS shares pages with every process that maps them, other
	# daemons' workers too: on a busy host the difference may be < 0.
	grep -q "^5 memory  *-\{0,1\}$num MiB PSS" bench.out ||
	    atf_fail "row 5 missing"
	grep -q "^6 scale  *$num s for 100 sessions, 0 errors" bench.out ||
	    atf_fail "row 6 missing or with errors"
	if Rscript -e 'quit(status = !requireNamespace("ggplot2", quietly = TRUE))' \
	    >/dev/null 2>&1; then
		grep -q "^8 library(ggplot2), preloaded  *$num" bench.out &&
		    grep -q "^8 \.\.\. cold  *$num" bench.out ||
		    atf_fail "row 8 missing"
	fi
	# Rserve beside it: rows 1 and 2 have its median and a ratio.
	if [ -x /usr/lib/R/site-library/Rserve/libs/Rserve ]; then
		for r in "2 execute 1+1" "9 1e6 doubles returned"; do
			grep "^$r" bench.out |
			    grep -q " $num  *$num  *$num  *$num$" ||
			    atf_fail "no Rserve column in row \"$r\""
		done
	fi
	after=$(ls -d /tmp/securer-bench.* 2>/dev/null | wc -l)
	[ "$after" -eq "$before" ] || atf_fail "left a directory in /tmp"
}

atf_test_case r_bench
r_bench_head() {
	atf_set "descr" "bench.R runs every row, the R package beside " \
	    "RSclient"
	atf_set "timeout" "600"
}
r_bench_body() {
	securer_init
	skip_sanitized
	Rscript -e 'library(securer)' >/dev/null 2>&1 ||
	    atf_skip "the R package is not installed (R_LIBS)"
	atf_check -o save:bench.out -e ignore \
	    Rscript "$T/regress/bench/bench.R" 2
	cat bench.out
	num='[0-9][0-9.]*'
	for r in "1e6 doubles to R" "1e7 doubles to R" \
	    "1e6 output lines (writeLines)" "1e6 output lines (cat loop)" \
	    "validate_code, 50,000 numbers" '$execute("1+1")' \
	    '$execute() checks before sending 1+1' 'validate_code("1+1")' \
	    '$execute("f(1)"), one tool call' \
	    'a tool call from R (the difference)'; do
		grep -F "$r" bench.out |
		    grep -q "securer median  *$num s  p99  *$num s" ||
		    atf_fail "row \"$r\" missing or without numbers"
	done
	if Rscript -e 'quit(status = !requireNamespace("RSclient", quietly = TRUE))' \
	    >/dev/null 2>&1; then
		grep -F '$execute("1+1")' bench.out | grep -q "RSclient median" ||
		    atf_fail "no RSclient column"
	fi
	grep -qx NULL bench.out && atf_fail "stray output: NULL"
	true
}

atf_init_test_cases() {
	atf_add_test_case c_bench
	atf_add_test_case r_bench
}
