#!/usr/bin/env python3
"""Hibernated sessions across a daemon restart (t_restart.sh).

	restart.py STEP SOCKET STATE_DIR DAEMON_PID

A case is a few steps, each against the daemon as t_restart.sh has it
then (started, restarted, its monitor killed); what one step must pass
to the next (session ids) is in ids.json in the work directory.  The
steps after a restart run beside a bystander (hibernate.py's), which
must never notice.  Prints `name value` lines of what it measured and
exits 1 with the reason when something did not hold."""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hibernate as h  # noqa: E402
from hibernate import CHECK, SETUP, Client, fail  # noqa: E402

IDS = "ids.json"
TOKEN_HELLO = {"op": "hello", "version": 1, "token": "tok-alpha"}
HELD = []


def client(path, **kw):
    """A connection a step before a restart keeps open until the
    daemon goes: an unnamed session closes with its connection, and
    what is tested is that it does not close with the daemon."""
    c = Client(path, **kw)
    HELD.append(c)
    return c


def hold():
    """Tell t_restart.sh the step is done ("held"), then wait for the
    daemon to close the connections."""
    with open("held", "w"):
        pass
    for c in HELD:
        c.s.settimeout(120)
        try:
            while c.s.recv(65536):
                pass
        except OSError:
            pass


def save(**ids):
    with open(IDS, "w") as f:
        json.dump(ids, f)


def load():
    with open(IDS) as f:
        return json.load(f)


def attach(c, what, **by):
    t0 = time.monotonic()
    r = c.ok(dict({"op": "session.attach"}, **by), what)
    return r, time.monotonic() - t0


def refused(c, req, code, what):
    r = c.call(req)
    if r["ok"] or r["error"]["code"] != code:
        fail(f"{what}: {r}")
    return r


def value(c, sid, code):
    r = c.execute(sid, code)
    if not r["ok"]:
        fail(f"{code}: {r['error']}")
    return r


def wait_snapshot(state_dir, sid):
    deadline = time.monotonic() + 10
    while not os.path.exists(h.snap_path(state_dir, sid)):
        if time.monotonic() > deadline:
            fail(f"session {sid} was not hibernated")
        time.sleep(0.02)


# daemon_restart: named and unnamed, hibernated, then a restart.

def daemon_restart_before(path, state_dir):
    c = client(path)
    named = c.session(name="work", timeout=120, limits={"memory": 5e8},
                      tools=[{"name": "lookup", "description": "by key",
                              "args": {"key": "character", "x": None}}])
    value(c, named, SETUP)
    plain = c.session()
    value(c, plain, "z <- 'plain'; TRUE")
    fork = c.ok({"op": "session.fork", "session": named},
                "fork")["session"]
    for sid in (named, plain):
        h.hibernate(c, sid)
    save(named=named, plain=plain, fork=fork)
    # The daemon stops with this connection open: it is not a close.


def daemon_restart_after(path, state_dir):
    ids = load()
    c = Client(path)
    st = {s["session"]: s for s in h.status(c)}
    if st:
        fail(f"a new connection sees sessions it did not attach: {st}")
    r, took = attach(c, "attach by name", name="work")
    print("attach_ms", round(took * 1000, 2))
    if r["session"] != ids["named"] or r["state"] != "hibernated":
        fail(f"attach by name said {r}")
    t0 = time.monotonic()
    r = value(c, ids["named"], CHECK)
    print("resume_after_restart_ms", round((time.monotonic() - t0) * 1000,
                                           2))
    if r["value"]["value"] != ["state ok"] or "resumed" not in r:
        fail(f"the state after the restart: {r}")
    # An unnamed one by its id; a fork as its source was.
    attach(c, "attach by id", session=ids["plain"])
    if value(c, ids["plain"], "z")["value"]["value"] != ["plain"]:
        fail("the unnamed session's state after the restart")
    attach(c, "attach the fork", session=ids["fork"])
    r = value(c, ids["fork"], "f(1) + length(l)")
    if r["value"]["value"] != [5.5]:
        fail(f"the fork's state after the restart: {r['value']}")
    st = h.status_of(c, ids["named"])
    if st.get("name") != "work" or st["executions"] < 2 or \
            st["tools"] != ["lookup"]:
        fail(f"the adopted session's status: {st}")
    r = value(c, ids["named"], "deparse(args(lookup))")
    if "key" not in "".join(r["value"]["value"]):
        fail(f"the adopted session's tool: {r['value']}")
    # Each is attached once; names stay unique.
    c2 = Client(path)
    refused(c2, {"op": "session.attach", "name": "work"}, "session_in_use",
            "an attach of an attached session")
    refused(c2, {"op": "session.create", "name": "work"}, "name_in_use",
            "a second session named work")
    c2.close()
    for sid in ids.values():
        c.ok({"op": "session.close", "session": sid}, "close")
        h.gone(h.snap_path(state_dir, sid), "a closed session's snapshot")
    c.close()


