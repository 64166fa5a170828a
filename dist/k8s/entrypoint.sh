#!/bin/sh
# The daemon container's entry point: securerd in the foreground, after
# one step cgroup v2 needs inside a container, and never as pid 1.
#
# cgroup v2: there the container's cgroup is the root of its cgroup
# namespace and holds this process, and the kernel enables controllers
# for the children of a cgroup only when it holds no process itself.
# So move into a leaf of our own first; securerd then turns on memory
# and pids at the root and makes its workers' cgroups beside that leaf.
# (With cgroup v1 there is nothing to do: securerd makes its
# directories under the container's memory and pids hierarchies.)
#
# pid 1: the monitor takes a parent of pid 1 to mean that the broker
# died and it was handed to init, and exits ("monitor: fatal: broker
# gone"); with securerd as the container's first process its parent is
# pid 1 for good, and the broker restarts it without end.  So where this
# script is pid 1 it stays, as a small init: it starts securerd as its
# child, passes on the signals that stop or reload it, reaps, and ends
# with securerd's status.  Where something else is pid 1 (podman --init,
# a pod's shared process namespace) it simply becomes securerd.
#
# The configuration: securerd takes a directory named by -f for an
# empty file and runs on its defaults (its own socket, mode 0666, no
# "sandbox strict"), and a ConfigMap mounted without its subPath is a
# directory.  So a -f that names no regular file ends it here.
set -eu

prev=
for a in "$@"; do
	if [ "$prev" = -f ] && [ ! -f "$a" ]; then
		echo "securerd-entrypoint: $a is not a file" \
		    "(a ConfigMap mounted without subPath?)" >&2
		exit 1
	fi
	prev=$a
done

cg=/sys/fs/cgroup
if [ -f "$cg/cgroup.controllers" ] && [ -w "$cg/cgroup.procs" ]; then
	mkdir -p "$cg/securerd"
	echo $$ >"$cg/securerd/cgroup.procs"
fi
[ $$ -eq 1 ] || exec /usr/sbin/securerd "$@"

/usr/sbin/securerd "$@" &
pid=$!
for sig in TERM INT HUP; do
	# shellcheck disable=SC2064
	trap "kill -$sig $pid 2>/dev/null || true" "$sig"
done
# wait returns early when a trapped signal comes in: wait again until
# securerd itself has ended.
set +e
while :; do
	wait "$pid"
	rc=$?
	kill -0 "$pid" 2>/dev/null || exit "$rc"
done
