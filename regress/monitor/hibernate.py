#!/usr/bin/env python3
"""Hibernation against a running securerd (t_hibernate.sh).

	hibernate.py CASE SOCKET STATE_DIR DAEMON_PID

Each case runs a bystander session beside it (root's `1+1` in a loop,
never an error) and checks what must hold; prints `name value` lines
of what it measured; exits 1 with the reason when something did not."""

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

HELLO = {"op": "hello", "version": 1}

# The state a session builds, and the checks that it came back whole.
SETUP = r"""
x <- c(a = 1.5, b = NA, c = -0)
df <- data.frame(n = 1:3, s = c("p", "q", "r"), stringsAsFactors = TRUE)
l <- list(1L, "two", list(three = 3))
f <- function(a) a + x[["a"]]
library(stats4)
set.seed(7); invisible(runif(3))
saved <- .Random.seed; want <- runif(2); assign(".Random.seed", saved, globalenv())
dir.create("sub"); setwd("sub"); writeLines(c("hello", "world"), "note.txt")
"""

CHECK = r"""
stopifnot(identical(x, c(a = 1.5, b = NA, c = -0)), identical(1 / x[["c"]], -Inf),
    identical(df, data.frame(n = 1:3, s = c("p", "q", "r"), stringsAsFactors = TRUE)),
    identical(l, list(1L, "two", list(three = 3))), f(1) == 2.5,
    "package:stats4" %in% search(), identical(runif(2), want),
    basename(getwd()) == "sub", identical(readLines("note.txt"), c("hello", "world")))
"state ok"
"""


def fail(why):
    print("FAIL", why, flush=True)
    sys.exit(1)


class Client:
    """One connection, its requests answered in order."""

    def __init__(self, path, hello=HELLO):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(60)
        self.s.connect(path)
        self.buf, self.next = b"", 1
        self.ok(hello, "hello")

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, req):
        req = dict(req, id=self.next)
        self.next += 1
        self.s.sendall(json.dumps(req).encode() + b"\n")
        while True:
            r = self.recv()
            if r.get("id") == req["id"] and ("ok" in r):
                return r

    def ok(self, req, what):
        r = self.call(req)
        if not r["ok"]:
            fail(f"{what}: {r['error']}")
        return r

    def session(self, **extra):
        return self.ok(dict({"op": "session.create"}, **extra),
                       "session.create")["session"]

    def execute(self, sid, code):
        return self.call({"op": "execute", "session": sid, "code": code})

    def state(self, sid):
        r = self.ok({"op": "status", "session": sid}, "status")
        return r["sessions"][0]["state"]

    def close(self):
        self.s.close()


# At least this many of the bystander's executions, whose median must
# stay under this (seconds): a loaded 2-CPU host, an ASan build.
BYSTANDER_RUNS = 30
BYSTANDER_MEDIAN = 0.1


class Bystander(threading.Thread):
    """Root's `1+1`, in a loop, on its own session."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.c = Client(path)
        self.sid = self.c.session()
        self.stop, self.errors, self.times = False, [], []

    def run(self):
        while not self.stop:
            t0 = time.monotonic()
            r = self.c.execute(self.sid, "1+1")
            self.times.append(time.monotonic() - t0)
            if not r["ok"] or r["value"]["value"] != [2]:
                self.errors.append(r)
            time.sleep(0.01)

    def end(self):
        # Enough runs to say what its executions take beside the case.
        deadline = time.monotonic() + 30
        while len(self.times) < BYSTANDER_RUNS and time.monotonic() < deadline:
            time.sleep(0.05)
        self.stop = True
        self.join(30)
        if self.errors:
            fail(f"the bystander noticed: {self.errors[0]}")
        if not self.times:
            fail("the bystander ran nothing")
        print("bystander_runs", len(self.times))
        median = statistics.median(self.times)
        print("bystander_median_ms", round(median * 1000, 2))
        if median > BYSTANDER_MEDIAN:
            fail(f"the bystander's median was {median * 1000:.1f} ms")


def hibernate(c, sid):
    r = c.ok({"op": "session.hibernate", "session": sid}, "hibernate")
    if not r.get("hibernated") or r.get("bytes", 0) <= 0:
        fail(f"hibernate said {r}")
    return r


def resumed_value(c, sid, code, want):
    r = c.execute(sid, code)
    if not r["ok"]:
        fail(f"the resumed execution failed: {r['error']}")
    if r["value"]["value"] != [want]:
        fail(f"the resumed execution gave {r['value']}")
    if "resumed" not in r:
        fail(f"the reply does not say it resumed: {r}")
    return r


DAEMON = 0


def session_workers():
    """The broker's children running as worker uids, not ready ones
    (daemon.subr's worker_pids)."""
    out = subprocess.run(["pgrep", "-P", str(DAEMON)], capture_output=True,
                         text=True).stdout.split()
    n = 0
    for p in out:
        try:
            uid = os.stat(f"/proc/{p}").st_uid
            with open(f"/proc/{p}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if uid >= 200000 and comm != "securer-ready":
            n += 1
    return n


def wait_workers(n, what):
    deadline = time.monotonic() + 10
    while session_workers() != n:
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}: {session_workers()} "
                 f"session workers, not {n}")
        time.sleep(0.05)


