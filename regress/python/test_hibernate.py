"""Session.hibernate() and AsyncSession.hibernate(): a session's state
saved and its worker freed, then restored by the next request, whose
result (and the session's last_resumed) says so; the refusals, each its
own class; and how the client reads what the daemon says of a resume,
with a stand-in daemon."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import securer
from securer import errors as E

from conftest import Daemon


def snapshot_of(d: Daemon, s: securer.Session) -> Path:
    """The session's snapshot on the daemon's disk: the test daemons'
    state-dir is their directory's state (conftest.py), and a snapshot
    is SESSION.snap there (securerd.conf(5))."""
    return d.dir / "state" / f"{s.id}.snap"


# --- Against the daemon -------------------------------------------------------

def test_hibernate_and_resume(session: securer.Session) -> None:
    """x and a function survive; status says hibernated; the execution
    that wakes the session says it did, the next one does not."""
    s = session
    s.execute("x <- 42; f <- function(y) x + y; invisible(NULL)")
    n = s.hibernate()
    assert isinstance(n, int) and n > 0
    assert s.last_resumed is None
    st = s.status()
    assert st.session == s.id and st.state == "hibernated"
    with warnings.catch_warnings():
        warnings.simplefilter("error", securer.ResumeWarning)
        r = s.execute("x")
    assert r.value == 42.0
    assert r.resumed is not None
    assert isinstance(r.resumed, securer.Resumed)
    assert r.resumed.bytes == n and r.resumed.ms >= 0
    assert r.resumed.warning is None
    assert s.last_resumed == r.resumed
    assert s.status().state == "idle"
    r = s.execute("f(1)")
    assert r.value == 43.0 and r.resumed is None
    assert s.last_resumed is None


def test_hibernate_twice(session: securer.Session) -> None:
    """A hibernated session is hibernated again at once."""
    session.execute("y <- 1:10")
    n = session.hibernate()
    assert session.hibernate() == n
    assert session.status().state == "hibernated"
    r = session.execute("sum(y)")
    assert r.value == 55 and r.resumed is not None


def test_random_stream_goes_on(daemon: Daemon,
                               session: securer.Session) -> None:
    """.Random.seed is state: the stream goes on as it would have."""
    session.execute("set.seed(7); invisible(runif(3))")
    session.hibernate()
    got = session.execute("runif(2)").value
    with securer.Session(daemon.sock, autostart=False) as other:
        want = other.execute("set.seed(7); invisible(runif(3)); "
                             "runif(2)").value
    assert list(got) == list(want)


def test_file_put_resumes(session: securer.Session) -> None:
    """A file.put wakes the session too, and the files of its HOME were
    kept."""
    s = session
    s.execute("writeLines('kept', file.path(Sys.getenv('HOME'), 'k.txt'))")
    s.hibernate()
    assert s.put_file("in.txt", b"hello") == 5
    assert s.last_resumed is not None and s.last_resumed.bytes > 0
    r = s.execute("c(readLines(file.path(Sys.getenv('SECURER_INPUT'), "
                  "'in.txt')), readLines(file.path(Sys.getenv('HOME'), "
                  "'k.txt')))")
    assert list(r.value) == ["hello", "kept"] and r.resumed is None


def test_resume_warning(session: securer.Session) -> None:
    """What cannot be restored (a connection) is named, as a
    ResumeWarning and in the result; the rest is there."""
    s = session
    s.execute("con <- textConnection('abc'); z <- 5; invisible(NULL)")
    s.hibernate()
    with pytest.warns(securer.ResumeWarning) as w:
        r = s.execute("z")
    assert r.value == 5.0
    assert r.resumed is not None and r.resumed.warning is not None
    assert "con" in r.resumed.warning
    assert r.resumed.warning in str(w[0].message)
    assert s.last_resumed == r.resumed


def test_hibernate_busy(session: securer.Session) -> None:
    """Only an idle session is hibernated: while an execution runs,
    session_busy, and the execution goes on."""
    s = session
    box: dict[str, Any] = {}

    def long() -> None:
        box["r"] = s.execute("Sys.sleep(1.5); 'done'")

    t = threading.Thread(target=long)
    t.start()
    time.sleep(0.5)
    try:
        with pytest.raises(securer.SessionBusy) as ei:
            s.hibernate()
    finally:
        t.join()
    assert ei.value.code == "session_busy"
    assert isinstance(ei.value, securer.TryAgain)
    assert box["r"].value == "done"
    assert s.status().state == "idle"


def test_pool_session(daemon: Daemon) -> None:
    """A pool's session is not hibernated: while the pool runs a job on
    it, the pool's connection is refused (it goes with its pool), and
    once the job is done the session is not this connection's to name."""
    with securer.Pool(1, socket=daemon.sock, autostart=False) as p:
        sid = p.execute("1").session
        assert isinstance(sid, str)
        box: dict[str, Any] = {}

        def long() -> None:
            box["r"] = p.execute("Sys.sleep(1.5); 2")

        t = threading.Thread(target=long)
        t.start()
        time.sleep(0.5)
        try:
            with pytest.raises(securer.BadRequest):
                p._conn.call("session.hibernate", {"session": sid})
        finally:
            t.join()
        assert box["r"].value == 2.0 and box["r"].session == sid
        with pytest.raises(securer.NoSuchSession):
            p._conn.call("session.hibernate", {"session": sid})
        assert p.execute("3").value == 3.0


