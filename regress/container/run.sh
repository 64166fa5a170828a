#!/bin/sh
# The image of dist/k8s built and run as the manifests run it, with
# podman on this machine: no cluster and no registry.  As root:
#
#	sh regress/container/run.sh [-i image]
#
# Installs podman, runc, catatonit (the pod's pause process),
# debootstrap and python3-yaml where missing; builds the image with
# dist/k8s/build-image.sh (its debootstrap base is kept in podman's store
# for the next run, the image is not); then, in a pod of its own (shared
# network, IPC and hostname, as a Kubernetes pod has):
#
#  1. securerd in the container daemonset.yaml describes (pod.py turns
#     the manifest into podman's options: privileged, the ConfigMap's
#     securerd.conf mounted, the socket directory and the audit log on
#     the node's paths, here directories of the check's own), with the
#     image's entry point; its readiness probe must answer 200;
#  2. the sandbox inside is the full one: "sandbox strict" let it start,
#     a session asked for strictly reports "full", a worker has no
#     capabilities, seccomp and no_new_privs, the one running code is
#     in a cgroup with the configured limits, and attacks from regress/attack are stopped (a program
#     run, the pod's network and sidecar, the node's paths);
#  3. a client container as client.yaml describes (its user, group,
#     read-only root, no capabilities, the socket directory read-only)
#     runs securer -e and a tool call;
#  4. the metrics sidecar answers with the daemon's counters;
#  5. the daemon's container is killed (SIGKILL, as a crash): a client in
#     the middle of an execution, and one that starts then, get a clear
#     error; the container started again serves, and its audit log goes
#     on with the next sequence number (securerctl audit verify);
#  6. SIGTERM stops each container of the pod at once, the daemon
#     with its daemon_stop record;
#
# and removes every container, pod and image it made (not the base).  -i: use that image instead of building one (to iterate on the
# check; the image stays).  The last line says what passed.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/regress/container
t0=$(date +%s)
image=
while getopts i: opt; do
	case $opt in
	i)	image=$OPTARG ;;
	*)	echo "usage: run.sh [-i image]" >&2; exit 2 ;;
	esac
done

say() {
	echo "container: $*"
}

[ "$(id -u)" -eq 0 ] || { say "needs root (podman, privileged)" >&2; exit 1; }

missing=
for p in podman runc catatonit debootstrap python3-yaml; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Debian's python3, which python3-yaml is for (not another on PATH).
PY=/usr/bin/python3
W=$(mktemp -d "${TMPDIR:-/var/tmp}/securer-container.XXXXXX")
chmod 755 "$W"
name=securer-check-$$
built=
tbuild=
pause=
passed=
n=0

if [ -z "${CONTAINERS_CONF+set}" ]; then
	sh "$top/dist/k8s/podman.conf.sh" >"$W/podman.conf"
	export CONTAINERS_CONF="$W/podman.conf"
fi

# Everything the check made but its work directory (and the base).
remove() {
	set +e
	for c in $(podman ps -a --filter "name=^$name-" --format '{{.Names}}'); do
		podman rm -f -t 0 "$c" >/dev/null 2>&1
	done
	podman pod exists "$name" && podman pod rm -f -t 0 "$name" >/dev/null
	[ -n "$built" ] && podman rmi "$built" >/dev/null
	[ -n "$pause" ] && podman rmi "$pause" >/dev/null 2>&1
	set -e
}
cleanup() {
	remove
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "container: FAILED: $*" >&2
	for c in securerd metrics; do
		if podman container exists "$name-$c"; then
			echo "--- $c:" >&2
			podman logs --tail 20 "$name-$c" >&2 2>&1
		fi
	done
	say "FAILED after $n passed: $*"
	exit 1
}

# pass TAG WHAT: one more check passed; TAG goes into the last line.
pass() {
	n=$((n + 1))
	passed="$passed${passed:+, }$1"
	say "ok $n - $2"
}

# The image.
tb=$(date +%s)
if [ -z "$image" ]; then
	version=$(sed -n 's/^#define SECURER_VERSION[^"]*"\(.*\)"$/\1/p' \
	    "$top/common/proto.h")
	image=localhost/securer-check:$version
	podman image exists "$image" &&
	    fail "$image exists already: remove it or give it with -i"
	built=$image
	if ! sh "$top/dist/k8s/build-image.sh" -t "$image" >"$W/build.log" 2>&1
	then
		tail -n 30 "$W/build.log" >&2
		fail "the image build"
	fi
	base="base made"
	grep -q "^build-image: using" "$W/build.log" && base="base cached"
	tbuild=$(($(date +%s) - tb))
	pass "image" "image $image built in $tbuild s ($base)"