def gone(path, what):
    deadline = time.monotonic() + 5
    while os.path.exists(path):
        if time.monotonic() > deadline:
            fail(f"{what} is still on disk")
        time.sleep(0.01)


def snap_path(state_dir, sid):
    return os.path.join(state_dir, sid + ".snap")


def case_state(path, state_dir):
    """The state comes back whole; the worker is freed meanwhile."""
    c = Client(path)
    sid = c.session()
    r = c.execute(sid, SETUP)
    if not r["ok"]:
        fail(f"the setup failed: {r['error']}")
    wait_workers(2, "the two sessions' workers")
    h = hibernate(c, sid)
    if c.state(sid) != "hibernated":
        fail(f"status says {c.state(sid)}")
    if not os.path.exists(snap_path(state_dir, sid)):
        fail("no snapshot on disk")
    print("hibernate_ms", h["ms"])
    print("snapshot_bytes", h["bytes"])
    wait_workers(1, "the hibernated session's worker to go")
    r = resumed_value(c, sid, CHECK, "state ok")
    print("resume_ms", r["resumed"]["ms"])
    if c.state(sid) != "idle":
        fail(f"after the resume status says {c.state(sid)}")
    gone(snap_path(state_dir, sid), "the snapshot of a resumed session")
    # Hibernated twice: the state goes on from where it was.
    c.ok({"op": "execute", "session": sid, "code": "y <- runif(1); TRUE"},
         "execute")
    hibernate(c, sid)
    resumed_value(c, sid, "is.numeric(y) && f(0) == 1.5", True)
    c.close()


def corrupt(state_dir, sid, how):
    p = snap_path(state_dir, sid)
    with open(p, "r+b") as f:
        data = f.read()
        if how == "flip":
            i = len(data) // 2
            f.seek(i)
            f.write(bytes([data[i] ^ 0x40]))
        elif how == "truncate":
            f.truncate(len(data) - 7)


def expect_refused(c, sid, code):
    r = c.execute(sid, "exists('x')")
    if r["ok"]:
        fail(f"a {code} snapshot was restored: {r}")
    if r["error"]["code"] != code:
        fail(f"wanted {code}, got {r['error']}")
    # The session goes on, empty.
    r = c.execute(sid, "exists('x')")
    if not r["ok"] or r["value"]["value"] != [False]:
        fail(f"after the refusal the session gave {r}")


def case_tamper(path, state_dir):
    """Edited, truncated and swapped snapshots are refused."""
    c = Client(path)
    sids = []
    for _ in range(4):
        sid = c.session()
        c.ok({"op": "execute", "session": sid, "code": "x <- 1; TRUE"},
             "execute")
        hibernate(c, sid)
        sids.append(sid)
    corrupt(state_dir, sids[0], "flip")
    expect_refused(c, sids[0], "snapshot_tampered")
    corrupt(state_dir, sids[1], "truncate")
    expect_refused(c, sids[1], "snapshot_tampered")
    os.replace(snap_path(state_dir, sids[2]), snap_path(state_dir, sids[3]))
    expect_refused(c, sids[3], "snapshot_tampered")
    expect_refused(c, sids[2], "snapshot_missing")
    c.close()


