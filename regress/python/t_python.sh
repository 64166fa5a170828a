#! /usr/bin/env atf-sh
# The Python client (python/): one Kyua test case per pytest file of
# regress/python (each starts and stops the private daemons it needs, from
# the build tree, on sockets in its own directory), mypy --strict on the
# package, and its install with pip, offline.  Debian's python3 only.

. "$(atf_get_srcdir)/daemon.subr"

PY=/usr/bin/python3
FILES="values frames binary session tools errors timeouts pool async \
autostart schema files hibernate fork"

py_env() {
	B=$(atf_config_get build)
	T=$(atf_config_get top)
	unset SECURER_SOCKET SECURERD XDG_RUNTIME_DIR
	export SECURER_BUILD="$B" SECURER_TOP="$T" PYTHONPATH="$T/python" \
	    PYTHONDONTWRITEBYTECODE=1
}

# No securerd of ours may outlive a test case: none whose arguments name
# this test's directory.
no_leftovers() {
	for p in $(pgrep -f "securerd .*$PWD" 2>/dev/null); do
		[ "$(cat /proc/$p/stat 2>/dev/null | awk '{print $3}')" = Z ] &&
		    continue
		ps -o pid=,args= -p "$p"
		atf_fail "a daemon was left behind: $p"
	done
}

# run_pytest name: regress/python/test_name.py; a failure, an error or a
# skip fails the case: nothing here may be left unchecked.
run_pytest() {
	py_env
	$PY -m pytest -c "$T/regress/python/pytest.ini" \
	    --rootdir "$T/regress/python" --basetemp "$PWD/tmp" \
	    "$T/regress/python/test_$1.py" >out 2>&1
	rc=$?
	cat out
	no_leftovers
	[ $rc -eq 0 ] || atf_fail "pytest test_$1.py: exit $rc (report on stdout)"
	if grep -q '^SKIPPED' out; then
		why=$(grep '^SKIPPED' out | head -1 | sed 's/^SKIPPED \[[0-9]*\] [^ ]*:[0-9]*: //')
		atf_fail "test_$1.py skipped a test: $why"
	fi
}

for t in $FILES; do
	eval "
atf_test_case $t
${t}_head() {
	atf_set descr 'regress/python/test_$t.py'
	atf_set require.progs $PY
	atf_set timeout 900
}
${t}_body() {
	run_pytest $t
}
"
done

atf_test_case mypy
mypy_head() {
	atf_set descr "mypy --strict finds nothing in the package, its build backend and its examples"
	atf_set require.progs mypy
	atf_set timeout 600
}
mypy_body() {
	py_env
	cd "$T/python" || atf_fail "no python/"
	# The configuration is pyproject.toml's: strict, securer/ and examples/.
	mypy --python-executable "$PY" --cache-dir "$OLDPWD/mypy-cache" \
	    >"$OLDPWD/out" 2>&1
	rc=$?
	mypy --python-executable "$PY" --strict --cache-dir \
	    "$OLDPWD/mypy-cache" _build/securer_build.py >>"$OLDPWD/out" 2>&1 ||
	    rc=1
	cd "$OLDPWD" || atf_fail "cd"
	cat out
	[ $rc -eq 0 ] || atf_fail "mypy found problems (on stdout)"
	grep -q "^Success: no issues found in [1-9]" out ||
	    atf_fail "mypy checked nothing"
}

atf_test_case install cleanup
install_head() {
	atf_set descr "pip installs python/ into a fresh venv with no network, and it runs R code"
	atf_set require.progs $PY
	atf_set timeout 600
}
install_body() {
	py_env
	unset PYTHONPATH
	start_daemon
	unset SECURER_SOCKET
	$PY -m venv --system-site-packages venv >out 2>&1 || {
		cat out; atf_fail "no venv"; }
	# Offline for real where we may: a network namespace of its own.
	if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
		net="unshare -n"
	else
		net=""
	fi
	touch before
	$net venv/bin/pip install --no-cache-dir "$T/python" >out 2>&1 || {
		cat out; atf_fail "pip install failed"; }
	cat out
	left=$(find "$T/python" -newer before)
	[ -z "$left" ] || atf_fail "the install wrote in python/: $left"
	mkdir elsewhere
	(cd elsewhere && ../venv/bin/python -c '
import securer, sys
assert "/venv/" in securer.__file__, securer.__file__
with securer.Session(sys.argv[1], autostart=False) as s:
    print(s.execute("6 * 7").value)
' "$SOCK") >got 2>&1
	cat got
	[ "$(cat got)" = 42.0 ] || atf_fail "the installed package did not run R code"
	venv/bin/pip show securer | grep -q '^Version: 0.1.0' ||
	    atf_fail "pip does not know the package"
	stop_daemon
}
install_cleanup() {
	cleanup_daemon
}

atf_init_test_cases() {
	for t in $FILES; do
		atf_add_test_case $t
	done
	atf_add_test_case mypy
	atf_add_test_case install
}
