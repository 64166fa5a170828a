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

# chunk_line ID NAME FILE OFFSET MORE: a put of FILE's bytes (read from
# the file: a chunk's base64 is longer than an argument may be).
chunk_line() {
	base64 -w0 "$3" >chunk.b64
	jq -cn --argjson id "$1" --arg name "$2" --rawfile data chunk.b64 \
	    --argjson offset "$4" --argjson more "$5" \
	    '{id: $id, op: "file.put", session: "@S@", name: $name,
	    data: $data, offset: $offset, more: $more}'
}

range_line() {
	jq -cn --argjson id "$1" --arg name "$2" --argjson offset "$3" \
	    --argjson length "$4" \
	    '{id: $id, op: "file.get", session: "@S@", name: $name,
	    offset: $offset, length: $length}'
}

sha() {
	sha256sum "$1" | cut -d' ' -f1
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

atf_test_case chunks cleanup
chunks_head() {
	atf_set "descr" "a file put in three chunks arrives whole at the " \
	    "last and reads back exact in ranges; only the first and last " \
	    "chunk are audited; ranges at and past the end"
}
chunks_body() {
	start_daemon
	head -c 300000 /dev/urandom >whole
	head -c 100000 whole >c0
	tail -c +100001 whole | head -c 100000 >c1
	tail -c +200001 whole >c2
	session_script \
	    "$(chunk_line 3 big c0 0 true)" \
	    "$(chunk_line 4 big c1 100000 true)" \
	    "$(chunk_line 5 big c2 200000 false)" \
	    "$(exec_line 6 'f <- file.path(Sys.getenv("SECURER_INPUT"), "big"); file.copy(f, file.path(Sys.getenv("SECURER_OUTPUT"), "big")); c(file.size(f), file.access(f, 2))')" \
	    "$(range_line 7 big 0 131072)" \
	    "$(range_line 8 big 131072 131072)" \
	    "$(range_line 9 big 262144 131072)" \
	    "$(range_line 10 big 300000 10)" \
	    "$(range_line 11 big 300001 10)" \
	    "$(get_line 12 big)" \
	    "$(range_line 13 big 299990 0)"
	check_reply 3 '[.name, .size, .done]' '["big",100000,false]'
	check_reply 4 '[.size, .done]' '[200000,false]'
	check_reply 5 '[.size, .done]' '[300000,true]'
	check_reply 6 '.value.value' '[300000,-1]'
	check_reply 7 '[.size, .offset, (.data | length)]' '[300000,0,174764]'
	check_reply 9 '[.offset, (.data | @base64d | length > 0)]' '[262144,true]'
	for id in 7 8 9; do
		reply $id .data | jq -r . | base64 -d
	done >got
	[ "$(sha got)" = "$(sha whole)" ] || atf_fail "the ranges differ"
	check_reply 10 '[.size, .offset, .data]' '[300000,300000,""]'
	check_reply 11 .error.code '"bad_offset"'
	reply 12 .data | jq -r . | base64 -d >got12
	[ "$(sha got12)" = "$(sha whole)" ] || atf_fail "the whole get differs"
	check_reply 13 '.data' '""'
	n=$(grep -c 'file.put big' "$AUDIT")
	[ "$n" -eq 2 ] || atf_fail "$n audit records of the upload, not 2"
	atf_check -o match:'file.put big \(first chunk, 100000 bytes\)' \
	    cat "$AUDIT"
	atf_check -o match:'file.put big \(300000 bytes, last chunk\)' \
	    cat "$AUDIT"
}
chunks_cleanup() {
	cleanup_daemon
}

atf_test_case chunk_errors cleanup
chunk_errors_head() {
	atf_set "descr" "bad_offset, chunk_too_large and file_too_large for " \
	    "chunks; a refused chunk leaves the upload as it was"
}
chunk_errors_body() {
	start_daemon "file-size 250000"
	head -c 100000 /dev/urandom >c
	head -c 4194305 /dev/zero >huge
	session_script \
	    "$(chunk_line 3 a c 100000 true)" \
	    "$(chunk_line 4 a c 0 true)" \
	    "$(chunk_line 5 a c 50000 true)" \
	    "$(chunk_line 6 b c 100000 true)" \
	    "$(chunk_line 7 a huge 100000 true)" \
	    "$(range_line 8 a 0 4194305)" \
	    "$(chunk_line 9 a c 100000 true)" \
	    "$(chunk_line 10 a c 200000 false)" \
	    "$(chunk_line 11 a c 200000 true)" \
	    '{"id":12,"op":"file.put","session":"@S@","name":"a","data":"","offset":-1}' \
	    '{"id":13,"op":"file.put","session":"@S@","name":"a","data":"","more":1}' \
	    '{"id":14,"op":"file.get","session":"@S@","name":"a","length":1.5}'
	check_reply 3 .error.code '"bad_offset"'
	check_reply 4 '[.size, .done]' '[100000,false]'
	check_reply 5 .error.code '"bad_offset"'
	check_reply 5 .error.message '"the upload of a has 100000 bytes so far, not 50000"'
	check_reply 6 .error.code '"bad_offset"'
	check_reply 7 .error.code '"chunk_too_large"'
	check_reply 8 .error.code '"chunk_too_large"'
	check_reply 9 '[.size, .done]' '[200000,false]'
	check_reply 10 .error.code '"file_too_large"'
	check_reply 10 .error.message '"file too large (300000 bytes, max 250000)"'
	check_reply 11 .error.code '"file_too_large"'
	for id in 12 13 14; do
		check_reply $id .error.code '"bad_request"'
	done
}
chunk_errors_cleanup() {
	cleanup_daemon
}

atf_test_case unfinished cleanup
unfinished_head() {
	atf_set "descr" "an unfinished upload is not visible to the code " \
	    "(not under its name, no partial anywhere in HOME) and an " \
	    "execution discards it; offset 0 starts afresh"
}
unfinished_body() {
	start_daemon
	head -c 1000 /dev/urandom >c
	session_script \
	    "$(chunk_line 3 u c 0 true)" \
	    "$(exec_line 4 'c(length(list.files(Sys.getenv("SECURER_INPUT"), all.files = TRUE, no.. = TRUE)), length(list.files(Sys.getenv("HOME"), pattern = "securer-upload", all.files = TRUE, recursive = TRUE)))')" \
	    "$(chunk_line 5 u c 1000 false)" \
	    "$(chunk_line 6 u c 0 true)" \
	    "$(chunk_line 7 u c 1000 false)" \
	    "$(exec_line 8 'file.size(file.path(Sys.getenv("SECURER_INPUT"), "u"))')"
	check_reply 3 '.done' 'false'
	check_reply 4 '.value.value' '[0,0]'
	check_reply 5 .error.code '"bad_offset"'
	check_reply 5 .error.message '"no upload of u is unfinished: a file starts at offset 0"'
	check_reply 7 '[.size, .done]' '[2000,true]'
	check_reply 8 '.value.value' '[2000]'
}
unfinished_cleanup() {
	cleanup_daemon
}

atf_test_case get_ranges cleanup
get_ranges_head() {
	atf_set "descr" "a get without a length of a file over 4 MiB is " \
	    "file_too_large with its size, to be asked in ranges; over " \
	    "result-memory a chunk is memory_busy"
}
get_ranges_body() {
	start_daemon "file-size 8M" "result-size 64K" "result-memory 256K"
	head -c 300000 /dev/urandom >c
	session_script \
	    "$(exec_line 3 'writeBin(as.raw(rep(1:255, length.out = 5 * 2^20)), file.path(Sys.getenv("SECURER_OUTPUT"), "five")); 1')" \
	    "$(get_line 4 five)" \
	    "$(range_line 5 five 5242000 1000)" \
	    "$(range_line 6 five 0 262145)" \
	    "$(chunk_line 7 x c 0 false)" \
	    "$(range_line 8 five 0 262144)"
	check_reply 4 .error.code '"file_too_large"'
	check_reply 4 .error.size '5242880'
	check_reply 4 '.error.message | test("ask for it in ranges")' 'true'
	check_reply 5 '[.size, .offset, (.data | @base64d | length)]' '[5242880,5242000,880]'
	# More than result-memory could ever hold: refused for good.
	check_reply 6 .error.code '"chunk_too_large"'
	check_reply 7 .error.code '"chunk_too_large"'
	check_reply 8 '.data | @base64d | length' '262144'
}
get_ranges_cleanup() {
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

atf_test_case big_file cleanup
big_file_head() {
	atf_set "descr" "a 200 MB file goes in and comes back exact through " \
	    "the securer command, in chunks: the monitor's peak stays " \
	    "small, and a bystander's executions go on meanwhile"
	atf_set "timeout" "600"
}
big_file_body() {
	# Under ASan, freed chunks wait in its quarantine (256 MiB by
	# default): the instrumentation's memory, not the monitor's, so it
	# is made small, and free pages go back at once (t_tenants too).
	[ -n "${ASAN_OPTIONS:-}" ] &&
	    export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=8:allocator_release_to_os_interval_ms=0"
	start_daemon "file-size 256M" "result-memory 64M" \
	    "fsize 512M max 1G" "tmpfs 600M max 1G" "memory 2G max 4G"
	head -c 200000000 /dev/urandom >big.bin
	want=$(sha256sum <big.bin | cut -d' ' -f1)
	before=$(awk '/^VmHWM/ { print $2 }' /proc/"$(monitor_pid)"/status)
	# The bystander: 1 + 1 in its own session, on its own connection.
	(
		i=0
		while [ ! -f by.stop ]; do
			"$B/securer" -s "$SOCK" -e '1 + 1' >>by.out 2>>by.err ||
			    echo failed >>by.err
			i=$((i + 1))
		done
	) &
	echo $! >by.pid
	t0=$(date +%s.%N)
	atf_check -o inline:'[1] "200000000"\n' -e match:'file written to got/copy.bin' \
	    "$B/securer" -s "$SOCK" -t 300 --put big.bin --get copy.bin --out got \
	    -e 'i <- file.path(Sys.getenv("SECURER_INPUT"), "big.bin")' \
	    -e 'stopifnot(file.copy(i, file.path(Sys.getenv("SECURER_OUTPUT"), "copy.bin")))' \
	    -e 'unlink(i); format(file.size(file.path(Sys.getenv("SECURER_OUTPUT"), "copy.bin")), scientific = FALSE)'
	t1=$(date +%s.%N)
	touch by.stop
	wait "$(cat by.pid)"
	got=$(sha256sum <got/copy.bin | cut -d' ' -f1)
	[ "$got" = "$want" ] || atf_fail "the file came back different"
	peak=$(awk '/^VmHWM/ { print $2 }' /proc/"$(monitor_pid)"/status)
	echo "put and get of 200 MB: $(echo "$t1 - $t0" | bc) s; monitor" \
	    "peak ${before} kB before, ${peak} kB after" >&2
	# A chunk and its base64, a few times over, and the daemon itself:
	# never the file.
	[ "$peak" -lt $((before + 65536)) ] ||
	    atf_fail "the monitor's peak grew from $before to $peak kB"
	[ -s by.out ] || atf_fail "the bystander ran nothing"
	if [ -s by.err ]; then
		cat by.err >&2
		atf_fail "the bystander saw errors"
	fi
	echo "bystander: $(grep -c '^\[1\] 2$' by.out) executions" >&2
}
big_file_cleanup() {
	touch by.stop
	[ -f by.pid ] && kill "$(cat by.pid)" 2>/dev/null
	cleanup_daemon
	true
}

atf_init_test_cases() {
	atf_add_test_case plots
	atf_add_test_case plot_caps
	atf_add_test_case files
	atf_add_test_case file_names
	atf_add_test_case file_escapes
	atf_add_test_case file_caps
	atf_add_test_case chunks
	atf_add_test_case chunk_errors
	atf_add_test_case unfinished
	atf_add_test_case get_ranges
	atf_add_test_case busy
	atf_add_test_case cli
	atf_add_test_case big_file
}
