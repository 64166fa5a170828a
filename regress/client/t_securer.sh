#! /usr/bin/env atf-sh
# The securer command.  The usage cases need no daemon; the others start
# a private securerd (daemon.subr) and are skipped until securerd and
# securer-worker are built.

. "$(atf_get_srcdir)/daemon.subr"

# need_daemon: skip unless the whole daemon is built.
need_daemon() {
	securer_init
	[ -x "$B/securerd" ] && [ -x "$B/securer-worker" ] ||
	    atf_skip "securerd and securer-worker are not built yet"
}

# no_system_daemon: skip if a system daemon would answer before ours.
no_system_daemon() {
	[ -S /run/securerd.sock ] &&
	    atf_skip "a system securerd listens on /run/securerd.sock"
	return 0
}

# tool NAME SCRIPT: an executable tool script in the work directory.
tool() {
	printf '#!/bin/sh\n%s\n' "$2" >"$1"
	chmod +x "$1"
}

atf_test_case usage
usage_head() {
	atf_set "descr" "bad command lines exit 2 before anything runs"
}
usage_body() {
	securer_init
	atf_check -s exit:2 -e match:'^usage: securer' "$B/securer"
	atf_check -s exit:2 -e match:'^usage: securer' "$B/securer" -x
	atf_check -s exit:2 -e match:'bad timeout: -1' \
	    "$B/securer" -t -1 -e 1
	atf_check -s exit:2 -e match:'^usage: securer' \
	    "$B/securer" -e 1 file.R
	atf_check -s exit:2 -e match:'^usage: securer' "$B/securer" a.R b.R
	atf_check -s exit:2 \
	    -e inline:'securer: nonexistent.R: No such file or directory\n' \
	    "$B/securer" nonexistent.R
	echo '{"name": "x"}' >tools.json
	atf_check -s exit:2 -e inline:'securer: tools.json: not a JSON array\n' \
	    "$B/securer" --tools tools.json -e 1
}

atf_test_case no_daemon
no_daemon_head() {
	atf_set "descr" "a socket where nobody answers: exit 1 with the reason"
}
no_daemon_body() {
	securer_init
	atf_check -s exit:1 -e match:"^securer: cannot connect to $PWD/nosock" \
	    "$B/securer" -s "$PWD/nosock" -e 1
	atf_check -s exit:1 -e match:"^securer: cannot connect to $PWD/nosock" \
	    env SECURER_SOCKET="$PWD/nosock" "$B/securer" -e 1
	atf_check -s exit:1 -o save:out "$B/securer" --json -s "$PWD/nosock" \
	    -e 1
	atf_check -o inline:'"ECONNECT"\nnull\n' jq -c '.error.code, .value' out
}

atf_test_case no_securerd
no_securerd_head() {
	atf_set "descr" "autostart names the securerd it could not run"
}
no_securerd_body() {
	securer_init
	no_system_daemon
	mkdir -m 700 xdg
	atf_check -s exit:1 \
	    -e match:'^securer: cannot execute /nonexistent/securerd: ' \
	    env -u SECURER_SOCKET XDG_RUNTIME_DIR="$PWD/xdg" \
	    SECURERD=/nonexistent/securerd "$B/securer" -e 1
}

atf_test_case expr cleanup
expr_head() {
	atf_set "descr" "-e expressions are one program, echoed as Rscript does"
}
expr_body() {
	need_daemon
	start_daemon
	atf_check -o inline:'[1] 6\n' "$B/securer" -s "$SOCK" \
	    -e 'x <- 1:3' -e 'sum(x)'
	atf_check -o inline:'[1] 1\n[1] 3\n' "$B/securer" \
	    -e 1 -e 'invisible(2)' -e 3
	atf_check -o empty "$B/securer" -e 'x <- 1'
}
expr_cleanup() {
	cleanup_daemon
}

atf_test_case file_stdin cleanup
file_stdin_head() {
	atf_set "descr" "code from a file and from standard input"
}
file_stdin_body() {
	need_daemon
	start_daemon
	printf 'cat("hi\\n")\nf <- function(x) x * 2\nf(21)\n' >prog.R
	atf_check -o inline:'hi\n[1] 42\n' "$B/securer" prog.R
	atf_check -o inline:'hi\n[1] 42\n' -x "\"$B/securer\" - <prog.R"
}
file_stdin_cleanup() {
	cleanup_daemon
}

atf_test_case streams cleanup
streams_head() {
	atf_set "descr" "stdout to stdout; stderr, messages, warnings to stderr"
}
streams_body() {
	need_daemon
	start_daemon
	atf_check -o inline:'out\n' -e save:err "$B/securer" \
	    -e 'cat("out\n"); cat("err\n", file = stderr())' \
	    -e 'message("msg"); warning("careful"); invisible(1)'
	atf_check -o ignore grep -x err err
	atf_check -o ignore grep -x msg err
	atf_check -o ignore grep -x 'Warning message:' err
	atf_check -o ignore grep careful err
}
streams_cleanup() {
	cleanup_daemon
}

