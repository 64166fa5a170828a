#!/bin/sh
# The whole test suite: installs what is missing, builds, runs every test
# with Kyua (plain build, then the daemon, common and client tests again
# under ASan/UBSan), soaks the daemon (SECURER_SOAK_SECONDS, default 120),
# runs the fuzz targets, checks nothing was left behind, and ends with the
# line "N passed, N failed, N skipped".
#
#	sh regress/run.sh		everything
#	sh regress/run.sh --quick	the plain build only
#
# The whole run ends with the libFuzzer targets (regress/fuzz/run.sh),
# FUZZ_SECONDS (default 60) each; SECURER_NO_FUZZ=1 leaves them out.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

# The R-side tests use this tree's R package, installed into build/rlib,
# not whatever an earlier bootstrap put in the site library.
mkdir -p build/rlib
R_LIBS_SITE_DIR=$top/build/rlib sh ./bootstrap.sh --build-only ||
    { echo "0 passed, 1 failed"; exit 1; }
R_LIBS=$top/build/rlib
export R_LIBS

passed=0 failed=0 skipped=0

# Lays out a tree kyua can run: each directory's Kyuafile beside the
# test programs (binaries from the build, scripts from regress/).
kyua_tree() {
	build=$1
	tree=$build/kyua
	rm -rf "$tree"
	mkdir -p "$tree"
	for dir in common worker broker monitor client mcp rpkg python attack faults; do
		[ -f "regress/$dir/Kyuafile" ] || continue
		mkdir -p "$tree/$dir"
		cp "regress/$dir/Kyuafile" "$tree/$dir/"
		ln -s "$top/regress/daemon.subr" "$tree/$dir/"
		for f in regress/$dir/*.sh; do
			[ -f "$f" ] && ln -s "$top/$f" "$tree/$dir/$(basename "$f" .sh)"
		done
		for f in "$build"/regress/t_*; do
			[ -x "$f" ] && ln -sf "$top/$f" "$tree/$dir/"
		done
	done
	cp regress/Kyuafile "$tree/Kyuafile"
}

# Runs one tree and adds its counts to the totals.
kyua_run() {
	build=$1
	shift
	kyua_tree "$build"
	rm -f "$build/results.db"
	(cd "$build/kyua" && kyua -v "test_suites.securer.build=$top/$build" \
	    -v "test_suites.securer.top=$top" test \
	    --results-file="$top/$build/results.db" "$@") |
	    grep -E '(failed|broken|skipped):' || true
	kyua report --results-file="$top/$build/results.db" \
	    --verbose --results-filter=broken,failed >"$build/report.txt" 2>&1
	line=$(kyua report --results-file="$top/$build/results.db" |
	    grep '^Test cases:')
	echo "$build: $line"
	set -- $(echo "$line" | tr -cs '0-9' ' ')
	total=$1 skip=$2 xfail=$3 broken=$4 fail=$5
	passed=$((passed + total - skip - broken - fail))
	failed=$((failed + broken + fail))
	skipped=$((skipped + skip))
	if [ $((broken + fail)) -gt 0 ]; then
		sed -n '1,200p' "$build/report.txt"
	fi
}

# Nothing of ours may outlive the suite: no daemon, worker or socket.
# Only processes started from this checkout's build directories count:
# other checkouts and an installed securerd may run beside the suite.
leftovers() {
	left="" pids=""
	for p in $(pgrep -x 'securerd|securer-worker|securer-ready' 2>/dev/null); do
		exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
		case "$exe" in
		"$top"/build/*|"$top"/build-asan/*) ;;
		"/memfd:securer-worker (deleted)")
			# A template or worker, exec'd from a copy that names
			# no checkout (securer-worker(8)): ours if its broker
			# is, or if it has none left.
			pp=$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')
			case "$(readlink "/proc/$pp/exe" 2>/dev/null)" in
			"$top"/build/*|"$top"/build-asan/*) ;;
			*)	[ "$pp" = 1 ] || continue ;;
			esac ;;
		*)	continue ;;
		esac
		# Zombies are not running; this machine's init is slow to reap.
		case "$(ps -o stat= -p "$p" 2>/dev/null)" in
		Z*|"")	continue ;;
		esac
		left="$left$(ps -o pid=,args= -p "$p")
"
		pids="$pids $p"
	done
	socks=$(find /tmp -maxdepth 3 -name 'securerd.sock' -newer \
	    "$top/build/.suite-start" 2>/dev/null || true)
	if [ -n "$left$socks" ]; then
		echo "left behind after the suite:"
		echo "$left"
		echo "$socks"
		[ -n "$pids" ] && kill -9 $pids 2>/dev/null
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
}

make -f Makefile.linux tests >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
# The MCP test's client, the official TypeScript SDK, from npm.
if command -v npm >/dev/null && [ ! -d regress/mcp/node_modules ]; then
	(cd regress/mcp && npm ci --silent --no-audit --no-fund) >/dev/null 2>&1 ||
	    echo "npm ci in regress/mcp failed: the MCP test will fail"
fi
touch build/.suite-start
kyua_run build

if [ "${1:-}" != "--quick" ] && [ -z "${SECURER_NO_ASAN:-}" ]; then
	if make -f Makefile.linux SANITIZE=1 tests >/dev/null 2>&1; then
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		    kyua_run build-asan common worker broker monitor client mcp
	else
		echo "the ASan/UBSan build failed"
		failed=$((failed + 1))
	fi
fi

# The soak (regress/soak/soak.sh): a mixed load for a few minutes, then
# nothing may have leaked.  One passed or failed in the totals.
if [ "${1:-}" != "--quick" ]; then
	if sh regress/soak/soak.sh "${SECURER_SOAK_SECONDS:-120}" \
	    >build/soak.txt 2>&1; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
	grep '^soak:' build/soak.txt
fi

# The libFuzzer targets, FUZZ_SECONDS each (regress/fuzz/run.sh): each
# target is one test, passed or failed.
if [ "${1:-}" != "--quick" ] && [ -z "${SECURER_NO_FUZZ:-}" ]; then
	sh regress/fuzz/run.sh >build/fuzz.txt 2>&1
	grep -E '^fuzz' build/fuzz.txt
	line=$(tail -1 build/fuzz.txt)
	case "$line" in
	*" passed, "*" failed")
		set -- $(echo "$line" | tr -cs '0-9' ' ')
		passed=$((passed + $1))
		failed=$((failed + $2))
		[ "$2" -gt 0 ] && sed -n '1,200p' build/fuzz.txt ;;
	*)
		sed -n '1,200p' build/fuzz.txt
		failed=$((failed + 1)) ;;
	esac
fi

leftovers
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
