"""Sessions: results, output as it streams, plots, advisories, files,
restart, status, close."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import securer
from securer import Output

from conftest import Daemon, joined


def audit_events(d: Daemon, event: str) -> list[dict[str, Any]]:
    out = []
    for line in Path(d.audit).read_text().splitlines():
        r = json.loads(line)
        if r.get("event") == event:
            out.append(r)
    return out


def test_result(session: securer.Session) -> None:
    r = session.execute("x <- c(a = 1.5); x")
    assert r.value == [1.5] and r.visible is True
    assert r.printed == "  a \n1.5 \n"
    assert r.elapsed > 0 and r.truncated is False
    assert r.session == session.id
    r = session.execute("invisible(3)")
    assert r.value == 3.0 and r.visible is False and r.printed == ""
    # State lives across executions.
    assert session.execute("x * 2").value == [3.0]
    assert session.execute("NULL").value is None
    assert "value=" in repr(r)


def test_output_streams_in_order(session: securer.Session) -> None:
    seen: list[tuple[str, str]] = []
    r = session.execute("cat('a\\n'); message('m'); cat('b', file = "
                        "stderr()); warning('w'); print(1); cat('c')",
                        on_output=lambda s, t: seen.append((s, t)))
    want = [Output("stdout", "a\n"), Output("message", "m\n"),
            Output("stderr", "b"), Output("warning", "w"),
            Output("stdout", "[1] 1\nc")]
    assert joined(r.output) == want
    # The callback saw each piece as it came, the same pieces.
    assert seen == [tuple(o) for o in r.output]
    assert r.stdout == "a\n[1] 1\nc" and r.stderr == "b"
    assert r.messages == ["m"] and r.warnings == ["w"]
    assert r.lines("stdout") == ["a", "[1] 1", "c"]
    assert r.lines() == ["a", "m", "w", "[1] 1", "b", "c"]


def test_output_order_many(session: securer.Session) -> None:
    """A thousand lines and ten messages arrive in the order written."""
    seen: list[str] = []
    r = session.execute("for (i in 1:1000) { cat(i, '\\n', sep = ''); "
                        "if (i %% 100 == 0) message('at ', i) }",
                        on_output=lambda s, t: seen.append(s))
    lines = r.lines()
    want: list[str] = []
    for i in range(1, 1001):
        want.append(str(i))
        if i % 100 == 0:
            want.append(f"at {i}")
    assert lines == want
    assert len(seen) == len(r.output)


def test_output_streams_while_running(session: securer.Session) -> None:
    """Output comes as R writes it, not with the result."""
    t0 = time.monotonic()
    when: list[float] = []
    r = session.execute("cat('start\\n'); Sys.sleep(1.5); cat('end\\n'); 1",
                        on_output=lambda s, t: when.append(
                            time.monotonic() - t0))
    done = time.monotonic() - t0
    assert r.stdout == "start\nend\n"
    assert when[0] < done - 1.0, (when, done)


def test_output_callback_error(session: securer.Session) -> None:
    """A callback that raises: the execution still ends, then the error
    is raised; the session goes on."""
    def bad(stream: str, text: str) -> None:
        raise KeyError("callback")

    with pytest.raises(KeyError):
        session.execute("cat('x\\n'); 5", on_output=bad)
    assert session.execute("6").value == 6.0


def test_plots(session: securer.Session, tmp_path: Path) -> None:
    r = session.execute("plot(1:10); hist(c(1, 2, 2, 3)); 7")
    assert r.value == 7.0 and len(r.plots) == 2
    p = r.plots[0]
    assert p.name == "plot-001.png" and p.mime_type == "image/png"
    assert p.data[:8] == b"\x89PNG\r\n\x1a\n" and p.size == (672, 672)
    assert r.plots[1].name == "plot-002.png"
    out = p.save(str(tmp_path / "p.png"))
    assert Path(out).read_bytes() == p.data
    # An execution that draws nothing has none; one that fails has its.
    assert session.execute("1").plots == []
    with pytest.raises(securer.RError) as ei:
        session.execute("plot(1); stop('after the plot')")
    assert len(ei.value.plots) == 1 and ei.value.message == "after the plot"


def test_advisories(session: securer.Session) -> None:
    r = session.execute("f <- system; g <- function() .Call('x'); 1")
    assert sorted(a.call for a in r.advisories) == [".Call", "system"]
    assert all(a.code == "risky_call" for a in r.advisories)
    assert session.execute("'system(1)' # system()").advisories == []
    with pytest.raises(securer.RError) as ei:
        session.execute("pipe; stop('no')")
    assert [a.call for a in ei.value.advisories] == ["pipe"]


def test_caps_and_echo(session: securer.Session) -> None:
    r = session.execute("for (i in 1:20) cat(i, '\\n')", max_output_lines=5)
    assert r.truncated is True and len(r.lines("stdout")) <= 5
    r = session.execute("1; 2\nx <- 3; 4", echo=True)
    assert r.stdout == "[1] 1\n[1] 2\n" and r.value == 4.0
    with pytest.raises(securer.RError) as ei:
        session.execute("stop('at /home/joe/secret.R, pid 4242')",
                        sanitize=True)
    assert ei.value.message == "at [path], pid [pid]"
    with pytest.raises(securer.RError) as ei:
        session.execute("stop('at /home/joe/secret.R, pid 4242')")
    assert ei.value.message == "at /home/joe/secret.R, pid 4242"


def test_files(session: securer.Session, tmp_path: Path) -> None:
    assert session.put_file("a.csv", "x,y\n1,2\n3,4\n") == 12
    assert session.put_file("b.bin", b"\x00\xff") == 2
    local = tmp_path / "c.txt"
    local.write_text("from a path")
    session.put_file("c.txt", local)
    session.put_file(str(local))          # by its base name
    r = session.execute(
        "d <- read.csv(file.path(Sys.getenv('SECURER_INPUT'), 'a.csv'));"
        "write.csv(d * 2, file.path(Sys.getenv('SECURER_OUTPUT'), "
        "'out.csv'), row.names = FALSE);"
        "c(readBin(file.path(Sys.getenv('SECURER_INPUT'), 'b.bin'), "
        "'raw', 2) == as.raw(c(0, 255)), readLines(file.path("
        "Sys.getenv('SECURER_INPUT'), 'c.txt')) == 'from a path')")
    assert r.value == [True, True, True]
    data = b'"x","y"\n2,4\n6,8\n'
    assert session.get_file("out.csv") == data
    # With a path, the bytes go there and the size comes back.
    assert session.get_file("out.csv", tmp_path / "out.csv") == len(data)
    assert (tmp_path / "out.csv").read_bytes() == data
    # The input is read-only to the code.
    with pytest.raises(securer.RError):
        session.execute("writeLines('no', file.path(Sys.getenv("
                        "'SECURER_INPUT'), 'a.csv'))")


def test_restart(session: securer.Session) -> None:
    session.execute("x <- 1")
    assert session.execute("exists('x')").value is True
    session.restart()
    assert session.execute("exists('x')").value is False


def test_status(session: securer.Session) -> None:
    before = session.status()
    assert before.session == session.id and before.state == "idle"
    assert before.sandbox == session.sandbox == "full"
    session.execute("1")
    after = session.status()
    assert after.executions == before.executions + 1
    assert session.server.startswith("securerd ")


def test_close(daemon: Daemon, sock: str) -> None:
    s = securer.Session()
    sid = s.id
    s.close()
    s.close()
    assert s.closed
    with pytest.raises(securer.ClientError):
        s.execute("1")
    with securer.Session() as s2:
        sid2 = s2.id
    assert s2.closed
    time.sleep(0.2)
    closed = {e.get("session") for e in audit_events(daemon,
                                                     "session_close")}
    assert {sid, sid2} <= closed


def test_busy_from_threads(session: securer.Session) -> None:
    """One execution at a time: another thread's gets SessionBusy, and so
    do restart and files meanwhile."""
    started = threading.Event()
    box: dict[str, Any] = {}

    def long() -> None:
        box["r"] = session.execute("Sys.sleep(1.5); 'done'",
                                   on_output=None)

    t = threading.Thread(target=long)
    t.start()
    time.sleep(0.5)
    started.set()
    with pytest.raises(securer.SessionBusy):
        session.execute("1")
    with pytest.raises(securer.SessionBusy):
        session.restart()
    with pytest.raises(securer.SessionBusy):
        session.put_file("x", b"1")
    t.join()
    assert box["r"].value == "done"
    assert session.execute("2").value == 2.0


def test_closed_during_execution(sock: str) -> None:
    s = securer.Session()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            s.execute("Sys.sleep(5)")
        except securer.SecurerError as e:
            box["e"] = e

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.6)
    s.close()
    t.join(10)
    assert not t.is_alive()
    assert isinstance(box["e"], (securer.Closed, securer.ConnectionLost))


def test_execute_r(daemon: Daemon, sock: str) -> None:
    r = securer.execute_r("cat('one shot\\n'); 6 * 7")
    assert r.value == 42.0 and r.stdout == "one shot\n"

    def twice(x: float) -> float:
        return 2 * x

    assert securer.execute_r("twice(21)", tools=[twice]).value == 42.0
    with pytest.raises(securer.Timeout):
        securer.execute_r("Sys.sleep(3)", timeout=0.3)


def test_big_values(session: securer.Session) -> None:
    v = session.execute("x <- seq(0, 1, length.out = 2e5); x").value
    assert len(v) == 200000 and v[-1] == 1.0 and v[1] == 1 / 199999
    s = session.execute("paste(rep('\u00e9', 1e5), collapse = '')").value
    assert s == "\u00e9" * 100000


def test_values_per_execution(session: securer.Session) -> None:
    np = pytest.importorskip("numpy")
    assert isinstance(session.execute("1:3", values="numpy").value,
                      np.ndarray)
    assert isinstance(session.execute("1:3").value, securer.Integer)
    with pytest.raises(ValueError):
        session.execute("1", values="polars")
