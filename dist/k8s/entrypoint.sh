#!/bin/sh
# The daemon container's entry point: securerd in the foreground, after
# one step cgroup v2 needs inside a container.
#
# There the container's cgroup is the root of its cgroup namespace and
# holds this process, and the kernel enables controllers for the
# children of a cgroup only when it holds no process itself.  So move
# into a leaf of our own first; securerd then turns on memory and pids
# at the root and makes its workers' cgroups beside that leaf.
set -eu

cg=/sys/fs/cgroup
if [ -f "$cg/cgroup.controllers" ] && [ -w "$cg/cgroup.procs" ]; then
	mkdir -p "$cg/securerd"
	echo $$ >"$cg/securerd/cgroup.procs"
fi
exec /usr/sbin/securerd "$@"
