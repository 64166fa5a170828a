#!/bin/sh
# Prints the containers.conf(5) that podman needs on this host beyond its
# defaults, for CONTAINERS_CONF (build-image.sh and
# regress/container/run.sh use it).  Two settings, each only where the
# host needs it:
#
# - The runtime runc where the host mixes cgroup v1 and v2 (a "hybrid"
#   layout: v1 hierarchies under /sys/fs/cgroup, v2 at
#   /sys/fs/cgroup/unified): crun refuses it ("cgroups in hybrid mode
#   not supported").
# - Default ulimits no higher than the host's hard limits: as root,
#   podman asks for more open files and processes than the host may
#   allow, and where even root cannot raise them every container fails
#   to start ("error setting rlimit type 7: operation not permitted").
#   Processes no more than 32768 either: podman 4.3 lowers its own
#   limit to that (its /proc/PID/limits says so while the shell that
#   started it has more), and a container cannot get more than it has
#   ("rlimit type 6").
set -eu

hard() {
	awk -v k="$1" 'index($0, k) == 1 {
		n = split(substr($0, length(k) + 1), f, " ")
		print f[2]; exit }' /proc/self/limits
}
nofile=$(hard "Max open files")
nproc=$(hard "Max processes")
if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then
	nproc=32768
fi

lim=
for l in "nofile=$nofile" "nproc=$nproc"; do
	[ "${l#*=}" = unlimited ] || lim="$lim${lim:+, }\"$l:${l#*=}\""
done
echo "[containers]"
[ -z "$lim" ] || echo "default_ulimits = [$lim]"
if [ ! -f /sys/fs/cgroup/cgroup.controllers ] &&
    [ -f /sys/fs/cgroup/unified/cgroup.controllers ] &&
    command -v runc >/dev/null; then
	echo "[engine]"
	echo "runtime = \"runc\""
fi
