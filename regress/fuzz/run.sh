#!/bin/sh
# Builds the libFuzzer targets (make -f Makefile.linux fuzz, into
# build-fuzz/) and runs each for FUZZ_SECONDS seconds (default 60),
# FUZZ_JOBS (default 2) at a time, starting from its seed corpus in
# regress/fuzz/<target>/ (every seed, among them the inputs of bugs found
# before, runs first).  A crash, a
# leak, an fd leak, a timeout or running out of memory fails the target;
# what made it fail is kept in build-fuzz/artifacts/.  Ends with the line
# "N passed, N failed" (one per target) like regress/run.sh.
#
#	sh regress/fuzz/run.sh [target ...]
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1

seconds=${FUZZ_SECONDS:-60}
targets=${*:-"imsg config broker monitor client rvalue libsecurer worker text sessions term msgends record"}
out=build-fuzz
passed=0 failed=0

mkdir -p "$out"
if ! make -f Makefile.linux fuzz >"$out/build.log" 2>&1; then
	tail -30 "$out/build.log"
	echo "fuzz: the targets did not build"
	set -- $targets
	echo "0 passed, $# failed"
	exit 1
fi
mkdir -p "$out/artifacts"

# The largest input each target takes.
max_len() {
	case "$1" in
	imsg)		echo 70000 ;;
	client|monitor|sessions)	echo 8192 ;;
	*)		echo 4096 ;;
	esac
}

# One target: its result in $out/fuzz_$t.result, "passed" or "failed".
run_target() {
	t=$1
	corpus=$out/corpus/$t
	log=$out/fuzz_$t.log
	mkdir -p "$corpus"
	dict=""
	[ -f "regress/fuzz/$t.dict" ] && dict="-dict=regress/fuzz/$t.dict"
	# shellcheck disable=SC2086
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    "$out/fuzz/fuzz_$t" -max_total_time="$seconds" \
	    -error_exitcode=77 -timeout=10 -rss_limit_mb=2048 \
	    -max_len="$(max_len "$t")" -close_fd_mask=3 \
	    -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" \
	    $dict "$corpus" "regress/fuzz/$t" >"$log" 2>&1
	echo $? >"$out/fuzz_$t.result"
}

# FUZZ_JOBS targets at a time (default 2).
rm -f "$out"/fuzz_*.result
set -- $targets
while [ $# -gt 0 ]; do
	n=0
	while [ $# -gt 0 ] && [ $n -lt "${FUZZ_JOBS:-2}" ]; do
		run_target "$1" &
		shift
		n=$((n + 1))
	done
	wait
done

for t in $targets; do
	log=$out/fuzz_$t.log
	rc=$(cat "$out/fuzz_$t.result" 2>/dev/null || echo "?")
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ "$rc" = 0 ]; then
		echo "fuzz_$t: passed, ${runs:-?} executions in ${seconds}s"
		passed=$((passed + 1))
	else
		echo "fuzz_$t: FAILED (exit $rc), ${runs:-?} executions"
		grep -v '^    #[0-9]' "$log" | tail -40
		ls "$out/artifacts/$t-"* 2>/dev/null
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