fi

# The pod and its containers, from the manifests.
node=$(hostname)
$PY "$here/pod.py" "$top/dist/k8s" "$W" "$node" || fail "pod.py"
# run_container NAME SPEC ARGS [options]: starts the container NAME as
# the manifests' container SPEC (SPEC.args from pod.py), with the
# options and then ARGS (shell words) after the image.
run_container() {
	c=$1 spec=$2 cargs=$3
	shift 3
	eval "podman run -d --name \"\$name-\$c\" $* $(cat "$W/$spec.args")" \
	    "\"\$image\" $cargs" >/dev/null
}
pauses() {
	podman images --format '{{.Repository}}:{{.Tag}}' | grep /podman-pause: ||
	    true
}
tready=$(date +%s)
had=$(pauses)
podman pod create --name "$name" --hostname "$name" >/dev/null ||
    fail "podman pod create"
infra=$(podman pod inspect -f '{{.InfraContainerID}}' "$name")
# The pause image is made the first time a pod is: then it is the check's.
img=$(podman inspect -f '{{.ImageName}}' "$infra")
printf '%s\n' "$had" | grep -qxF "$img" || pause=$img
podman pod start "$name" >/dev/null || fail "podman pod start"
ip=$(podman inspect -f '{{.NetworkSettings.IPAddress}}' "$infra")
[ -n "$ip" ] || fail "the pod has no address"
run_container securerd securerd "$(cat "$W/securerd.cmd")" --pod "$name" ||
    fail "podman run securerd"
run_container metrics metrics "$(cat "$W/metrics.cmd")" --pod "$name" ||
    fail "podman run metrics"

read -r port path <"$W/metrics.ready"
probe="http://$ip:$port$path"
sock=$W/node/run/securer/securerd.sock
audit=$W/node/var/log/securer/audit.jsonl

# http URL: the status and body of a GET, as the kubelet's probe sees it.
http() {
	$PY - "$1" <<'EOF'
import sys
import urllib.error
import urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        print(r.status)
        sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)
except OSError as e:
    print("000 %s" % e)
EOF
}

# ready: waits (60 s at most) until the readiness probe answers 200.
ready() {
	i=0
	while :; do
		http "$probe" >"$W/probe" && [ "$(head -n 1 "$W/probe")" = 200 ] &&
		    return 0
		i=$((i + 1))
		[ "$(podman inspect -f '{{.State.Running}}' "$name-securerd")" = \
		    true ] || fail "the daemon's container ended"
		[ $i -lt 120 ] || fail "not ready after 60 s: $(head -n 1 "$W/probe")"
		sleep 0.5
	done
}
ready
[ "$(stat -c '%A %g' "$sock")" = "srw-rw---- 2000" ] ||
    fail "the socket on the node is $(stat -c '%A %g' "$sock")"
# Not the broker but the entry point is pid 1 (entrypoint.sh says why).
hp=$(podman inspect -f '{{.State.Pid}}' "$name-securerd")
pid1=$(tr '\0' ' ' <"/proc/$hp/cmdline")
bpid=$(cat "$sock.pid")
case $pid1 in
"/bin/sh /usr/sbin/securerd-entrypoint "*) ;;
*)	fail "pid 1 is $pid1" ;;
esac
[ "$bpid" != 1 ] || fail "the broker is pid 1"
pass "daemon as the DaemonSet runs it" "securerd in the DaemonSet's container under sandbox strict, ready in $(($(date +%s) - tready)) s; socket srw-rw---- group 2000 on the node; the entry point is pid 1, the broker $bpid"

# The tools and scripts of the client containers, mounted at /tools.
mkdir "$W/tools"
cat >"$W/tools/tools.json" <<'EOF2'
[{"name": "twice", "description": "Twice x", "args": {"x": "numeric"},
  "command": ["/tools/twice.sh"]},
 {"name": "node", "description": "The node of the client", "args": {},
  "command": ["/tools/node.sh"]}]
