"""Every error class: each code of securer-protocol(7)'s Errors section
maps to its own class (checked against the manual page, and with a
stand-in daemon that answers each code), and every one a daemon can be
made to give is made to, with the configuration that gives it."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from typing import Any

import pytest

import securer
from securer import Output
from securer import errors as E
from securer._conn import Connection
from securer import _resolve

from conftest import TOP, Daemon, joined


def manual_codes() -> list[str]:
    """The codes of the manual page's Errors section, in order."""
    text = (TOP / "common" / "securer-protocol.7").read_text()
    sec = text.split(".Ss Errors", 1)[1].split(".Sh ", 1)[0]
    return re.findall(r"^\.It Cm ([a-z_]+)", sec, re.M)


def test_every_code_has_a_class() -> None:
    codes = manual_codes()
    assert len(codes) >= 39 and "r_error" in codes and "internal" in codes
    classes = [E.error_class(c) for c in codes]
    missing = [c for c, k in zip(codes, classes) if k is E.SecurerError]
    assert missing == []
    # One class per code, each a SecurerError with that code.
    assert len(set(classes)) == len(codes)
    for c, k in zip(codes, classes):
        assert issubclass(k, E.SecurerError) and k.code == c
        assert k.__doc__ and c in k.__doc__
        assert k.__name__ in securer.__all__ and getattr(securer,
                                                         k.__name__) is k
    assert set(E.ERROR_CLASSES) == set(codes)


def test_hierarchy() -> None:
    assert issubclass(E.RSyntaxError, SyntaxError)
    assert issubclass(E.Timeout, TimeoutError)
    assert issubclass(E.ConnectError, ConnectionError)
    assert issubclass(E.FileNotFound, FileNotFoundError)
    assert issubclass(E.Unauthorized, PermissionError)
    assert issubclass(E.ConversionError, ValueError)
    for k in (E.Timeout, E.WorkerDied, E.TooManyMessages,
              E.WorkerProtocolError):
        assert k.state_lost and issubclass(k, E.SessionStateLost)
    assert not E.RError.state_lost and not E.ResultTooLarge.state_lost
    for k in (E.RateLimited, E.AuthThrottled, E.CapacityExhausted,
              E.SessionBusy, E.PoolBusy, E.AuditUnavailable,
              E.TooManySessions, E.TooManyExecutions, E.SpawnFailed):
        assert issubclass(k, E.TryAgain)
    for k in (E.RError, E.RSyntaxError, E.Timeout, E.WorkerDied,
              E.ToolCallsExceeded, E.ResultTooLarge, E.Closed):
        assert issubclass(k, E.ExecutionError)


# --- A stand-in daemon answers each code ------------------------------------------

EXTRA: dict[str, dict[str, Any]] = {
    "rate_limited": {"retry_after": 1.5},
    "auth_throttled": {"retry_after": 5},
    "parse_error": {"line": 2, "column": 7},
    "r_error": {"call": "f(x)"},
    "worker_died": {"cause": "memory limit exceeded"},
    "timeout": {"timeout": 2.5},
}


@pytest.mark.parametrize("code", manual_codes())
def test_stand_in_code(fake_daemon: Any, code: str) -> None:
    def handler(req: dict[str, Any], send: Any) -> None:
        op = req.get("op")
        if op == "session.create":
            send({"id": req["id"], "ok": True, "session": "aa" * 16,
                  "sandbox": "full"})
        elif op == "execute":
            send({"id": req["id"], "event": "output", "stream": "stdout",
                  "text": "before\n"})
            send({"id": req["id"], "ok": False, "error": {
                "code": code, "message": f"the {code} message",
                **EXTRA.get(code, {})}})
        else:
            send({"id": req["id"], "ok": True})

    d = fake_daemon(handler)
    with securer.Session(d.path) as s:
        with pytest.raises(E.error_class(code)) as ei:
            s.execute("x")
    e = ei.value
    assert e.code == code and e.message == f"the {code} message"
    assert str(e) == e.message and e.details["code"] == code
    if isinstance(e, E.ExecutionError):
        assert e.stdout == "before\n"
    if code == "rate_limited":
        assert isinstance(e, E.RateLimited) and e.retry_after == 1.5
    if code == "auth_throttled":
        assert isinstance(e, E.AuthThrottled) and e.retry_after == 5.0
    if code == "parse_error":
        assert isinstance(e, E.RSyntaxError)
        assert (e.line, e.column, e.lineno, e.offset) == (2, 7, 2, 7)
    if code == "r_error":
        assert isinstance(e, E.RError) and e.call == "f(x)" and \
            e.classes == ()
    if code == "worker_died":
        assert isinstance(e, E.WorkerDied) and \
            e.cause == "memory limit exceeded"
    if code == "timeout":
        assert isinstance(e, E.Timeout) and e.timeout == 2.5


