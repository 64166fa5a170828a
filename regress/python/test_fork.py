"""Session.fork() and AsyncSession.fork(): a new session, on the same
connection, whose state is a copy of its source's; it starts hibernated,
its first request restores the copy (and says so), and from then on the
two change independently.  The refusals, each its own class; and how the
client reads the daemon's reply, with a stand-in daemon."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import securer
from securer import errors as E

from conftest import Daemon


def counting_add() -> tuple[securer.Tool, list[tuple[float, float]]]:
    """A tool add(a, b) that notes each call, in this process."""
    calls: list[tuple[float, float]] = []

    def add(a: float, b: float) -> float:
        "Add two numbers."
        calls.append((a, b))
        return a + b

    return securer.tool(add), calls


# --- Against the daemon -------------------------------------------------------

def test_fork_independent(session: securer.Session) -> None:
    """x <- 1 in a; b, its fork, makes it 11 and a still has 1; a's 5
    leaves b's 11.  The fork starts hibernated, names its source, and
    its first execution says it resumed."""
    a = session
    a.execute("x <- 1")
    b = a.fork()
    try:
        assert isinstance(b, securer.Session)
        assert b.id != a.id and b.forked_from == a.id
        assert a.forked_from is None
        assert b.sandbox == a.sandbox
        st = b.status()
        assert st.state == "hibernated" and st.forked_from == a.id
        assert a.status().state == "idle"
        assert a.status().forked_from is None
        r = b.execute("x <- x + 10; x")
        assert r.value == 11.0
        assert r.resumed is not None and r.resumed.bytes > 0
        assert r.resumed.warning is None
        assert b.last_resumed == r.resumed
        r = a.execute("x")
        assert r.value == 1.0 and r.resumed is None
        a.execute("x <- 5")
        r = b.execute("x")
        assert r.value == 11.0 and r.resumed is None
        assert b.last_resumed is None
        assert a.execute("x").value == 5.0
        assert b.status().state == "idle"
    finally:
        b.close()


def test_fork_functions_and_random_stream(session: securer.Session) -> None:
    """A function and .Random.seed are state: both go on in the fork as
    they would have in the source."""
    a = session
    a.execute("set.seed(42); invisible(runif(2)); k <- 3; "
              "f <- function(n) round(runif(n) * k, 6)")
    with a.fork() as b:
        got = b.execute("f(4)").value
        assert len(got) == 4
        assert list(got) == list(a.execute("f(4)").value)
        assert list(b.execute("runif(2)").value) == \
            list(a.execute("runif(2)").value)


def test_fork_hibernated(session: securer.Session) -> None:
    """A hibernated session forks (its snapshot copied); both wake with
    its state, HOME's files included; a fork forks too."""
    a = session
    a.execute("y <- 'asleep'; "
              "writeLines('home', file.path(Sys.getenv('HOME'), 'h.txt'))")
    n = a.hibernate()
    with a.fork() as b:
        assert a.status().state == "hibernated"
        assert b.status().state == "hibernated"
        r = b.execute("c(y, readLines(file.path(Sys.getenv('HOME'), "
                      "'h.txt')))")
        assert list(r.value) == ["asleep", "home"]
        assert r.resumed is not None and r.resumed.bytes > 0
        r = a.execute("y")
        assert r.value == "asleep"
        assert r.resumed is not None and r.resumed.bytes == n
        b.execute("y <- 'b'")
        with b.fork() as c:
            assert c.forked_from == b.id
            r = c.execute("y")
            assert r.value == "b" and r.resumed is not None


def test_fork_tools(sock: str) -> None:
    """The fork has its source's tools: the same callables, called in
    this process when the fork's code calls them."""
    t, calls = counting_add()
    with securer.Session(sock, tools=[t], autostart=False) as a:
        a.execute("z <- add(1, 2)")
        with a.fork() as b:
            assert [x.name for x in b.tools] == ["add"]
            assert b.tools[0] is t
            assert b.status().tools == ["add"]
            assert b.execute("add(z, 10)").value == 13.0
            assert calls == [(1.0, 2.0), (3.0, 10.0)]
            assert a.execute("add(z, 1)").value == 4.0