EOF2
cat >"$W/tools/twice.sh" <<'EOF2'
#!/bin/sh
sed 's/.*: *\([0-9.]*\).*/\1/' | awk '{ print $1 * 2 }'
EOF2
cat >"$W/tools/node.sh" <<'EOF2'
#!/bin/sh
printf '"%s"\n' "$NODE_NAME"
EOF2
# What a worker is, seen from inside (regress/attack: inside).
cat >"$W/tools/inside.sh" <<'EOF2'
securer -e 'cat(grep("^(CapEff|CapPrm|NoNewPrivs|Seccomp):",
    readLines("/proc/self/status"), value = TRUE), sep = "\n")'
EOF2
# regress/attack's run_program, network and host_files, aimed at what a
# pod adds: the sidecar on the pod's network, the node's paths.
R_TRY='f <- function(e) inherits(try(e, silent = TRUE), "try-error")'
# system() itself refuses in R; hostile code calls its internal, which
# only the sandbox stops (127: the shell could not be run).
cat >"$W/tools/attack.sh" <<EOF2
securer -e '$R_TRY
	a <- suppressWarnings(.Internal(system("touch /tmp/pwned; id",
	    FALSE, 0L)))
	b <- f(system2("id", stdout = TRUE))
	c <- f(readLines(pipe("id")))
	cat(a, b, c, file.exists("/tmp/pwned")); cat("\n")'
securer -e '$R_TRY
	cat(f(socketConnection("127.0.0.1", $port, timeout = 2)),
	    f(readLines(url("$probe"))),
	    f(suppressWarnings(download.file("$probe", tempfile(),
	        quiet = TRUE))),
	    f(serverSocket(8080)),
	    f(socketConnection("localhost", 8081, server = TRUE,
	        timeout = 1))); cat("\n")
	cat(sub(":.*", "", trimws(readLines("/proc/net/dev")[-(1:2)])),
	    length(readLines("/proc/net/unix")) - 1,
	    length(readLines("/proc/net/tcp")) - 1); cat("\n")'
securer -e '$R_TRY
	cat(file.exists("/run/securer", "/var/log/securer", "/etc/securer",
	    "/etc/shadow", "/root", "/home")); cat("\n")
	w <- function(p) f(writeLines("x", p))
	cat(w("/etc/passwd"), w("/usr/lib/R/securer-check"),
	    w("/securer-check")); cat("\n")'
EOF2
cat >"$W/tools/client.sh" <<'EOF2'
securer -e 'sum(1:10)'
securer -T /tools/tools.json -e 'cat(node(), twice(21)); cat("\n")'
EOF2
chmod 755 "$W/tools" "$W/tools"/*

# client NAME SCRIPT: a client container as client.yaml describes it,
# whose command runs /tools/SCRIPT; waits for its end (-d: does not).
client() {
	bg=0
	[ "$1" = -d ] && { bg=1; shift; }
	run_container "$1" client "'sh /tools/$2'" -v "$W/tools:/tools:ro" ||
	    fail "podman run $1"
	[ $bg -eq 1 ] && return 0
	podman wait "$name-$1" >"$W/$1.status"
	podman logs "$name-$1" >"$W/$1.out" 2>"$W/$1.err"
}
# expect NAME TEXT: the client NAME exited 0 and printed TEXT.
expect() {
	printf '%s\n' "$2" >"$W/$1.want"
	[ "$(cat "$W/$1.status")" = 0 ] && cmp -s "$W/$1.want" "$W/$1.out" ||
	    fail "client $1 (status $(cat "$W/$1.status")):
$(diff "$W/$1.want" "$W/$1.out") $(cat "$W/$1.err")"
}

# The full sandbox, as the daemon answers a client that insists on it.
as_client() {
	setpriv --reuid=1000 --regid=1000 --groups=2000 --inh-caps=-all \
	    --bounding-set=-all "$@"
}
as_client "$PY" - "$sock" >"$W/strict" <<'EOF2' || fail "session.create"
import json
import socket
import sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.write('{"id":1,"op":"hello","version":1}\n'
        '{"id":2,"op":"session.create","sandbox_strict":true}\n')
f.flush()
for line in f:
    r = json.loads(line)
    if r.get("id") == 2:
        print(r.get("sandbox") if r.get("ok") else r)
        break
EOF2
[ "$(cat "$W/strict")" = full ] || fail "a strict session: $(cat "$W/strict")"
client inside inside.sh
expect inside "CapPrm:	0000000000000000
CapEff:	0000000000000000
NoNewPrivs:	1
Seccomp:	2"

# Its cgroups: the worker running a client's code is in one of the
# daemon's, under the container's own, with the ConfigMap's memory and
# the default process limit.  (cgroup v2: the entry point's leaf holds
# the broker, the workers' cgroups are beside it; v1: the container's
# memory and pids hierarchies hold them.)
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	leaf=$(sed -n 's/^0:://p' "/proc/$hp/cgroup")
	case $leaf in
	*/securerd) ;;
	*)	fail "the entry point is not in a leaf cgroup: $leaf" ;;
	esac
	mem=/sys/fs/cgroup${leaf%/securerd}/securer.$bpid mfile=memory.max
	pids=$mem
	cgv="v2, the entry point in its leaf"
