#! /usr/bin/env atf-sh
# The R package's testthat suite, one test case per testthat file, each
# against a private securerd that its cleanup stops.  The package must be
# installed (bootstrap.sh does it).

. "$(atf_get_srcdir)/daemon.subr"

# run_testthat name [conf lines]: runs rpkg/tests/testthat/test-name.R
# against a daemon with those lines; any failure or error fails the test
# case.
run_testthat() {
	name=$1
	shift
	start_daemon "$@"
	set -- "$name"
	cp -r "$T/rpkg/tests/testthat" tests
	cp -r "$T/rpkg/tests/ellmer-standin" ellmer-standin
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

for t in api session tools pool plots values data files ellmer hibernate; do
	eval "
atf_test_case $t cleanup
${t}_head() {
	atf_set descr 'rpkg/tests/testthat/test-$t.R'
	atf_set timeout 300
}
${t}_body() {
	if [ $t = data ]; then
		# Big data: values of 80 MB, a million lines, a client
		# held back for longer than its grace.
		run_testthat $t 'result-size 268435456' \
		    'result-memory 1073741824' 'output-bytes 67108864' \
		    'client-grace 2'
	elif [ $t = files ]; then
		# Files of 20 MB; file-size 24 MiB, 25 MB is over it.
		run_testthat $t 'file-size 25165824'
	elif [ $t = hibernate ]; then
		# Snapshots of 1 MiB at most: 1.6 MB is over.
		run_testthat $t 'snapshot-size 1048576'
	else
		run_testthat $t
	fi
}
${t}_cleanup() {
	cleanup_daemon
}
"
done

# The examples of securer 0.2.0's README and vignettes, as a newcomer
# would run them: rpkg/tests/scripts/name.R, unchanged, with Rscript
# against the daemon (SECURER_SOCKET); each must end without an error and
# print name.out (see expect.R).
atf_test_case scripts cleanup
scripts_head() {
	atf_set descr 'securer 0.2.0 scripts run unchanged (rpkg/tests/scripts)'
	atf_set timeout 600
}
scripts_body() {
	start_daemon
	bad=
	for f in "$T"/rpkg/tests/scripts/*.R; do
		n=$(basename "$f" .R)
		mkdir "run-$n"
		(cd "run-$n" && Rscript "$f" >stdout 2>stderr)
		rc=$?
		echo "== $n.R: exit $rc"
		cat "run-$n/stderr"
		if [ $rc -ne 0 ]; then
			bad="$bad $n(exit $rc)"
		elif ! Rscript "$T/regress/rpkg/expect.R" \
		    "$T/rpkg/tests/scripts/$n.out" "run-$n/stdout"; then
			bad="$bad $n(output)"
		fi
	done
	if [ -n "$bad" ]; then
		echo "== the daemon's complaints:"
		grep -E 'cgroup|could not be spawned|fatal|error' daemon.log
		atf_fail "scripts failed:$bad (details on stdout)"
	fi
	stop_daemon
	for p in $(pgrep -f "securerd -d -v -f $PWD/conf|securerd -I 600 -s $PWD" \
	    2>/dev/null); do
		atf_fail "a daemon left behind: $p"
	done
}
scripts_cleanup() {
	cleanup_daemon
}

# R CMD check of the package (without the PDF manual: no LaTeX here):
# no error, no warning, and no note but the one that cannot be helped,
# ellmer (Suggests) not being in Debian.
atf_test_case check
check_head() {
	atf_set descr 'R CMD check passes with no warning or note but ellmer missing'
	atf_set timeout 900
}
check_body() {
	securer_init
	R CMD build --no-build-vignettes "$T/rpkg" >build.log 2>&1 ||
	    { cat build.log; atf_fail "R CMD build failed"; }
	# In a UTF-8 session: in an ASCII one, R checks the package's UTF-8
	# sources by switching to en_US.UTF-8, which a bare Debian lacks.
	LC_ALL=C.UTF-8 SECURER_TOP="$T" _R_CHECK_FORCE_SUGGESTS_=false \
	    R CMD check --no-manual securer_*.tar.gz >check.log 2>&1
	cat check.log
	st=$(grep '^Status: ' check.log)
	case "$st" in
	"Status: OK")
		;;
	"Status: 1 NOTE")
		LC_ALL=C.UTF-8 grep -q \
		    "^Package suggested but not available for checking: .ellmer.$" \
		    check.log || atf_fail "R CMD check: a note other than ellmer's"
		;;
	*)
		atf_fail "R CMD check: ${st:-did not finish}"
		;;
	esac
}

atf_init_test_cases() {
	for t in api session tools pool plots values data files ellmer hibernate; do
		atf_add_test_case $t
	done
	atf_add_test_case scripts
	atf_add_test_case check
}