def test_snapshot_too_large(make_daemon: Any) -> None:
    """A state over snapshot-size is refused; the session goes on."""
    d = make_daemon("snapshot-size 4096")
    with securer.Session(d.sock, autostart=False) as s:
        s.execute("x <- runif(1e5); invisible(NULL)")
        with pytest.raises(securer.SnapshotTooLarge) as ei:
            s.hibernate()
        assert ei.value.code == "snapshot_too_large"
        assert isinstance(ei.value, securer.LimitExceeded)
        assert isinstance(ei.value, securer.SnapshotError)
        assert s.status().state == "idle"
        r = s.execute("length(x)")
        assert r.value == 1e5 and r.resumed is None


def test_snapshot_quota(make_daemon: Any) -> None:
    """Snapshots past the owner's snapshot-quota are refused; the session
    goes on."""
    d = make_daemon("snapshot-quota 1")
    with securer.Session(d.sock, autostart=False) as s:
        s.execute("x <- 1")
        with pytest.raises(securer.SnapshotQuota) as ei:
            s.hibernate()
        assert isinstance(ei.value, securer.LimitExceeded)
        assert s.status().state == "idle"
        assert s.execute("x").value == 1.0


def test_snapshot_tampered(daemon: Daemon,
                           session: securer.Session) -> None:
    """A snapshot changed on disk is refused: the request is not done,
    the session starts again empty."""
    s = session
    s.execute("x <- 42")
    s.hibernate()
    snap = snapshot_of(daemon, s)
    data = bytearray(snap.read_bytes())
    data[len(data) // 2] ^= 0x01
    snap.write_bytes(bytes(data))
    with pytest.raises(securer.SnapshotTampered) as ei:
        s.execute("x <- x + 1")
    e = ei.value
    assert e.code == "snapshot_tampered" and e.state_lost
    assert isinstance(e, securer.ResumeError)
    assert s.execute("exists('x')").value is False


def test_snapshot_missing(daemon: Daemon,
                          session: securer.Session) -> None:
    s = session
    s.execute("x <- 42")
    s.hibernate()
    snapshot_of(daemon, s).unlink()
    with pytest.raises(securer.SnapshotMissing) as ei:
        s.execute("x")
    assert ei.value.state_lost and isinstance(ei.value, securer.ResumeError)
    assert s.execute("exists('x')").value is False


async def test_async_hibernate(daemon: Daemon) -> None:
    async with securer.AsyncSession(daemon.sock, autostart=False) as s:
        await s.execute("x <- 42; f <- function(y) x + y")
        n = await s.hibernate()
        assert n > 0
        assert (await s.status()).state == "hibernated"
        r = await s.execute("f(0)")
        assert r.value == 42.0
        assert r.resumed is not None and r.resumed.bytes == n
        assert s.last_resumed == r.resumed
        assert (await s.execute("x")).resumed is None


async def test_async_hibernate_busy(daemon: Daemon) -> None:
    async with securer.AsyncSession(daemon.sock, autostart=False) as s:
        long = asyncio.create_task(s.execute("Sys.sleep(1); 'done'"))
        await asyncio.sleep(0.4)
        with pytest.raises(securer.SessionBusy):
            await s.hibernate()
        assert (await long).value == "done"


# --- What the client makes of the replies, with a stand-in -------------------

SID = "aa" * 16


def stand_in(reply: dict[str, Any]) -> Any:
    """A handler that answers session.create, and every other request
    with reply (its id put in)."""
    def handler(req: dict[str, Any], send: Any) -> None:
        if req.get("op") == "session.create":
            send({"id": req["id"], "ok": True, "session": SID,
                  "sandbox": "full"})
        else:
            send({"id": req["id"], **reply})
    return handler


VALUE = {"type": "double", "value": [1]}


def test_stand_in_hibernate(fake_daemon: Any) -> None:
    d = fake_daemon(stand_in({"ok": True, "session": SID,
                              "hibernated": True, "bytes": 123456,
                              "ms": 8.5}))
    with securer.Session(d.path) as s:
        assert s.hibernate() == 123456
    hib = [r for r in d.requests if r.get("op") == "session.hibernate"]
    assert hib == [{"id": hib[0]["id"], "op": "session.hibernate",
                    "session": SID}]


@pytest.mark.parametrize("reply", [
    {"ok": True},
    {"ok": True, "hibernated": False, "bytes": 1},
    {"ok": True, "hibernated": True, "bytes": "1"},
    {"ok": True, "hibernated": True, "bytes": -1},
])
def test_stand_in_hibernate_malformed(fake_daemon: Any,
                                      reply: dict[str, Any]) -> None:
    d = fake_daemon(stand_in(reply))
    with securer.Session(d.path) as s:
        with pytest.raises(securer.ProtocolViolation):
            s.hibernate()


@pytest.mark.parametrize("code,cls,bases", [
    ("snapshot_too_large", E.SnapshotTooLarge,
     (E.SnapshotError, E.LimitExceeded)),
    ("snapshot_quota", E.SnapshotQuota, (E.SnapshotError, E.LimitExceeded)),
    ("snapshot_failed", E.SnapshotFailed, (E.SnapshotError,)),
    ("snapshot_missing", E.SnapshotMissing,
     (E.ResumeError, E.SessionStateLost)),
    ("snapshot_tampered", E.SnapshotTampered,
     (E.ResumeError, E.SessionStateLost)),
    ("resume_failed", E.ResumeFailed, (E.ResumeError,)),
    ("session_busy", E.SessionBusy, (E.TryAgain,)),
])
def test_stand_in_refusals(fake_daemon: Any, code: str, cls: Any,
                           bases: tuple[Any, ...]) -> None:
    d = fake_daemon(stand_in({"ok": False, "error": {
        "code": code, "message": f"the {code} message"}}))
    with securer.Session(d.path) as s:
        with pytest.raises(cls) as ei:
            s.hibernate()
    e = ei.value
    assert e.code == code and e.message == f"the {code} message"
    assert isinstance(e, bases) and all(isinstance(e, b) for b in bases)
    assert e.resumed is None
    assert E.error_class(code) is cls


def test_stand_in_resumed(fake_daemon: Any) -> None:
    """resumed on an execution's result, its warning a ResumeWarning; on
    a file.put; on an error, which says it too."""
    state: dict[str, Any] = {"n": 0}

    def handler(req: dict[str, Any], send: Any) -> None:
        op = req.get("op")
        rid = req["id"]
        state["n"] += 1
        if op == "session.create":
            send({"id": rid, "ok": True, "session": SID,
                  "sandbox": "full"})
        elif op == "execute" and req["code"] == "warned":
            send({"id": rid, "ok": True, "value": VALUE, "visible": True,
                  "printed": "[1] 1\n", "resumed": {
                      "ms": 31.5, "bytes": 4096,
                      "warning": "con: a connection cannot be restored"}})
        elif op == "execute" and req["code"] == "failed":
            send({"id": rid, "ok": False, "error": {
                "code": "r_error", "message": "boom"},
                "resumed": {"ms": 2, "bytes": 99}})
        elif op == "execute":
            send({"id": rid, "ok": True, "value": VALUE, "visible": True,
                  "printed": "[1] 1\n"})
        elif op == "file.put":
            send({"id": rid, "ok": True, "size": 2,
                  "resumed": {"ms": 1.25, "bytes": 10}})
        else:
            send({"id": rid, "ok": True})

    d = fake_daemon(handler)
    with securer.Session(d.path) as s:
        with pytest.warns(securer.ResumeWarning) as w:
            r = s.execute("warned")
        assert len(w) == 1
        assert "con: a connection cannot be restored" in str(w[0].message)
        assert r.resumed == securer.Resumed(
            31.5, 4096, "con: a connection cannot be restored")
        assert s.last_resumed == r.resumed
        assert "resumed" in repr(r)
        text = securer.format_result(r)
        assert text.endswith("[the session was resumed from hibernation: "
                             "con: a connection cannot be restored]")

        with warnings.catch_warnings():
            warnings.simplefilter("error", securer.ResumeWarning)
            r = s.execute("plain")
            assert r.resumed is None and s.last_resumed is None
            assert s.put_file("a", b"hi") == 2
            assert s.last_resumed == securer.Resumed(1.25, 10, None)
            with pytest.raises(securer.RError) as ei:
                s.execute("failed")
        assert ei.value.resumed == securer.Resumed(2.0, 99, None)
        assert s.last_resumed == ei.value.resumed
        s.restart()
        assert s.last_resumed is None


async def test_stand_in_async(fake_daemon: Any) -> None:
    def handler(req: dict[str, Any], send: Any) -> None:
        op = req.get("op")
        rid = req["id"]
        if op == "session.create":
            send({"id": rid, "ok": True, "session": SID,
                  "sandbox": "full"})
        elif op == "session.hibernate":
            send({"id": rid, "ok": True, "session": SID,
                  "hibernated": True, "bytes": 77, "ms": 1})
        elif op == "execute":
            send({"id": rid, "ok": True, "value": VALUE, "visible": True,
                  "printed": "[1] 1\n", "resumed": {
                      "ms": 3, "bytes": 77, "warning": "ptr"}})
        elif op == "file.get":
            send({"id": rid, "ok": False, "error": {
                "code": "resume_failed", "message": "its worker died"},
                "resumed": None})
        else:
            send({"id": rid, "ok": True})

    d = fake_daemon(handler)
    async with securer.AsyncSession(d.path) as s:
        assert await s.hibernate() == 77
        with pytest.warns(securer.ResumeWarning):
            r = await s.execute("x")
        assert r.resumed == securer.Resumed(3.0, 77, "ptr")
        assert s.last_resumed == r.resumed
        with pytest.raises(securer.ResumeFailed):
            await s.get_file("out.txt")
        assert s.last_resumed is None
