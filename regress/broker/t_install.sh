#! /usr/bin/env atf-sh
# make install: the installed tree is complete and its systemd files are
# accepted by systemd's own tools.

. "$(atf_get_srcdir)/daemon.subr"

install_tree() {
	securer_init
	case "$B" in
	*-asan)	san=1 ;;
	*)	san=0 ;;
	esac
	make -s -C "$T" -f Makefile.linux O="$B" SANITIZE=$san install \
	    PREFIX=/usr DESTDIR="$PWD/dest" >make.log 2>&1 ||
	    { cat make.log; atf_fail "make install failed"; }
}

atf_test_case tree
tree_head() {
	atf_set "descr" "make install with PREFIX and DESTDIR installs " \
	    "programs, library, header, man pages, units and examples"
}
tree_body() {
	install_tree
	for f in usr/bin/securer usr/sbin/securerd \
	    usr/libexec/securer/securer-worker usr/lib/libsecurer.a \
	    usr/include/securer.h usr/share/man/man1/securer.1 \
	    usr/share/man/man3/libsecurer.3 usr/share/man/man5/securerd.conf.5 \
	    usr/share/man/man7/securer-protocol.7 usr/share/man/man8/securerd.8 \
	    usr/share/man/man8/securer-worker.8 \
	    usr/lib/systemd/system/securerd.service \
	    usr/lib/systemd/system/securerd.socket \
	    usr/lib/sysusers.d/securer.conf usr/lib/tmpfiles.d/securer.conf \
	    usr/share/examples/securer/securerd.conf.example; do
		[ -f "dest/$f" ] || atf_fail "$f not installed"
	done
	for f in usr/bin/securer usr/sbin/securerd \
	    usr/libexec/securer/securer-worker; do
		[ -x "dest/$f" ] || atf_fail "$f not executable"
	done
	atf_check -o match:'^ExecStart=/usr/sbin/securerd -d$' \
	    cat dest/usr/lib/systemd/system/securerd.service
	# Every setting of the example, uncommented, is a valid file.
	sed 's/^#\([a-z]\)/\1/' dest/usr/share/examples/securer/securerd.conf.example |
	    sed "s|^socket .*|socket \"$PWD/sock\"|" >example.conf
	atf_check -s exit:0 -e inline:"configuration OK\n" \
	    "$B/securerd" -n -f example.conf
}

atf_test_case systemd
systemd_head() {
	atf_set "descr" "systemd-analyze verify accepts the units, and " \
	    "sysusers and tmpfiles accept their files"
	atf_set "require.progs" "systemd-analyze systemd-tmpfiles"
}
systemd_body() {
	install_tree
	mkdir units
	# The unit names the installed path; point it into DESTDIR to check.
	sed "s|/usr/sbin/securerd|$PWD/dest/usr/sbin/securerd|" \
	    dest/usr/lib/systemd/system/securerd.service >units/securerd.service
	cp dest/usr/lib/systemd/system/securerd.socket units/
	atf_check -s exit:0 -o empty -e empty systemd-analyze verify \
	    --man=no units/securerd.socket units/securerd.service
	# With --root the tools read their files from below the root.
	mkdir -p root/usr/lib root/etc
	cp -R dest/usr/lib/tmpfiles.d dest/usr/lib/sysusers.d root/usr/lib/
	atf_check -s exit:0 systemd-tmpfiles --root="$PWD/root" --create \
	    securer.conf
	atf_check -o inline:"755\n" stat -c %a root/var/empty
	atf_check -o inline:"750\n" stat -c %a root/var/log/securer
	atf_check -s exit:0 -o ignore -e ignore systemd-sysusers \
	    --root="$PWD/root" securer.conf
	atf_check -o match:'^_securer:x:[0-9]+:[0-9]+:securer monitor:/var/empty:/usr/sbin/nologin$' \
	    cat root/etc/passwd
}

atf_init_test_cases() {
	atf_add_test_case tree
	atf_add_test_case systemd
}