def case_oversize(path, state_dir):
    """Over snapshot-size: refused, and the session goes on as it was."""
    c = Client(path)
    sid = c.session()
    c.ok({"op": "execute", "session": sid,
          "code": "x <- rnorm(2e5); TRUE"}, "execute")
    r = c.call({"op": "session.hibernate", "session": sid})
    if r["ok"] or r["error"]["code"] != "snapshot_too_large":
        fail(f"an oversize snapshot: {r}")
    if c.state(sid) != "idle":
        fail(f"after the refusal status says {c.state(sid)}")
    r = c.execute(sid, "length(x)")
    if not r["ok"] or r["value"]["value"] != [200000]:
        fail(f"the session lost its state: {r}")
    # Under snapshot-size but over the session's fsize: the memfd the
    # worker writes is a file, and says so.
    sid = c.session(limits={"fsize": 200000})
    c.ok({"op": "execute", "session": sid,
          "code": "x <- rnorm(4e4); TRUE"}, "execute")
    r = c.call({"op": "session.hibernate", "session": sid})
    if r["ok"] or r["error"]["code"] != "snapshot_too_large" or \
            "fsize" not in r["error"]["message"]:
        fail(f"a snapshot over fsize: {r}")
    r = c.execute(sid, "length(x)")
    if not r["ok"] or r["value"]["value"] != [40000]:
        fail(f"the session lost its state: {r}")
    c.close()


def case_quota(path, state_dir):
    """Past snapshot-quota: refused; closing a session frees its share."""
    c = Client(path)
    code = "x <- runif(2e4); TRUE"	# about 160 kB a snapshot
    a, b = c.session(), c.session()
    for sid in (a, b):
        c.ok({"op": "execute", "session": sid, "code": code}, "execute")
    hibernate(c, a)
    r = c.call({"op": "session.hibernate", "session": b})
    if r["ok"] or r["error"]["code"] != "snapshot_quota":
        fail(f"past the quota: {r}")
    c.ok({"op": "session.close", "session": a}, "close")
    # The broker deletes it after the close's reply, before what the
    # monitor asks of it next.
    gone(snap_path(state_dir, a), "a closed session's snapshot")
    hibernate(c, b)
    resumed_value(c, b, "length(x)", 20000)
    c.close()


def case_after(path, state_dir):
    """hibernate-after: an idle session sleeps by itself, and wakes."""
    c = Client(path)
    sid = c.session()
    c.ok({"op": "execute", "session": sid, "code": "x <- 99; TRUE"},
         "execute")
    deadline = time.monotonic() + 20
    while c.state(sid) != "hibernated":
        if time.monotonic() > deadline:
            fail(f"still {c.state(sid)} after 20 s")
        time.sleep(0.1)
    resumed_value(c, sid, "x", 99)
    c.close()


def case_capacity(path, state_dir):
    """A hibernated session holds no capacity; resuming takes it again."""
    c = Client(path)
    a = c.session()
    c.ok({"op": "execute", "session": a, "code": "x <- 5; TRUE"}, "execute")
    r = c.call({"op": "session.create"})
    if r["ok"] or r["error"]["code"] != "capacity_exhausted":
        fail(f"a second session at capacity 1: {r}")
    hibernate(c, a)
    b = c.session()
    r = c.execute(a, "x")
    if r["ok"] or r["error"]["code"] != "capacity_exhausted":
        fail(f"a resume past the capacity: {r}")
    if c.state(a) != "hibernated":
        fail(f"refused, it is {c.state(a)}")
    c.ok({"op": "session.close", "session": b}, "close")
    resumed_value(c, a, "x", 5)
    c.close()


