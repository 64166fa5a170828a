"""Files move in chunks: file.put's offset/more and file.get's ranges.

The requests are made here and sent by the sync or asyncio client; the
bytes are read from, or written to, a file as they go, so that neither
the client nor the daemon holds a large file whole.
"""

from __future__ import annotations

import base64
import os
import tempfile
import time
from typing import IO, Any, Callable, Iterator

from .errors import ClientError, MemoryBusy, ProtocolViolation
from .results import b64decode_strict

#: The bytes of one chunk: under the daemon's 4 MiB per chunk with room
#: for base64 in its request and reply lines.
CHUNK = 1 << 20

#: memory_busy: the tries in all, and the first pause in seconds (it
#: doubles after each try).
BUSY_TRIES = 5
BUSY_PAUSE = 0.05


def busy_pauses() -> Iterator[float]:
    """The pauses before each retry after memory_busy."""
    for i in range(BUSY_TRIES - 1):
        yield BUSY_PAUSE * (2 ** i)


def call_retrying(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """call(), tried again after a pause while it raises MemoryBusy."""
    for pause in busy_pauses():
        try:
            return call()
        except MemoryBusy:
            time.sleep(pause)
    return call()


def _read_full(f: IO[bytes], n: int) -> bytes:
    """n bytes of f, fewer only at its end (a pipe may give less)."""
    b = f.read(n)
    if not isinstance(b, (bytes, bytearray)):
        raise ClientError("the file to put must be opened in binary mode")
    if len(b) == n or not b:
        return bytes(b)
    parts = [b]
    got = len(b)
    while got < n:
        more = f.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class Source:
    """What put_file reads: bytes, a local file by path, or a file object
    (read from where it stands, not closed)."""

    def __init__(self, name: str, data: Any) -> None:
        self._own: IO[bytes] | None = None
        self._buf: memoryview | None = None
        self._f: IO[bytes] | None = None
        self._pos = 0
        if data is None:
            self.name = os.path.basename(name)
            self._own = self._f = open(name, "rb")
            return
        self.name = name
        if isinstance(data, os.PathLike):
            self._own = self._f = open(data, "rb")
        elif isinstance(data, str):
            self._buf = memoryview(data.encode("utf-8"))
        elif isinstance(data, (bytes, bytearray, memoryview)):
            self._buf = memoryview(data).cast("B")
        elif callable(getattr(data, "read", None)):
            self._f = data
        else:
            raise ClientError("data must be bytes, a str, a path or a "
                              "binary file object")

    def read(self, n: int) -> bytes:
        if self._buf is not None:
            b = bytes(self._buf[self._pos:self._pos + n])
            self._pos += len(b)
            return b
        assert self._f is not None
        return _read_full(self._f, n)

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
            self._own = None


def put_chunks(session: str, src: Source
               ) -> Iterator[tuple[dict[str, Any], int]]:
    """The file.put requests of src, one chunk each, with the bytes sent
    once it is; the one after a chunk is read ahead, for the chunk must
    say whether more follow."""
    offset = 0
    chunk = src.read(CHUNK)
    while True:
        after = src.read(CHUNK) if len(chunk) == CHUNK else b""
        more = len(after) > 0
        yield ({"session": session, "name": src.name,
                "data": base64.b64encode(chunk).decode("ascii"),
                "offset": offset, "more": more}, offset + len(chunk))
        offset += len(chunk)
        if not more:
            return
        chunk = after


def put_size(reply: dict[str, Any], sent: int) -> int:
    size = reply.get("size")
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        return sent
    return int(size)


class Sink:
    """Where get_file's bytes go: kept (returned), a binary file object,
    or a local path, written to a hidden file beside it that is renamed
    into place at the end so that a failed get leaves no half file."""

    def __init__(self, path: Any) -> None:
        self._kept: bytearray | None = None
        self._f: IO[bytes] | None = None
        self._tmp: str | None = None
        self._path: str | None = None
        if path is None:
            self._kept = bytearray()
        elif isinstance(path, (str, os.PathLike)):
            self._path = os.fspath(path)
            d = os.path.dirname(os.path.abspath(self._path))
            fd, self._tmp = tempfile.mkstemp(prefix=".securer-get-", dir=d)
            self._f = os.fdopen(fd, "wb")
        elif callable(getattr(path, "write", None)):
            self._f = path
        else:
            raise ClientError("path must be a path or a binary file object")

    def write(self, b: bytes) -> None:
        if self._kept is not None:
            self._kept += b
        else:
            assert self._f is not None
            self._f.write(b)

    def done(self, size: int) -> bytes | int:
        """The bytes kept, else the size written."""
        if self._kept is not None:
            return bytes(self._kept)
        if self._tmp is not None:
            assert self._f is not None and self._path is not None
            self._f.close()
            self._f = None
            os.replace(self._tmp, self._path)
            self._tmp = None
        return size

    def abandon(self) -> None:
        if self._tmp is not None:
            assert self._f is not None
            self._f.close()
            os.unlink(self._tmp)
            self._tmp = None


class Ranges:
    """The file.get requests of a file, a chunk at a time: the first
    reply says its size."""

    def __init__(self, session: str, name: str, sink: Sink) -> None:
        self.session = session
        self.name = name
        self.sink = sink
        self.offset = 0
        self.size: int | None = None

    def request(self) -> dict[str, Any] | None:
        """The next range to ask for, or None when all came."""
        if self.size is not None and self.offset >= self.size:
            return None
        want = CHUNK if self.size is None else \
            min(CHUNK, self.size - self.offset)
        return {"session": self.session, "name": self.name,
                "offset": self.offset, "length": want}

    def reply(self, r: dict[str, Any], want: int) -> None:
        data = b64decode_strict(r.get("data"), "a file")
        size = r.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ProtocolViolation("securerd's reply to file.get has no "
                                    "size")
        if self.size is None:
            self.size = size
        if size != self.size or len(data) > want or \
                (not data and self.offset < size) or \
                self.offset + len(data) > size:
            raise ProtocolViolation("securerd's reply to file.get is not "
                                    f"the range asked of {self.name!r}")
        self.sink.write(data)
        self.offset += len(data)


def put(session: str, src: Source,
        call: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """Puts src chunk by chunk with call (the sync client's loop): the
    file's size."""
    sent = 0
    r: dict[str, Any] = {}
    try:
        for fields, end in put_chunks(session, src):
            r = call_retrying(lambda: call(fields))
            sent = end
    finally:
        src.close()
    return put_size(r, sent)


def get(ranges: Ranges,
        call: Callable[[dict[str, Any]], dict[str, Any]]) -> bytes | int:
    """Asks for every range of a file in turn (the sync client's loop)."""
    try:
        while (req := ranges.request()) is not None:
            fields: dict[str, Any] = req
            ranges.reply(call_retrying(lambda: call(fields)), req["length"])
    except BaseException:
        ranges.sink.abandon()
        raise
    return ranges.sink.done(ranges.offset)
