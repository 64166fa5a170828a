#! /usr/bin/env atf-sh
# The monitor's structure, checked on the objects it is built from: each
# file calls only into its own layer or those below (DESIGN.md, "The
# monitor"), no files call each other round in a cycle, and no two of
# the daemon's programs define different functions under one name.

. "$(atf_get_srcdir)/daemon.subr"

atf_test_case layers
layers_head() {
	atf_set "descr" "no monitor file calls up a layer, no cycles"
}
layers_body() {
	securer_init
	atf_check -o match:'^31 files' python3 "$T/regress/monitor/layers.py" "$B"
}

# The checker finds what it must: a wire file calling the core, two
# files calling each other, a file of no layer.
atf_test_case layers_checker
layers_checker_head() {
	atf_set "descr" "layers.py refuses an upward call, a cycle, a stray file"
}
layers_checker_body() {
	securer_init
	mkdir -p fake/monitor
	printf 'void core_a(void); void wire_b(void) { core_a(); }\n' >w.c
	printf 'void wire_b(void); void core_a(void) { wire_b(); }\n' >c.c
	printf 'void stray(void) {}\n' >s.c
	cc -c -o fake/monitor/wire.o w.c
	cc -c -o fake/monitor/core.o c.c
	atf_check -s exit:1 -o match:'wire.c \(wire\) calls up into core.c' \
	    -o match:'a cycle' python3 "$T/regress/monitor/layers.py" fake
	rm fake/monitor/wire.o
	cc -c -o fake/monitor/stray.o s.c
	atf_check -s exit:1 -o match:'stray.c is in no layer' \
	    python3 "$T/regress/monitor/layers.py" fake
}

atf_test_case names
names_head() {
	atf_set "descr" "no two of securerd, securer-worker, securer and securerctl define a function of one name but from the shared libraries"
}
names_body() {
	securer_init
	atf_check -o match:'^4 programs' python3 "$T/regress/monitor/names.py" "$B"
}

atf_init_test_cases() {
	atf_add_test_case layers
	atf_add_test_case layers_checker
	atf_add_test_case names
}
