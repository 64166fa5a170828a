"""Sessions and pools of sandboxed R workers, on asyncio.

The same methods as :class:`securer.Session` and :class:`securer.Pool`,
as coroutines::

    async with securer.AsyncSession(tools=[securer.tool(fetch)]) as s:
        r = await s.execute("nrow(fetch('cars'))")

    async with securer.AsyncPool(size=4) as pool:
        results = await pool.map([f"Sys.sleep(1); {i}" for i in range(4)])

A tool may be a coroutine function (awaited) or a plain function (called
in the event loop: keep it short, or give it to a thread yourself).
Connecting, and starting a private daemon, run in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import secrets
import socket
from typing import Any, BinaryIO, Callable, Iterable, Mapping

from .errors import (ClientError, ConnectionLost, MemoryBusy,
                     ProtocolViolation, SecurerError, TooLarge, from_error)
from .results import PoolStatus, Result, Resumed, SessionStatus, \
    b64decode_strict, resumed_from
from .tools import Tool, as_tools
from . import _files
from . import _proto as P
from . import _resolve
from . import values as V

__all__ = ["AsyncSession", "AsyncPool", "execute_r_async"]

OutputHandler = Callable[[str, str], Any]
_DEAD: dict[str, Any] = {"__dead__": True}


class AsyncConnection:
    """One connection to the daemon, read by a task of its own that puts
    each message in its request's queue."""

    def __init__(self, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter,
                 spare: socket.socket | None = None) -> None:
        self._reader = reader
        # A second descriptor of the socket: when a write fails, asyncio
        # closes its own at once, and what the daemon said before it
        # closed (a refusal at accept) would be lost unread.
        self._spare = spare
        self._writer = writer
        self._ids = itertools.count(1)
        self._wlock = asyncio.Lock()
        self._queues: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self._alias: dict[int, int] = {}
        self._abandoned: dict[int, str | None] = {}
        self._dead: SecurerError | None = None
        self._task = asyncio.get_running_loop().create_task(self._read())
        self._pending: set[asyncio.Task[None]] = set()
        self.server = ""
        #: As Connection.peer_binary: the daemon has sent "bin".
        self.peer_binary = False
        # Its users: a session and its forks share it (session.fork).
        self._users = 1

    @classmethod
    async def open(cls, socket_path: str | None = None, *,
                   autostart: bool = True, securerd: str | None = None,
                   token: str | None = None, client: str | None = None,
                   binary: bool = True) -> AsyncConnection:
        """Connect (starting a private daemon if need be) and say hello."""
        sock = await asyncio.to_thread(_resolve.connect, socket_path,
                                       autostart=autostart,
                                       securerd=securerd)
        try:
            spare = sock.dup()
        except BaseException:
            sock.close()
            raise
        try:
            reader, writer = await asyncio.open_unix_connection(
                sock=sock, limit=P.LINE_MAX + 1)
        except BaseException:
            sock.close()
            spare.close()
            raise
        conn = cls(reader, writer, spare)
        try:
            r = await conn.call("hello", P.hello_fields(token, client,
                                                        binary))
            P.check_hello(r)
            srv = r.get("server")
            conn.server = srv if isinstance(srv, str) else ""
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _read(self) -> None:
        try:
            while True:
                try:
                    line = await self._reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    raise ConnectionLost("securerd closed the connection"
                                         ) from None
                except asyncio.LimitOverrunError:
                    raise ProtocolViolation("securerd sent a line longer "
                                            f"than {P.LINE_MAX} bytes"
                                            ) from None
                except OSError as e:
                    raise ConnectionLost(f"read from securerd: "
                                         f"{e.strerror or e}") from None
                try:
                    msg = V.loads(line)
                except ValueError:
                    raise ProtocolViolation("securerd sent a line that is "
                                            "not JSON") from None
                if not isinstance(msg, dict):
                    raise ProtocolViolation("securerd sent a line that is "
                                            "not a JSON object")
                self._route(msg)
        except SecurerError as e:
            self._fail(e)
        except asyncio.CancelledError:
            self._fail(ConnectionLost("the connection was closed"))
            raise

    def _route(self, msg: dict[str, Any]) -> None:
        mid = msg.get("id")
        error = msg.get("error")
        if mid is None and msg.get("ok") is False and \
                isinstance(error, dict) and self._dead is None and \
                error.get("code") in ("slow_client", "over_budget"):
            # The daemon dropped the connection and said why, last: every
            # later use raises that.
            self._dead = from_error(error)
        if mid is None and msg.get("ok") is False and self._queues:
            mid = min(self._queues)
        if not isinstance(mid, int) or isinstance(mid, bool):
            return
        owner = self._alias.get(mid, mid)
        q = self._queues.get(owner)
        if q is not None:
            q.put_nowait(msg)
            return
        if owner in self._abandoned:
            if "event" not in msg:
                del self._abandoned[owner]
                return
            msg = {"session": self._abandoned[owner], **msg}
        ans = P.abandoned_result(msg)
        if ans is not None:
            t = asyncio.get_running_loop().create_task(
                self._send_quiet({"id": next(self._ids), **ans}))
            self._pending.add(t)
            t.add_done_callback(self._pending.discard)

    async def _send_quiet(self, obj: dict[str, Any]) -> None:
        try:
            await self._send(obj)
        except SecurerError:
            pass

    def _fail(self, e: SecurerError) -> None:
        if self._dead is None:
            self._dead = e if isinstance(e, ConnectionLost) else \
                ConnectionLost(f"the connection to securerd is unusable: "
                               f"{e}")
        for q in self._queues.values():
            q.put_nowait(_DEAD)
        self._writer.close()
        self._close_spare()

    def _close_spare(self) -> None:
        if self._spare is not None:
            self._spare.close()
            self._spare = None

    async def _why_closed(self) -> None:
        """After a failed write: what the daemon sent before it closed,
        read from the spare descriptor (for at most 2 s) and routed."""
        spare = self._spare
        if spare is None:
            return
        spare.setblocking(False)
        loop = asyncio.get_running_loop()
        buf = bytearray()
        try:
            async with asyncio.timeout(2):
                while len(buf) <= P.LINE_MAX:
                    data = await loop.sock_recv(spare, 65536)
                    if not data:
                        break
                    buf += data
        except (OSError, TimeoutError):
            pass
        for line in bytes(buf).split(b"\n")[:-1]:
            try:
                msg = V.loads(line)
            except ValueError:
                return
            if isinstance(msg, dict):
                self._route(msg)

    def _refusal(self, rid: int) -> dict[str, Any] | None:
        """A refusal already in rid's queue, if any."""
        q = self._queues.get(rid)
        while q is not None and not q.empty():
            msg = q.get_nowait()
            if msg is not _DEAD and msg.get("ok") is False:
                return msg
        return None

    async def _send(self, obj: dict[str, Any]) -> None:
        data = (V.dumps(obj) + "\n").encode("utf-8")
        if len(data) > P.LINE_MAX:
            raise TooLarge(f"the request is {len(data)} bytes, more than "
                           f"securerd reads in a line ({P.LINE_MAX})")
        async with self._wlock:
            if self._dead is not None:
                raise self._dead
            try:
                self._writer.write(data)
                await self._writer.drain()
            except OSError as e:
                await self._why_closed()
                self._fail(ConnectionLost(f"write to securerd: "
                                          f"{e.strerror or e}"))
                raise self._dead from None  # type: ignore[misc]

    async def request(self, op: str, fields: dict[str, Any]) -> int:
        """Sends a request; returns its id, whose messages :meth:`wait`
        gives."""
        if self._dead is not None:
            raise self._dead
        rid = next(self._ids)
        self._queues[rid] = asyncio.Queue()
        try:
            await self._send({"id": rid, "op": op, **fields})
        except ConnectionLost:
            # The daemon may have said why before it closed (unauthorized,
            # too_many_connections at accept): that is the error.
            refusal = self._refusal(rid)
            self.done(rid)
            if refusal is not None:
                P.raise_for(refusal)
            raise
        except BaseException:
            self.done(rid)
            raise
        return rid

    async def send_for(self, owner: int, fields: dict[str, Any]) -> None:
        """Sends a tool_result whose refusal goes to owner's queue."""
        rid = next(self._ids)
        if owner in self._queues:
            self._alias[rid] = owner
        await self._send({"id": rid, **fields})

    def done(self, rid: int, abandoned: bool = False,
             session: str | None = None) -> None:
        """Forgets request rid; abandoned as Connection.done()."""
        self._queues.pop(rid, None)
        for a in [a for a, o in self._alias.items() if o == rid]:
            del self._alias[a]
        if abandoned:
            self._abandoned[rid] = session

    async def wait(self, rid: int) -> dict[str, Any]:
        """The next message for request rid."""
        q = self._queues.get(rid)
        if q is None:
            raise ClientError(f"request {rid} is not waiting")
        if self._dead is not None and q.empty():
            raise self._dead
        msg = await q.get()
        if msg is _DEAD:
            assert self._dead is not None
            raise self._dead
        return msg

    async def call(self, op: str, fields: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
        """A request and its final reply; the error raised if refused."""
        rid = await self.request(op, fields or {})
        try:
            while True:
                msg = await self.wait(rid)
                if "ok" in msg and "event" not in msg and \
                        msg.get("id") in (rid, None):
                    return P.raise_for(msg)
        finally:
            self.done(rid)

    @property
    def closed(self) -> bool:
        """Whether the connection is gone."""
        return self._dead is not None

    def retain(self) -> None:
        """One more user (a session forked on it): :meth:`release` then
        closes it only with the last."""
        self._users += 1

    async def release(self) -> None:
        """A user is done with the connection: it is closed once none is
        left."""
        self._users -= 1
        if self._users <= 0:
            await self.close()

    async def close(self) -> None:
        """Closes the connection."""
        if self._dead is None:
            self._dead = ConnectionLost("the connection was closed")
        for q in self._queues.values():
            q.put_nowait(_DEAD)
        self._task.cancel()
        self._writer.close()
        self._close_spare()
        try:
            await self._writer.wait_closed()
        except (OSError, asyncio.CancelledError):
            pass
        try:
            await self._task
        except (asyncio.CancelledError, SecurerError):
            pass


async def _busy_retrying(conn: AsyncConnection, op: str,
                         fields: dict[str, Any]) -> dict[str, Any]:
    """conn.call(op, fields), tried again after a pause while the daemon
    answers memory_busy."""
    for pause in _files.busy_pauses():
        try:
            return await conn.call(op, fields)
        except MemoryBusy:
            await asyncio.sleep(pause)
    return await conn.call(op, fields)


async def _run_tool(t: Tool, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    try:
        v = t.fn(**kwargs)
        if asyncio.iscoroutine(v) or isinstance(v, asyncio.Future):
            v = await v
        return v, None
    except Exception as e:
        return None, e


async def _execute(conn: AsyncConnection, op: str, fields: dict[str, Any],
                   session: str | None, tools: Mapping[str, Tool],
                   values: str, on_output: OutputHandler | None) -> Result:
    dec = V.Decoder(values)
    ex = P.Execution(session, tools, dec, on_output)
    rid = await conn.request(op, fields)
    try:
        while True:
            msg = await conn.wait(rid)
            if msg.get("id") != rid:
                ex.refused(msg)
                continue
            step = ex.feed(msg)
            if dec.saw_bin:
                conn.peer_binary = True
            if step is None:
                continue
            if isinstance(step, Result):
                return step
            prep = ex.prepare(step)
            if isinstance(prep, str):
                value, error = None, prep
            else:
                try:
                    value, error = await _run_tool(*prep)
                except BaseException:
                    # Cancelled or interrupted: the code waiting for this
                    # call is let go with an error, in a task of its own.
                    t = asyncio.get_running_loop().create_task(
                        conn._send_quiet({"id": next(conn._ids),
                                          **P.tool_result(
                                              step, V.Encoder(),
                                              error=P.INTERRUPTED)}))
                    conn._pending.add(t)
                    t.add_done_callback(conn._pending.discard)
                    raise
            if dec.saw_bin:
                conn.peer_binary = True
            await conn.send_for(rid, P.tool_result(
                step, V.Encoder(conn.peer_binary), value, error))
    finally:
        conn.done(rid, abandoned=not ex.ended and not conn.closed,
                  session=session)


class AsyncSession:
    """:class:`securer.Session` on asyncio; the same arguments.

    The session is made by ``await s.start()`` or ``async with``; the
    other methods start it if need be.
    """

    def __init__(self, socket: str | None = None, tools: Any = None,
                 limits: Mapping[str, Any] | None = None,
                 timeout: float | None = None, *,
                 sandbox_strict: bool = False,
                 max_executions: int | None = None,
                 token: str | None = None, autostart: bool = True,
                 securerd: str | None = None, values: str = "python",
                 binary: bool = True, client: str | None = None) -> None:
        self._tools = as_tools(tools)
        self._by_name = {t.name: t for t in self._tools}
        self._values = values
        V.Decoder(values)
        self._fields = P.session_fields(self._tools, limits, timeout,
                                        max_executions, sandbox_strict)
        self._open = dict(socket_path=socket, autostart=autostart,
                          securerd=securerd, token=token, client=client,
                          binary=binary)
        self._conn: AsyncConnection | None = None
        self._lock: asyncio.Lock | None = None
        self._closed = False
        self.id = ""
        self.sandbox = ""
        #: See :attr:`securer.Session.last_resumed`.
        self.last_resumed: Resumed | None = None
        #: See :attr:`securer.Session.forked_from`.
        self.forked_from: str | None = None

    @classmethod
    def _fork_of(cls, src: AsyncSession, conn: AsyncConnection, sid: str,
                 sandbox: str) -> AsyncSession:
        """The object of the session sid, a fork of src on its
        connection conn, with its tools and value mode."""
        s = cls.__new__(cls)
        s._tools = src._tools
        s._by_name = src._by_name
        s._values = src._values
        s._fields = src._fields
        s._open = src._open
        s._conn = conn
        s._lock = None
        s._closed = False
        s.id = sid
        s.sandbox = sandbox
        s.last_resumed = None
        s.forked_from = src.id
        conn.retain()
        return s

    async def start(self) -> AsyncSession:
        """Connects and creates the session (once)."""
        if self._closed:
            raise ClientError("the session is closed")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._conn is not None:
                return self
            conn = await AsyncConnection.open(**self._open)  # type: ignore
            try:
                r = await conn.call("session.create", self._fields)
            except BaseException:
                await conn.close()
                raise
            sid = r.get("session")
            if not isinstance(sid, str) or not sid:
                await conn.close()
                raise ProtocolViolation("securerd's reply to "
                                        "session.create has no session")
            self.id = sid
            sb = r.get("sandbox")
            self.sandbox = sb if isinstance(sb, str) else ""
            self._conn = conn
        return self

    async def _c(self) -> AsyncConnection:
        if self._closed:
            raise ClientError("the session is closed")
        if self._conn is None:
            await self.start()
        assert self._conn is not None
        return self._conn

    def _resumed(self, r: Resumed | None) -> None:
        if r is not None:
            self.last_resumed = r
            P.warn_resumed(r, stacklevel=4)

    async def _file_call(self, conn: AsyncConnection, op: str,
                         fields: dict[str, Any]) -> dict[str, Any]:
        """A file.put or file.get (tried again while memory_busy), noting
        a resume its reply (or refusal) says."""
        try:
            r = await _busy_retrying(conn, op, fields)
        except SecurerError as e:
            self._resumed(e.resumed)
            raise
        self._resumed(resumed_from(r))
        return r

    @property
    def tools(self) -> list[Tool]:
        """The session's tools."""
        return list(self._tools)

    @property
    def server(self) -> str:
        """The daemon's name and version."""
        return self._conn.server if self._conn is not None else ""

    @property
    def closed(self) -> bool:
        """Whether close() was called (or the connection is gone)."""
        return self._closed or (self._conn is not None and self._conn.closed)

    async def execute(self, code: str, timeout: float | None = None,
                      on_output: OutputHandler | None = None, *,
                      echo: bool = False, sanitize: bool = False,
                      max_tool_calls: int | None = None,
                      max_output_lines: int | None = None,
                      max_output_bytes: int | None = None,
                      values: str | None = None) -> Result:
        """See :meth:`securer.Session.execute`."""
        conn = await self._c()
        fields = P.exec_fields(code, timeout, echo, sanitize,
                               max_tool_calls, max_output_lines,
                               max_output_bytes)
        fields["session"] = self.id
        self.last_resumed = None
        try:
            r = await _execute(conn, "execute", fields, self.id,
                               self._by_name, values or self._values,
                               on_output)
        except SecurerError as e:
            self._resumed(e.resumed)
            raise
        self._resumed(r.resumed)
        return r

    async def put_file(self, name: str,
                       data: bytes | str | os.PathLike[str] | BinaryIO |
                       None = None) -> int:
        """See :meth:`securer.Session.put_file`.  A file object is read
        in this thread, a chunk at a time."""
        conn = await self._c()
        src = _files.Source(name, data)
        sent = 0
        r: dict[str, Any] = {}
        self.last_resumed = None
        try:
            for fields, end in _files.put_chunks(self.id, src):
                r = await self._file_call(conn, "file.put", fields)
                sent = end
        finally:
            src.close()
        return _files.put_size(r, sent)

    async def get_file(self, name: str,
                       path: str | os.PathLike[str] | BinaryIO | None = None
                       ) -> bytes | int:
        """See :meth:`securer.Session.get_file`."""
        conn = await self._c()
        ranges = _files.Ranges(self.id, name, _files.Sink(path))
        self.last_resumed = None
        try:
            while (req := ranges.request()) is not None:
                ranges.reply(await self._file_call(conn, "file.get", req),
                             req["length"])
        except BaseException:
            ranges.sink.abandon()
            raise
        return ranges.sink.done(ranges.offset)

    async def restart(self) -> None:
        """See :meth:`securer.Session.restart`."""
        conn = await self._c()
        self.last_resumed = None
        await conn.call("session.restart", {"session": self.id})

    async def hibernate(self) -> int:
        """See :meth:`securer.Session.hibernate`: the snapshot's size in
        bytes."""
        conn = await self._c()
        self.last_resumed = None
        return P.hibernated(await conn.call("session.hibernate",
                                            {"session": self.id}))

    async def fork(self) -> AsyncSession:
        """See :meth:`securer.Session.fork`: a new, started
        AsyncSession on this one's connection, whose state is this one's
        as it is now.  Its requests and this one's may run at the same
        time; either may be closed first."""
        conn = await self._c()
        self.last_resumed = None
        r = await conn.call("session.fork", {"session": self.id})
        sid, sandbox = P.forked(r, self.id)
        return AsyncSession._fork_of(self, conn, sid, sandbox)

    async def status(self) -> SessionStatus:
        """See :meth:`securer.Session.status`."""
        conn = await self._c()
        r = await conn.call("status", {"session": self.id})
        return P.session_status(r, self.id)

    async def close(self) -> None:
        """See :meth:`securer.Session.close`."""
        if self._closed:
            return
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if not conn.closed:
                await conn.call("session.close", {"session": self.id})
        except SecurerError:
            pass
        finally:
            await conn.release()

    async def __aenter__(self) -> AsyncSession:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else (
            "open" if self._conn is not None else "not started")
        return f"<securer.AsyncSession {self.id[:8]} {state}>"


class AsyncPool:
    """:class:`securer.Pool` on asyncio; the same arguments.  Made by
    ``await pool.start()`` or ``async with``."""

    def __init__(self, size: int = 4, tools: Any = None,
                 limits: Mapping[str, Any] | None = None,
                 timeout: float | None = None, *, name: str | None = None,
                 reset_between_uses: bool = False,
                 acquire_timeout: float | None = None,
                 sandbox_strict: bool = False,
                 max_executions: int | None = None,
                 socket: str | None = None, token: str | None = None,
                 autostart: bool = True, securerd: str | None = None,
                 values: str = "python", binary: bool = True,
                 client: str | None = None) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ClientError(f"size must be a positive int, not {size!r}")
        self._tools = as_tools(tools)
        self._by_name = {t.name: t for t in self._tools}
        self._values = values
        V.Decoder(values)
        self.size = size
        self.name: str = name or f"py-{secrets.token_hex(8)}"
        self.acquire_timeout = acquire_timeout
        f = P.session_fields(self._tools, limits, timeout, max_executions,
                             sandbox_strict)
        f.update({"pool": self.name, "size": size})
        if reset_between_uses:
            f["reset_between_uses"] = True
        self._fields = f
        self._open = dict(socket_path=socket, autostart=autostart,
                          securerd=securerd, token=token, client=client,
                          binary=binary)
        self._conn: AsyncConnection | None = None
        self._lock: asyncio.Lock | None = None
        self._closed = False

    async def start(self) -> AsyncPool:
        """Connects and creates the pool (once)."""
        if self._closed:
            raise ClientError("the pool is closed")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._conn is None:
                conn = await AsyncConnection.open(
                    **self._open)  # type: ignore[arg-type]
                try:
                    await conn.call("pool.create", self._fields)
                except BaseException:
                    await conn.close()
                    raise
                self._conn = conn
        return self

    async def _c(self) -> AsyncConnection:
        if self._closed:
            raise ClientError("the pool is closed")
        if self._conn is None:
            await self.start()
        assert self._conn is not None
        return self._conn

    @property
    def tools(self) -> list[Tool]:
        """The pool's tools."""
        return list(self._tools)

    async def execute(self, code: str, timeout: float | None = None,
                      on_output: OutputHandler | None = None, *,
                      acquire_timeout: float | None = None,
                      echo: bool = False, sanitize: bool = False,
                      max_tool_calls: int | None = None,
                      max_output_lines: int | None = None,
                      max_output_bytes: int | None = None,
                      values: str | None = None) -> Result:
        """See :meth:`securer.Pool.execute`."""
        conn = await self._c()
        fields = P.exec_fields(code, timeout, echo, sanitize,
                               max_tool_calls, max_output_lines,
                               max_output_bytes)
        fields["pool"] = self.name
        at = acquire_timeout if acquire_timeout is not None else \
            self.acquire_timeout
        if at is not None:
            t = P._timeout(at)
            fields["acquire_timeout"] = at if t != 0 or at == 0 else \
                P.FOREVER
        return await _execute(conn, "pool.execute", fields, None,
                              self._by_name, values or self._values,
                              on_output)

    async def map(self, codes: Iterable[str], timeout: float | None = None,
                  *, return_exceptions: bool = True,
                  acquire_timeout: float | None = 600
                  ) -> list[Result | SecurerError]:
        """See :meth:`securer.Pool.map`: all at once, as many running as
        the pool has sessions."""
        await self._c()
        sem = asyncio.Semaphore(self.size)

        async def one(code: str) -> Result | SecurerError:
            async with sem:
                try:
                    return await self.execute(
                        code, timeout, acquire_timeout=acquire_timeout)
                except SecurerError as e:
                    return e

        out = list(await asyncio.gather(*(one(c) for c in codes)))
        if not return_exceptions:
            for r in out:
                if isinstance(r, SecurerError):
                    raise r
        return out

    async def status(self) -> PoolStatus:
        """See :meth:`securer.Pool.status`."""
        conn = await self._c()
        return P.pool_status(await conn.call("pool.status",
                                             {"pool": self.name}))

    async def close(self) -> None:
        """See :meth:`securer.Pool.close`."""
        if self._closed:
            return
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if not conn.closed:
                await conn.call("pool.close", {"pool": self.name})
        except SecurerError:
            pass
        finally:
            await conn.close()

    async def __aenter__(self) -> AsyncPool:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<securer.AsyncPool {self.name} size={self.size} {state}>"


async def execute_r_async(code: str, tools: Any = None,
                          timeout: float | None = None, **kwargs: Any
                          ) -> Result:
    """:func:`securer.execute_r` on asyncio."""
    async with AsyncSession(tools=tools, **kwargs) as s:
        return await s.execute(code, timeout=timeout)