@pytest.mark.parametrize("code,cls", [("slow_client", E.SlowClient),
                                      ("over_budget", E.OverBudget)])
def test_dropped_connection(fake_daemon: Any, code: str, cls: Any) -> None:
    """The daemon's last line says why it dropped the connection: the
    execution in flight raises that, and so does every later use."""
    def handler(req: dict[str, Any], send: Any) -> None:
        op = req.get("op")
        if op == "session.create":
            send({"id": req["id"], "ok": True, "session": "aa" * 16,
                  "sandbox": "full"})
        elif op == "execute":
            send({"id": req["id"], "event": "output", "stream": "stdout",
                  "text": "before\n"})
            send({"id": None, "ok": False, "error": {
                "code": code, "message": f"securerd dropped this client "
                "({code})"}})
            raise ConnectionResetError("the stand-in closes")
        else:
            send({"id": req["id"], "ok": True})

    d = fake_daemon(handler)
    with securer.Session(d.path) as s:
        with pytest.raises(cls) as ei:
            s.execute("x")
        assert ei.value.code == code and "dropped" in ei.value.message
        assert isinstance(ei.value, ConnectionError)
        with pytest.raises(cls):
            s.execute("y")


def test_stand_in_error_classes(fake_daemon: Any) -> None:
    """RError.classes is the reply's classes, in order; anything else
    there (or a member of another name) gives none."""
    box: dict[str, Any] = {}

    def handler(req: dict[str, Any], send: Any) -> None:
        if req.get("op") == "session.create":
            send({"id": req["id"], "ok": True, "session": "ab" * 16})
        elif req.get("op") == "execute":
            send({"id": req["id"], "ok": False, "error": {
                "code": "r_error", "message": "m", **box["extra"]}})
        else:
            send({"id": req["id"], "ok": True})

    d = fake_daemon(handler)
    with securer.Session(d.path) as s:
        for extra, want in [
                ({"classes": ["http_404", "http_error"]},
                 ("http_404", "http_error")),
                ({"classes": ["a", 5, None, "b"]}, ("a", "b")),
                ({"classes": "http_404"}, ()),
                ({"class": ["http_404"]}, ()),
                ({}, ())]:
            box["extra"] = extra
            with pytest.raises(securer.RError) as ei:
                s.execute("x")
            assert ei.value.classes == want, extra


