"""Pools under concurrency, from threads: executions in parallel, map's
results and errors per job, tools served for every running job."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import securer


def test_parallel(sock: str) -> None:
    with securer.Pool(4) as p:
        st = p.status()
        assert (st.size, st.total, st.idle, st.busy) == (4, 4, 4, 0)
        t0 = time.monotonic()
        rs = p.map([f"Sys.sleep(1); {i}L" for i in range(4)])
        took = time.monotonic() - t0
        assert [r.value for r in rs] == [0, 1, 2, 3]  # type: ignore[union-attr]
        assert took < 2.5, took
        assert len({r.session for r in rs}) == 4  # type: ignore[union-attr]
        assert p.status().executions == 4


def test_map_errors_per_job(sock: str) -> None:
    # A session each, so that no job waits for the one that times out to
    # get its fresh worker.
    with securer.Pool(5) as p:
        rs = p.map(["1 + 1", "stop('job 2 fails')", "1 +",
                    "Sys.sleep(10)", "'last'"], timeout=1)
        assert isinstance(rs[0], securer.Result) and rs[0].value == 2.0
        assert isinstance(rs[1], securer.RError) and \
            rs[1].message == "job 2 fails"
        assert isinstance(rs[2], securer.RSyntaxError)
        assert isinstance(rs[3], securer.Timeout)
        assert isinstance(rs[4], securer.Result) and rs[4].value == "last"
        with pytest.raises(securer.RError):
            p.map(["1", "stop('x')"], return_exceptions=False)
        # The pool replaced the session that timed out.
        assert [r.value for r in p.map(["1L", "2L", "3L"])] == [1, 2, 3]  # type: ignore[union-attr]


def test_tools_for_every_job(sock: str) -> None:
    """Each running job's tool calls are served, at the same time."""
    lock = threading.Lock()
    running = [0]
    peak = [0]
    calls: list[tuple[int, int]] = []

    def work(job: int, k: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
            calls.append((job, k))
        return job * 100 + k

    with securer.Pool(4, tools=[work]) as p:
        codes = [f"sum(vapply(1:10, function(k) work({j}L, k), 0))"
                 for j in range(8)]
        rs = p.map(codes)
        for j, r in enumerate(rs):
            assert isinstance(r, securer.Result), r
            assert r.value == sum(j * 100 + k for k in range(1, 11))
        assert sorted(calls) == [(j, k) for j in range(8)
                                 for k in range(1, 11)]
        assert peak[0] >= 2, peak


def test_threads_share_a_pool(sock: str) -> None:
    """Eight threads, fifty executions each, on four sessions."""
    errors: list[BaseException] = []
    seen: list[int] = []

    def twice(x: int) -> int:
        return 2 * x

    with securer.Pool(4, tools=[twice], acquire_timeout=60) as p:
        def run(t: int) -> None:
            try:
                for i in range(50):
                    n = t * 1000 + i
                    r = p.execute(f"twice({n}L)")
                    assert r.value == 2 * n
                    seen.append(n)
            except BaseException as e:
                errors.append(e)

        ts = [threading.Thread(target=run, args=(t,)) for t in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        assert errors == []
        assert sorted(seen) == sorted(t * 1000 + i for t in range(8)
                                      for i in range(50))


def test_reset_between_uses(sock: str) -> None:
    with securer.Pool(1, reset_between_uses=True,
                      acquire_timeout=30) as p:
        p.execute("x <- 1")
        assert p.execute("exists('x')").value is False
    with securer.Pool(1) as p:
        p.execute("x <- 1")
        assert p.execute("exists('x')").value is True


def test_close_during_execution(sock: str) -> None:
    p = securer.Pool(1)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            p.execute("Sys.sleep(5)")
        except securer.SecurerError as e:
            box["e"] = e

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.6)
    p.close()
    t.join(10)
    assert isinstance(box.get("e"), (securer.Closed, securer.ConnectionLost))
    with pytest.raises(securer.ClientError):
        p.execute("1")


def test_sessions_in_threads(sock: str) -> None:
    """Sessions of their own in threads, tools in each, at once."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        def me() -> int:
            return i
        try:
            with securer.Session(tools=[securer.Tool(me, name="me")]) as s:
                for _ in range(20):
                    assert s.execute("me() * 2L").value == 2 * i
        except BaseException as e:
            errors.append(e)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert errors == []
