#!/bin/sh
# Soak: a private securerd under a mixed workload from several clients at
# once for DURATION seconds (executions, streaming output, R errors, tool
# calls, timeouts, crashed and killed workers, pools, clients that go away
# mid-execution), then checks that nothing was left behind or grew:
#
#	- the broker's and the monitor's fd counts are back to their baseline;
#	- their RSS grew by at most SOAK_RSS_KB (default 16384 kB) each;
#	- no zombies under the broker, no worker left once all is closed;
#	- no worker cgroup left, and none of the daemon's after it stops;
#	- no mount of ours in the host's table, no temp file of a worker uid
#	  or of the daemon's user left in /tmp, nothing new in the work dir;
#	- every answer was the expected one;
#	- in the audit log, exec_start == exec_end + exec_abort.
#
#	sh regress/soak/soak.sh DURATION
#
# SOAK_BUILD names the directory with securerd, securer-worker, securer
# and regress/sockcat (default: this tree's build/).  Prints its figures
# and ends with "soak: passed" or "soak: failed"; exits 0 only if passed.
set -u

duration=${1:?usage: soak.sh DURATION}
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${SOAK_BUILD:-$top/build}
rss_bound=${SOAK_RSS_KB:-16384}
W=$(mktemp -d "${TMPDIR:-/tmp}/securer-soak.XXXXXX")
SOCK=$W/sock
AUDIT=$W/audit.jsonl
failed=0

fail() {
	echo "soak: FAIL: $*"
	failed=1
}

say() {
	echo "soak: $*"
}

cd "$W" || exit 1
mkdir out
touch start.mark
cat >conf <<EOF
socket "$SOCK"
audit "$AUDIT"
memory 256M max 256M
timeout 30 max 60
workers ready 2 max 2
EOF
printf '#!/bin/sh\ncat\n' >echo.sh
printf '#!/bin/sh\necho "no such city" >&2; exit 1\n' >fail.sh
chmod +x echo.sh fail.sh
cat >tools.json <<EOF
[{"name": "echo", "description": "Echo", "args": {"x": null},
  "command": ["$W/echo.sh"]},
 {"name": "fail", "description": "Fail", "args": {"city": "character"},
  "command": ["$W/fail.sh"]}]
EOF

"$B/securerd" -d -f "$W/conf" 2>daemon.log &
dpid=$!
i=0
while [ ! -S "$SOCK" ]; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 $dpid 2>/dev/null; then
		cat daemon.log
		echo "soak: failed (securerd did not start)"
		exit 1
	fi
	sleep 0.05
done

children() {
	pgrep -P $dpid 2>/dev/null || true
}

monitor_pid() {
	for p in $(children); do
		case "$(ps -o args= -p "$p")" in
		*monitor*)	echo "$p"; return ;;
		esac
	done
}

# Sessions' workers; the ready ones (a fixed two here, "workers ready 2
# max 2", so that the end compares with the baseline) apart.
workers() {
	for p in $(children); do
		u=$(stat -c %u "/proc/$p" 2>/dev/null) || continue
		[ "$u" -ge 200000 ] || continue
		[ "$(cat /proc/$p/comm 2>/dev/null)" = securer-ready ] ||
		    echo "$p"
	done
	true
}

ready() {
	for p in $(children); do
		[ "$(cat /proc/$p/comm 2>/dev/null)" = securer-ready ] &&
		    echo "$p"
	done
	true
}

# Waits (at most 20 s) until no session's worker and both ready ones.
settle() {
	i=0
	while { [ -n "$(workers)" ] || [ "$(ready | wc -l)" -ne 2 ]; } &&
	    [ $i -lt 200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

fds() {
	ls "/proc/$1/fd" 2>/dev/null | wc -l
}

rss() {
	awk '/^VmRSS/ { print $2 }' "/proc/$1/status"
}

# Lines of the host's mount table that are ours.
our_mounts() {
	grep -c -e securer -e "$W" /proc/mounts || true
}

mpid=$(monitor_pid)
S="$B/securer -s $SOCK"

# Warm-up, so the baseline has what the first requests open for good.
$S -e '1 + 1' >/dev/null
$S --tools tools.json -e 'echo(x = 1)$x' >/dev/null
settle
sleep 1
base_mfd=$(fds "$mpid") base_bfd=$(fds $dpid)
base_mrss=$(rss "$mpid") base_brss=$(rss $dpid)
base_mounts=$(our_mounts)
say "baseline: monitor $base_mfd fds ${base_mrss} kB, broker $base_bfd fds ${base_brss} kB"

end=$(( $(date +%s) + duration ))

# expect NAME COMMAND...: runs it and counts it; its output and exit
# status must be those of its first run (taken before the load starts).
expect() {
	name=$1
	shift
	got=$("$@" 2>&1; echo "exit $?")
	echo "$name" >>out/count
	if [ ! -f "out/golden.$name" ]; then
		printf '%s\n' "$got" >"out/golden.$name"
	elif [ "$got" != "$(cat "out/golden.$name")" ]; then
		printf '%s: got\n%s\nwanted\n%s\n' "$name" "$got" \
		    "$(cat "out/golden.$name")" >>out/wrong
	fi
}

# matches NAME PATTERN COMMAND...: its output must match the pattern.
matches() {
	name=$1 pat=$2
	shift 2
	got=$("$@" 2>&1)
	echo "$name" >>out/count
	case "$got" in
	$pat)	;;
	*)	printf '%s: got %s\n' "$name" "$got" >>out/wrong ;;
	esac
}

