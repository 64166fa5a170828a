"""Files in chunks: put_file and get_file move 1 MiB at a time
(file.put's offset/more, file.get's ranges), from and to paths, file
objects and bytes, up to the daemon's file-size; the errors of chunking
have their classes; memory_busy is tried again."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

import securer
from securer import _files
from securer.aio import AsyncSession

from conftest import Daemon

MIB = 1 << 20
# The module daemon's file-size: the 20 MB file fits, 25 MB does not.
FILE_SIZE = 24 * MIB

# The code copies an input to its output (alone there: the worker's disk
# is small) and says the copy's size.
COPY = ("o <- Sys.getenv('SECURER_OUTPUT'); "
        "unlink(list.files(o, full.names = TRUE)); "
        "file.copy(file.path(Sys.getenv('SECURER_INPUT'), '{0}'), o); "
        "file.size(file.path(o, '{0}'))")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = Daemon(tmp_path_factory.mktemp("d"), [f"file-size {FILE_SIZE}"])
    yield d
    d.stop()


@pytest.fixture
def session(daemon: Daemon) -> Iterator[securer.Session]:
    with securer.Session(daemon.sock, autostart=False) as s:
        yield s


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_20mb_round_trip(session: securer.Session, tmp_path: Path) -> None:
    data = os.urandom(20_000_000)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    assert session.put_file("big.bin", local) == len(data)
    assert session.execute(COPY.format("big.bin")).value == len(data)
    out = tmp_path / "back.bin"
    assert session.get_file("big.bin", out) == len(data)
    assert sha(out.read_bytes()) == sha(data)
    # No hidden file of the get is left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.bin",
                                                          "big.bin"]
    got = session.get_file("big.bin")
    assert isinstance(got, bytes) and sha(got) == sha(data)

def test_file_objects(daemon: Daemon, tmp_path: Path) -> None:
    data = os.urandom(5 * MIB + 3)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    # From an open file, read from where it stands; to an open file.
    with securer.Session(daemon.sock, autostart=False) as session, \
            open(local, "rb") as f:
        f.seek(7)
        assert session.put_file("tail.bin", f) == len(data) - 7
        assert not f.closed
        assert session.execute(COPY.format("tail.bin")).value == \
            len(data) - 7
        sink = io.BytesIO()
        assert session.get_file("tail.bin", sink) == len(data) - 7
        assert sha(sink.getvalue()) == sha(data[7:])


@pytest.mark.parametrize("n", [0, 1, MIB - 1, MIB, MIB + 1, 2 * MIB,
                               3 * MIB + 5])
def test_sizes_at_chunk_bounds(session: securer.Session, n: int) -> None:
    data = os.urandom(n)
    assert session.put_file("f.bin", data) == n
    assert session.execute(COPY.format("f.bin")).value == n
    assert session.get_file("f.bin") == data
    sink = io.BytesIO()
    assert session.get_file("f.bin", sink) == n
    assert sink.getvalue() == data


class Trickle(io.RawIOBase):
    """A stream that gives at most 1000 bytes a read, as a pipe may."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        b = self.data[self.pos:self.pos + min(n, 1000)]
        self.pos += len(b)
        return b


def test_short_reads(session: securer.Session) -> None:
    data = os.urandom(MIB + 4321)
    assert session.put_file("t.bin", Trickle(data)) == len(data)
    assert session.execute(COPY.format("t.bin")).value == len(data)
    assert session.get_file("t.bin") == data


def test_over_file_size(session: securer.Session, tmp_path: Path) -> None:
    with pytest.raises(securer.FileTooLarge):
        session.put_file("huge.bin", b"\0" * (FILE_SIZE + 1))
    # The code never sees a part of it; the session goes on.
    assert session.execute("file.exists(file.path(Sys.getenv("
                           "'SECURER_INPUT'), 'huge.bin'))").value is False
    assert session.execute("1 + 1").value == 2
    assert session.put_file("small", b"ok") == 2
    assert session.execute("readLines(file.path(Sys.getenv("
                           "'SECURER_INPUT'), 'small'), warn = FALSE)"
                           ).value == "ok"
    # A file the code wrote past file-size cannot be got, and the get
    # leaves nothing at its path.
    session.execute(f"writeBin(raw({FILE_SIZE + 1}), file.path("
                    "Sys.getenv('SECURER_OUTPUT'), 'out.bin'))")
    with pytest.raises(securer.FileTooLarge):
        session.get_file("out.bin", tmp_path / "out.bin")
    assert list(tmp_path.iterdir()) == []
    assert session.execute("2 + 2").value == 4


def test_chunk_errors(session: securer.Session) -> None:
    conn = session._conn
    assert conn is not None
    with pytest.raises(securer.BadOffset):
        conn.call("file.put", {"session": session.id, "name": "x",
                               "data": "AAAA", "offset": 3, "more": False})
    session.put_file("x", b"abc")
    session.execute(COPY.format("x"))
    with pytest.raises(securer.BadOffset):
        conn.call("file.get", {"session": session.id, "name": "x",
                               "offset": 4, "length": 1})
    r = conn.call("file.get", {"session": session.id, "name": "x",
                               "offset": 3, "length": 1})
    assert r["data"] == "" and r["size"] == 3
    with pytest.raises(securer.ChunkTooLarge):
        conn.call("file.get", {"session": session.id, "name": "x",
                               "offset": 0, "length": 4 * MIB + 1})
    assert session.get_file("x") == b"abc"


def test_memory_busy_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_files, "BUSY_PAUSE", 0.001)
    calls: list[int] = []

    def busy_twice() -> dict[str, Any]:
        calls.append(1)
        if len(calls) <= 2:
            raise securer.MemoryBusy("busy", details={"code": "memory_busy"})
        return {"ok": True}

    assert _files.call_retrying(busy_twice) == {"ok": True}
    assert len(calls) == 3
    calls.clear()

    def always_busy() -> dict[str, Any]:
        calls.append(1)
        raise securer.MemoryBusy("busy")

    with pytest.raises(securer.MemoryBusy):
        _files.call_retrying(always_busy)
    assert len(calls) == _files.BUSY_TRIES
    assert issubclass(securer.MemoryBusy, securer.TryAgain)


def test_async(daemon: Daemon, tmp_path: Path) -> None:
    data = os.urandom(3 * MIB + 1)

    async def run() -> None:
        async with AsyncSession(daemon.sock, autostart=False) as s:
            local = tmp_path / "a.bin"
            local.write_bytes(data)
            assert await s.put_file("a.bin", local) == len(data)
            r = await s.execute(COPY.format("a.bin"))
            assert r.value == len(data)
            assert await s.get_file("a.bin") == data
            out = tmp_path / "b.bin"
            assert await s.get_file("a.bin", out) == len(data)
            assert out.read_bytes() == data
            assert await s.put_file("e", b"") == 0
            await s.execute(COPY.format("e"))
            assert await s.get_file("e") == b""
            with pytest.raises(securer.FileTooLarge):
                await s.put_file("huge", io.BytesIO(b"\0" * (FILE_SIZE + 1)))
            assert (await s.execute("1 + 1")).value == 2

    asyncio.run(run())
