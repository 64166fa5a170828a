#! /usr/bin/env atf-sh
# securer mcp driven by the official MCP TypeScript SDK client.

. "$(atf_get_srcdir)/daemon.subr"

atf_test_case sdk_client cleanup
sdk_client_head() {
	atf_set "descr" "the SDK client lists the tools, keeps state across " \
	    "calls, calls an operator tool, gets errors as tool errors, " \
	    "recovers from a timeout, resets the session and gets plots " \
	    "as image content"
	atf_set "require.progs" "node"
	atf_set "timeout" "120"
}
sdk_client_body() {
	start_daemon
	[ -d "$T/regress/mcp/node_modules/@modelcontextprotocol/sdk" ] ||
	    atf_fail "the SDK is not installed (regress/run.sh runs npm ci)"
	cat >add.sh <<'SH'
#!/bin/sh
exec jq -c '.a + .b'
SH
	chmod +x add.sh
	echo "[{\"name\":\"add\",\"description\":\"a + b\",
	    \"args\":{\"a\":\"numeric\",\"b\":\"numeric\"},
	    \"command\":[\"$PWD/add.sh\"]}]" >tools.json
	atf_check -o match:"^state persists between calls$" \
	    -o match:"^timeout, then the session answers again$" \
	    -o match:"^plots come back as image content$" \
	    -o match:"^ok$" \
	    node "$T/regress/mcp/client.mjs" "$B/securer" "$SOCK" tools.json
	atf_check -o match:'"event":"timeout"' cat "$AUDIT"
}
sdk_client_cleanup() {
	cleanup_daemon
}

atf_test_case protocol cleanup
protocol_head() {
	atf_set "descr" "JSON-RPC errors for unknown methods and tools, and " \
	    "the client's protocol revision is kept"
}
protocol_body() {
	start_daemon
	printf '%s\n' \
	    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' \
	    '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
	    '{"jsonrpc":"2.0","id":2,"method":"resources/list"}' \
	    '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope","arguments":{}}}' \
	    'garbage' \
	    '{"jsonrpc":"2.0","id":"p","method":"ping"}' |
	    "$B/securer" mcp -s "$SOCK" >out
	atf_check -o inline:'"2025-06-18"\n' \
	    jq -c 'select(.id == 1) | .result.protocolVersion' out
	atf_check -o inline:'-32601\n' jq -c 'select(.id == 2) | .error.code' out
	atf_check -o inline:'-32602\n' jq -c 'select(.id == 3) | .error.code' out
	atf_check -o inline:'-32700\n' jq -c 'select(.id == null) | .error.code' out
	atf_check -o inline:'{}\n' jq -c 'select(.id == "p") | .result' out
}
protocol_cleanup() {
	cleanup_daemon
}

atf_test_case resumed cleanup
resumed_head() {
	atf_set "descr" "a session the daemon hibernated while the model " \
	    "thought is restored by the next call, whose text names what " \
	    "could not be restored"
	atf_set "timeout" "120"
}
resumed_body() {
	start_daemon 'hibernate-after 1'
	{
		printf '%s\n' \
		    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' \
		    '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
		    '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute_r_code","arguments":{"code":"con <- textConnection(\"abc\"); z <- 5"}}}'
		# hibernate-after 1: asleep long before this.
		sleep 4
		printf '%s\n' \
		    '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"execute_r_code","arguments":{"code":"z"}}}'
	} | "$B/securer" mcp -s "$SOCK" >out
	atf_check -o inline:'false\n' jq -c 'select(.id == 3) | .result.isError' out
	atf_check -o match:'^\[1\] 5$' \
	    -o match:'^\[the session was resumed from hibernation: .*con.*\]$' \
	    jq -r 'select(.id == 3) | .result.content[0].text' out
	atf_check -o match:'"event":"session_hibernate"' \
	    -o match:'"event":"session_resume"' cat "$AUDIT"
}
resumed_cleanup() {
	cleanup_daemon
}

atf_test_case reconnect cleanup
reconnect_head() {
	atf_set "descr" "with --session NAME the session outlives the MCP " \
	    "connection and the client reconnecting finds its state"
	atf_set "timeout" "120"
}
mcp_call() {
	printf '%s\n' \
	    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' \
	    '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"execute_r_code\",\"arguments\":{\"code\":\"$2\"}}}" |
	    "$B/securer" mcp -s "$SOCK" $1 >out
	jq -r 'select(.id == 2) | .result.content[0].text' out >text
}
reconnect_body() {
	start_daemon
	mcp_call "--session agent" 'y <- 7; y'
	atf_check -o inline:'[1] 7\n\n' cat text
	mcp_call "--session agent" 'y + 1'
	atf_check -o inline:'[1] 8\n\n' cat text
	# Unnamed, a server's session goes with it, as before.
	mcp_call "" "exists('y')"
	atf_check -o inline:'[1] FALSE\n\n' cat text
	mcp_call "--session other" "exists('y')"
	atf_check -o inline:'[1] FALSE\n\n' cat text
	grep -q '"event":"session_attach".*"name":"agent"' "$AUDIT" ||
	    atf_fail "no attach of agent audited"
}
reconnect_cleanup() {
	cleanup_daemon
}

atf_init_test_cases() {
	atf_add_test_case sdk_client
	atf_add_test_case protocol
	atf_add_test_case resumed
	atf_add_test_case reconnect
}
