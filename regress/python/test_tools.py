"""Tools: Python callables from sandboxed R, typed from annotations, in
loops of a thousand calls, and failing, their errors sanitized as the
daemon sanitizes."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

import securer
from securer import DataFrame


def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


def test_specs_from_annotations() -> None:
    def f(n: int, s: str, ok: bool, xs: list[float], d: dict[str, Any],
          df: DataFrame, anything: Any, plain) -> None:  # type: ignore
        """Doc."""

    t = securer.tool(f)
    assert t.spec() == {"name": "f", "description": "Doc.", "args": {
        "n": "numeric", "s": "character", "ok": "logical", "xs": "numeric",
        "d": "list", "df": "data.frame", "anything": "", "plain": ""}}
    assert securer.tool(add, name="plus", description="+").spec()["name"] \
        == "plus"
    assert securer.Tool(lambda x: x, name="id", args={"x": "integer"}
                        ).spec()["args"] == {"x": "integer"}

    @securer.tool
    def deco(x: str) -> str:
        return x

    @securer.tool(name="renamed")
    def deco2(x: str) -> str:
        return x

    assert isinstance(deco, securer.Tool) and deco2.name == "renamed"
    for bad in [dict(fn=add, name="1x"), dict(fn=add, name="if"),
                dict(fn=eval("lambda x, /: x"), name="v"), dict(fn=5),
                dict(fn=add, args={"a": "complex"}),
                dict(fn=add, args={"_a": "numeric"})]:
        with pytest.raises(securer.BadTools):
            securer.Tool(**bad)  # type: ignore[arg-type]
    with pytest.raises(securer.BadTools):
        securer.Session(tools=[add, add], autostart=False, socket="/none")


def test_calls(sock: str) -> None:
    got: list[Any] = []

    def kinds(n: int, s: str, ok: bool, xs: list[float], d: dict[str, Any],
              df: DataFrame, anything: Any) -> str:
        got.append((n, s, ok, xs, d, df, anything))
        return "ok"

    with securer.Session(tools=[kinds, add]) as s:
        assert s.execute("add(0.1, 0.2)").value == 0.30000000000000004
        assert s.execute("add(1L, 2L)").value == 3.0
        assert s.execute("kinds(2, 'x', TRUE, c(1, 2.5), list(a = 1), "
                         "data.frame(z = 1:2), NULL)").value == "ok"
        n, st, ok, xs, d, df, anything = got[-1]
        assert n == 2 and type(n) is int and st == "x" and ok is True
        assert xs == [1.0, 2.5] and d == {"a": 1.0}
        assert isinstance(df, DataFrame) and df["z"] == [1, 2]
        assert anything is None
        # The daemon checks R types before the call reaches us ...
        with pytest.raises(securer.RError) as ei:
            s.execute("add('a', 1)")
        assert "add" in ei.value.message and "'a'" in ei.value.message
        # ... and the annotations what R's types cannot say.
        for code, what in [
                ("kinds(2.5, 'x', TRUE, 1, list(), data.frame(), 1)",
                 "must be a whole number"),
                ("kinds(1:2, 'x', TRUE, 1, list(), data.frame(), 1)",
                 "must be a single whole number"),
                ("kinds(1, c('x', 'y'), TRUE, 1, list(), data.frame(), 1)",
                 "must be a single string"),
                ("kinds(1, 'x', NA, 1, list(), data.frame(), 1)",
                 "must be TRUE or FALSE")]:
            with pytest.raises(securer.RError) as ei:
                s.execute(code)
            assert what in ei.value.message, ei.value.message
        # A missing argument is R's error, in the tool's call.
        with pytest.raises(securer.RError) as ei:
            s.execute("add(1)")
        assert "missing" in ei.value.message
        assert s.status().tools == ["kinds", "add"]


def test_thousand_calls(sock: str) -> None:
    calls: list[float] = []
    threads: set[int] = set()

    def count(i: float) -> float:
        calls.append(i)
        threads.add(threading.get_ident())
        return i * 2

    with securer.Session(tools=[count]) as s:
        r = s.execute("s <- 0; for (i in 1:1000) s <- s + count(i); s")
        assert r.value == 2 * sum(range(1, 1001))
        assert calls == [float(i) for i in range(1, 1001)]
        # In the thread that called execute().
        assert threads == {threading.get_ident()}
        # And again, a thousand more in the same session.
        assert s.execute("sum(vapply(1:1000, count, 0))").value == \
            2 * sum(range(1, 1001))


def test_call_records(make_daemon: Any) -> None:
    """Every call has its audit record once its execution ended, in
    order; one that is held in the monitor while its execution still
    runs (calls share a wakeup of the broker) is in the log within its
    bound (10 ms), not only at the execution's end."""
    d = make_daemon("audit-sync never")

    def records(session_id: str) -> list[dict[str, Any]]:
        with open(d.audit) as f:
            recs = [json.loads(line) for line in f]
        return [r for r in recs if r["event"] == "tool_call" and
                r["session"] == session_id]

    seen: list[float] = []

    def count(i: float) -> float:
        return i

    def wait_seen(sid: str) -> bool:
        t0 = time.monotonic()
        while not records(sid):
            if time.monotonic() - t0 > 2:
                return False
            time.sleep(0.005)
        seen.append(time.monotonic() - t0)
        return True

    sid: list[str] = []

    def first_seen() -> bool:
        return wait_seen(sid[0])

    with securer.Session(d.sock, autostart=False,
                         tools=[count, first_seen]) as s:
        sid.append(s.id)
        r = s.execute("count(1); first_seen()")
        assert r.value is True, "count(1)'s record was not in the log " \
            "while its execution ran"
        assert seen[0] < 1.0
        s.execute("for (i in 1:500) count(i); NULL")
        recs = records(sid[0])
        # count(1), first_seen() and the 500.
        assert len(recs) == 502
        assert [r["tool"] for r in recs[2:]] == ["count"] * 500
        assert all(r["status"] == "ok" for r in recs)
        seqs = [r["seq"] for r in recs]
        assert seqs == sorted(seqs)