atf_test_case json cleanup
json_head() {
	atf_set "descr" "--json prints one object with the exact value"
}
json_body() {
	need_daemon
	start_daemon
	atf_check -o save:out "$B/securer" --json \
	    -e 'cat("hi\n"); c(a = 0.1 + 0.2)'
	atf_check -o inline:'1\n' -x 'wc -l <out | tr -d " "'
	atf_check -o match:'"value":\[0\.30000000000000004\]' cat out
	atf_check -o inline:'[{"stream":"stdout","text":"hi\\n"}]\ntrue\nnull\n' \
	    jq -c '.output, .visible, .error' out
	atf_check -s exit:1 -o save:out "$B/securer" --json -e 'stop("boom")'
	atf_check -o inline:'"r_error"\n"boom"\nnull\nfalse\n' \
	    jq -c '.error.code, .error.message, .value, .visible' out
}
json_cleanup() {
	cleanup_daemon
}

atf_test_case errors cleanup
errors_head() {
	atf_set "descr" "R errors as R prints them, exit 1"
}
errors_body() {
	need_daemon
	start_daemon
	atf_check -s exit:1 -e inline:'Error: boom\n' "$B/securer" \
	    -e 'stop("boom")'
	atf_check -s exit:1 -e inline:'Error in f() : boom\n' "$B/securer" \
	    -e 'f <- function() stop("boom")' -e 'f()'
	atf_check -s exit:1 -o inline:'[1] 1\n' -e match:'^Error' \
	    "$B/securer" -e '1' -e 'stop("late")'
	atf_check -s exit:1 -e match:'^Error: ' "$B/securer" -e '1 +'
}
errors_cleanup() {
	cleanup_daemon
}

atf_test_case timeout cleanup
timeout_head() {
	atf_set "descr" "-t: the deadline, a daemon error, exit 1"
}
timeout_body() {
	need_daemon
	start_daemon
	atf_check -s exit:1 -e match:'^securer: .*timed out' \
	    "$B/securer" -t 1 -e 'Sys.sleep(30)'
}
timeout_cleanup() {
	cleanup_daemon
}

atf_test_case tools cleanup
tools_head() {
	atf_set "descr" "--tools: commands get plain JSON and give values back"
}
tools_body() {
	need_daemon
	start_daemon
	tool echo.sh 'cat'
	tool fail.sh 'echo "  no such city  " >&2; echo more >&2; exit 1'
	tool slow.sh "echo \$\$ >$PWD/slow.pid; exec sleep 30"
	cat >tools.json <<EOF
[{"name": "echo", "description": "Echo", "args": {"x": null},
  "command": ["$PWD/echo.sh"]},
 {"name": "fail", "description": "Fail", "args": {"city": "character"},
  "command": ["$PWD/fail.sh"]},
 {"name": "slow", "description": "Slow", "args": {},
  "command": ["$PWD/slow.sh"]}]
EOF
	atf_check -o inline:'[1] 1.5 2.0\n[1] TRUE\n' "$B/securer" \
	    --tools tools.json -e 'echo(x = c(1.5, 2))$x' \
	    -e 'identical(echo(x = 0.1 + 0.2)$x, 0.1 + 0.2)'
	atf_check -o inline:'$a\n[1] "b"\n\n' "$B/securer" \
	    --tools tools.json -e 'echo(x = list(a = "b"))$x'
	atf_check -s exit:1 -e match:'no such city$' "$B/securer" \
	    --tools tools.json -e 'fail("Atlantis")'
	atf_check -o inline:'[1] "no such city"\n' "$B/securer" \
	    --tools tools.json \
	    -e 'tryCatch(fail("x"), error = function(e) conditionMessage(e))'
	atf_check -s exit:1 -e match:'^securer: execution timed out' \
	    "$B/securer" --tools tools.json -t 2 -e 'slow()'
	# Killed at the deadline, not left to run.
	kill -0 "$(cat slow.pid)" 2>/dev/null && atf_fail "the tool still runs"
	true
}
tools_cleanup() {
	cleanup_daemon
	[ -f slow.pid ] && kill -KILL "$(cat slow.pid)" 2>/dev/null
	true
}

# What hostile code writes to reach the user's terminal: OSC 52 (set the
# clipboard), a window title, clear-screen, a C1 CSI (U+009B), and the
# same in an error message and in a printed value.
HOSTILE='cat("a\033]52;c;aGVsbG8=\007b\n")
message("\033[2J\033[Hcleared")
cat("\u009b31mred\n", file = stderr())
warning("\033]0;warned\007")
print.x <- function(x, ...) cat("\033[1;1H\tvalue\n")
structure(1, class = "x")
stop("\033]0;title\007boom")'

