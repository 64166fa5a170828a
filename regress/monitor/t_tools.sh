#! /usr/bin/env atf-sh
# Tools end to end: the sandboxed code calls functions that run in the
# client (here, commands of the securer command), checked by the monitor.

. "$(atf_get_srcdir)/daemon.subr"

# tools: writes tools.json and the programs behind it.
tools() {
	cat >echo.sh <<'EOF'
#!/bin/sh
# echoes its argument x back
exec jq -c .x
EOF
	cat >add.sh <<'EOF'
#!/bin/sh
exec jq -c '.a + .b'
EOF
	cat >fail.sh <<EOF
#!/bin/sh
echo "cannot open $PWD/secret.txt for pid 4242 at 10.1.2.3:8080" >&2
exit 1
EOF
	cat >now.sh <<'EOF'
#!/bin/sh
cat >/dev/null
echo 17
EOF
	chmod +x echo.sh add.sh fail.sh now.sh
	cat >tools.json <<EOF
[{"name": "echo", "description": "its argument", "args": {"x": null},
  "command": ["$PWD/echo.sh"]},
 {"name": "add", "description": "a + b",
  "args": {"a": "numeric", "b": "numeric"}, "command": ["$PWD/add.sh"]},
 {"name": "fail", "description": "always fails", "args": {},
  "command": ["$PWD/fail.sh"]},
 {"name": "now", "description": "no arguments", "args": {},
  "command": ["$PWD/now.sh"]}]
EOF
}

# The command that runs code with the tools (paths have no spaces).
rt() {
	RT="$B/securer -s $SOCK --tools tools.json -e"
}

atf_test_case calls cleanup
calls_head() {
	atf_set "descr" "tool calls with values, nested, with no arguments"
}
calls_body() {
	start_daemon
	tools
	rt
	atf_check -o inline:"[1] 3\n" $RT 'add(1, 2)'
	atf_check -o inline:"[1] 10\n" $RT 'add(1, add(2, add(3, 4)))'
	atf_check -o inline:"[1] 17\n" $RT 'now()'
	atf_check -o inline:'[1] "a" "b"\n' $RT 'echo(c("a", "b"))'
	atf_check -o inline:"[1] 20\n" $RT 'f <- function(n) add(n, now()); f(3)'
	atf_check -o match:'"event":"tool_call".*"tool":"add".*"status":"ok"' \
	    cat "$AUDIT"
}
calls_cleanup() {
	cleanup_daemon
}

atf_test_case loop cleanup
loop_head() {
	atf_set "descr" "1,000 tool calls in one execution"
	atf_set "timeout" "300"
}
loop_body() {
	start_daemon
	tools
	rt
	atf_check -o inline:"[1] 1000\n" $RT \
	    's <- 0; for (i in 1:1000) s <- s + now() - 16; s'
	n=$(grep -c '"event":"tool_call"' "$AUDIT")
	[ "$n" -eq 1000 ] || atf_fail "$n tool calls audited, not 1000"
}
loop_cleanup() {
	cleanup_daemon
}

atf_test_case errors cleanup
errors_head() {
	atf_set "descr" "a failing tool raises an R error the code can catch, " \
	    "with host paths, pids and addresses removed"
}
errors_body() {
	start_daemon
	tools
	rt
	atf_check -o inline:'[1] "caught: cannot open [path] for pid [pid] at [host]"\n' \
	    $RT 'tryCatch(fail(), error = function(e) paste("caught:", conditionMessage(e)))'
	atf_check -s exit:1 -e match:'cannot open \[path\]' $RT 'fail()'
	atf_check -s exit:1 -e not-match:"$PWD" $RT 'fail()'
	atf_check -o match:'"event":"tool_call".*"tool":"fail".*"status":"error"' \
	    cat "$AUDIT"
}
errors_cleanup() {
	cleanup_daemon
}

atf_test_case bad_arguments cleanup
bad_arguments_head() {
	atf_set "descr" "the monitor refuses calls with wrong types, extra " \
	    "or missing arguments, or of unknown tools"
}
bad_arguments_body() {
	start_daemon
	tools
	rt
	atf_check -s exit:1 -e match:"tool 'add': argument 'a' must be numeric" \
	    $RT 'add("1", 2)'
	atf_check -s exit:1 -e match:"argument \"b\" is missing, with no default" \
	    $RT 'add(1)'
	atf_check -s exit:1 -e match:"unused argument" $RT 'now(1)'
	# The wrappers are R code the sandbox could bypass; the daemon checks.
	atf_check -s exit:1 -e match:"tool 'add': unexpected argument 'c'" \
	    $RT '.Call(get("securer_tool_call", environment(add)), "add", list(a = 1, b = 2, c = 3))'
	atf_check -s exit:1 -e match:"unknown tool 'nope'" \
	    $RT '.Call(get("securer_tool_call", environment(add)), "nope", list())'
	atf_check -s exit:1 -e match:"tool 'add': missing argument 'b'" \
	    $RT '.Call(get("securer_tool_call", environment(add)), "add", list(a = 1))'
	atf_check -o inline:"[1] 3\n" $RT 'add(1L, 2)'
}
bad_arguments_cleanup() {
	cleanup_daemon
}

atf_init_test_cases() {
	atf_add_test_case calls
	atf_add_test_case loop
	atf_add_test_case errors
	atf_add_test_case bad_arguments
}
