#! /usr/bin/env atf-sh
# The audit log: records and their pairing, securerctl audit verify,
# rotation by size and by SIGHUP without loss or duplication, repair of
# a torn last line and of dangling starts, where the log may be, that
# nothing in the code can forge a record, and a full disk.

. "$(atf_get_srcdir)/daemon.subr"

CTL() {
	"$B/securerctl" "$@"
}

# all_logs: every file of the log, oldest first (rotated names sort).
all_logs() {
	ls "$AUDIT".* 2>/dev/null | sort
	echo "$AUDIT"
}

# has FILTER: some record of the log matches the jq FILTER.
has() {
	[ "$(jq -c "select($1)" "$AUDIT" | wc -l)" -ge 1 ]
}

# seqs_contiguous: the numbers of all files together run 1, 2, 3, ...
seqs_contiguous() {
	all_logs | xargs cat | jq -r .seq >seqs
	n=$(wc -l <seqs)
	seq 1 "$n" >want
	cmp -s seqs want || {
		diff want seqs | head >&2
		atf_fail "sequence numbers are not 1..$n, each once"
	}
}

atf_test_case records cleanup
records_head() {
	atf_set "descr" "starts, ends and tool calls name the identity, " \
	    "session, worker uid, code, its SHA-256 and the outcome; " \
	    "verify passes"
	atf_set "require.progs" "jq"
}
records_body() {
	start_daemon "audit-sync always" "audit-code 8"
	atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
	atf_check -s not-exit:0 -o ignore -e ignore "$B/securer" -s "$SOCK" \
	    -e 'stop("boom")'
	stop_daemon
	has '.event == "exec_start" and .code == "1 + 1" and .code_sha256 ==
	    "72fce59447a01f488b1169d2d742679cfe306a89772d67fef018bcfe95431f68"
	    and .user == "root" and .uid == 0 and .rule == "none" and
	    .worker_uid >= 200000 and .code_truncated == false' ||
	    atf_fail "exec_start of 1 + 1 lacks its fields"
	# Cut at audit-code bytes, with the digest of the whole code.
	has '.event == "exec_start" and .code == "stop(\"bo" and
	    .code_truncated and .code_bytes == 12' ||
	    atf_fail "the code was not cut at audit-code 8"
	has '.event == "exec_end" and .status == "error" and
	    .error == "r_error"' || atf_fail "no exec_end with the error"
	# A start's number comes before its end's.
	[ "$(jq -s '[.[] | select(.event == "exec_start")] as $s |
	    [.[] | select(.event == "exec_end")] as $e |
	    [$s[] | . as $x | select(any($e[]; .session == $x.session and
	    .exec == $x.exec and .seq > $x.seq))] | length' "$AUDIT")" = 2 ] ||
	    atf_fail "an exec_start has no later exec_end"
	atf_check -o match:'2 executions: 2 ended, 0 aborted; 0 problems' \
	    "$B/securerctl" audit verify "$AUDIT"
}
records_cleanup() {
	cleanup_daemon
}

atf_test_case verify
verify_head() {
	atf_set "descr" "securerctl audit verify names the line of every " \
	    "problem and exits non-zero"
}
verify_body() {
	securer_init
	s=0123456789abcdef0123456789abcdef
	cat >bad.jsonl <<EOF
{"seq":1,"time":"t","event":"daemon_start"}
{"seq":2,"time":"t","event":"exec_start","session":"$s","exec":1}
not json
{"seq":4,"time":"t","event":"exec_end","session":"$s","exec":2}
{"seq":6,"time":"t","event":"exec_start","session":"$s","exec":1}
EOF
	printf '{"seq":7,"time":"t","ev' >>bad.jsonl
	atf_check -s exit:1 \
	    -o match:'bad.jsonl:3: not a JSON object' \
	    -o match:'bad.jsonl:4: seq 4 after 2' \
	    -o match:"bad.jsonl:4: exec_end of $s/2 without its exec_start" \
	    -o match:'bad.jsonl:5: seq 6 after 4' \
	    -o match:"bad.jsonl:5: exec_start of $s/1, already started at line 2" \
	    -o match:'bad.jsonl:6: torn record' \
	    "$B/securerctl" audit verify bad.jsonl
	cat >good.jsonl <<EOF
{"seq":5,"time":"t","event":"audit_rotate","open":[{"event":"open","session":"$s","exec":3}]}
{"seq":6,"time":"t","event":"exec_abort","session":"$s","exec":3,"cause":"x"}
EOF
	atf_check -o match:'seq 5-6, 0 executions: 0 ended, 1 aborted; 0 problems' \
	    "$B/securerctl" audit verify good.jsonl
	atf_check -s exit:2 -e match:'nonexistent' \
	    "$B/securerctl" audit verify nonexistent
}

atf_test_case rotate_size cleanup
rotate_size_head() {
	atf_set "descr" "audit-rotate: the log is renamed at the size and " \
	    "numbering goes on; no record is lost or duplicated"
	atf_set "require.progs" "jq"
}
rotate_size_body() {
	start_daemon "audit-rotate 4096"
	code=$(printf 'x <- "%0300d"; 1' 0)
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
		atf_check -o ignore "$B/securer" -s "$SOCK" -e "$code"
	done
	stop_daemon
	[ "$(ls "$AUDIT".* | wc -l)" -ge 2 ] || atf_fail "not rotated"
	for f in "$AUDIT".*; do
		[ "$(stat -c %s "$f")" -lt 8192 ] || atf_fail "$f too large"
		head -1 "$f" | grep -q '"seq":1,' && continue
		head -1 "$f" | grep -q '"event":"audit_rotate"' ||
		    atf_fail "$f does not begin with audit_rotate"
	done
	seqs_contiguous
	all_logs | xargs cat >all.jsonl
	atf_check -o match:'12 executions: 12 ended, 0 aborted; 0 problems' \
	    "$B/securerctl" audit verify all.jsonl
}
rotate_size_cleanup() {
	cleanup_daemon
}

atf_test_case rotate_sighup cleanup
rotate_sighup_head() {
	atf_set "descr" "SIGHUP rotates the log while executions run; " \
	    "the new file names what was open, nothing lost or doubled"
	atf_set "require.progs" "jq"
}
rotate_sighup_body() {
	start_daemon
	"$B/securer" -s "$SOCK" -e 'Sys.sleep(1.5); 7' >slow.out 2>&1 &
	slow=$!
	wait_for "the slow start" grep -q exec_start "$AUDIT"
	kill -HUP "$(daemon_pid)"
	wait_for "the rotation" sh -c "ls '$AUDIT'.* >/dev/null 2>&1"
	kill -HUP "$(daemon_pid)"
	for i in 1 2 3; do
		atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
	done
	wait "$slow"
	grep -q '\[1\] 7' slow.out || atf_fail "the slow execution: $(cat slow.out)"
	stop_daemon
	[ "$(ls "$AUDIT".* | wc -l)" -eq 2 ] || atf_fail "not rotated twice"
	first=$(all_logs | sed -n 2p)
	[ "$(head -1 "$first" | jq '.event == "audit_rotate" and
	    (.open | length) == 1')" = true ] ||
	    atf_fail "the rotated file does not name the open execution"
	seqs_contiguous
	all_logs | xargs cat >all.jsonl
	atf_check -o match:'4 executions: 4 ended, 0 aborted; 0 problems' \
	    "$B/securerctl" audit verify all.jsonl
}
rotate_sighup_cleanup() {
	cleanup_daemon
}

atf_test_case repair cleanup
repair_head() {
	atf_set "descr" "on start a torn last line is cut and starts left " \
	    "open are closed with exec_abort; numbering continues"
	atf_set "require.progs" "jq"
}
repair_body() {
	securer_init
	s=0123456789abcdef0123456789abcdef
	{
		echo '{"seq":1,"time":"t","event":"daemon_start"}'
		echo "{\"seq\":2,\"time\":\"t\",\"event\":\"exec_start\",\"session\":\"$s\",\"exec\":7}"
		echo "{\"seq\":3,\"time\":\"t\",\"event\":\"exec_start\",\"session\":\"$s\",\"exec\":8}"
		echo "{\"seq\":4,\"time\":\"t\",\"event\":\"exec_end\",\"session\":\"$s\",\"exec\":8}"
		printf '{"seq":5,"time":"t","event":"exec_en'
	} >"$AUDIT"
	chmod 600 "$AUDIT"
	start_daemon
	atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
	stop_daemon
	grep -q 'exec_en$' "$AUDIT" && atf_fail "the torn line is still there"
	grep -q '"exec_en"' "$AUDIT" && atf_fail "the torn line is still there"
	has ".event == \"exec_abort\" and .session == \"$s\" and
	    .exec == 7 and .cause == \"daemon restart\"" ||
	    atf_fail "no exec_abort for the dangling start"
	[ "$(jq -c "select(.event == \"exec_abort\" and .exec == 8)" \
	    "$AUDIT" | wc -l)" -eq 0 ] || atf_fail "an ended start aborted"
	has '.event == "log_repaired" and .removed_bytes == 36' ||
	    atf_fail "the repair is not recorded"
	grep -q 'torn last record (36 bytes) removed' daemon.log ||
	    atf_fail "the repair is not logged"
	seqs_contiguous
	atf_check -o match:'0 problems' "$B/securerctl" audit verify "$AUDIT"
}
repair_cleanup() {
	cleanup_daemon
}

# refused PATH-SETUP REGEX: securerd does not start with that log.
refused() {
	atf_check -s exit:1 -e match:"$2" timeout 20 "$B/securerd" -d \
	    -f "$PWD/conf.$1"
}

atf_test_case path
path_head() {
	atf_set "descr" "the log may not be a symlink, FIFO or device, nor " \
	    "in a directory others can write, sticky or not"
	atf_set "require.user" "root"
}
path_body() {
	securer_init
	for c in link fifo dev ww sticky; do
		mkdir -m 700 "d.$c"
		printf 'socket "%s"\naudit "%s"\n' "$PWD/s.$c" \
		    "$PWD/d.$c/audit.jsonl" >"conf.$c"
	done
	ln -s /etc/passwd d.link/audit.jsonl
	mkfifo d.fifo/audit.jsonl
	mknod d.dev/audit.jsonl c 1 3
	chmod 777 d.ww
	chmod 1777 d.sticky
	refused link 'symbolic link'
	refused fifo 'not a regular file'
	refused dev 'not a regular file'
	refused ww 'not writable by others'
	refused sticky 'not writable by others'
	[ -e s.link ] && atf_fail "a socket was left"
	true
}

atf_test_case escaping cleanup
escaping_head() {
	atf_set "descr" "quotes, newlines, control characters and fake JSON " \
	    "in the code stay inside its record"
	atf_set "require.progs" "jq"
}
escaping_body() {
	start_daemon
	code=$(printf 'x <- "\\"}\n{\\"seq\\":999,\\"event\\":\\"exec_end\\"}\001\033[2J\r"; "}\\n{\\"seq\\":998}"')
	atf_check -o ignore -e ignore "$B/securer" -s "$SOCK" -e "$code"
	stop_daemon
	jq -e . "$AUDIT" >/dev/null || atf_fail "a line is not JSON"
	[ "$(jq -c 'select(.seq == 999 or .seq == 998)' "$AUDIT" | wc -l)" \
	    -eq 0 ] || atf_fail "a record was forged"
	printf '%s' "$code" >want
	jq -j 'select(.event == "exec_start") | .code' "$AUDIT" >got
	cmp -s want got || atf_fail "the code is not recorded as it was"
	atf_check -o match:'1 executions: 1 ended, 0 aborted; 0 problems' \
	    "$B/securerctl" audit verify "$AUDIT"
}
escaping_cleanup() {
	cleanup_daemon
}

atf_test_case enospc cleanup
enospc_head() {
	atf_set "descr" "a full disk: executions get audit_unavailable and " \
	    "none runs; the daemon resumes by itself when there is room"
	atf_set "require.user" "root"
	atf_set "require.progs" "jq"
}
enospc_body() {
	securer_init
	mkdir -m 700 logs
	mount -t tmpfs -o size=64k,mode=0700 tmpfs logs 2>mount.err ||
	    atf_skip "cannot mount a tmpfs: $(cat mount.err)"
	touch mounted
	start_daemon "audit-sync always" "audit \"$PWD/logs/audit.jsonl\""
	AUDIT=$PWD/logs/audit.jsonl
	# In flight when the disk fills: its result must not come back.
	( "$B/securer" -s "$SOCK" -e 'Sys.sleep(4); 4242' >slow.out 2>&1
	  echo $? >slow.rc ) &
	wait_for "the slow start" grep -q 4242 "$AUDIT"
	dd if=/dev/zero of=logs/fill bs=1k count=200 2>/dev/null || true
	# The log's last page still has room for a few records.
	i=0
	while "$B/securer" -s "$SOCK" -e "$i + 1000" >out 2>err; do
		i=$((i + 1))
		[ $i -gt 50 ] && atf_fail "the log never filled up"
	done
	answered=$i
	grep -q 'audit log unavailable' err ||
	    atf_fail "not audit_unavailable: $(cat err)"
	atf_check -s not-exit:0 -o ignore -e match:'audit log unavailable' \
	    "$B/securer" -s "$SOCK" -e '2222'
	wait_for "the slow execution" test -f slow.rc
	grep -q 4242 slow.out && atf_fail "a result came back unrecorded"
	grep -q 'audit log unavailable' slow.out ||
	    atf_fail "the slow execution: $(cat slow.out)"
	rm logs/fill
	wait_for "the log to come back" sh -c \
	    "'$B/securer' -s '$SOCK' -e '3 + 3' 2>/dev/null | grep -q 6"
	stop_daemon
	jq -e . "$AUDIT" >/dev/null || atf_fail "a line is not JSON"
	grep -q '"event":"audit_unavailable"' "$AUDIT" ||
	    atf_fail "the outage is not recorded"
	grep -q '"event":"audit_resumed"' "$AUDIT" ||
	    atf_fail "the recovery is not recorded"
	# Nothing ran while the log was down, or without its start.
	has '.event == "exec_start" and .code == "2222"' &&
	    atf_fail "an execution started while the log was down"
	[ "$(jq -c 'select(.event == "exec_end" and .status == "ok")' \
	    "$AUDIT" | wc -l)" -le $((answered + 2)) ] ||
	    atf_fail "more results than executions answered"
	has '.event == "exec_start" and .code == "3 + 3"' ||
	    atf_fail "no start after the recovery"
	seqs_contiguous
	atf_check -o match:'0 problems' "$B/securerctl" audit verify "$AUDIT"
}
enospc_cleanup() {
	cleanup_daemon
	[ -f mounted ] && umount logs
	true
}

atf_test_case eio cleanup
eio_head() {
	atf_set "descr" "a failed fdatasync is not taken for success: " \
	    "audit_unavailable, then the records are written afresh, once"
	atf_set "require.progs" "jq"
}
eio_body() {
	securer_init
	[ -f "$B/regress/failsync.so" ] || atf_fail "no failsync.so"
	export SECURER_FAILSYNC=$PWD/failing
	export LD_PRELOAD=$B/regress/failsync.so
	# An ASan build wants its runtime first; the shim comes before it.
	export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
	start_daemon "audit-sync always"
	unset LD_PRELOAD
	atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
	touch failing
	atf_check -s not-exit:0 -o ignore -e match:'audit log unavailable' \
	    "$B/securer" -s "$SOCK" -e '2 + 2'
	atf_check -s not-exit:0 -o ignore -e match:'audit log unavailable' \
	    "$B/securer" -s "$SOCK" -e '3 + 3'
	rm failing
	wait_for "the log to come back" sh -c \
	    "'$B/securer' -s '$SOCK' -e '4 + 4' 2>/dev/null | grep -q 8"
	stop_daemon
	seqs_contiguous
	has '.event == "exec_start" and .code == "3 + 3"' &&
	    atf_fail "an execution started while the log was down"
	has '.event == "audit_unavailable"' || atf_fail "no audit_unavailable"
	has '.event == "audit_resumed"' || atf_fail "no audit_resumed"
	grep -q 'fdatasync; audit log unavailable: Input/output error' daemon.log ||
	    atf_fail "the failure is not logged"
	atf_check -o match:'0 problems' "$B/securerctl" audit verify "$AUDIT"
}
eio_cleanup() {
	cleanup_daemon
}

atf_test_case one_writer cleanup
one_writer_head() {
	atf_set "descr" "a second daemon on the same audit log, another " \
	    "socket, refuses to start naming the first, also after a " \
	    "rotation and when the first went to the background; once " \
	    "the first is gone the log goes on, and verify passes"
	atf_set "require.progs" "jq"
}
one_writer_body() {
	start_daemon
	atf_check -o inline:'[1] 2\n' "$B/securer" -s "$SOCK" -e '1 + 1'
	pid=$(daemon_pid)
	refused="audit log $AUDIT is in use by securerd pid $pid socket $SOCK"
	atf_check -s exit:1 -e match:"$refused; refusing to start" \
	    "$B/securerd" -d -f "$PWD/conf" -s "$PWD/other.sock"
	test -e other.sock && atf_fail "the refused daemon made its socket"
	# A rotation renames the log, not the lock.
	kill -HUP "$pid"
	wait_for "the rotation" sh -c "ls '$AUDIT'.[0-9]* >/dev/null 2>&1"
	atf_check -s exit:1 -e match:"$refused" \
	    "$B/securerd" -d -f "$PWD/conf" -s "$PWD/other.sock"
	# -a names the log on the command line: the same lock.
	write_conf
	sed -i '/^audit /d' conf
	atf_check -s exit:1 -e match:"$refused" "$B/securerd" -d \
	    -f "$PWD/conf" -s "$PWD/other.sock" -a "$AUDIT"
	atf_check -s exit:1 -e match:'is not absolute' "$B/securerd" -d \
	    -f "$PWD/conf" -s "$PWD/other.sock" -a audit.jsonl
	atf_check -o inline:'[1] 3\n' "$B/securer" -s "$SOCK" -e '1 + 2'
	# Killed, not stopped: the kernel drops the lock all the same.
	kill -KILL "$pid"
	wait_for "the killed daemon" sh -c "! kill -0 $pid 2>/dev/null"
	rm -f daemon.pid "$SOCK"
	# In the background the lock names the daemon's pid there.
	"$B/securerd" -f "$PWD/conf" -s "$PWD/other.sock" -a "$AUDIT" \
	    2>bg.log || atf_fail "the daemon did not start: $(cat bg.log)"
	wait_for "its pid file" test -s other.sock.pid
	bg=$(cat other.sock.pid)
	echo "$bg" >bg.pid
	atf_check -s exit:1 \
	    -e match:"in use by securerd pid $bg socket $PWD/other.sock" \
	    "$B/securerd" -d -f "$PWD/conf" -a "$AUDIT"
	atf_check -o inline:'[1] 4\n' "$B/securer" -s "$PWD/other.sock" \
	    -e '2 + 2'
	kill -TERM "$bg"
	wait_for "the background daemon to stop" \
	    sh -c "! kill -0 $bg 2>/dev/null"
	rm -f bg.pid
	seqs_contiguous
	all_logs | xargs cat >all.jsonl
	atf_check -o match:' 0 problems' "$B/securerctl" audit verify all.jsonl
	[ "$(jq -c 'select(.event == "exec_start")' all.jsonl | wc -l)" -eq 3 ] ||
	    atf_fail "not the three starts"
}
one_writer_cleanup() {
	cleanup_daemon
	[ -f bg.pid ] && kill -KILL "$(cat bg.pid)" 2>/dev/null
	true
}

atf_init_test_cases() {
	atf_add_test_case records
	atf_add_test_case verify
	atf_add_test_case rotate_size
	atf_add_test_case rotate_sighup
	atf_add_test_case repair
	atf_add_test_case path
	atf_add_test_case escaping
	atf_add_test_case enospc
	atf_add_test_case eio
	atf_add_test_case one_writer
}