def test_stand_in_unknown_and_broken(fake_daemon: Any) -> None:
    """An unknown code is a SecurerError with it; a daemon that breaks
    the protocol gives ProtocolViolation or ConnectionLost, never a hang
    or a wrong value."""
    mode: dict[str, Any] = {}

    def handler(req: dict[str, Any], send: Any) -> None:
        op = req.get("op")
        if op == "session.create":
            send({"id": req["id"], "ok": True, "session": "bb" * 16})
            return
        if op != "execute":
            send({"id": req["id"], "ok": True})
            return
        m = mode["m"]
        if m == "unknown":
            send({"id": req["id"], "ok": False, "error": {
                "code": "brand_new", "message": "new"}})
        elif m == "not json":
            send(b"this is not json\n")
        elif m == "not object":
            send(b"[1, 2]\n")
        elif m == "no ok":
            send({"id": req["id"], "value": None})
            send({"id": req["id"], "ok": "yes"})
        elif m == "no value":
            send({"id": req["id"], "ok": True})
        elif m == "bad tool call":
            send({"id": req["id"], "event": "tool_call", "tool": "x",
                  "session": "bb" * 16})
            send({"id": req["id"], "ok": True, "value": None})
        elif m == "bad output":
            send({"id": req["id"], "event": "output", "stream": 5})
            send({"id": req["id"], "ok": True, "value": None})
        elif m == "hang up":
            send({"id": req["id"], "event": "output", "stream": "stdout",
                  "text": "x"})
            raise SystemExit   # the thread ends, the socket closes
        elif m == "long line":
            send(b"{" + b" " * (8 * 1024 * 1024 + 10))

    d = fake_daemon(handler)
    mode["m"] = "unknown"
    with securer.Session(d.path) as s:
        with pytest.raises(E.SecurerError) as ei:
            s.execute("x")
        assert type(ei.value) is E.SecurerError and \
            ei.value.code == "brand_new"
    for m, exc in [("not json", E.ProtocolViolation),
                   ("not object", E.ProtocolViolation),
                   ("no ok", E.ProtocolViolation),
                   ("no value", E.ProtocolViolation),
                   ("bad tool call", E.ProtocolViolation),
                   ("bad output", E.ProtocolViolation),
                   ("long line", E.ProtocolViolation),
                   ("hang up", E.ConnectionLost)]:
        mode["m"] = m
        s = securer.Session(d.path)
        with pytest.raises(exc):
            s.execute("x")
        s.close()


# --- The real daemon, made to give each error it can ------------------------------

def test_r_errors(session: securer.Session) -> None:
    with pytest.raises(securer.RError) as ei:
        session.execute("f <- function(x) stop('inner: ', x); f('a')")
    assert ei.value.message == "inner: a" and ei.value.call == "f(\"a\")"
    with pytest.raises(securer.RError) as ei:
        session.execute("stop('top')")
    assert ei.value.call is None
    with pytest.raises(securer.RError) as ei:
        session.execute("cat('out\\n'); log(-1); sqrt('a')")
    assert ei.value.stdout == "out\n"
    assert joined(ei.value.output) == [
        Output("stdout", "out\n"), Output("warning", "NaNs produced")]
    with pytest.raises(securer.RSyntaxError) as se:
        session.execute("x <- 1\ny <- (2 +\n")
    # The position is R's parser's, as its message says it.
    e = se.value
    assert e.line is not None and e.line >= 3 and \
        e.message.startswith(f"<text>:{e.line}:{e.column}:")
    assert "unexpected end of input" in e.message
    with pytest.raises(SyntaxError):
        session.execute("1 +* 2")
    # Nothing ran.
    session.execute("z <- 1")
    with pytest.raises(securer.RSyntaxError):
        session.execute("z <- 2; )")
    assert session.execute("z").value == 1.0


def test_r_error_classes(session: securer.Session) -> None:
    """A condition's classes but R's own come with its error."""
    with pytest.raises(securer.RError) as ei:
        session.execute("stop('plain')")
    assert ei.value.classes == () and ei.value.message == "plain"
    with pytest.raises(securer.RError) as ei:
        session.execute("stop(structure(class = c('myError', 'error', "
                        "'condition'), list(message = 'boom', "
                        "call = NULL)))")
    e = ei.value
    assert e.classes == ("myError",) and e.message == "boom" and \
        e.call is None and e.details["classes"] == ["myError"]
    with pytest.raises(securer.RError) as ei:
        session.execute("f <- function() stop(structure(class = c("
                        "'http_404', 'http_error', 'simpleError', 'error', "
                        "'condition'), list(message = 'not found', "
                        "call = sys.call()))); f()")
    e = ei.value
    assert e.classes == ("http_404", "http_error") and e.call == "f()"
    # An R-level error of base R has none but R's own.
    with pytest.raises(securer.RError) as ei:
        session.execute("log('a')")
    assert ei.value.classes == ()
    # The session goes on.
    assert session.execute("1L").value == 1


