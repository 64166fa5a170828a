#!/usr/bin/env python3
"""No two programs of the tree define different things under one name:
the functions (global or static) each program's own objects define are
disjoint, but for what they share from common/, rvalue/ and client/
libraries.  Exit 0, or 1 naming each name and where.

	names.py BUILD_DIR"""

import glob
import os
import subprocess
import sys

PROGRAMS = {
    "securerd": ["broker", "monitor"],
    "securer-worker": ["worker"],
    "securer": ["client"],
    "securerctl": ["ctl"],
}


def functions(obj):
    out = subprocess.run(["nm", obj], capture_output=True, text=True,
                         check=True).stdout
    # Each program's main() and usage() are its own by convention; names
    # with a dot are the compiler's parts of a function, _sub_I_/_sub_D_
    # the sanitizers' constructors and destructors of each object.
    return {f[2] for f in (l.split() for l in out.splitlines())
            if len(f) == 3 and f[1] in "Tt" and "." not in f[2] and
            not f[2].startswith(("_sub_I_", "_sub_D_")) and
            f[2] not in ("main", "usage")}


def main():
    where = {}
    for prog, dirs in PROGRAMS.items():
        for d in dirs:
            for obj in glob.glob(os.path.join(sys.argv[1], d, "*.o")):
                for name in functions(obj):
                    where.setdefault(name, set()).add(
                        (prog, os.path.relpath(obj, sys.argv[1])))
    bad = 0
    for name, places in sorted(where.items()):
        progs = {p for p, _ in places}
        if len(progs) > 1:
            print(f"{name}: " + ", ".join(sorted(o for _, o in places)))
            bad = 1
    print(f"{len(PROGRAMS)} programs, {len(where)} function names")
    return bad


if __name__ == "__main__":
    sys.exit(main())