# monitor_crash: the monitor dies (SIGKILL); the broker starts another.

def monitor_crash_before(path, state_dir):
    c = client(path)
    asleep = c.session(name="asleep")
    value(c, asleep, "x <- 1:10; TRUE")
    h.hibernate(c, asleep)
    live = c.session(name="live")
    value(c, live, "y <- 2; TRUE")
    save(asleep=asleep, live=live)


def monitor_crash_after(path, state_dir):
    ids = load()
    c = Client(path)
    attach(c, "attach after the monitor's death", name="asleep")
    if value(c, ids["asleep"], "sum(x)")["value"]["value"] != [55]:
        fail("the hibernated session's state after the monitor's death")
    # A live session's state died with its worker: it is not there.
    refused(c, {"op": "session.attach", "name": "live"}, "no_such_session",
            "an attach of a session that was live at the crash")
    c.ok({"op": "session.close", "session": ids["asleep"]}, "close")
    c.close()


# hibernate_all: securerctl hibernate all, idle, busy and asleep ones.

def hibernate_all_before(path, state_dir):
    c = client(path)
    idle = c.session(name="idle")
    value(c, idle, "a <- 'idle'; TRUE")
    asleep = c.session()
    value(c, asleep, "a <- 'asleep'; TRUE")
    h.hibernate(c, asleep)
    busy_c = client(path)
    busy = busy_c.session()
    value(busy_c, busy, "a <- 'busy'; TRUE")
    save(idle=idle, asleep=asleep, busy=busy)
    out = {}

    def run():
        out["r"] = busy_c.execute(busy, "Sys.sleep(1.5); a <- 'busy 2'; 7")

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    # securerctl runs now (t_restart.sh), while busy runs; its result
    # must come whole, and then the session is hibernated.
    with open("go", "w"):
        pass
    t.join(30)
    r = out.get("r")
    if r is None or not r["ok"] or r["value"]["value"] != [7]:
        fail(f"the busy session's execution beside the sweep: {r}")
    for sid in (idle, busy):
        wait_snapshot(state_dir, sid)
    for cl, sid in ((c, idle), (c, asleep), (busy_c, busy)):
        if cl.state(sid) != "hibernated":
            fail(f"session {sid} is {cl.state(sid)} after the sweep")


def hibernate_all_after(path, state_dir):
    ids = load()
    c = Client(path)
    attach(c, "attach idle", name="idle")
    for key, want in (("asleep", "asleep"), ("busy", "busy 2")):
        attach(c, f"attach {key}", session=ids[key])
    for key, want in (("idle", "idle"), ("asleep", "asleep"),
                      ("busy", "busy 2")):
        r = value(c, ids[key], "a")
        if r["value"]["value"] != [want]:
            fail(f"{key}'s state after the restart: {r['value']}")
        c.ok({"op": "session.close", "session": ids[key]}, "close")
    c.close()


# stop: hibernate-on-stop; SIGTERM while one session runs.

def stop_before(path, state_dir):
    c = client(path)
    idle = c.session(name="idle")
    value(c, idle, "b <- 'idle'; TRUE")
    busy = c.session()
    value(c, busy, "b <- 'busy'; TRUE")
    other = client(path)
    spare = other.session()
    save(idle=idle, busy=busy, spare=spare)
    out = {}

    def run():
        out["r"] = c.execute(busy, "Sys.sleep(2); b <- 'busy 2'; 8")

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    with open("go", "w"):
        pass
    # The stop is under way (t_restart.sh sent SIGTERM): nothing new.
    deadline = time.monotonic() + 10
    while True:
        r = other.execute(spare, "1")
        if not r["ok"]:
            break
        if time.monotonic() > deadline:
            fail("executions still ran during the stop")
        time.sleep(0.05)
    if r["error"]["code"] not in ("unavailable", "session_busy"):
        fail(f"an execution during the stop: {r}")
    t.join(30)
    r = out.get("r")
    if r is None or not r["ok"] or r["value"]["value"] != [8]:
        fail(f"the execution under way at the stop: {r}")


def stop_after(path, state_dir):
    ids = load()
    c = Client(path)
    attach(c, "attach idle", name="idle")
    attach(c, "attach busy", session=ids["busy"])
    attach(c, "attach spare", session=ids["spare"])
    c.ok({"op": "session.close", "session": ids["spare"]}, "close")
    for key, want in (("idle", "idle"), ("busy", "busy 2")):
        r = value(c, ids[key], "b")
        if r["value"]["value"] != [want]:
            fail(f"{key}'s state after the stop: {r['value']}")
        c.ok({"op": "session.close", "session": ids[key]}, "close")
    c.close()


