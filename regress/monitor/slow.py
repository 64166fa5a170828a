#!/usr/bin/env python3
"""Slow clients against a running securerd, beside a bystander.

	slow.py SOCKET MONITOR_PID flow LINES	a client that reads slowly
		gets all LINES lines of writeLines output, complete and in
		order, and is held back, not dropped; the monitor's RSS stays
		within PEAK_KB of its start; the bystander (tenants.py's) runs
		`1+1` meanwhile with no error.
	slow.py SOCKET MONITOR_PID deadline	a client that stops reading
		while its code writes: the execution's timeout still ends it.

Prints what it measured, one `name value` per line; exits 1 with the
reason when something that must hold did not."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tenants  # noqa: E402

# The monitor may grow this much while a client is held back, in kB.
PEAK_KB = 64 << 10


class SlowLines(tenants.Lines):
    """Reads CHUNK bytes at a time and sleeps PAUSE seconds after each."""

    def __init__(self, s, chunk, pause):
        super().__init__(s)
        self.chunk, self.pause, self.got = chunk, pause, 0

    def recv(self):
        while b"\n" not in self.buf:
            data = self.s.recv(self.chunk)
            if not data:
                raise EOFError("connection closed")
            self.got += len(data)
            self.buf += data
            time.sleep(self.pause)
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def flow(path, pid, nlines):
    by = tenants.Bystander(path)
    time.sleep(0.3)
    fds0, rss0 = tenants.nfds(pid), tenants.rss_kb(pid)
    sampler = tenants.Sampler(pid)
    by.start()
    sampler.start()
    c, sid = tenants.session(path)
    slow = SlowLines(c.s, 65536, 0.05)	# at most 1.3 MB/s
    c.s.settimeout(60)
    t = time.monotonic()
    slow.send({"id": 3, "op": "execute", "session": sid, "timeout": 600,
               "code": "writeLines(as.character(seq_len(%d))); 7" % nlines})
    text = []
    while True:
        try:
            r = slow.recv()
        except (OSError, EOFError) as e:
            tenants.fail("the slow client was dropped: %r after %d bytes"
                         % (e, slow.got))
        if r.get("id") != 3:
            continue
        if r.get("event") == "output":
            text.append(r["text"])
        elif r.get("event") == "truncated":
            tenants.fail("output truncated")
        elif "ok" in r:
            break
    elapsed = time.monotonic() - t
    if not r["ok"] or r["value"]["value"] != [7]:
        tenants.fail("execution: %s" % json.dumps(r)[:300])
    lines = "".join(text).split("\n")
    if lines[-1] == "":
        lines.pop()
    want = [str(i) for i in range(1, nlines + 1)]
    if lines != want:
        bad = next(i for i in range(min(len(lines), len(want)))
                   if lines[i] != want[i]) if lines[:1] == want[:1] else 0
        tenants.fail("%d lines, not %d; first wrong at %d" %
                     (len(lines), nlines, bad))
    print("slow_lines %d" % len(lines))
    print("slow_bytes %d" % slow.got)
    print("slow_elapsed_s %.1f" % elapsed)
    by.stop = True
    by.join(30)
    sampler.stop = True
    if by.errors:
        tenants.fail("the bystander noticed: %s" % by.errors[:3])
    if len(by.times) < 5:
        tenants.fail("the bystander ran only %d executions" % len(by.times))
    print("bystander_runs %d" % len(by.times))
    print("bystander_max_ms %.2f" % (max(by.times) * 1e3))
    print("monitor_rss_kb_before %d" % rss0)
    print("monitor_rss_kb_peak %d" % sampler.peak)
    if sampler.peak > rss0 + PEAK_KB:
        tenants.fail("the monitor grew by %d kB" % (sampler.peak - rss0))
    c.s.close()
    by.c.s.close()
    tenants.settle(pid, fds0, rss0, 16 * 1024)
    print("monitor_fds_after %d (before %d)" % (tenants.nfds(pid), fds0))


def deadline(path, pid):
    """Stops reading: its worker is held, and its timeout still kills."""
    fds0 = tenants.nfds(pid)
    c, sid = tenants.session(path)
    t = time.monotonic()
    c.send({"id": 3, "op": "execute", "session": sid, "timeout": 3,
            "code": "repeat writeLines(strrep('x', 1000))"})
    time.sleep(6)	# reads nothing: the worker is held meanwhile
    c.s.settimeout(60)
    while True:
        r = c.recv()
        if r.get("id") == 3 and "ok" in r:
            break
    elapsed = time.monotonic() - t
    code = r.get("error", {}).get("code")
    print("deadline_reply %s" % code)
    print("deadline_elapsed_s %.1f" % elapsed)
    if r["ok"] or code != "timeout":
        tenants.fail("a held execution was not timed out: %s" %
                     json.dumps(r)[:300])
    execute_ok = tenants.execute(c, sid, "1+1", 4)
    if not execute_ok.get("ok") and \
            execute_ok.get("error", {}).get("code") != "worker_died":
        tenants.fail("the session after the timeout: %s" %
                     json.dumps(execute_ok)[:300])
    c.s.close()
    tenants.settle(pid, fds0, tenants.rss_kb(pid), 16 * 1024)


def read_to_end(s):
    """Every byte the daemon sends until it closes the connection."""
    data = b""
    s.settimeout(60)
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            return data
        data += chunk


def dropped(path, pid, code, wait):
    """Reads nothing for wait seconds while its code writes, then all.

    Every line it gets is whole JSON, the last one the error code with
    id null, and the daemon then closes the connection."""
    fds0 = tenants.nfds(pid)
    c, sid = tenants.session(path)
    c.send({"id": 3, "op": "execute", "session": sid, "timeout": 600,
            "code": "repeat writeLines(strrep('x', 1000))"})
    time.sleep(wait)
    data = c.buf + read_to_end(c.s)
    if not data.endswith(b"\n"):
        tenants.fail("the last line is not whole: ...%r" % data[-200:])
    lines = data.split(b"\n")[:-1]
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            tenants.fail("a line that is not JSON: %r" % line[:200])
    last = json.loads(lines[-1])
    print("dropped_lines %d" % len(lines))
    print("dropped_last %s" % json.dumps(last))
    if last.get("id") is not None or last.get("ok") is not False or \
            last.get("error", {}).get("code") != code or \
            not last["error"].get("message"):
        tenants.fail("the last line is not the %s error" % code)
    if any(json.loads(x).get("error", {}).get("code") == code
           for x in lines[:-1]):
        tenants.fail("the error came before the end")
    c.s.close()
    tenants.settle(pid, fds0, tenants.rss_kb(pid), 16 * 1024)


def main():
    path, pid, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if name == "flow":
        flow(path, pid, int(sys.argv[4]))
    elif name == "deadline":
        deadline(path, pid)
    elif name == "dropped":
        dropped(path, pid, sys.argv[4], float(sys.argv[5]))
    else:
        tenants.fail("no such test %s" % name)


if __name__ == "__main__":
    main()