def test_fork_close_either(sock: str) -> None:
    """Either may be closed first; the connection goes with the last."""
    a = securer.Session(sock, autostart=False)
    a.execute("x <- 'a'")
    b = a.fork()
    assert b._conn is a._conn
    a.close()
    assert a.closed and not b.closed
    with pytest.raises(securer.ClientError):
        a.fork()
    assert b.execute("x").value == "a"
    c = b.fork()
    b.close()
    assert not c.closed
    assert c.execute("x").value == "a"
    c.close()
    assert c._conn.closed

    a = securer.Session(sock, autostart=False)
    b = a.fork()
    b.close()
    assert not a._conn.closed
    assert a.execute("1").value == 1.0
    a.close()
    assert a._conn.closed


def test_fork_busy(session: securer.Session) -> None:
    """A session is forked only when idle or hibernated: while its
    execution runs, session_busy, and the execution goes on."""
    s = session
    box: dict[str, Any] = {}

    def long() -> None:
        box["r"] = s.execute("Sys.sleep(1.5); 'done'")

    t = threading.Thread(target=long)
    t.start()
    time.sleep(0.5)
    try:
        with pytest.raises(securer.SessionBusy) as ei:
            s.fork()
    finally:
        t.join()
    assert ei.value.code == "session_busy"
    assert box["r"].value == "done"
    with s.fork() as f:
        assert f.execute("1").value == 1.0


def test_fork_runs_beside_its_source(session: securer.Session) -> None:
    """The two share a connection, not a worker: each runs its own
    execution while the other's runs, from two threads."""
    a = session
    a.execute("x <- 0")
    b = a.fork()
    try:
        box: dict[str, Any] = {}

        def in_b() -> None:
            box["b"] = b.execute("Sys.sleep(1); x <- x + 2; x").value

        t = threading.Thread(target=in_b)
        t.start()
        time.sleep(0.3)
        try:
            assert a.execute("x <- x + 1; x").value == 1.0
        finally:
            t.join()
        assert box["b"] == 2.0
        assert a.execute("x").value == 1.0
    finally:
        b.close()


def test_fork_snapshot_too_large(make_daemon: Any) -> None:
    """A state over snapshot-size is not copied: no fork, the session
    goes on."""
    d = make_daemon("snapshot-size 4096")
    with securer.Session(d.sock, autostart=False) as s:
        s.execute("x <- runif(1e5); invisible(NULL)")
        with pytest.raises(securer.SnapshotTooLarge) as ei:
            s.fork()
        assert isinstance(ei.value, securer.SnapshotError)
        assert s.status().state == "idle"
        assert s.execute("length(x)").value == 1e5


def test_fork_too_many_sessions(make_daemon: Any) -> None:
    """A fork is a session: the owner's sessions limit counts it."""
    d = make_daemon("sessions 1")
    with securer.Session(d.sock, autostart=False) as s:
        s.execute("x <- 1")
        with pytest.raises(securer.TooManySessions):
            s.fork()
        assert s.execute("x").value == 1.0


async def test_async_fork(daemon: Daemon) -> None:
    """The same on asyncio: independence both ways, the resume, status,
    a coroutine tool in the fork, and either closed first."""
    calls: list[float] = []

    async def twice(v: float) -> float:
        "Twice v."
        calls.append(v)
        return 2 * v

    a = securer.AsyncSession(daemon.sock, tools=[securer.tool(twice)],
                             autostart=False)
    await a.start()
    await a.execute("x <- 1; set.seed(3); invisible(runif(1))")
    b = await a.fork()
    assert isinstance(b, securer.AsyncSession)
    assert b.forked_from == a.id and b.id != a.id
    st = await b.status()
    assert st.state == "hibernated" and st.forked_from == a.id
    r = await b.execute("x <- x + 10; x")
    assert r.value == 11.0 and r.resumed is not None
    assert b.last_resumed == r.resumed
    assert (await a.execute("x")).value == 1.0
    await a.execute("x <- 5")
    assert (await b.execute("x")).value == 11.0
    assert list((await b.execute("runif(2)")).value) == \
        list((await a.execute("runif(2)")).value)
    assert (await b.execute("twice(x)")).value == 22.0
    assert calls == [11.0]
    # Both at once, on one connection.
    rb, ra = await asyncio.gather(b.execute("Sys.sleep(0.5); x"),
                                  a.execute("x"))
    assert (rb.value, ra.value) == (11.0, 5.0)
    await a.close()
    assert a.closed and not b.closed
    assert (await b.execute("x")).value == 11.0
    conn = b._conn
    await b.close()
    assert conn is not None and conn.closed


