#! /usr/bin/env atf-sh
# The R package's testthat suite, one test case per testthat file, each
# against a private securerd that its cleanup stops.  The package must be
# installed (bootstrap.sh does it).

. "$(atf_get_srcdir)/daemon.subr"

# run_testthat name: runs rpkg/tests/testthat/test-name.R; any failure or
# error fails the test case.
run_testthat() {
	start_daemon
	cp -r "$T/rpkg/tests/testthat" tests
	cd tests || atf_fail "no tests"
	Rscript -e 'library(testthat); library(securer)' \
	    -e 'r <- as.data.frame(test_file(commandArgs(TRUE)[1], reporter = "summary", stop_on_failure = FALSE))' \
	    -e 'quit(status = if (sum(r$failed) > 0 || any(r$error)) 1 else 0)' \
	    "test-$1.R" >../out 2>&1
	rc=$?
	cd ..
	cat out
	[ $rc -eq 0 ] || atf_fail "testthat test-$1.R failed (its report is on stdout)"
	stop_daemon
	for p in $(pgrep -f "securerd -I 600 -s $PWD" 2>/dev/null); do
		atf_fail "a daemon left behind: $p"
	done
}

for t in api session tools pool; do
	eval "
atf_test_case $t cleanup
${t}_head() {
	atf_set descr 'rpkg/tests/testthat/test-$t.R'
	atf_set timeout 300
}
${t}_body() {
	run_testthat $t
}
${t}_cleanup() {
	cleanup_daemon
}
"
done

atf_init_test_cases() {
	for t in api session tools pool; do
		atf_add_test_case $t
	done
}