# refused: an edited record; an owner the rules no longer let in.

def refused_before(path, state_dir):
    c = client(path)
    mine = c.session(name="mine")
    value(c, mine, "m <- 1; TRUE")
    h.hibernate(c, mine)
    edited = c.session(name="edited")
    value(c, edited, "m <- 2; TRUE")
    h.hibernate(c, edited)
    t = client(path, hello=TOKEN_HELLO)
    alpha = t.session(name="alpha")
    value(t, alpha, "m <- 3; TRUE")
    h.hibernate(t, alpha)
    save(mine=mine, edited=edited, alpha=alpha)


def refused_after(path, state_dir):
    ids = load()
    c = Client(path)
    attach(c, "attach mine", name="mine")
    if value(c, ids["mine"], "m")["value"]["value"] != [1]:
        fail("the untouched session's state")
    refused(c, {"op": "session.attach", "name": "edited"},
            "no_such_session", "an attach of an edited snapshot's session")
    refused(c, {"op": "session.attach", "session": ids["alpha"]},
            "no_such_session", "an attach of another identity's session")
    c.ok({"op": "session.close", "session": ids["mine"]}, "close")
    c.close()
    h.gone(h.snap_path(state_dir, ids["alpha"]),
           "the snapshot of a session whose owner is not let in")


# retention: it counts from the store, across the restart.

def retention_before(path, state_dir):
    c = client(path)
    brief = c.session(name="brief")
    value(c, brief, "r <- 1; TRUE")
    h.hibernate(c, brief)
    save(brief=brief)


def retention_after(path, state_dir):
    ids = load()
    snap = h.snap_path(state_dir, ids["brief"])
    c = Client(path)
    st = {s["session"]: s for s in h.status(c)}
    if ids["brief"] in st:
        fail("a kept session on a new connection's status")
    deadline = time.monotonic() + 10
    while os.path.exists(snap):
        if time.monotonic() > deadline:
            fail("the adopted session outlived its retention")
        time.sleep(0.05)
    refused(c, {"op": "session.attach", "name": "brief"}, "no_such_session",
            "an attach past retention")
    c.close()


# thousand: 1,000 hibernated sessions across a restart.

THOUSAND = 1000


def thousand_before(path, state_dir):
    c = client(path)
    sids = []
    for i in range(THOUSAND):
        sid = c.session()
        value(c, sid, f"x <- {i}; TRUE")
        h.hibernate(c, sid)
        sids.append(sid)
    save(sids=sids)


def thousand_after(path, state_dir):
    sids = load()["sids"]
    c = Client(path)
    attach_t, resume_t, errors = [], [], 0
    for i, sid in enumerate(sids):
        t0 = time.monotonic()
        r = c.call({"op": "session.attach", "session": sid})
        attach_t.append(time.monotonic() - t0)
        if not r["ok"]:
            errors += 1
            print("error", r)
            continue
        r = c.execute(sid, "x")
        if not r["ok"] or r["value"]["value"] != [i] or "resumed" not in r:
            errors += 1
            print("error", r)
            continue
        resume_t.append(r["resumed"]["ms"])
        c.ok({"op": "session.close", "session": sid}, "close")
    print("resumed", len(resume_t), "errors", errors)
    attach_t.sort()
    resume_t.sort()
    print("attach_median_ms", round(attach_t[len(attach_t) // 2] * 1000, 2))
    print("resume_median_ms", round(resume_t[len(resume_t) // 2], 1))
    print("resume_p99_ms", round(resume_t[int(len(resume_t) * 0.99)], 1))
    if errors:
        fail(f"{errors} of {THOUSAND} sessions did not come back")
    c.close()


STEPS = {
    "thousand_before": thousand_before,
    "thousand_after": thousand_after,
    "daemon_restart_before": daemon_restart_before,
    "daemon_restart_after": daemon_restart_after,
    "monitor_crash_before": monitor_crash_before,
    "monitor_crash_after": monitor_crash_after,
    "hibernate_all_before": hibernate_all_before,
    "hibernate_all_after": hibernate_all_after,
    "stop_before": stop_before,
    "stop_after": stop_after,
    "refused_before": refused_before,
    "refused_after": refused_after,
    "retention_before": retention_before,
    "retention_after": retention_after,
}


def main():
    step, path, state_dir = sys.argv[1:4]
    h.DAEMON = int(sys.argv[4])
    bystander = None
    if step.endswith("_after"):
        bystander = h.Bystander(path)
        bystander.start()
    STEPS[step](path, state_dir)
    if bystander is not None:
        bystander.end()
    print("PASS", step, flush=True)
    if step.endswith("_before"):
        hold()


if __name__ == "__main__":
    main()