values() {
	expect value $S -e '1 + 1'
	expect output $S -e 'for (i in 1:200) cat("x", i, "\n", sep = "")'
	expect rerror $S -e 'stop("boom")'
	expect syntax $S -e '1 +'
	expect big $S -e 'length(runif(1e6))'
	expect json $S -j -e 'list(a = 1L, b = c(0.1, NA), c = "z")'
	expect tool $S --tools tools.json -e 'echo(x = c(1.5, 2))$x'
	expect toolerr $S --tools tools.json \
	    -e 'tryCatch(fail("x"), error = function(e) conditionMessage(e))'
}

loop_values() {
	while [ "$(date +%s)" -lt $end ]; do
		values
	done
}

loop_timeouts() {
	while [ "$(date +%s)" -lt $end ]; do
		matches timeout '*timed out*' $S -t 1 -e 'Sys.sleep(10)'
	done
}

# Workers that die (quit) or fail to allocate; pools' hit their CPU limit.
loop_crashes() {
	while [ "$(date +%s)" -lt $end ]; do
		matches quit '*worker died*' $S -e 'quit(status = 3)'
		matches memory '*cannot allocate*' \
		    $S -e 'x <- lapply(1:64, function(i) numeric(1e7)); 1'
	done
}

# talk NAME LINES...: one connection, each line sent once the final
# reply to the one before it came; the replies are in out/NAME.
talk() {
	f=out/$1
	shift
	: >"$f"
	n=$#
	{
		for line in "$@"; do
			printf '%s\n' "$line"
			id=$(printf '%s' "$line" | jq .id)
			i=0
			until grep -q "\"id\":$id,\"ok\"" "$f" || [ $i -gt 300 ]; do
				sleep 0.05
				i=$((i + 1))
			done
		done
	} | "$B/regress/sockcat" -n "$n" "$SOCK" >>"$f" 2>&1
}

loop_pools() {
	n=0
	while [ "$(date +%s)" -lt $end ]; do
		n=$((n + 1))
		p=p$n
		talk pool.$$ '{"id":1,"op":"hello","version":1}' \
		    "{\"id\":2,\"op\":\"pool.create\",\"pool\":\"$p\",\"size\":2,\"limits\":{\"cpu\":1}}" \
		    "{\"id\":3,\"op\":\"pool.execute\",\"pool\":\"$p\",\"code\":\"1 + 1\"}" \
		    "{\"id\":4,\"op\":\"pool.execute\",\"pool\":\"$p\",\"code\":\"repeat {}\"}" \
		    "{\"id\":5,\"op\":\"pool.execute\",\"pool\":\"$p\",\"code\":\"3 + 3\",\"acquire_timeout\":10}" \
		    "{\"id\":6,\"op\":\"pool.close\",\"pool\":\"$p\"}"
		echo pool >>out/count
		got=$(jq -c 'select(has("ok")) | [.id, .ok, .value.value // .error.code]' \
		    out/pool.$$ | tr -d '\n')
		want='[1,true,null][2,true,null][3,true,[2]][4,false,"worker_died"][5,true,[6]][6,true,null]'
		[ "$got" = "$want" ] || echo "pool: $got" >>out/wrong
	done
	rm -f out/pool.$$
}

# Clients that go in the middle of an execution.
loop_hangups() {
	while [ "$(date +%s)" -lt $end ]; do
		timeout -s KILL 0.5 $S -e 'Sys.sleep(5)' >/dev/null 2>&1
		echo hangup >>out/count
	done
}

: >out/count
: >out/wrong
values >/dev/null	# the golden answers, before the load
: >out/count
loops=""
for l in loop_values loop_values loop_timeouts loop_crashes loop_pools \
    loop_hangups; do
	$l &
	loops="$loops $!"
done
# Sampled while it runs: the peak of the monitor's and broker's RSS.
peak_mrss=$base_mrss peak_brss=$base_brss
while [ "$(date +%s)" -lt $end ]; do
	sleep 5
	r=$(rss "$mpid") && [ "$r" -gt "$peak_mrss" ] && peak_mrss=$r
	r=$(rss $dpid) && [ "$r" -gt "$peak_brss" ] && peak_brss=$r
done
wait $loops

