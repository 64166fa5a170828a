"""Time-outs and recovery: the error comes at the deadline, the session
goes on with a fresh worker, late tool answers do no harm, and an
execution nobody waits for does not block the session."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest

import securer


def test_timeout_and_recovery(session: securer.Session) -> None:
    session.execute("x <- 42")
    t0 = time.monotonic()
    with pytest.raises(securer.Timeout) as ei:
        session.execute("cat('before\\n'); Sys.sleep(10)", timeout=0.5)
    took = time.monotonic() - t0
    e = ei.value
    assert 0.5 <= took < 3.0, took
    assert e.timeout == 0.5 and e.state_lost and isinstance(e, TimeoutError)
    assert e.stdout == "before\n"
    # A fresh worker: it answers, and the state is gone.
    assert session.execute("1 + 1").value == 2.0
    assert session.execute("exists('x')").value is False


def test_timeouts_in_a_row(session: securer.Session) -> None:
    for i in range(5):
        with pytest.raises(securer.Timeout):
            session.execute("repeat {}", timeout=0.3)
        assert session.execute(f"{i} * 2").value == i * 2.0


def test_session_default_and_none(sock: str) -> None:
    with securer.Session(timeout=0.4) as s:
        with pytest.raises(securer.Timeout) as ei:
            s.execute("Sys.sleep(3)")
        assert ei.value.timeout == 0.4
        # Per execution: longer, or none at all.
        assert s.execute("Sys.sleep(0.6); 1", timeout=2).value == 1.0
        assert s.execute("Sys.sleep(0.6); 2", timeout=math.inf).value == 2.0
        assert s.execute("Sys.sleep(0.6); 3", timeout=0).value == 3.0
    with securer.Session(timeout=0) as s:
        assert s.execute("Sys.sleep(0.5); 4").value == 4.0
    for bad in (-1, math.nan, "1", True):
        with pytest.raises(securer.ClientError):
            securer.Session(timeout=bad)  # type: ignore[arg-type]


def test_timeout_during_tool(sock: str) -> None:
    """The deadline passes while a tool runs: Timeout; the tool's late
    answer is refused by the daemon and dropped; the session goes on."""
    calls = []

    def slow(x: float) -> float:
        calls.append(x)
        time.sleep(1.2)
        return x

    with securer.Session(tools=[slow]) as s:
        with pytest.raises(securer.Timeout):
            s.execute("slow(1)", timeout=0.4)
        assert calls == [1.0]
        assert s.execute("slow(2) + 1", timeout=5).value == 3.0
        assert s.execute("'after'").value == "after"


class _Alarm(Exception):
    pass


def test_abandoned_execution(sock: str) -> None:
    """An execution whose caller stopped waiting (an interrupt while the
    code runs): its later tool calls are answered with an error, so the
    code does not block until its deadline, and the session is free
    again."""
    import signal

    def tool(x: float) -> float:
        return x

    def alarm(signum: int, frame: Any) -> None:
        raise _Alarm()

    old = signal.signal(signal.SIGALRM, alarm)
    try:
        with securer.Session(tools=[tool], timeout=30) as s:
            signal.setitimer(signal.ITIMER_REAL, 0.5)
            with pytest.raises(_Alarm):
                s.execute("Sys.sleep(1.5); r <- tryCatch(tool(1), error = "
                          "function(e) conditionMessage(e)); r")
            t0 = time.monotonic()
            while True:
                try:
                    r = s.execute("r")
                    break
                except (securer.SessionBusy, securer.RError):
                    # Busy until the abandoned code ends; r is set then.
                    assert time.monotonic() - t0 < 10
                    time.sleep(0.05)
            assert r.value == "the client stopped waiting for this execution"
            assert time.monotonic() - t0 < 10
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_interrupted_wait(sock: str) -> None:
    """A KeyboardInterrupt in the middle of execute() leaves the session
    usable once the daemon has ended the execution."""
    def tool() -> int:
        raise KeyboardInterrupt

    with securer.Session(tools=[tool]) as s:
        # A BaseException from a tool goes to the caller, and the code
        # waiting for the tool is let go (its call gets an error).
        with pytest.raises(KeyboardInterrupt):
            s.execute("tool()")
        deadline = time.monotonic() + 10
        while True:
            try:
                assert s.execute("5").value == 5.0
                break
            except securer.SessionBusy:
                assert time.monotonic() < deadline
                time.sleep(0.05)


def test_threads_each_with_timeouts(sock: str) -> None:
    """Sessions in several threads, each timing out and recovering."""
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with securer.Session() as s:
                for _ in range(2):
                    with pytest.raises(securer.Timeout):
                        s.execute("Sys.sleep(5)", timeout=0.3)
                    assert s.execute(f"{i}L").value == i
        except BaseException as e:
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert errors == []
