#!/usr/bin/env python3
"""Hostile tenants against a running securerd, with a bystander.

	tenants.py SOCKET MONITOR_PID ATTACK [ARGS]	as root: runs the
		bystander (root, `1+1` in a loop), starts the attack as user
		nobody (or as root where the attack is sandboxed code), and
		checks that the bystander never noticed and that the
		monitor's fds and memory come back.
	tenants.py --attack ATTACK SOCKET [ARGS]	the attacker itself.

Prints what it measured, one `name value` per line; exits 1 with the
reason when something that must hold did not."""

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

HELLO = b'{"id":1,"op":"hello","version":1}\n'
# How much the monitor may grow during each attack, in kB.
PEAK_KB = {"idle": 64 << 10, "lines": 32 << 10, "budget": 128 << 10,
           "flood": 32 << 10}
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def fail(why):
    print("FAIL", why, flush=True)
    sys.exit(1)


def connect(path, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


class Lines:
    """JSON lines over a socket."""

    def __init__(self, s):
        self.s, self.buf = s, b""

    def send(self, obj):
        self.s.sendall(json.dumps(obj).encode() + b"\n")

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def final(self, rid):
        while True:
            r = self.recv()
            if r.get("id") == rid and "ok" in r:
                return r


def session(path):
    c = Lines(connect(path))
    c.send({"id": 1, "op": "hello", "version": 1})
    if not c.final(1)["ok"]:
        fail("hello refused")
    c.send({"id": 2, "op": "session.create"})
    r = c.final(2)
    if not r["ok"]:
        fail("session.create: %s" % r)
    return c, r["session"]


def execute(c, sid, code, rid=3, **kw):
    req = {"id": rid, "op": "execute", "session": sid, "code": code}
    req.update(kw)
    c.send(req)
    return c.final(rid)


class Bystander(threading.Thread):
    """Root's client: `1+1` in a loop on a session of its own."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.stop, self.times, self.errors = path, False, [], []
        self.c, self.sid = session(path)
        execute(self.c, self.sid, "1+1")

    def run(self):
        rid = 10
        while not self.stop:
            rid += 1
            t = time.monotonic()
            try:
                r = execute(self.c, self.sid, "1+1", rid)
            except (OSError, EOFError, ValueError) as e:
                self.errors.append(repr(e))
                return
            self.times.append(time.monotonic() - t)
            if not r.get("ok") or r["value"]["value"] != [2]:
                self.errors.append(json.dumps(r))
            time.sleep(0.01)


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """The monitor's largest RSS while the attack runs."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.stop, self.peak = pid, False, 0

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_kb(self.pid))
            time.sleep(0.02)


def attacker(name, path, args, as_nobody=True):
    # The system's Python: one under root's home is not nobody's to run.
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
        else sys.executable
    cmd = [python, os.path.abspath(__file__), "--attack", name, path] + args
    if as_nobody:
        cmd = NOBODY + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def settle(pid, fds0, rss0, rss_slack_kb):
    """fds back to where they were, RSS near it, within 20 s."""
    for _ in range(200):
        if nfds(pid) <= fds0 and rss_kb(pid) <= rss0 + rss_slack_kb:
            return
        time.sleep(0.1)
    fail("monitor did not come back: %d fds (was %d), %d kB (was %d)" %
         (nfds(pid), fds0, rss_kb(pid), rss0))


def supervise(path, pid, name, args):
    by = Bystander(path)
    time.sleep(0.3)
    fds0, rss0 = nfds(pid), rss_kb(pid)
    sampler = Sampler(pid)
    by.start()
    sampler.start()
    out = attacker(name, path, args, as_nobody=name != "flood")
    sys.stdout.write(out.stdout)
    if out.returncode != 0:
        fail("attacker: %s %s" % (out.stdout, out.stderr))
    # A connection of root's own, while nothing else is going on.
    t = time.monotonic()
    c = Lines(connect(path))
    c.send({"id": 1, "op": "hello", "version": 1})
    if not c.final(1)["ok"]:
        fail("root's hello after the attack")
    print("root_hello_ms %.1f" % ((time.monotonic() - t) * 1e3))
    c.s.close()
    # Enough runs to have a median, the attack's included.
    t = time.monotonic()
    while len(by.times) < 20 and time.monotonic() - t < 10:
        time.sleep(0.1)
    by.stop = True
    by.join(30)
    sampler.stop = True
    if by.errors:
        fail("the bystander noticed: %s" % by.errors[:3])
    if len(by.times) < 5:
        fail("the bystander ran only %d executions" % len(by.times))
    med = statistics.median(by.times) * 1e3
    print("bystander_runs %d" % len(by.times))
    print("bystander_median_ms %.2f" % med)
    print("bystander_max_ms %.2f" % (max(by.times) * 1e3))
    if med >= 50:
        fail("bystander median %.1f ms" % med)
    print("monitor_rss_kb_before %d" % rss0)
    print("monitor_rss_kb_peak %d" % sampler.peak)
    if sampler.peak > rss0 + PEAK_KB[name]:
        fail("the monitor grew by %d kB" % (sampler.peak - rss0))
    by.c.s.close()
    settle(pid, fds0, rss0, 16 * 1024)
    print("monitor_fds_after %d (before %d)" % (nfds(pid), fds0))
    print("monitor_rss_kb_after %d" % rss_kb(pid))