# Everything closed: the workers go, the fds and the memory settle.
settle
[ -z "$(workers)" ] || fail "workers left: $(workers)"
[ "$(ready | wc -l)" -eq 2 ] || fail "ready workers: $(ready | wc -l), not 2"
i=0
while [ "$(fds "$mpid")" -ne "$base_mfd" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
mfd=$(fds "$mpid") bfd=$(fds $dpid)
mrss=$(rss "$mpid") brss=$(rss $dpid)

say "$(wc -l <out/count) requests in ${duration} s:$(sort out/count | uniq -c |
    awk '{ printf " %s %s", $2, $1 }')"
say "monitor: $mfd fds (baseline $base_mfd), RSS $mrss kB (baseline $base_mrss, peak $peak_mrss)"
say "broker: $bfd fds (baseline $base_bfd), RSS $brss kB (baseline $base_brss, peak $peak_brss)"
[ "$mfd" -eq "$base_mfd" ] || { fail "monitor fds $base_mfd -> $mfd"; ls -l "/proc/$mpid/fd"; }
[ "$bfd" -eq "$base_bfd" ] || { fail "broker fds $base_bfd -> $bfd"; ls -l "/proc/$dpid/fd"; }
[ $((mrss - base_mrss)) -le "$rss_bound" ] ||
    fail "monitor RSS grew by $((mrss - base_mrss)) kB"
[ $((brss - base_brss)) -le "$rss_bound" ] ||
    fail "broker RSS grew by $((brss - base_brss)) kB"
if [ -s out/wrong ]; then
	fail "$(grep -c '' out/wrong) lines of wrong answers:"
	head -40 out/wrong
fi

zombies=$(for p in $(children); do
	case "$(ps -o stat= -p "$p" 2>/dev/null)" in
	Z*)	echo "$p" ;;
	esac
done)
[ -z "$zombies" ] || fail "zombies under the broker: $zombies"

cgroups=$(find /sys/fs/cgroup -maxdepth 3 -type d -name "securer.$dpid" 2>/dev/null)
# The ready workers have theirs; any other is left over.
left=$(for d in $cgroups; do
	for c in $(find "$d" -mindepth 1 -maxdepth 1 -type d); do
		ready | grep -qxF -f - "$c/cgroup.procs" 2>/dev/null || echo "$c"
	done
done)
[ -z "$left" ] || fail "worker cgroups left: $left"

[ "$(our_mounts)" -eq "$base_mounts" ] ||
    fail "mounts: $base_mounts of ours before, $(our_mounts) after"

starts=$(grep -c '"event":"exec_start"' "$AUDIT")
ends=$(grep -c '"event":"exec_end"' "$AUDIT")
aborts=$(grep -c '"event":"exec_abort"' "$AUDIT")
say "audit: $starts exec_start, $ends exec_end, $aborts exec_abort"
[ "$starts" -eq $((ends + aborts)) ] ||
    fail "exec_start $starts != exec_end $ends + exec_abort $aborts"
for st in ok error timeout; do
	grep -q "\"event\":\"exec_end\".*\"status\":\"$st\"" "$AUDIT" ||
	    fail "no execution ended $st in the audit log"
done
# Dead workers and clients gone: exec_abort once the audit log has it.
for st in killed aborted; do
	grep -q -e "\"event\":\"exec_end\".*\"status\":\"$st\"" \
	    -e "\"event\":\"exec_abort\".*\"status\":\"$st\"" "$AUDIT" ||
	    fail "no execution $st in the audit log"
done

kill -TERM $dpid
i=0
while kill -0 $dpid 2>/dev/null && [ $i -lt 100 ]; do
	case "$(ps -o stat= -p $dpid 2>/dev/null)" in
	Z*|"")	break ;;
	esac
	sleep 0.1
	i=$((i + 1))
done
left=$(for c in $cgroups; do [ -d "$c" ] && echo "$c"; done)
[ -z "$left" ] || fail "the daemon's cgroups outlived it: $left"

# Temp files: anything in /tmp made during the soak by a worker uid or
# the daemon's user; in the work dir, anything but what we made and the
# audit log's lock file, which stays (removing a flock(2) file races the
# next daemon's open of it).
tmpleft=$(find /tmp -xdev -newer start.mark \( -uid +199999 -o -user _securer \) \
    2>/dev/null | head)
[ -z "$tmpleft" ] || fail "temp files left: $tmpleft"
extra=$(ls -A "$W" | grep -v -x -e conf -e sock -e sock.ctl -e sock.pid \
    -e audit.jsonl -e .audit.jsonl.lock -e daemon.log -e out -e start.mark -e echo.sh \
    -e fail.sh -e tools.json || true)
[ -z "$extra" ] || fail "unexpected files in the work dir: $extra"
for f in sock sock.ctl sock.pid; do
	[ -e "$f" ] && fail "$f left after the daemon stopped"
done

if [ $failed -eq 0 ]; then
	cd / && rm -rf "$W"
	echo "soak: passed"
	exit 0
fi
echo "soak: the work dir $W is kept"
tail -20 "$W/daemon.log"
echo "soak: failed"
exit 1