# ESC, BEL and the C1 CSI: none may reach a terminal unless --raw.
has_controls() {
	LC_ALL=C grep -q "$(printf '[\033\007]')" "$1" ||
	    LC_ALL=C grep -q "$(printf '\302\233')" "$1"
}

atf_test_case terminal cleanup
terminal_head() {
	atf_set "descr" "on a terminal the sandbox's control characters are " \
	    "shown escaped, newlines and tabs kept; --raw sends them"
}
terminal_body() {
	need_daemon
	start_daemon
	pty=$T/regress/client/onpty.py
	atf_check -s exit:1 python3 "$pty" out err "$B/securer" -s "$SOCK" \
	    -e "$HOSTILE"
	has_controls out && atf_fail "a control character reached stdout"
	has_controls err && atf_fail "a control character reached stderr"
	atf_check -o inline:'a\\x1b]52;c;aGVsbG8=\\x07b\n\\x1b[1;1H\tvalue\n' \
	    cat out
	atf_check -o match:'^\\x1b\[2J\\x1b\[Hcleared$' \
	    -o match:'^\\u009b31mred$' -o match:'^\\x1b]0;warned\\x07$' \
	    -o match:'^Error: \\x1b]0;title\\x07boom$' cat err
	# Printable UTF-8 goes through as it is.
	atf_check python3 "$pty" out err "$B/securer" -s "$SOCK" \
	    -e 'cat("caf\u00e9 \u2192 \U0001f600\n")'
	atf_check -o inline:'café → 😀\n' cat out
	# --raw: the bytes as written, to a terminal too.
	atf_check -s exit:1 python3 "$pty" out err "$B/securer" --raw \
	    -s "$SOCK" -e "$HOSTILE"
	printf 'a\033]52;c;aGVsbG8=\007b\n\033[1;1H\tvalue\n' >want
	atf_check cmp out want
	atf_check -o match:"$(printf '^Error: \033]0;title\007boom$')" \
	    -o match:"$(printf '^\302\23331mred$')" cat err
}
terminal_cleanup() {
	cleanup_daemon
}

atf_test_case piped cleanup
piped_head() {
	atf_set "descr" "to a file or pipe the R code's output is as it wrote " \
	    "it, securer's own messages are escaped, --json has no controls"
}
piped_body() {
	need_daemon
	start_daemon
	atf_check -s exit:1 -o save:out -e save:err "$B/securer" -s "$SOCK" \
	    -e "$HOSTILE"
	printf 'a\033]52;c;aGVsbG8=\007b\n\033[1;1H\tvalue\n' >want
	atf_check cmp out want
	atf_check -o match:"$(printf '^\033\\[2J\033\\[Hcleared$')" cat err
	atf_check -o match:'^Error: \\x1b]0;title\\x07boom$' cat err
	# JSON escapes them all, C1 included: the same strings, no controls.
	atf_check -s exit:1 -o save:out "$B/securer" --json -s "$SOCK" \
	    -e "$HOSTILE"
	has_controls out && atf_fail "a control character in --json output"
	atf_check -o match:'u009b31mred' cat out
	atf_check -o inline:'"\\u009b31mred\\n"\n' \
	    jq -a '.output[] | select(.text | test("mred")) | .text' out
}
piped_cleanup() {
	cleanup_daemon
}

# The private daemon of autostart: its socket, pid file and log.
PRIV=xdg/securer