def case_thousand(path, state_dir):
    """1,000 sessions hibernated hold no worker; each resumes on demand."""
    n = 1000
    c = Client(path)
    sids = []
    for i in range(n):
        sid = c.session()
        c.ok({"op": "execute", "session": sid, "code": f"x <- {i}; TRUE"},
             "execute")
        hibernate(c, sid)
        sids.append(sid)
    wait_workers(1, "the hibernated sessions' workers to go")
    times, errors = [], 0
    for i, sid in enumerate(sids):
        r = c.execute(sid, "x")
        if not r["ok"] or r["value"]["value"] != [i] or "resumed" not in r:
            errors += 1
            print("error", r)
            continue
        times.append(r["resumed"]["ms"])
        c.ok({"op": "session.close", "session": sid}, "close")
    print("resumed", len(times), "errors", errors)
    times.sort()
    print("resume_median_ms", round(statistics.median(times), 1))
    print("resume_p99_ms", round(times[int(len(times) * 0.99)], 1))
    if errors:
        fail(f"{errors} of {n} resumes failed")
    c.close()


def fork(c, sid):
    r = c.ok({"op": "session.fork", "session": sid}, "fork")
    if not r.get("hibernated") or r.get("forked_from") != sid or \
            r.get("bytes", 0) <= 0 or r.get("session") == sid:
        fail(f"fork said {r}")
    return r


def status_of(c, sid):
    return c.ok({"op": "status", "session": sid}, "status")["sessions"][0]


def value_of(c, sid, code):
    r = c.execute(sid, code)
    if not r["ok"]:
        fail(f"{code}: {r['error']}")
    return r["value"]["value"]


def case_fork(path, state_dir):
    """A fork has the source's state; the two then change independently,
    both ways; a hibernated source forks from its snapshot."""
    c = Client(path)
    a = c.session()
    r = c.execute(a, SETUP)
    if not r["ok"]:
        fail(f"the setup failed: {r['error']}")
    f = fork(c, a)
    b = f["session"]
    print("fork_ms", f["ms"])
    print("fork_bytes", f["bytes"])
    st = status_of(c, b)
    if st["state"] != "hibernated" or st.get("forked_from") != a:
        fail(f"the fork's status: {st}")
    if c.state(a) != "idle":
        fail(f"the source after the fork: {c.state(a)}")
    if not os.path.exists(snap_path(state_dir, b)):
        fail("no snapshot of the fork on disk")
    # The fork holds no worker until it runs: the bystander's and a's.
    wait_workers(2, "the source's and the bystander's workers")
    # Both continue from the same state: the same RNG stream too.
    r = resumed_value(c, b, CHECK, "state ok")
    print("fork_resume_ms", r["resumed"]["ms"])
    resumed = c.execute(a, CHECK)
    if not resumed["ok"] or resumed["value"]["value"] != ["state ok"]:
        fail(f"the source after the fork: {resumed}")
    if "resumed" in resumed:
        fail("the source was resumed: it never slept")
    gone(snap_path(state_dir, b), "the snapshot of a resumed fork")
    wait_workers(3, "the fork's own worker")
    # Independent both ways.
    if value_of(c, b, "x[['a']] <- 10; x[['a']]") != [10]:
        fail("the fork did not change")
    if value_of(c, a, "x[['a']]") != [1.5]:
        fail("a change in the fork showed in the source")
    if value_of(c, a, "x[['a']] <- 20; x[['a']]") != [20]:
        fail("the source did not change")
    if value_of(c, b, "x[['a']]") != [10]:
        fail("a change in the source showed in the fork")
    if value_of(c, b, "basename(getwd())") != ["sub"]:
        fail("the fork is not in its working directory")
    # The files are each their own.
    value_of(c, b, "writeLines('b', 'note.txt'); TRUE")
    if value_of(c, a, "readLines('note.txt')") != ["hello", "world"]:
        fail("a file written in the fork showed in the source")
    # A hibernated source: its snapshot copied; it stays hibernated.
    hibernate(c, a)
    f2 = fork(c, a)
    d = f2["session"]
    print("fork_hibernated_ms", f2["ms"])
    if c.state(a) != "hibernated":
        fail(f"the hibernated source after the fork: {c.state(a)}")
    resumed_value(c, d, "x[['a']]", 20)
    resumed_value(c, a, "x[['a']]", 20)
    # A fork of a fork.
    e = fork(c, d)["session"]
    resumed_value(c, e, "x[['a']] + 1", 21)
    for sid in (a, b, d, e):
        c.ok({"op": "session.close", "session": sid}, "close")
    c.close()


