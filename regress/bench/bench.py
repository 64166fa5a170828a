#!/usr/bin/python3
"""How fast the Python client is, next to the C client, in one run.

    make -f Makefile.linux bench
    /usr/bin/python3 regress/bench/bench.py [-n count] [-s socket] [--no-c]

Without -s it starts a private securerd of the build tree (default
configuration, sessions raised for securer-bench's memory row) on a
socket of its own, and stops it at the end.  It runs build/securer-bench
against that daemon first (all its rows), then times the Python client on
the same daemon:

- execute 1+1: one execution in an open Session, count times, after 100
  not timed (the C client's row 2);
- tool call: "for (i in 1:10000) echo(i)" with a tool that returns its
  argument, ten times, per call (the C client's row 3); and the same
  calls one by one, from the time between one call reaching the tool and
  the next (every round trip, so its p99 is one of 100,000 calls);
- the same two with AsyncSession;
- the client's own CPU time per execution (user and system of this
  process), steadier than wall time on a shared machine.

It prints medians and 99th percentiles in microseconds, the C client's
beside the Python client's, and their ratio.  It is not a test: nothing
fails.  Percentiles are taken as securer-bench takes them: the sorted
sample at n/2 and at n*0.99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TOP = Path(__file__).resolve().parents[2]
BUILD = TOP / "build"
sys.path.insert(0, str(TOP / "python"))

import securer  # noqa: E402

TOOL_LOOP = 10000
LOOPS = 10


def stats(t: list[float]) -> tuple[float, float]:
    s = sorted(t)
    return s[len(s) // 2] * 1e6, s[int(len(s) * 0.99)] * 1e6


def start_daemon(d: Path) -> tuple[subprocess.Popen[bytes], str]:
    sock = str(d / "securerd.sock")
    (d / "securerd.conf").write_text(f'socket "{sock}"\naudit '
                                     f'"{d}/audit.jsonl"\nsessions 1000\n')
    p = subprocess.Popen([str(BUILD / "securerd"), "-d", "-f",
                          str(d / "securerd.conf")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    for _ in range(300):
        if os.path.exists(sock):
            return p, sock
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    sys.exit("securerd did not start")


def c_bench(sock: str, n: int) -> dict[str, tuple[float, float]]:
    """securer-bench's rows: name -> (median, p99)."""
    exe = BUILD / "securer-bench"
    if not os.access(exe, os.X_OK):
        sys.exit(f"{exe} is missing: make -f Makefile.linux bench")
    r = subprocess.run([str(exe), "-s", sock, "-n", str(n), "-S", "20"],
                       capture_output=True, text=True, check=True)
    print("securer-bench (C, libsecurer), the same daemon:")
    print(r.stdout, end="")
    rows = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(\d .+?)\s{2,}([\d.]+)\s+([\d.]+)", line)
        if m:
            rows[m.group(1).strip()] = (float(m.group(2)), float(m.group(3)))
    return rows


def py_execute(sock: str, n: int) -> tuple[list[float], float]:
    """The times of n executions, and this process's CPU time (user and
    system) per execution, which the load moves less than wall time."""
    with securer.Session(sock, autostart=False) as s:
        for _ in range(100):
            s.execute("1+1")
        t = []
        c0 = os.times()
        for _ in range(n):
            t0 = time.perf_counter()
            s.execute("1+1")
            t.append(time.perf_counter() - t0)
        c1 = os.times()
        cpu = (c1.user - c0.user + c1.system - c0.system) / n
        return t, cpu


def py_tools(sock: str) -> tuple[list[float], list[float]]:
    """Per call over loops (as row 3), and each call's own round trip."""
    marks: list[float] = []

    def echo(x: Any) -> Any:
        marks.append(time.perf_counter())
        return x

    per_loop: list[float] = []
    each: list[float] = []
    with securer.Session(sock, tools=[echo], autostart=False) as s:
        s.execute("for (i in 1:1000) echo(i)")
        for _ in range(LOOPS):
            marks.clear()
            t0 = time.perf_counter()
            s.execute(f"for (i in 1:{TOOL_LOOP}) echo(i)")
            per_loop.append((time.perf_counter() - t0) / TOOL_LOOP)
            each += [b - a for a, b in zip(marks, marks[1:])]
    return per_loop, each


async def py_async(sock: str, n: int) -> tuple[list[float], list[float]]:
    marks: list[float] = []

    def echo(x: Any) -> Any:
        marks.append(time.perf_counter())
        return x

    t: list[float] = []
    loops: list[float] = []
    async with securer.AsyncSession(sock, tools=[echo],
                                    autostart=False) as s:
        for _ in range(100):
            await s.execute("1+1")
        for _ in range(n):
            t0 = time.perf_counter()
            await s.execute("1+1")
            t.append(time.perf_counter() - t0)
        for _ in range(LOOPS):
            t0 = time.perf_counter()
            await s.execute(f"for (i in 1:{TOOL_LOOP}) echo(i)")
            loops.append((time.perf_counter() - t0) / TOOL_LOOP)
    return t, loops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1000,
                    help="executions timed (default 1000)")
    ap.add_argument("-s", metavar="socket", help="a running daemon")
    ap.add_argument("--no-c", action="store_true",
                    help="leave out securer-bench")
    a = ap.parse_args()
    if a.n < 100:
        sys.exit("count must be at least 100")
    tmp = Path(tempfile.mkdtemp(prefix="securer-pybench."))
    proc = None
    try:
        if a.s:
            sock = a.s
        else:
            proc, sock = start_daemon(tmp)
        print(f"load average {os.getloadavg()[0]:.2f}, "
              f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        c = {} if a.no_c else c_bench(sock, a.n)
        ex, cpu = py_execute(sock, a.n)
        per_loop, each = py_tools(sock)
        aex, aloop = asyncio.run(py_async(sock, a.n))
        print()
        print(f"{'(microseconds)':<34} {'C median':>9} {'C p99':>9} "
              f"{'Py median':>10} {'Py p99':>9} {'ratio':>6}")

        def line(what: str, crow: str | None, t: list[float]) -> None:
            m, p = stats(t)
            cm, cp = c.get(crow or "", (0.0, 0.0))
            ratio = f"{m / cm:6.2f}" if cm else f"{'':6}"
            cs = f"{cm:9.1f} {cp:9.1f}" if cm else f"{'':9} {'':9}"
            print(f"{what:<34} {cs} {m:10.1f} {p:9.1f} {ratio}")

        line("execute 1+1", "2 execute 1+1", ex)
        line("tool call (per call, 10 loops)", "3 tool call", per_loop)
        line("tool call (each of 100,000)", None, each)
        line("async: execute 1+1", "2 execute 1+1", aex)
        line("async: tool call (10 loops)", "3 tool call", aloop)
        print(f"{'Python CPU per execute 1+1':<34} {cpu * 1e6:10.1f} us "
              "(user + system, this process)")
        print(f"load average {os.getloadavg()[0]:.2f} at the end")
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
