#! /usr/bin/env atf-sh
# Plots and files through the protocol and the securer command: pages as
# base64 PNG with the result, their caps; file.put and file.get, their
# caps, and names or files that try to leave the session's directories.

. "$(atf_get_srcdir)/daemon.subr"

HELLO='{"id":1,"op":"hello","version":1}'
CREATE='{"id":2,"op":"session.create"}'

# session_script lines...: hello, create, then each line once the one
# before it was answered, the session id put in for @S@; replies in
# the file "replies".
session_script() {
	n=$(( $# + 2 ))
	: >replies
	{
		printf '%s\n%s\n' "$HELLO" "$CREATE"
		wait_final 2
		sid=$(jq -r 'select(.id == 2) | .session' replies)
		prev=2
		for line in "$@"; do
			wait_final "$prev"
			printf '%s\n' "$line" | sed "s/@S@/$sid/g"
			prev=$(printf '%s' "$line" | jq .id)
		done
	} | "$B/regress/sockcat" -n "$n" "$SOCK" >>replies
}

wait_final() {
	wait_for "the reply to request $1" grep -q "\"id\":$1,\"ok\"" replies
}

reply() {
	jq -c "select(.id == $1 and has(\"ok\")) | $2" replies
}

check_reply() {
	got=$(reply "$1" "$2")
	[ "$got" = "$3" ] ||
	    atf_fail "request $1: $2 is $got, expected $3"
}

# is_png ID FILTER: the base64 at FILTER of request ID's reply is a PNG.
is_png() {
	reply "$1" "$2" | jq -r . | base64 -d | head -c 8 | od -An -tx1 |
	    tr -d ' \n' >magic
	atf_check -o inline:'89504e470d0a1a0a' cat magic
}

exec_line() {
	jq -cn --argjson id "$1" --arg code "$2" \
	    '{id: $id, op: "execute", session: "@S@", code: $code}'
}

put_line() {
	jq -cn --argjson id "$1" --arg name "$2" --arg data "$3" \
	    '{id: $id, op: "file.put", session: "@S@", name: $name,
	    data: $data}'
}

get_line() {
	jq -cn --argjson id "$1" --arg name "$2" \
	    '{id: $id, op: "file.get", session: "@S@", name: $name}'
}

atf_test_case plots cleanup
plots_head() {
	atf_set "descr" "pages drawn with base graphics and grid come back " \
	    "in order as base64 PNG, with an error too; none when nothing " \
	    "is drawn; a user's own device is left alone"
}
plots_body() {
	start_daemon
	session_script \
	    "$(exec_line 3 'plot(1:10, main = "t"); grid::grid.newpage(); grid::grid.text("g"); 1')" \
	    "$(exec_line 4 '2')" \
	    "$(exec_line 5 'hist(c(1, 2, 2)); stop("late")')" \
	    "$(exec_line 6 'pdf(file.path(tempdir(), "mine.pdf")); plot(1); 3')" \
	    "$(exec_line 7 'lines(1:2); dev.off(); file.exists(file.path(tempdir(), "mine.pdf"))')"
	check_reply 3 '[.plots[].name]' '["plot-001.png","plot-002.png"]'
	check_reply 3 '[.plots[].mime_type]' '["image/png","image/png"]'
	is_png 3 '.plots[0].data'
	is_png 3 '.plots[1].data'
	check_reply 3 '.plots[0].size == (.plots[0].data | length * 3 / 4 | floor) or .plots[0].size > 1000' 'true'
	check_reply 4 'has("plots")' 'false'
	check_reply 5 '.error.code' '"r_error"'
	check_reply 5 '[.error.plots[].name]' '["plot-001.png"]'
	is_png 5 '.error.plots[0].data'
	check_reply 6 'has("plots")' 'false'
	check_reply 7 '.value.value' '[true]'
}
plots_cleanup() {
	cleanup_daemon
}

atf_test_case plot_caps cleanup
plot_caps_head() {
	atf_set "descr" "pages past \"plots\" or over \"plot-size\" are " \
	    "listed in plots_omitted with their reason, not dropped"
}
plot_caps_body() {
	start_daemon "plots 2" "plot-size 20000"
	session_script \
	    "$(exec_line 3 'for (i in 1:4) plot(i); 1')" \
	    "$(exec_line 4 'plot(runif(20000), col = rainbow(20000), pch = 19); 2')" \
	    "$(exec_line 5 'plot(1); 3')"
	check_reply 3 '[.plots[].name]' '["plot-001.png","plot-002.png"]'
	check_reply 3 '[.plots_omitted[] | [.name, .reason]]' \
	    '[["plot-003.png","count"],["plot-004.png","count"]]'
	check_reply 3 '.value.value' '[1]'
	check_reply 4 'has("plots")' 'false'
	check_reply 4 '[.plots_omitted[] | [.name, .reason, .size > 20000]]' \
	    '[["plot-001.png","size",true]]'
	check_reply 5 '[.plots[].name]' '["plot-001.png"]'
	atf_check -s exit:1 -o ignore -e ignore grep -q "bad plot" daemon.log
}
plot_caps_cleanup() {
	cleanup_daemon
}

atf_test_case files cleanup
files_head() {
	atf_set "descr" "file.put puts a read-only file the code reads from " \
	    "\$SECURER_INPUT; file.get returns what it wrote to " \
	    "\$SECURER_OUTPUT; both are audited"
}
files_body() {
	start_daemon
	data=$(printf 'x,y\n1,2\n3,4\n' | base64 -w0)
	session_script \
	    "$(put_line 3 data.csv "$data")" \
	    "$(exec_line 4 'd <- read.csv(file.path(Sys.getenv("SECURER_INPUT"), "data.csv")); write.csv(d * 10, file.path(Sys.getenv("SECURER_OUTPUT"), "out.csv"), row.names = FALSE); sum(d$y)')" \
	    "$(exec_line 5 'f <- file.path(Sys.getenv("SECURER_INPUT"), "data.csv"); c(file.access(f, 2), file.access(dirname(f), 2), inherits(try(writeLines("x", f), silent = TRUE), "try-error"))')" \
	    "$(get_line 6 out.csv)" \
	    "$(put_line 7 data.csv "$(printf 'x,y\n5,6\n' | base64 -w0)")" \
	    "$(exec_line 8 'read.csv(file.path(Sys.getenv("SECURER_INPUT"), "data.csv"))$y')" \
	    "$(put_line 9 empty '')" \
	    "$(exec_line 10 'file.size(file.path(Sys.getenv("SECURER_INPUT"), "empty"))')"
	check_reply 3 '[.name, .size]' '["data.csv",12]'
	check_reply 4 '.value.value' '[6]'
	check_reply 5 '.value.value' '[-1,-1,1]'
	check_reply 6 '[.name, .size]' '["out.csv",20]'
	reply 6 .data | jq -r . | base64 -d >out.csv
	printf '"x","y"\n10,20\n30,40\n' >expected.csv
	atf_check cmp out.csv expected.csv
	check_reply 8 '.value.value' '[6]'
	check_reply 9 '.size' '0'
	check_reply 10 '.value.value' '[0]'
	atf_check -o match:'file.put data.csv \(12 bytes\)' cat "$AUDIT"
	atf_check -o match:'file.get out.csv' cat "$AUDIT"
}
files_cleanup() {
	cleanup_daemon
}

atf_test_case file_names cleanup
file_names_head() {
	atf_set "descr" "names that are not one safe path component get " \
	    "bad_file_name: ../x, /etc/passwd, a/b, .hidden, -x, empty, " \
	    "a NUL, too long, not a string"
}
file_names_body() {
	start_daemon
	long=$(printf '%0129d' 0)
	session_script \
	    "$(get_line 3 '../x')" \
	    "$(get_line 4 '/etc/passwd')" \
	    "$(put_line 5 'a/b' '')" \
	    "$(put_line 6 '.hidden' '')" \
	    "$(get_line 7 '..')" \
	    "$(get_line 8 '-x')" \
	    "$(get_line 9 '')" \
	    '{"id":10,"op":"file.put","session":"@S@","name":"a\u0000b","data":""}' \
	    "$(get_line 11 "$long")" \
	    '{"id":12,"op":"file.get","session":"@S@","name":7}' \
	    "$(put_line 13 'x' 'not base64!')" \
	    "$(get_line 14 'no-such')" \
	    "$(exec_line 15 'list.files(Sys.getenv("SECURER_INPUT"), all.files = TRUE, no.. = TRUE)')"
	for id in 3 4 5 6 7 8 9 10 11 12; do
		check_reply $id .error.code '"bad_file_name"'
	done
	check_reply 13 .error.code '"bad_request"'
	check_reply 14 .error.code '"file_not_found"'
	check_reply 15 '.value.value' '[]'
}
file_names_cleanup() {
	cleanup_daemon
}

atf_test_case file_escapes cleanup
file_escapes_head() {
	atf_set "descr" "what the code plants in its output directory does " \
	    "not get out: a symlink to a host-visible path, a directory, " \
	    "the directory itself a symlink; FIFOs are refused by the filter"
}
file_escapes_body() {
	start_daemon
	echo secret >"$PWD/host-file"
	chmod 644 "$PWD/host-file"
	session_script \
	    "$(exec_line 3 "o <- Sys.getenv('SECURER_OUTPUT'); file.symlink('/etc/passwd', file.path(o, 'passwd')); file.symlink('$PWD/host-file', file.path(o, 'host')); file.symlink('/tmp/home/input', file.path(o, 'in')); dir.create(file.path(o, 'dir')); 1")" \
	    "$(get_line 4 passwd)" \
	    "$(get_line 5 host)" \
	    "$(get_line 6 dir)" \
	    "$(get_line 7 in)" \
	    "$(exec_line 8 "o <- Sys.getenv('SECURER_OUTPUT'); unlink(o, recursive = TRUE); file.symlink('/etc', o); 2")" \
	    "$(get_line 9 passwd)" \
	    "$(exec_line 10 '3')"
	for id in 4 5 6 7 9; do
		check_reply $id .error.code '"not_a_regular_file"'
		check_reply $id 'has("data")' 'false'
	done
	check_reply 10 '.value.value' '[3]'
}
file_escapes_cleanup() {
	cleanup_daemon
}

atf_test_case file_caps cleanup
file_caps_head() {
	atf_set "descr" "file-size caps what is put and what is got; files " \
	    "caps the puts of a session; the session works on"
}
file_caps_body() {
	start_daemon "file-size 100" "files 2"
	small=$(printf 'abc' | base64 -w0)
	big=$(head -c 101 /dev/zero | base64 -w0)
	session_script \
	    "$(put_line 3 big "$big")" \
	    "$(put_line 4 a "$small")" \
	    "$(put_line 5 b "$small")" \
	    "$(put_line 6 c "$small")" \
	    "$(exec_line 7 'o <- Sys.getenv("SECURER_OUTPUT"); writeBin(raw(101), file.path(o, "big")); writeBin(raw(100), file.path(o, "fits")); 1')" \
	    "$(get_line 8 big)" \
	    "$(get_line 9 fits)" \
	    "$(exec_line 10 'length(list.files(Sys.getenv("SECURER_INPUT")))')"
	check_reply 3 .error.code '"file_too_large"'
	check_reply 4 .ok 'true'
	check_reply 5 .ok 'true'
	check_reply 6 .error.code '"too_many_files"'
	check_reply 8 .error.code '"file_too_large"'
	check_reply 8 .error.message '"file big too large (101 bytes, max 100)"'
	check_reply 9 .size '100'
	check_reply 10 '.value.value' '[2]'
}
file_caps_cleanup() {
	cleanup_daemon
}

atf_test_case busy cleanup
busy_head() {
	atf_set "descr" "a file operation during an execution is session_busy"
}
busy_body() {
	start_daemon
	: >replies
	{
		printf '%s\n%s\n' "$HELLO" "$CREATE"
		wait_final 2
		sid=$(jq -r 'select(.id == 2) | .session' replies)
		exec_line 3 'Sys.sleep(1); 1' | sed "s/@S@/$sid/"
		get_line 4 x | sed "s/@S@/$sid/"
	} | "$B/regress/sockcat" -n 4 "$SOCK" >>replies
	check_reply 4 .error.code '"session_busy"'
	check_reply 3 '.value.value' '[1]'
}
busy_cleanup() {
	cleanup_daemon
}

atf_test_case cli cleanup
cli_head() {
	atf_set "descr" "securer --plots DIR writes the pages and says where; " \
	    "--put and --get hand files in and out"
}
cli_body() {
	start_daemon
	printf 'v\n3\n4\n' >in.csv
	atf_check -o inline:'[1] 7\n' \
	    -e match:'^securer: plot written to out/plot-001.png$' \
	    -e match:'^securer: plot written to out/plot-002.png$' \
	    -e match:'^securer: file written to got/res.txt$' \
	    "$B/securer" --plots out --put in.csv --get res.txt --out got \
	    -e 'd <- read.csv(file.path(Sys.getenv("SECURER_INPUT"), "in.csv"))' \
	    -e 'plot(d$v); barplot(d$v)' \
	    -e 'writeLines("done", file.path(Sys.getenv("SECURER_OUTPUT"), "res.txt"))' \
	    -e 'sum(d$v)'
	atf_check -o inline:'89504e470d0a1a0a' sh -c \
	    'head -c 8 out/plot-002.png | od -An -tx1 | tr -d " \n"'
	atf_check -o inline:'done\n' cat got/res.txt
	# An error's pages too; the error as R shows it.
	rm -rf out
	atf_check -s exit:1 -e match:'^Error: oops$' \
	    -e match:'^securer: plot written to out/plot-001.png$' \
	    "$B/securer" --plots out -e 'plot(1); stop("oops")'
	test -s out/plot-001.png || atf_fail "no plot after the error"
	atf_check -s exit:1 -o inline:'[1] 1\n' \
	    -e match:'file nope: no such file in the output directory' \
	    "$B/securer" --get nope -e '1'
	echo x >.hidden
	atf_check -s exit:1 -e match:'a file name is' \
	    "$B/securer" --put .hidden -e '1'
}
cli_cleanup() {
	cleanup_daemon
}

atf_init_test_cases() {
	atf_add_test_case plots
	atf_add_test_case plot_caps
	atf_add_test_case files
	atf_add_test_case file_names
	atf_add_test_case file_escapes
	atf_add_test_case file_caps
	atf_add_test_case busy
	atf_add_test_case cli
}
