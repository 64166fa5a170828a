#!/bin/sh
# Install what securer needs from Debian, create the daemon's user, build,
# and (unless --build-only) run R code in the sandbox to show it works.
#
#	sh bootstrap.sh			install, build, run an example
#	sh bootstrap.sh --build-only	install and build
set -eu

cd "$(dirname "$0")"

PACKAGES="gcc make pkg-config bison libevent-dev libcjson-dev libseccomp-dev
libbsd-dev r-base-core kyua atf-sh libatf-dev r-cran-testthat r-cran-jsonlite
r-cran-r6 procps psmisc jq fonts-dejavu-core clang libclang-rt-dev python3-yaml
python3 python3-pip python3-venv python3-pytest python3-pytest-asyncio mypy
python3-numpy python3-pandas tzdata util-linux r-cran-data.table r-cran-tibble
r-cran-ggplot2 r-cran-png r-cran-rserve r-cran-rsclient"

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "bootstrap: $1 needs root; run it with sudo" >&2
		exit 1
	fi
}

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null |
	    grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	need_root "installing$missing"
	echo "bootstrap: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The monitor's unprivileged user and its empty chroot.
if [ "$(id -u)" -eq 0 ]; then
	if ! getent passwd _securer >/dev/null; then
		group=""
		getent group _securer >/dev/null && group="-g _securer"
		# shellcheck disable=SC2086
		useradd --system --no-create-home --home-dir /var/empty \
		    --shell /usr/sbin/nologin $group _securer
	fi
	mkdir -p /var/empty
	chmod 755 /var/empty
fi

make -f Makefile.linux -j"$(nproc)" >/dev/null

# The R package (rpkg/), built from this tree, into the site library
# (R_LIBS_SITE_DIR to choose another library).
rlib=${R_LIBS_SITE_DIR:-/usr/local/lib/R/site-library}
if [ -w "$rlib" ] || [ "$(id -u)" -eq 0 ]; then
	R CMD INSTALL --preclean --no-test-load -l "$rlib" rpkg >build/rpkg-install.log 2>&1 ||
	    { cat build/rpkg-install.log >&2; exit 1; }
else
	echo "bootstrap: cannot write $rlib; the R package is not installed" >&2
fi

if [ "${1:-}" = "--build-only" ]; then
	exit 0
fi

echo "bootstrap: running R code through securerd:"
echo "  build/securer -e 'x <- c(2, 3, 5, 7); cat(\"sum:\", sum(x), \"\\\\n\"); summary(x)'"
build/securer -e 'x <- c(2, 3, 5, 7); cat("sum:", sum(x), "\n"); summary(x)'