def case_fork_refused(path, state_dir):
    """A busy source, the sessions limit, snapshot-size and a tampered
    snapshot refuse a fork, and the source goes on as it was; a client
    gone mid-fork and a source closed mid-fork leave nothing behind."""
    c = Client(path)
    a = c.session()
    c.ok({"op": "execute", "session": a, "code": "x <- 7; TRUE"}, "execute")
    # Busy: an execution runs in it.
    c.s.sendall(json.dumps({"op": "execute", "session": a, "id": 900,
                            "code": "Sys.sleep(1); TRUE"}).encode() + b"\n")
    time.sleep(0.2)
    r = c.call({"op": "session.fork", "session": a})
    if r["ok"] or r["error"]["code"] != "session_busy":
        fail(f"a fork of a busy session: {r}")
    while c.recv().get("id") != 900:
        pass
    # The sessions limit (3 here: the bystander's, a, and one fork).
    b = fork(c, a)["session"]
    r = c.call({"op": "session.fork", "session": a})
    if r["ok"] or r["error"]["code"] != "too_many_sessions":
        fail(f"a fork past the sessions limit: {r}")
    c.ok({"op": "session.close", "session": b}, "close")
    # Over snapshot-size: the source keeps its worker and its state.
    c.ok({"op": "execute", "session": a, "code": "y <- rnorm(2e5); TRUE"},
         "execute")
    r = c.call({"op": "session.fork", "session": a})
    if r["ok"] or r["error"]["code"] != "snapshot_too_large":
        fail(f"an oversize fork: {r}")
    if value_of(c, a, "length(y) + x") != [200007]:
        fail("the source lost its state")
    if len(status(c)) != 1:
        fail(f"a refused fork left a session: {status(c)}")
    # A tampered snapshot is not copied.
    c.ok({"op": "execute", "session": a, "code": "rm(y); TRUE"}, "execute")
    hibernate(c, a)
    corrupt(state_dir, a, "flip")
    r = c.call({"op": "session.fork", "session": a})
    if r["ok"] or r["error"]["code"] != "snapshot_tampered":
        fail(f"a fork of a tampered snapshot: {r}")
    expect_refused(c, a, "snapshot_tampered")
    # The source closed as it forks: the fork fails or was made; either
    # way no snapshot is left once the sessions are closed.
    c.ok({"op": "execute", "session": a, "code": "x <- 8; TRUE"}, "execute")
    c.s.sendall((json.dumps({"op": "session.fork", "session": a, "id": 901})
                 + "\n" + json.dumps({"op": "session.close", "session": a,
                                      "id": 902}) + "\n").encode())
    got = {}
    while len(got) < 2:
        r = c.recv()
        if r.get("id") in (901, 902):
            got[r["id"]] = r
    if not got[902]["ok"]:
        fail(f"the close: {got[902]}")
    if not got[901]["ok"] and got[901]["error"]["code"] != "closed":
        fail(f"the fork of a session closed under it: {got[901]}")
    for s in status(c):
        c.ok({"op": "session.close", "session": s["session"]}, "close")
    # A client gone as its fork is made.
    c2 = Client(path)
    e = c2.session()
    c2.ok({"op": "execute", "session": e, "code": "z <- 1; TRUE"},
          "execute")
    c2.s.sendall(json.dumps({"op": "session.fork", "session": e,
                             "id": 903}).encode() + b"\n")
    c2.close()
    deadline = time.monotonic() + 10
    while [f for f in os.listdir(state_dir) if f.endswith(".snap")]:
        if time.monotonic() > deadline:
            fail(f"snapshots left: {os.listdir(state_dir)}")
        time.sleep(0.05)
    c.close()


