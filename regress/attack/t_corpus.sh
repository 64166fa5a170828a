#! /usr/bin/env atf-sh
# Ordinary R never dies of the filter: the examples of R's base packages
# (regress/attack/corpus.py: every help page with examples of base,
# stats, utils, methods, graphics, grDevices and tools), each run by
# example() in a sandboxed session of a private daemon, a few sessions
# at once, none may end in a sandbox violation; an R error is fine.
# The counts are on standard output (kyua report --verbose).

. "$(atf_get_srcdir)/daemon.subr"

PY=/usr/bin/python3
LANES=2		# the CI machine has two CPUs
EXAMPLE_TIMEOUT=20

atf_test_case examples cleanup
examples_head() {
	atf_set "descr" "example() of every page of R's base packages in " \
	    "sandboxed sessions: no sandbox violation"
	atf_set "require.progs" "$PY"
	atf_set "timeout" 600
}
examples_body() {
	start_daemon "workers ready $LANES"
	T=$(atf_config_get top)
	PYTHONPATH="$T/python" PYTHONDONTWRITEBYTECODE=1 \
	    $PY "$T/regress/attack/corpus.py" "$SOCK" $EXAMPLE_TIMEOUT \
	    $LANES report.json >corpus.out 2>&1
	rc=$?
	cat corpus.out
	[ -s report.json ] || atf_fail "corpus.py did not finish (exit $rc)"
	v=$(jq -r '.summary.violations | join(" ")' report.json)
	[ -z "$v" ] || atf_fail "sandbox violations: $v"
	# The daemon's own word for it, whatever the client made of it.
	n=$(jq -c 'select(.event == "worker_exit" and
	    (.cause | test("violation")))' "$AUDIT" | wc -l)
	[ "$n" -eq 0 ] || atf_fail "$n worker_exit records of a violation"
	run=$(jq '.summary.run' report.json)
	pages=$(jq '.summary.pages' report.json)
	[ "$pages" -ge 900 ] || atf_fail "only $pages pages listed"
	[ $rc -eq 0 ] || atf_fail "corpus.py: exit $rc ($run of $pages run)"
}
examples_cleanup() {
	cleanup_daemon
}

atf_init_test_cases() {
	atf_add_test_case examples
}