def test_session_limits(sock: str) -> None:
    with securer.Session(max_executions=2) as s:
        s.execute("1")
        s.execute("2")
        with pytest.raises(securer.MaxExecutions):
            s.execute("3")
    with pytest.raises(securer.BadLimits):
        securer.Session(limits={"memory": 10 ** 15})
    with pytest.raises(securer.BadLimits):
        securer.Session(limits={"memory": -1})
    with pytest.raises(securer.BadLimits):
        securer.Session(limits={"cpu": "a lot"})
    with securer.Session(limits={"memory": 256 * 2 ** 20}) as s:
        with pytest.raises(securer.RError) as ei:
            s.execute("x <- numeric(1e9)")
        assert "cannot allocate" in ei.value.message
        assert s.execute("1").value == 1.0


def test_requests_refused(daemon: Daemon, sock: str) -> None:
    c = Connection.open(sock, autostart=False)
    try:
        with pytest.raises(securer.BadRequest):
            c.call("frobnicate")
        with pytest.raises(securer.BadRequest):
            c.call("status", {"session": 5})
        with pytest.raises(securer.NoSuchSession):
            c.call("status", {"session": "00" * 16})
        with pytest.raises(securer.BadTools):
            c.call("session.create", {"tools": [
                {"name": "1x", "description": "", "args": {}}]})
        with pytest.raises(securer.NoSuchPool):
            c.call("pool.status", {"pool": "nope"})
        with pytest.raises(securer.BadRequest):
            c.call("hello", {"version": 1})
    finally:
        c.close()
    # Before hello, and another version.
    raw = Connection(_resolve.connect(sock))
    try:
        with pytest.raises(securer.HelloRequired):
            raw.call("status")
        with pytest.raises(securer.UnsupportedVersion):
            raw.call("hello", {"version": 2})
    finally:
        raw.close()


def test_too_large(daemon: Daemon, sock: str, monkeypatch: Any) -> None:
    """The client refuses a line the daemon would; made to send one
    anyway, the daemon's too_large comes back."""
    with securer.Session() as s:
        with pytest.raises(securer.TooLarge):
            s.execute("x <- '" + "a" * (9 * 2 ** 20) + "'")
        monkeypatch.setattr(securer._proto, "LINE_MAX", 64 * 2 ** 20)
        with pytest.raises(securer.TooLarge) as ei:
            s.execute("x <- '" + "a" * (9 * 2 ** 20) + "'")
        # The daemon's, not ours: it closed the connection.
        assert ei.value.details.get("code") == "too_large"
        with pytest.raises(securer.ConnectionLost):
            s.execute("1")


def test_code_and_result_caps(make_daemon: Any) -> None:
    d = make_daemon("code-size 1K", "result-size 4K")
    with securer.Session(d.sock) as s:
        with pytest.raises(securer.CodeTooLong):
            s.execute("x <- 1; " + "#" * 2000)
        with pytest.raises(securer.ResultTooLarge):
            s.execute("x <- runif(1e4); x")
        # The state is kept.
        assert s.execute("length(x)").value == 10000


def test_identity_limits(make_daemon: Any) -> None:
    d = make_daemon("sessions 1", "executions 1", "pool-size 2")
    s = securer.Session(d.sock)
    try:
        with pytest.raises(securer.TooManySessions) as ei:
            securer.Session(d.sock)
        assert "1" in ei.value.message
    finally:
        s.close()
    d2 = make_daemon("executions 1", "pool-size 2")
    a, b = securer.Session(d2.sock), securer.Session(d2.sock)
    try:
        t = threading.Thread(target=a.execute, args=("Sys.sleep(1.5)",))
        t.start()
        time.sleep(0.5)
        with pytest.raises(securer.TooManyExecutions):
            b.execute("1")
        t.join()
        assert b.execute("1").value == 1.0
        with pytest.raises(securer.PoolTooLarge):
            securer.Pool(3, socket=d2.sock)
    finally:
        a.close()
        b.close()


def test_pools(sock: str) -> None:
    p = securer.Pool(1)
    try:
        with pytest.raises(securer.PoolExists):
            securer.Pool(1, name=p.name)
        t = threading.Thread(target=p.execute, args=("Sys.sleep(1.5)",))
        t.start()
        time.sleep(0.5)
        with pytest.raises(securer.PoolBusy) as ei:
            p.execute("1")
        assert ei.value.message == "All sessions are busy."
        t.join()
        # Another connection of the identity closes it.
        c = Connection.open(sock)
        c.call("pool.close", {"pool": p.name})
        c.close()
        with pytest.raises(securer.NoSuchPool):
            p.execute("1")
    finally:
        p.close()