def test_failing_tools(sock: str) -> None:
    def fail(i: int) -> int:
        if i % 10 == 0:
            raise ValueError(f"bad input {i}")
        return i

    def boom() -> None:
        raise RuntimeError("")

    def key() -> None:
        raise KeyError("k")

    with securer.Session(tools=[fail, boom, key]) as s:
        r = s.execute("""
            out <- character(0)
            for (i in 1:1000) {
                v <- tryCatch(fail(i), error = function(e) conditionMessage(e))
                if (is.character(v)) out <- c(out, v)
            }
            out""")
        assert r.value == [f"bad input {i}" for i in range(10, 1001, 10)]
        with pytest.raises(securer.RError) as ei:
            s.execute("fail(20)")
        assert ei.value.message == "bad input 20"
        assert s.execute("tryCatch(boom(), error = function(e) "
                         "conditionMessage(e))").value == "RuntimeError"
        assert s.execute("tryCatch(key(), error = function(e) "
                         "conditionMessage(e))").value == "KeyError: 'k'"
        assert s.execute("tryCatch(fail(30), error = function(e) "
                         "class(e))").value == ["simpleError", "error",
                                                "condition"]
        assert s.execute("1").value == 1.0


MESSAGES = [
    "open /home/joe/.ssh/id_rsa failed",
    "connect to db.internal.example.com:5432 refused",
    "worker pid 4242 died; process 17 too",
    "see https://user:pw@example.com/x?q=1 and 10.0.0.7:8080",
    "fd at ~/secrets and ~root/x",
    "Traceback (most recent call last):\n  File \"/srv/app.py\", line 3",
    "error\nTraceback:\n  at secret.py:3",
    "C:\\Users\\joe\\file.txt missing, ::1 and fe80::1:2:3 too",
    "model.frame.default failed at localhost:99",
    "x" * 700,
    "\u00e9" * 400,
]


def test_errors_sanitized_as_the_daemon_does(sock: str) -> None:
    """What a tool's exception says reaches R as the daemon sanitizes an
    R error with sanitize = TRUE: the same rules (monitor/sanitize.c)."""
    box: dict[str, str] = {}

    def leak() -> None:
        raise OSError(box["msg"])

    with securer.Session(tools=[leak]) as s:
        for m in MESSAGES:
            box["msg"] = m
            seen = s.execute("tryCatch(leak(), error = function(e) "
                             "conditionMessage(e))").value
            s.execute("m <- ''")
            with pytest.raises(securer.RError) as ei:
                s.execute(f"stop({securer.values.dumps(m)})", sanitize=True)
            assert seen == ei.value.message, m
            assert "/home/joe" not in seen and "4242" not in seen
            assert "example.com" not in seen and "10.0.0.7" not in seen
            assert len(seen.encode()) <= 500
        box["msg"] = MESSAGES[0]
        assert s.execute("tryCatch(leak(), error = function(e) "
                         "conditionMessage(e))").value == \
            "open [path] failed"


def test_tool_values(sock: str) -> None:
    def frame() -> DataFrame:
        return DataFrame({"x": [1, 2], "y": ["a", "b"]})

    def nothing() -> None:
        return None

    def nested() -> dict[str, Any]:
        return {"a": [1, 2, 3], "b": {"c": "d"}, "e": [1.5, None]}

    def unencodable() -> object:
        return object()

    with securer.Session(tools=[frame, nothing, nested, unencodable]) as s:
        assert s.execute("identical(frame(), data.frame(x = 1:2, y = c('a', "
                         "'b')))").value is True
        assert s.execute("is.null(nothing())").value is True
        assert s.execute("identical(nested(), list(a = 1:3, b = list(c = "
                         "'d'), e = list(1.5, NULL)))").value is True
        with pytest.raises(securer.RError) as ei:
            s.execute("unencodable()")
        assert "cannot be sent to R" in ei.value.message


def test_async_tool_in_sync_session(sock: str) -> None:
    async def later() -> int:
        return 1

    with securer.Session(tools=[later]) as s:
        with pytest.raises(securer.RError) as ei:
            s.execute("later()")
        assert "AsyncSession" in ei.value.message


def test_max_tool_calls(sock: str) -> None:
    with securer.Session(tools=[add]) as s:
        assert s.execute("add(1, 2) + add(3, 4)", max_tool_calls=2
                         ).value == 10.0
        with pytest.raises(securer.ToolCallsExceeded):
            s.execute("for (i in 1:3) add(i, 1)", max_tool_calls=2)
        assert s.execute("add(1, 1)").value == 2.0


def test_tool_mapping_and_plain_callables(sock: str) -> None:
    with securer.Session(tools={"plus": add, "neg": lambda x: -x}) as s:
        assert s.execute("plus(1, neg(3))").value == -2.0
    with securer.Session(tools=add) as s:
        assert s.execute("add(2, 2)").value == 4.0