async def test_async_fork_hibernated_and_busy(daemon: Daemon) -> None:
    async with securer.AsyncSession(daemon.sock, autostart=False) as s:
        await s.execute("y <- 'asleep'")
        await s.hibernate()
        f = await s.fork()
        async with f:
            r = await f.execute("y")
            assert r.value == "asleep" and r.resumed is not None
            long = asyncio.create_task(s.execute("Sys.sleep(1); 'done'"))
            await asyncio.sleep(0.4)
            with pytest.raises(securer.SessionBusy):
                await s.fork()
            # The fork goes on meanwhile.
            assert (await f.execute("y")).value == "asleep"
            assert (await long).value == "done"
        assert f.closed and not s.closed
        assert (await s.execute("y")).value == "asleep"


# --- What the client makes of the replies, with a stand-in -------------------

SID = "aa" * 16
NEW = "bb" * 16


def stand_in(reply: dict[str, Any]) -> Any:
    """A handler that answers session.create, session.fork with reply
    (its id put in), execute with 1, and everything else with ok."""
    def handler(req: dict[str, Any], send: Any) -> None:
        if req.get("op") == "session.create":
            send({"id": req["id"], "ok": True, "session": SID,
                  "sandbox": "full"})
        elif req.get("op") == "session.fork":
            send({"id": req["id"], **reply})
        elif req.get("op") == "execute":
            send({"id": req["id"], "ok": True, "visible": True,
                  "value": {"type": "double", "value": [1]},
                  "printed": "[1] 1\n"})
        else:
            send({"id": req["id"], "ok": True})
    return handler


GOOD: dict[str, Any] = {"ok": True, "session": NEW, "forked_from": SID,
                        "hibernated": True, "bytes": 4096, "ms": 2.5,
                        "sandbox": "partial"}


def test_stand_in_fork(fake_daemon: Any) -> None:
    d = fake_daemon(stand_in(GOOD))
    with securer.Session(d.path) as s:
        f = s.fork()
        assert (f.id, f.forked_from, f.sandbox) == (NEW, SID, "partial")
        assert f.execute("1").value == 1.0
        f.close()
        assert not s.closed
    forks = [r for r in d.requests if r.get("op") == "session.fork"]
    assert forks == [{"id": forks[0]["id"], "op": "session.fork",
                      "session": SID}]
    ex = [r for r in d.requests if r.get("op") == "execute"]
    assert [r["session"] for r in ex] == [NEW]
    closes = [r["session"] for r in d.requests
              if r.get("op") == "session.close"]
    assert closes == [NEW, SID]


@pytest.mark.parametrize("reply", [
    {"ok": True},
    {**GOOD, "session": SID},
    {**GOOD, "session": ""},
    {**GOOD, "forked_from": "cc" * 16},
    {**GOOD, "hibernated": False},
    {**GOOD, "bytes": "1"},
    {**GOOD, "bytes": -1},
])
def test_stand_in_fork_malformed(fake_daemon: Any,
                                 reply: dict[str, Any]) -> None:
    d = fake_daemon(stand_in(reply))
    with securer.Session(d.path) as s:
        with pytest.raises(securer.ProtocolViolation):
            s.fork()


@pytest.mark.parametrize("code,cls", [
    ("session_busy", E.SessionBusy),
    ("too_many_sessions", E.TooManySessions),
    ("snapshot_too_large", E.SnapshotTooLarge),
    ("snapshot_quota", E.SnapshotQuota),
    ("snapshot_failed", E.SnapshotFailed),
    ("snapshot_missing", E.SnapshotMissing),
    ("snapshot_tampered", E.SnapshotTampered),
    ("audit_unavailable", E.AuditUnavailable),
    ("no_such_session", E.NoSuchSession),
    ("closed", E.Closed),
])
def test_stand_in_fork_refusals(fake_daemon: Any, code: str,
                                cls: Any) -> None:
    d = fake_daemon(stand_in({"ok": False, "error": {
        "code": code, "message": f"the {code} message"}}))
    with securer.Session(d.path) as s:
        with pytest.raises(cls) as ei:
            s.fork()
        assert not s.closed
    e = ei.value
    assert e.code == code and e.message == f"the {code} message"
    assert E.error_class(code) is cls


async def test_stand_in_async_fork(fake_daemon: Any) -> None:
    d = fake_daemon(stand_in(GOOD))
    async with securer.AsyncSession(d.path) as s:
        f = await s.fork()
        assert (f.id, f.forked_from, f.sandbox) == (NEW, SID, "partial")
        await f.close()
        assert not s.closed
    bad = fake_daemon(stand_in({**GOOD, "forked_from": None}))
    async with securer.AsyncSession(bad.path) as s:
        with pytest.raises(securer.ProtocolViolation):
            await s.fork()
