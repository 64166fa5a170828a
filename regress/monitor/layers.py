#!/usr/bin/env python3
"""The monitor's layers, checked on its objects (DESIGN.md, "The
monitor"): each file calls into its own layer or those below, and no
files call each other round in a cycle.  An edge A -> B is a symbol A
uses that B defines (nm).  Exit 0, or 1 with each offence named.

	layers.py BUILD_DIR"""

import os
import subprocess
import sys

LAYERS = {
    5: "monitor sandbox",
    4: "client pool control metrics",
    3: "core workermsg brokermsg",
    2: "session exec fileop toolcall plots worker spare audit policy "
       "hibernate",
    1: "wire conn connlimit msgends reply frame held defer idle stats "
       "tools sanitize",
}
LAYER_NAMES = {5: "process", 4: "front ends", 3: "core",
               2: "core records and services", 1: "wire"}


def symbols(obj):
    out = subprocess.run(["nm", obj], capture_output=True, text=True,
                         check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "TDBR":
            defined.add(f[2])
        elif len(f) == 2 and f[0] == "U":
            used.add(f[1])
    return defined, used


def main():
    objdir = os.path.join(sys.argv[1], "monitor")
    layer = {n: l for l, names in LAYERS.items() for n in names.split()}
    objs = sorted(f[:-2] for f in os.listdir(objdir) if f.endswith(".o"))
    bad = [o for o in objs if o not in layer]
    for o in bad:
        print(f"{o}.c is in no layer")
    defs, uses = {}, {}
    for o in objs:
        defs[o], uses[o] = symbols(os.path.join(objdir, o + ".o"))
    owner = {s: o for o in objs for s in defs[o]}
    edges = {o: sorted({owner[s] for s in uses[o] if s in owner} - {o})
             for o in objs}
    for a in objs:
        for b in edges[a]:
            if a in layer and b in layer and layer[b] > layer[a]:
                syms = sorted(s for s in uses[a] if owner.get(s) == b)
                print(f"{a}.c ({LAYER_NAMES[layer[a]]}) calls up into "
                      f"{b}.c ({LAYER_NAMES[layer[b]]}): {', '.join(syms)}")
                bad.append(a)
    # Cycles: a depth-first search over the files.
    state = {}

    def visit(o, path):
        state[o] = 1
        for b in edges[o]:
            if state.get(b) == 1:
                print("a cycle: " + " -> ".join(path[path.index(b):] +
                                                [o, b]) + " (.c)")
                bad.append(o)
            elif b not in state:
                visit(b, path + [o])
        state[o] = 2

    for o in objs:
        if o not in state:
            visit(o, [])
    n = sum(len(e) for e in edges.values())
    print(f"{len(objs)} files, {n} edges between them")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