# The attacks, run as the attacker.

def refused_line(s):
    """The line the daemon sent a connection, or None."""
    s.setblocking(False)
    try:
        return s.recv(4096)
    except BlockingIOError:
        return None


def attack_idle(path, args):
    """Connections that never say hello, until refused."""
    held, refused = [], None
    while refused is None and len(held) < int(args[0]):
        batch = []
        for _ in range(50):
            try:
                batch.append(connect(path, 2))
            except OSError as e:
                fail("connect failed instead of a refusal: %s" % e)
        time.sleep(0.3)	# the daemon's answer, if any, has come
        for s in batch:
            line = refused_line(s)
            if line is None:
                held.append(s)
            else:
                refused = refused or line
                s.close()
    if refused is None:
        fail("never refused after %d connections" % len(held))
    r = json.loads(refused)
    print("idle_held %d" % len(held))
    print("idle_refusal %s" % r["error"]["code"])
    if r["error"]["code"] != "too_many_connections":
        fail("refused with %s" % refused)
    # The deadline: each held one is told and closed by the daemon.
    t = time.monotonic()
    s = held[0]
    s.setblocking(True)
    s.settimeout(30)
    line = s.recv(4096)
    print("hello_timeout_s %.1f" % (time.monotonic() - t))
    if b"hello_timeout" not in line:
        fail("a held connection got %r" % line)


def attack_lines(path, args):
    """Many connections each sending 8 MiB without a newline."""
    n, size = int(args[0]), 8 << 20
    chunk = b"x" * 65536
    codes = {}
    for _ in range(n):
        s = connect(path, 5)
        sent = 0
        try:
            while sent < size:
                sent += s.send(chunk)
        except OSError:
            pass
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        code = json.loads(data)["error"]["code"] if data else "closed"
        codes[code] = codes.get(code, 0) + 1
        s.close()
    print("lines_outcomes %s" % json.dumps(codes, sort_keys=True))
    if set(codes) != {"too_large"}:
        fail("a long line before hello was not refused as too_large")


def attack_budget(path, args):
    """After hello: partial lines of 8 MiB on many connections."""
    n, size = int(args[0]), 8 << 20
    chunk = b'{"id":2,"op":"status","x":"' + b"y" * 65000
    conns, codes = [], {}
    for _ in range(n):
        s = connect(path, 5)
        s.sendall(HELLO)
        Lines(s).final(1)
        sent = 0
        s.settimeout(0.5)
        try:
            while sent < size - len(chunk):
                sent += s.send(chunk)
        except OSError:
            pass
        conns.append(s)
    for s in conns:
        s.settimeout(5)
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        code = json.loads(data.split(b"\n")[0])["error"]["code"] \
            if data else "none"
        codes[code] = codes.get(code, 0) + 1
        s.close()
    print("budget_outcomes %s" % json.dumps(codes, sort_keys=True))
    if codes.get("over_budget", 0) == 0:
        fail("no connection was over its budget")


def attack_flood(path, args):
    """Sandboxed code calls an unknown tool through the native entry."""
    n = int(args[0])
    c, sid = session(path)
    code = ('f <- getNativeSymbolInfo("securer_tool_call", "(embedding)");'
            'for (i in seq_len(%d)) try(.Call(f, "nosuch", list()), '
            'silent = TRUE); 7' % n)
    r = execute(c, sid, code, timeout=120)
    print("flood_reply %s" % (r.get("error", {}).get("code") or "ok"))


def main():
    if sys.argv[1] == "--attack":
        name, path, args = sys.argv[2], sys.argv[3], sys.argv[4:]
        globals()["attack_" + name](path, args)
        return
    supervise(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:])


if __name__ == "__main__":
    main()