def test_rate_limited(make_daemon: Any) -> None:
    d = make_daemon("requests 1 burst 3")
    with securer.Session(d.sock) as s:
        with pytest.raises(securer.RateLimited) as ei:
            for _ in range(10):
                s.status()
        assert ei.value.retry_after is not None and ei.value.retry_after > 0
        time.sleep(ei.value.retry_after + 0.2)
        assert s.execute("1").value == 1.0


def test_capacity(make_daemon: Any) -> None:
    d = make_daemon("capacity workers 1")
    with securer.Session(d.sock):
        with pytest.raises(securer.CapacityExhausted):
            securer.Session(d.sock)


def test_unauthorized_and_throttled(make_daemon: Any) -> None:
    d = make_daemon('allow all token "sekrit"')
    with securer.Session(d.sock, token="sekrit") as s:
        assert s.execute("1").value == 1.0
    for _ in range(5):
        with pytest.raises(securer.Unauthorized):
            securer.Session(d.sock, token="wrong")
    with pytest.raises(securer.AuthThrottled) as ei:
        securer.Session(d.sock, token="sekrit")
    assert ei.value.retry_after is not None and ei.value.retry_after > 0
    d2 = make_daemon('allow user "nobody"')
    with pytest.raises(securer.Unauthorized):
        securer.Session(d2.sock)


def test_idle_session_closed(make_daemon: Any) -> None:
    d = make_daemon("idle-ttl 1")
    with securer.Session(d.sock) as s:
        s.execute("1")
        time.sleep(2.5)
        with pytest.raises(securer.NoSuchSession):
            s.execute("1")


def test_file_errors(make_daemon: Any) -> None:
    # A put that failed counts as one of the session's files.
    d = make_daemon("files 3", "file-size 2K")
    with securer.Session(d.sock, limits={"fsize": 100}) as s:
        for name in ["../x", "/etc/passwd", ".hidden", "-x", "a/b", "",
                     "x" * 129, "nul\x00"]:
            with pytest.raises(securer.BadFileName):
                s.put_file(name, b"1")
        with pytest.raises(securer.FileTooLarge):
            s.put_file("big", b"x" * 3000)
        s.put_file("one", b"1")
        with pytest.raises(securer.FileIOError):
            s.put_file("over-fsize", b"x" * 1000)
        s.put_file("two", b"2")
        with pytest.raises(securer.TooManyFiles):
            s.put_file("three", b"3")
        with pytest.raises(securer.FileNotFound):
            s.get_file("nothing")
        s.execute("o <- Sys.getenv('SECURER_OUTPUT'); "
                  "dir.create(file.path(o, 'dir')); "
                  "file.symlink('/etc/passwd', file.path(o, 'link')); "
                  "writeLines(strrep('x', 50), file.path(o, 'ok'))")
        for name in ("dir", "link"):
            with pytest.raises(securer.NotARegularFile):
                s.get_file(name)
        assert len(s.get_file("ok")) == 51
        s.execute("writeBin(raw(3000), file.path(o, 'huge'))")


def test_worker_died(daemon: Daemon, session: securer.Session) -> None:
    session.execute("x <- 1")
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            session.execute("Sys.sleep(10)")
        except securer.SecurerError as e:
            box["e"] = e

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 5
    while not daemon.worker_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    for p in daemon.worker_pids():
        os.kill(p, 9)
    t.join(10)
    e = box["e"]
    assert isinstance(e, securer.WorkerDied) and e.state_lost
    assert "signal 9" in e.cause
    assert session.execute("exists('x')").value is False
    with securer.Session(daemon.sock, limits={"cpu": 1}) as s:
        with pytest.raises(securer.WorkerDied) as ei:
            s.execute("repeat {}")
        assert "CPU" in ei.value.cause
        assert s.execute("2").value == 2.0


