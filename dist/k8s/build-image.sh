#!/bin/sh
# Builds the image of daemonset.yaml and client.yaml with podman, from
# Debian's packages alone: no container registry is needed.  The base is
# a Debian bookworm root made by debootstrap from a Debian mirror and
# imported into podman's store (kept there, and made again only when it
# is missing or with -r); the Dockerfile builds securer on it, its
# apt-get reaching the same mirror.  As root, from anywhere in the tree:
#
#	sh dist/k8s/build-image.sh [-r] [-b base] [-m mirror] [-t name]
#
#	-b base		build on this image instead of making one (where a
#			registry is reachable: docker.io/library/debian:bookworm-slim)
#	-m mirror	the Debian mirror (default: the one apt uses here,
#			else http://deb.debian.org/debian)
#	-r		make the base again even if it is in the store
#	-t name		the image's name (default localhost/securer:VERSION)
#
# Podman's configuration is the user's own unless no container starts
# with it; then build-image.sh uses what podman.conf.sh beside it prints
# for this host (it says what and why).  CONTAINERS_CONF chooses the
# file; "" means podman's own in any case.  The image's name is the
# last line of the output.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
k8s=$top/dist/k8s
version=$(sed -n 's/^#define SECURER_VERSION[^"]*"\(.*\)"$/\1/p' \
    "$top/common/proto.h")
[ -n "$version" ] || { echo "build-image: no version" >&2; exit 1; }

base=
mirror=
remake=0
name=localhost/securer:$version
while getopts b:m:rt: opt; do
	case $opt in
	b)	base=$OPTARG ;;
	m)	mirror=$OPTARG ;;
	r)	remake=1 ;;
	t)	name=$OPTARG ;;
	*)	echo "usage: build-image.sh [-r] [-b base] [-m mirror]" \
		    "[-t name]" >&2
		exit 2 ;;
	esac
done

say() {
	echo "build-image: $*" >&2
}

# The URI apt uses for a suite: deb822 .sources stanzas and one-line
# sources.list entries alike.  Prints nothing if there is none.
apt_uri() {
	suite=$1
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
	    /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		case $f in
		*.sources)
			awk -v s="$suite" '
			    /^[ \t]*$/ { if (u != "" && hit && !off) print u
				u = ""; hit = 0; off = 0; next }
			    tolower($1) == "uris:" { u = $2 }
			    tolower($1) == "suites:" {
				for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
			    tolower($1) == "enabled:" && $2 == "no" { off = 1 }
			    END { if (u != "" && hit && !off) print u }' "$f" ;;
		*)
			awk -v s="$suite" '$1 == "deb" {
				sub(/\[[^]]*\] */, ""); if ($3 == s) print $2 }' "$f" ;;
		esac
	done | head -n 1
}

# What this script made, removed at its end.
conf=
root=
# (--one-file-system: debootstrap may leave /proc mounted in a root it
# could not finish.)
trap 'rm -rf --one-file-system ${conf:+"$conf"} ${root:+"$root"}' EXIT

command -v podman >/dev/null || {
	say "podman is not installed (Debian: apt-get install podman runc)"
	exit 1
}

# The base: a minimal bookworm root from the mirror.
if [ -z "$base" ]; then
	base=localhost/securer-base:bookworm
	if [ $remake -eq 1 ] || ! podman image exists "$base"; then
		command -v debootstrap >/dev/null || {
			say "debootstrap is not installed"
			exit 1
		}
		[ -n "$mirror" ] || mirror=$(apt_uri bookworm)
		[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
		security=$(apt_uri bookworm-security)
		[ -n "$security" ] ||
		    security=http://deb.debian.org/debian-security
		root=$(mktemp -d "${TMPDIR:-/var/tmp}/securer-base.XXXXXX")
		say "making $base with debootstrap from $mirror"
		t=$(date +%s)
		nice -n 10 debootstrap --variant=minbase bookworm "$root" \
		    "$mirror" >"$root.log" 2>&1 || {
			tail -n 20 "$root.log" >&2
			rm -f "$root.log"
			exit 1
		}
		rm -f "$root.log"
		# The suites of debian:bookworm-slim: updates and security.
		cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
		# As debian:bookworm-slim has it: dpkg without fsync (a
		# layer is written once, or not at all), no manuals, no
		# documentation but its copyright files, no translations;
		# apt keeps no downloaded packages.
		cat >"$root/etc/dpkg/dpkg.cfg.d/securer-image" <<'EOF'
force-unsafe-io
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
		cat >"$root/etc/apt/apt.conf.d/securer-image" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Binary::apt::APT::Keep-Downloaded-Packages "false";
EOF
		rm -rf "$root"/var/cache/apt/archives/*.deb \
		    "$root"/var/lib/apt/lists/* "$root"/debootstrap
		old=$(podman image inspect -f '{{.Id}}' "$base" 2>/dev/null ||
		    true)
		tar -C "$root" --numeric-owner -c . | podman import \
		    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		    --change 'CMD ["/bin/bash"]' \
		    --message "debootstrap --variant=minbase bookworm $mirror" \
		    - "$base" >/dev/null
		# -r: the base it replaces, unless something still uses it.
		[ -z "$old" ] || podman rmi "$old" >/dev/null 2>&1 || true
		say "made $base in $(($(date +%s) - t)) s"
	else
		say "using $base (in the store; -r to make it again)"
	fi
fi

# Podman's configuration: the caller's (CONTAINERS_CONF), else podman's
# own if a container starts with it, else podman.conf.sh's.  Only then:
# CONTAINERS_CONF makes podman read that file and no other.
if [ -z "${CONTAINERS_CONF+set}" ] &&
    ! podman run --rm --network=none "$base" true >/dev/null 2>&1; then
	conf=$(mktemp "${TMPDIR:-/tmp}/securer-podman.XXXXXX")
	sh "$k8s/podman.conf.sh" >"$conf"
	export CONTAINERS_CONF="$conf"
	say "podman's own configuration starts no container here;" \
	    "with podman.conf.sh's: $(grep ' = ' "$conf" | tr '\n' ' ')"
elif [ -z "${CONTAINERS_CONF-x}" ]; then
	unset CONTAINERS_CONF
fi

# No intermediate images are kept: the build stage goes with the build.
say "building $name on $base"
t=$(date +%s)
nice -n 10 podman build --pull=missing --layers=false \
    --build-arg BASE="$base" -f "$k8s/Dockerfile" \
    --ignorefile "$k8s/Dockerfile.dockerignore" -t "$name" "$top" >&2
say "built $name in $(($(date +%s) - t)) s"
echo "$name"