atf_test_case autostart cleanup
autostart_head() {
	atf_set "descr" "with no socket given, a private daemon is started " \
	    "once, on a socket in XDG_RUNTIME_DIR, and reused"
}
autostart_body() {
	need_daemon
	no_system_daemon
	mkdir -m 700 xdg
	unset SECURER_SOCKET SECURERD
	export XDG_RUNTIME_DIR="$PWD/xdg"
	atf_check -o inline:'[1] 2\n' "$B/securer" -e '1 + 1'
	test -S $PRIV/securerd.sock || atf_fail "no socket in $PRIV"
	i=0
	while [ ! -s $PRIV/securerd.sock.pid ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	pid=$(cat $PRIV/securerd.sock.pid) || atf_fail "no pid file"
	atf_check -o inline:'[1] 3\n' "$B/securer" -e '1 + 2'
	atf_check -o inline:"$pid\n" cat $PRIV/securerd.sock.pid
	kill -0 "$pid" || atf_fail "the daemon is gone"
}
autostart_cleanup() {
	pid=$(cat $PRIV/securerd.sock.pid 2>/dev/null ||
	    fuser $PRIV/securerd.sock 2>/dev/null)
	[ -n "$pid" ] || return 0
	kill -TERM $pid 2>/dev/null
	i=0
	while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	kill -KILL $pid 2>/dev/null
	rm -f $PRIV/securerd.sock
	true
}

# users: two users of this test's own (random names: other runs may be
# going on), made here and removed in cleanup.
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

atf_test_case private_audit cleanup
private_audit_head() {
	atf_set "descr" "the private daemons of two users and of root each " \
	    "write the audit log of their own directory, at once, and " \
	    "none the system daemon's; each passes verify"
	atf_set "require.user" "root"
}
private_audit_body() {
	need_daemon
	no_system_daemon
	users
	base=$(mktemp -d /tmp/securer-private.XXXXXX)
	chmod 755 "$base"
	echo "$base" >basedir
	sys=/var/log/securer/audit.jsonl
	before=$(stat -c %s "$sys" 2>/dev/null || echo none)
	for u in $UA $UB root; do
		mkdir -m 700 "$base/$u"
		chown "$u" "$base/$u"
		atf_check -o inline:'[1] 2\n' \
		    setpriv --reuid="$u" --regid="$u" --clear-groups \
		    env -u SECURER_SOCKET XDG_RUNTIME_DIR="$base/$u" \
		    SECURERD="$B/securerd" "$B/securer" \
		    -e '1 + 1'
	done
	for u in $UA $UB root; do
		d=$base/$u/securer
		pid=$(cat "$d/securerd.sock.pid") || atf_fail "$u: no pid file"
		kill -0 "$pid" || atf_fail "$u's daemon is not running"
		atf_check -o inline:"pid $pid socket $d/securerd.sock\n" \
		    cat "$d/.audit.jsonl.lock"
		atf_check -o inline:"$(id -u "$u")\n" stat -c %u "$d/audit.jsonl"
		grep -q '"event":"exec_start"' "$d/audit.jsonl" ||
		    atf_fail "$u: no exec_start in $d/audit.jsonl"
		atf_check -o match:'1 executions: 1 ended, 0 aborted; 0 problems' \
		    "$B/securerctl" audit verify "$d/audit.jsonl"
	done
	after=$(stat -c %s "$sys" 2>/dev/null || echo none)
	[ "$before" = "$after" ] || atf_fail "$sys was written"
}
private_audit_cleanup() {
	[ -f basedir ] || return 0
	base=$(cat basedir)
	for f in "$base"/*/securer/securerd.sock.pid; do
		[ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null
	done
	sleep 0.5
	for f in "$base"/*/securer/securerd.sock.pid; do
		[ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
	done
	rm -rf "$base"
	[ -f users ] && for u in $(cat users); do
		userdel "$u" >/dev/null 2>&1
	done
	true
}

atf_test_case session cleanup
session_head() {
	atf_set "descr" "--session NAME keeps state between invocations " \
	    "(hibernated meanwhile); --end closes it; names are checked"
}
session_body() {
	need_daemon
	start_daemon
	atf_check -o inline:'[1] 1\n' "$B/securer" --session work \
	    -e 'x <- 1; x'
	atf_check -o inline:'[1] 2\n' "$B/securer" --session work \
	    -e 'x <- x + 1; x'
	atf_check -o inline:'[1] FALSE\n' "$B/securer" --session other \
	    -e 'exists("x")'
	atf_check -o inline:'[1] 3\n' "$B/securer" --session work \
	    -e 'x + 1'
	atf_check -o inline:'[1] 12\n' "$B/securer" --session work --end \
	    -e 'x + 10'
	atf_check -o inline:'[1] FALSE\n' "$B/securer" --session work \
	    -e 'exists("x")'
	atf_check "$B/securer" --session work --end
	atf_check -s exit:1 -e match:'no such session' \
	    "$B/securer" --session work --end
	atf_check "$B/securer" --session other --end
	atf_check -s exit:1 -e match:'a session name is 1 to 64' \
	    "$B/securer" --session 'bad name' -e 1
	atf_check -s exit:2 -e match:'--end closes the session' \
	    "$B/securer" --end -e 1
	# Each kept session was hibernated when its command ended.
	n=$(grep -c '"event":"session_hibernate".*"reason":"connection closed"' \
	    "$AUDIT")
	[ "$n" -ge 5 ] || atf_fail "$n kept sessions hibernated, not 5"
}
session_cleanup() {
	cleanup_daemon
}

atf_init_test_cases() {
	atf_add_test_case usage
	atf_add_test_case no_daemon
	atf_add_test_case no_securerd
	atf_add_test_case expr
	atf_add_test_case file_stdin
	atf_add_test_case streams
	atf_add_test_case json
	atf_add_test_case errors
	atf_add_test_case timeout
	atf_add_test_case tools
	atf_add_test_case terminal
	atf_add_test_case piped
	atf_add_test_case autostart
	atf_add_test_case private_audit
	atf_add_test_case session
}
