"""AsyncSession and AsyncPool: the same methods on asyncio, under
concurrency, with coroutine and plain tools."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

import securer
from securer import Output

from conftest import joined


async def test_session_methods(sock: str, tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    async with securer.AsyncSession() as s:
        assert len(s.id) == 32 and s.sandbox == "full"
        r = await s.execute("cat('a\\n'); message('m'); x <- 2; x * 21",
                            on_output=lambda st, t: seen.append((st, t)))
        assert r.value == 42.0 and r.stdout == "a\n"
        assert joined([Output(*p) for p in seen]) == [
            Output("stdout", "a\n"), Output("message", "m\n")]
        assert [tuple(o) for o in r.output] == seen
        assert await s.put_file("in.txt", "hello") == 5
        await s.execute("writeLines(toupper(readLines(file.path(Sys.getenv("
                        "'SECURER_INPUT'), 'in.txt'))), file.path(Sys.getenv("
                        "'SECURER_OUTPUT'), 'out.txt'))")
        assert await s.get_file("out.txt") == b"HELLO\n"
        assert await s.get_file("out.txt", tmp_path / "o") == 6
        assert (tmp_path / "o").read_bytes() == b"HELLO\n"
        st = await s.status()
        assert st.state == "idle" and st.executions == 2
        await s.restart()
        assert (await s.execute("exists('x')")).value is False
        with pytest.raises(securer.RError):
            await s.execute("stop('e')")
        with pytest.raises(securer.Timeout):
            await s.execute("Sys.sleep(3)", timeout=0.3)
        assert (await s.execute("1L")).value == 1
    assert s.closed
    with pytest.raises(securer.ClientError):
        await s.execute("1")


async def test_lazy_start_and_one_shot(sock: str) -> None:
    s = securer.AsyncSession()
    assert (await s.execute("2 + 2")).value == 4.0
    await s.close()
    await s.close()
    r = await securer.execute_r_async("cat('x'); 3L")
    assert r.value == 3 and r.stdout == "x"


async def test_tools(sock: str) -> None:
    calls: list[float] = []

    async def fetch(x: float) -> float:
        await asyncio.sleep(0.001)
        calls.append(x)
        return x + 1

    def plain(x: float) -> float:
        return -x

    async def fails() -> None:
        raise ValueError("async failure at /home/me/x.py")

    async with securer.AsyncSession(tools=[fetch, plain, fails]) as s:
        r = await s.execute("s <- 0; for (i in 1:1000) s <- s + fetch(i); s")
        assert r.value == sum(range(2, 1002))
        assert len(calls) == 1000
        assert (await s.execute("plain(3)")).value == -3.0
        with pytest.raises(securer.RError) as ei:
            await s.execute("fails()")
        assert ei.value.message == "async failure at [path]"


async def test_sessions_at_once(sock: str) -> None:
    """Several sessions run at once in one event loop."""
    sessions = [securer.AsyncSession() for _ in range(4)]
    await asyncio.gather(*(s.start() for s in sessions))
    try:
        t0 = time.monotonic()
        rs = await asyncio.gather(*(s.execute(f"Sys.sleep(1); {i}L")
                                    for i, s in enumerate(sessions)))
        assert [r.value for r in rs] == [0, 1, 2, 3]
        assert time.monotonic() - t0 < 2.5
    finally:
        await asyncio.gather(*(s.close() for s in sessions))


async def test_busy(sock: str) -> None:
    async with securer.AsyncSession() as s:
        long = asyncio.ensure_future(s.execute("Sys.sleep(1); 'done'"))
        await asyncio.sleep(0.4)
        with pytest.raises(securer.SessionBusy):
            await s.execute("1")
        assert (await long).value == "done"


async def test_pool(sock: str) -> None:
    active = [0]
    peak = [0]

    async def work(j: int, k: int) -> int:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        await asyncio.sleep(0.02)
        active[0] -= 1
        return j * 100 + k

    async with securer.AsyncPool(4, tools=[work]) as p:
        st = await p.status()
        assert st.size == 4 and st.idle == 4
        t0 = time.monotonic()
        rs = await p.map([f"Sys.sleep(1); {i}L" for i in range(4)])
        assert [r.value for r in rs] == [0, 1, 2, 3]  # type: ignore[union-attr]
        assert time.monotonic() - t0 < 2.5
        codes = [f"sum(vapply(1:10, function(k) work({j}L, k), 0))"
                 for j in range(8)] + ["stop('bad job')", "1 +"]
        rs = await p.map(codes, timeout=30)
        for j in range(8):
            r = rs[j]
            assert isinstance(r, securer.Result), r
            assert r.value == sum(j * 100 + k for k in range(1, 11))
        assert isinstance(rs[8], securer.RError)
        assert isinstance(rs[9], securer.RSyntaxError)
        assert peak[0] >= 2
        # A hundred executions at once on four sessions.
        many = await asyncio.gather(*(p.execute(f"{i}L", acquire_timeout=60)
                                      for i in range(100)))
        assert [r.value for r in many] == list(range(100))


async def test_cancel(sock: str) -> None:
    """A cancelled execution's tool call is answered, and the session is
    free again once the daemon ends it."""
    async def slow() -> int:
        await asyncio.sleep(10)
        return 1

    async with securer.AsyncSession(tools=[slow], timeout=30) as s:
        task = asyncio.ensure_future(s.execute(
            "r <- tryCatch(slow(), error = function(e) conditionMessage(e))"
            "; r"))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        t0 = time.monotonic()
        while True:
            try:
                r = await s.execute("r")
                break
            except (securer.SessionBusy, securer.RError):
                assert time.monotonic() - t0 < 10
                await asyncio.sleep(0.05)
        assert r.value == "the client was interrupted during this tool call"


async def test_connection_lost(daemon: Any, sock: str) -> None:
    async with securer.AsyncPool(1) as p:
        assert (await p.execute("1L")).value == 1
    s = securer.AsyncSession()
    await s.start()
    assert s._conn is not None
    s._conn._writer.transport.abort()
    with pytest.raises(securer.ConnectionLost):
        await s.execute("1")
    await s.close()


async def test_refused_before_hello_is_said(make_daemon: Any,
                                            monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    """As test_errors' case: asyncio closes its descriptor when the write
    of hello fails; the refusal the daemon sent before is still the
    error, and nothing is left open."""
    import os
    from securer import _resolve
    connect = _resolve.connect

    def late(*a: Any, **kw: Any) -> Any:
        s = connect(*a, **kw)
        time.sleep(0.2)
        return s
    monkeypatch.setattr(_resolve, "connect", late)
    d = make_daemon('allow user "nobody"')
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(securer.Unauthorized):
            await securer.AsyncSession(d.sock).start()
    assert len(os.listdir("/proc/self/fd")) == fds