def case_kept(path, state_dir):
    """A named session outlives its connection, hibernated, for its owner
    to attach again; names are unique per owner; an attached one is not
    another connection's to take."""
    c = Client(path)
    a = c.session(name="work")
    c.ok({"op": "execute", "session": a, "code": "x <- 41; TRUE"},
         "execute")
    r = c.call({"op": "session.create", "name": "work"})
    if r["ok"] or r["error"]["code"] != "name_in_use":
        fail(f"a second session named work: {r}")
    c2 = Client(path)
    r = c2.call({"op": "session.attach", "name": "work"})
    if r["ok"] or r["error"]["code"] != "session_in_use":
        fail(f"an attach of a session on another connection: {r}")
    c.close()
    # Kept: hibernated; its worker goes.
    deadline = time.monotonic() + 10
    while not os.path.exists(snap_path(state_dir, a)):
        if time.monotonic() > deadline:
            fail("the kept session was not hibernated")
        time.sleep(0.02)
    wait_workers(1, "the kept session's worker to go")
    r = c2.ok({"op": "session.attach", "name": "work"}, "attach")
    if r["session"] != a or r["name"] != "work":
        fail(f"attach said {r}")
    resumed_value(c2, a, "x + 1", 42)
    st = status_of(c2, a)
    if st.get("name") != "work" or st["state"] != "idle":
        fail(f"the attached session's status: {st}")
    # Attached again right after its connection went (still saving):
    # the request waits for the save, then resumes.
    c2.close()
    c3 = Client(path)
    r = c3.ok({"op": "session.attach", "session": a}, "attach by id")
    resumed_value(c3, a, "x + 2", 43)
    # Unnamed sessions go with their connection as before.
    u = c3.session()
    c3.ok({"op": "session.close", "session": a}, "close")
    r = c3.call({"op": "session.attach", "name": "work"})
    if r["ok"] or r["error"]["code"] != "no_such_session":
        fail(f"an attach of a closed session: {r}")
    r = c3.call({"op": "session.attach", "name": "work", "session": u})
    if r["ok"] or r["error"]["code"] != "bad_request":
        fail(f"an attach by name and id: {r}")
    r = c3.call({"op": "session.create", "name": "-x"})
    if r["ok"] or r["error"]["code"] != "bad_request":
        fail(f"a bad name: {r}")
    c3.close()
    gone(snap_path(state_dir, a), "a closed session's snapshot")


def case_retention(path, state_dir):
    """A kept session past retention is closed, its snapshot deleted."""
    c = Client(path)
    a = c.session(name="brief")
    c.ok({"op": "execute", "session": a, "code": "x <- 1; TRUE"}, "execute")
    c.close()
    deadline = time.monotonic() + 10
    while not os.path.exists(snap_path(state_dir, a)):
        if time.monotonic() > deadline:
            fail("the kept session was not hibernated")
        time.sleep(0.02)
    gone_after = time.monotonic() + 10
    while os.path.exists(snap_path(state_dir, a)):
        if time.monotonic() > gone_after:
            fail("the kept session outlived its retention")
        time.sleep(0.05)
    c2 = Client(path)
    r = c2.call({"op": "session.attach", "name": "brief"})
    if r["ok"] or r["error"]["code"] != "no_such_session":
        fail(f"an attach past retention: {r}")
    c2.close()


def status(c):
    return c.ok({"op": "status"}, "status")["sessions"]


CASES = {"state": case_state, "tamper": case_tamper,
         "oversize": case_oversize, "quota": case_quota,
         "after": case_after, "capacity": case_capacity,
         "thousand": case_thousand, "fork": case_fork,
         "fork_refused": case_fork_refused, "kept": case_kept,
         "retention": case_retention}


def main():
    global DAEMON
    case, path, state_dir = sys.argv[1:4]
    DAEMON = int(sys.argv[4])
    bystander = None
    if case != "capacity":
        bystander = Bystander(path)
        bystander.start()
    CASES[case](path, state_dir)
    if bystander is not None:
        bystander.end()
    print("PASS", case)


if __name__ == "__main__":
    main()
