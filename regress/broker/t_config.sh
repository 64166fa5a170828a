#! /usr/bin/env atf-sh
# securerd -n: configuration files checked against their expected output
# (N.conf / N.ok pairs in regress/broker/conf).

. "$(atf_get_srcdir)/daemon.subr"

atf_test_case conf_pairs
conf_pairs_head() {
	atf_set "descr" "securerd -nv prints each N.conf back as N.ok says"
}
conf_pairs_body() {
	securer_init
	dir=$T/regress/broker/conf
	n=0
	for conf in "$dir"/*.conf; do
		name=$(basename "$conf" .conf)
		cp "$conf" "$name.conf"
		"$B/securerd" -nv -f "$name.conf" >"$name.out" 2>&1
		if ! diff -u "$dir/$name.ok" "$name.out"; then
			atf_fail "$name.conf: output differs from $name.ok"
		fi
		n=$((n + 1))
	done
	[ $n -ge 5 ] || atf_fail "only $n configuration cases found"
}

atf_test_case exit_status
exit_status_head() {
	atf_set "descr" "-n exits 0 on a good file and 1 on a bad one"
}
exit_status_body() {
	securer_init
	echo 'worker "/bin/true"' >good.conf
	atf_check -s exit:0 -e inline:"configuration OK\n" \
	    "$B/securerd" -n -f good.conf
	printf 'worker "/bin/true"\nsessions 0\n' >bad.conf
	atf_check -s exit:1 \
	    -e inline:"securerd: bad.conf:2: sessions must be between 1 and 1000000\n" \
	    "$B/securerd" -n -f bad.conf
	atf_check -s exit:1 -e match:"nonexistent.conf" \
	    "$B/securerd" -n -f nonexistent.conf
	# A directory (a ConfigMap mounted without subPath) is no file.
	mkdir dir.conf
	atf_check -s exit:1 -e inline:"securerd: dir.conf: not a regular file\n" \
	    "$B/securerd" -n -f dir.conf
}

atf_test_case builtin_defaults
builtin_defaults_head() {
	atf_set "descr" "with no file securerd has a working configuration"
}
builtin_defaults_body() {
	securer_init
	cd /
	atf_check -s exit:0 -o match:'^timeout 30 max none$' \
	    -o match:'^cpu 60 max' -o match:'^memory 536870912 max' \
	    -o match:'^nofile 256 max' "$B/securerd" -nv
	# The audit log on disk before code runs: for root's daemon; a
	# user's own daemon keeps its own file, without the flushes.
	atf_check -s exit:0 -o match:'^audit-sync always$' \
	    -o match:'^audit "/var/log/securer/audit.jsonl"$' "$B/securerd" -nv
	[ "$(id -u)" -eq 0 ] || return 0
	atf_check -s exit:0 -o match:'^audit-sync never$' \
	    -o match:"^audit \"/tmp/securer-65534/audit.jsonl\"$" \
	    setpriv --reuid=65534 --regid=65534 --clear-groups \
	    env -u XDG_RUNTIME_DIR "$B/securerd" -nv
}

atf_test_case audit_keywords
audit_keywords_head() {
	atf_set "descr" "audit-sync batch, audit-rotate and audit-code out " \
	    "of range are refused with their line"
}
audit_keywords_body() {
	securer_init
	printf 'worker "/bin/true"\naudit-sync batch 0\naudit-rotate 100\naudit-code 300000\n' >bad.conf
	atf_check -s exit:1 \
	    -e match:'bad.conf:2: audit-sync batch must be between 1 and 10000' \
	    -e match:'bad.conf:3: audit-rotate must be 0 \(never\) or at least 4096' \
	    -e match:'bad.conf:4: audit-code must be at most 204800' \
	    "$B/securerd" -n -f bad.conf
}

atf_init_test_cases() {
	atf_add_test_case audit_keywords
	atf_add_test_case conf_pairs
	atf_add_test_case exit_status
	atf_add_test_case builtin_defaults
}