else
	mem=/sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory://p' \
	    "/proc/$hp/cgroup")/securer.$bpid
	mfile=memory.limit_in_bytes
	pids=/sys/fs/cgroup/pids$(sed -n 's/^[0-9]*:pids://p' \
	    "/proc/$hp/cgroup")/securer.$bpid
	cgv=v1
fi
printf "securer -e 'Sys.sleep(4)'\n" >"$W/tools/busy.sh"
client -d busy busy.sh
i=0
until grep -q '"code":"Sys.sleep(4)"' "$audit"; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the busy client's execution did not start"
	sleep 0.1
done
wuid=$(sed -n 's/.*"worker_uid":\([0-9]*\),.*"code":"Sys.sleep(4)".*/\1/p' \
    "$audit")
cgw=
for w in "$mem"/w*; do
	for p in $(cat "$w/cgroup.procs" 2>/dev/null); do
		u=$(awk '/^Uid:/ { print $2 }' "/proc/$p/status" 2>/dev/null) ||
		    continue
		[ "$u" = "$wuid" ] && cgw=$w
	done
done
[ -n "$cgw" ] || fail "no cgroup in $mem holds the worker of uid $wuid"
[ "$(cat "$cgw/$mfile")" = 536870912 ] ||
    fail "worker cgroup $cgw: memory $(cat "$cgw/$mfile")"