def flood(n: int) -> str:
    """Code whose output changes stream 2n times: an output event has
    one stream, so it is at least 2n messages however the worker batches
    its output."""
    return f"for (i in 1:{n}) {{ cat(i, '\\n'); message(i) }}"


def test_too_many_messages(make_daemon: Any) -> None:
    # Without the limit: 2000 pieces, stdout and message in turn.
    with securer.Session(make_daemon().sock) as s:
        out = joined(s.execute(flood(1000)).output)
        assert [o.stream for o in out] == ["stdout", "message"] * 1000
        assert out[-2:] == [Output("stdout", "1000 \n"),
                            Output("message", "1000\n")]
    d = make_daemon("messages 200")
    with securer.Session(d.sock) as s:
        s.execute("x <- 1")
        # Under the limit the same code runs.
        assert len(joined(s.execute(flood(50)).output)) == 100
        with pytest.raises(securer.TooManyMessages) as ei:
            s.execute(flood(1000))
        assert ei.value.state_lost and ei.value.code == "too_many_messages"
        assert s.execute("exists('x')").value is False


def test_sandbox_unavailable() -> None:
    """A single user's daemon has no worker uid range of its own: its
    sessions are "partial", and one that asks for the full sandbox is
    refused.  (Its directory is one nobody can reach, removed after.)"""
    import pwd
    import shutil
    import tempfile
    from pathlib import Path
    top = Path(tempfile.mkdtemp(prefix="securer-py-"))
    nobody = pwd.getpwnam("nobody")
    try:
        os.chmod(top, 0o755)
        d_dir = top / "d"
        d_dir.mkdir(mode=0o700)
        os.chown(d_dir, nobody.pw_uid, nobody.pw_gid)
        d = Daemon(d_dir, (), user=f"{nobody.pw_uid}:{nobody.pw_gid}")
        try:
            with securer.Session(d.sock) as s:
                assert s.sandbox == "partial"
                assert s.execute("1 + 1").value == 2.0
            with pytest.raises(securer.SandboxUnavailable):
                securer.Session(d.sock, sandbox_strict=True)
        finally:
            d.stop()
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_audit_unavailable(make_daemon: Any, tmp_path: Any) -> None:
    """A full disk under the audit log stops executions until there is
    room again."""
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o700)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700",
                        "tmpfs", str(logs)], capture_output=True, text=True)
    assert r.returncode == 0, f"cannot mount a tmpfs: {r.stderr}"
    try:
        d = make_daemon(f'audit "{logs}/audit.jsonl"')
        with securer.Session(d.sock) as s:
            fill = logs / "fill"
            with open(fill, "wb") as f:
                try:
                    f.write(b"\0" * 200 * 1024)
                except OSError:
                    pass
            err = None
            for i in range(60):
                try:
                    s.execute(f"{i} + 1000")
                except securer.AuditUnavailable as e:
                    err = e
                    break
            assert isinstance(err, securer.AuditUnavailable)
            assert isinstance(err, securer.TryAgain)
            fill.unlink()
            deadline = time.monotonic() + 15
            while True:
                try:
                    assert s.execute("3 + 3").value == 6.0
                    break
                except securer.AuditUnavailable:
                    assert time.monotonic() < deadline
                    time.sleep(0.3)
        d.stop()
    finally:
        subprocess.run(["umount", "-l", str(logs)], capture_output=True)


def test_refused_before_hello_is_said(make_daemon: Any,
                                      monkeypatch: pytest.MonkeyPatch
                                      ) -> None:
    """A connection refused at accept: the daemon has said why and closed
    before hello is written, whose write then fails (EPIPE).  The refusal
    is the error, not the broken pipe (Unauthorized is also an OSError)."""
    from securer import _resolve
    connect = _resolve.connect

    def late(*a: Any, **kw: Any) -> Any:
        s = connect(*a, **kw)
        time.sleep(0.2)
        return s
    monkeypatch.setattr(_resolve, "connect", late)
    d = make_daemon('allow user "nobody"')
    for _ in range(3):
        with pytest.raises(securer.Unauthorized):
            securer.Session(d.sock)