[ "$(cat "$pids/${cgw##*/}/pids.max")" = 50 ] ||
    fail "worker cgroup $cgw: pids $(cat "$pids/${cgw##*/}/pids.max")"
podman wait "$name-busy" >"$W/busy.status"
[ "$(cat "$W/busy.status")" = 0 ] || fail "the busy client failed"
pass "full sandbox" "the full sandbox: a strict session reports \"full\"; a worker has no capabilities, no_new_privs and seccomp; the busy worker (uid $wuid) in the container's cgroup's ${cgw#"${mem%/*}/"} (cgroup $cgv), memory 512M, pids 50"

client attack attack.sh
expect attack "127 TRUE TRUE FALSE
TRUE TRUE TRUE TRUE TRUE
lo 0 0
FALSE FALSE FALSE FALSE FALSE FALSE
TRUE TRUE TRUE"
pass "3 attacks stopped" "attacks stopped: run_program (system, system2, pipe), network (the sidecar on 127.0.0.1:$port and $ip, a server; own loopback, no sockets), host_files (the node's paths unseen, / and /usr read-only)"

# A client of client.yaml: securer -e, and a tool call, which runs in the
# client's container with the node's name from the Downward API.
client client client.sh
expect client "[1] 55
$node 42"
pass "client and tool call" "a client container as client.yaml runs it (uid 1000, group 2000, read-only, no capabilities): securer -e and a tool call"

# The sidecar: the daemon's counters over HTTP, as Prometheus scrapes.
http "$probe" >"$W/metrics" || true
[ "$(head -n 1 "$W/metrics")" = 200 ] ||
    fail "metrics: $(head -n 1 "$W/metrics")"
ok=$(sed -n 's/^securer_executions_total{outcome="ok"} //p' "$W/metrics")
[ "${ok:-0}" -ge 6 ] || fail "metrics: $ok executions ok, not 6"
grep -q '^# TYPE securer_execution_duration_seconds histogram' \
    "$W/metrics" || fail "metrics: no duration histogram"
pass "metrics" "the metrics sidecar answers at $probe: $ok executions ok"

# A crash: the daemon's container killed in the middle of an execution.
cat >"$W/tools/victim.sh" <<'EOF2'
securer -e 'Sys.sleep(60)'
EOF2
client -d victim victim.sh
i=0
until grep -q '"code":"Sys.sleep(60)"' "$audit"; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the victim's execution did not start"
	sleep 0.1
done
podman kill -s KILL "$name-securerd" >/dev/null
podman wait "$name-securerd" >/dev/null
podman wait "$name-victim" >"$W/victim.status"
podman logs "$name-victim" >"$W/victim.out" 2>"$W/victim.err"
[ "$(cat "$W/victim.status")" = 1 ] &&
    grep -q '^securer: securerd closed the connection$' "$W/victim.err" ||
    fail "the victim: status $(cat "$W/victim.status"), $(cat "$W/victim.err")"
printf 'securer -e 1\n' >"$W/tools/down.sh"
client down down.sh
[ "$(cat "$W/down.status")" = 1 ] &&
    grep -q '^securer: cannot connect to /run/securer/securerd.sock: Connection refused$' \
    "$W/down.err" ||
    fail "while down: status $(cat "$W/down.status"), $(cat "$W/down.err")"
pass "kill seen by clients" "the daemon's container killed: the client in an execution gets \"$(cat "$W/victim.err")\", a new one \"$(cat "$W/down.err")\""

# Started again (the kubelet restarts a container that ended): it serves,
# and its audit log goes on where the killed one's stopped.
last=$(tail -n 1 "$audit" | sed 's/^{"seq":\([0-9]*\),.*/\1/')
podman start "$name-securerd" >/dev/null
ready
client after client.sh
expect after "[1] 55
$node 42"
$PY - "$audit" "$last" >"$W/seq" <<'EOF2' || fail "audit: $(cat "$W/seq")"
import json
import sys
recs = [json.loads(line) for line in open(sys.argv[1])]
seqs = [r["seq"] for r in recs]
last = int(sys.argv[2])
starts = [r["seq"] for r in recs if r["event"] == "daemon_start"]
if seqs != list(range(1, len(seqs) + 1)):
    sys.exit("seq not contiguous")
if len(starts) != 2 or starts[1] != last + 1:
    sys.exit("daemon_start at %s, the killed daemon's last %d"
             % (starts, last))
aborts = [r for r in recs if r["event"] == "exec_abort"]
print("seq 1-%d, the restart's daemon_start %d, %d aborted"
      % (seqs[-1], starts[1], len(aborts)))
EOF2
podman run --rm --network none --entrypoint /usr/sbin/securerctl \
    -v "${audit%/*}:/var/log/securer:ro" "$image" \
    audit verify /var/log/securer/audit.jsonl >"$W/verify" 2>&1 ||
    fail "securerctl audit verify: $(cat "$W/verify")"
grep -q ' 0 problems$' "$W/verify" || fail "audit verify: $(cat "$W/verify")"
pass "restart with the audit log contiguous" "restarted: serves again, audit $(cat "$W/seq"); securerctl audit verify: 0 problems"

# SIGTERM, as a pod's deletion sends it: each container ends at once.
for c in metrics securerd; do
	ts=$(date +%s)
	podman stop -t 30 "$name-$c" >/dev/null
	s=$(($(date +%s) - ts))
	st=$(podman inspect -f '{{.State.ExitCode}}' "$name-$c")
	[ "$s" -lt 5 ] && [ "$st" = 0 ] ||
	    fail "SIGTERM: $c took $s s, status $st"
done
tail -n 1 "$audit" | grep -q '"event":"daemon_stop"' ||
    fail "no daemon_stop at the end of the audit log"
pass "SIGTERM" "SIGTERM stops the sidecar and the daemon at once, status 0, daemon_stop audited"

remove
left=$(podman ps -a --filter "name=^$name" --format '{{.Names}}')
[ -z "$left" ] || fail "containers left: $left"
! podman pod exists "$name" || fail "the pod $name is left"
for i in $built $pause; do
	! podman image exists "$i" || fail "$i is left"
done
pass "cleanup" "containers, pod and images removed${built:+ (the base stays)}"
built= pause=
say "$n passed, 0 failed in $(($(date +%s) - t0)) s${tbuild:+ (build $tbuild s)}: $passed"
