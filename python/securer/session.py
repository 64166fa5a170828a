"""Sessions and pools of sandboxed R workers, for threads."""

from __future__ import annotations

import concurrent.futures
import os
import secrets
from typing import Any, BinaryIO, Callable, Iterable, Mapping, Sequence

from .errors import ClientError, ProtocolViolation, SecurerError
from .results import PoolStatus, Result, Resumed, SessionStatus, \
    resumed_from
from .tools import Tool, as_tools
from . import _files
from . import _proto as P
from . import values as V
from ._conn import Connection

__all__ = ["Session", "Pool", "execute_r"]

OutputHandler = Callable[[str, str], Any]


def _run_tool(t: Tool, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    if t.is_async:
        return None, "this tool is a coroutine function: use it with " \
            "AsyncSession or AsyncPool"
    try:
        return t.fn(**kwargs), None
    except Exception as e:
        return None, e


def _execute(conn: Connection, op: str, fields: dict[str, Any],
             session: str | None, tools: Mapping[str, Tool],
             values: str, on_output: OutputHandler | None) -> Result:
    """One execution on conn, its tool calls answered in this thread."""
    dec = V.Decoder(values)
    ex = P.Execution(session, tools, dec, on_output)
    rid = conn.request(op, fields)
    try:
        while True:
            msg = conn.wait(rid)
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
                    value, error = _run_tool(*prep)
                except BaseException:
                    # An interrupt: the code waiting for this call is let
                    # go with an error before we give up on it.
                    try:
                        conn.send_for(rid, P.tool_result(
                            step, V.Encoder(), error=P.INTERRUPTED))
                    except SecurerError:
                        pass
                    raise
            if dec.saw_bin:
                conn.peer_binary = True
            conn.send_for(rid, P.tool_result(
                step, V.Encoder(conn.peer_binary), value, error))
    finally:
        conn.done(rid, abandoned=not ex.ended and not conn.closed,
                  session=session)


class Session:
    """A session of securerd: one sandboxed R worker whose state (its
    global environment, loaded packages) lives across executions.

    Args:
        socket: the daemon's socket; by default ``$SECURER_SOCKET``, else
            the system daemon's, else the caller's private daemon,
            started if none answers (see :mod:`securer._resolve`).
        tools: :class:`Tool` objects (or plain callables, or a mapping of
            name to callable) the R code may call.
        limits: resource limits: cpu (seconds), memory, fsize, stack
            (bytes), nproc, nofile (counts); each a positive number or
            None for none.  Missing ones take the daemon's defaults, and
            it refuses values over its maxima (:class:`BadLimits`).
        timeout: default deadline of executions in seconds (None: the
            daemon's, 30 s by default; 0 or math.inf: none).
        sandbox_strict: refuse the session (:class:`SandboxUnavailable`)
            rather than accept less isolation than the full sandbox.
        max_executions: executions after that many are refused.
        token: what an allow rule of securerd.conf(5) may ask for.
        autostart: start a private daemon when none answers (only where
            no socket was named); False to refuse.
        securerd: the securerd to start (default ``$SECURERD``, else the
            installed one).
        values: how R values come back: "python", "numpy" (vectors as
            numpy arrays) or "pandas" (and data frames as pandas
            DataFrames); see :mod:`securer.values`.
        binary: ask for binary vectors ("bin": exact, NaN payloads
            included, and compact); on by default.  The daemon then sends
            its vectors of 16 elements or more so.  Its hello reply does
            not say whether it reads them, so tool results go binary only
            once it has sent one on this connection (JSON before).

    It is a context manager: ``with Session() as s:`` closes it at the
    end.  Executions in one session run one at a time: another thread's
    execute() meanwhile fails with :class:`SessionBusy`.

    A session can sleep: :meth:`hibernate` (or the daemon, after its
    hibernate-after) saves its state and frees its worker, and the next
    execute(), put_file() or get_file() restores it first, transparently.
    That request's :attr:`last_resumed` (and an execution's
    :attr:`Result.resumed`) says so; what could not be restored is a
    :class:`ResumeWarning`.

    A session can be copied: :meth:`fork` makes a new session, on the
    same connection, whose state is this one's at the fork.
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
        V.Decoder(values)  # checks the mode now
        fields = P.session_fields(self._tools, limits, timeout,
                                  max_executions, sandbox_strict)
        self._conn = Connection.open(socket, autostart=autostart,
                                     securerd=securerd, token=token,
                                     client=client, binary=binary)
        try:
            r = self._conn.call("session.create", fields)
        except BaseException:
            self._conn.close()
            raise
        sid = r.get("session")
        if not isinstance(sid, str) or not sid:
            self._conn.close()
            raise ProtocolViolation("securerd's reply to session.create "
                                      "has no session")
        self.id: str = sid
        sb = r.get("sandbox")
        #: The isolation the session has ("full", or "partial").
        self.sandbox: str = sb if isinstance(sb, str) else ""
        #: What the last request on the session (an execution, a file
        #: put or get, also one that failed) said of a resume: the
        #: session was hibernated and the request woke it
        #: (:class:`Resumed`); None if it did not.
        self.last_resumed: Resumed | None = None
        #: The session whose state this one's was copied from
        #: (:meth:`fork`), or None.
        self.forked_from: str | None = None
        self._closed = False

    @classmethod
    def _fork_of(cls, src: Session, sid: str, sandbox: str) -> Session:
        """The object of the session sid, a fork of src on its
        connection, with its tools and value mode."""
        s = cls.__new__(cls)
        s._tools = src._tools
        s._by_name = src._by_name
        s._values = src._values
        s._conn = src._conn
        s.id = sid
        s.sandbox = sandbox
        s.last_resumed = None
        s.forked_from = src.id
        s._closed = False
        src._conn.retain()
        return s

    @property
    def tools(self) -> list[Tool]:
        """The session's tools."""
        return list(self._tools)

    @property
    def server(self) -> str:
        """The daemon's name and version ("securerd 0.1.0")."""
        return self._conn.server

    @property
    def closed(self) -> bool:
        """Whether close() was called (or the connection is gone)."""
        return self._closed or self._conn.closed

    def _check(self) -> None:
        if self._closed:
            raise ClientError("the session is closed")

    def _resumed(self, r: Resumed | None) -> None:
        if r is not None:
            self.last_resumed = r
            P.warn_resumed(r, stacklevel=4)

    def _call(self, op: str, fields: dict[str, Any]) -> dict[str, Any]:
        """conn.call, noting a resume its reply (or refusal) says."""
        try:
            r = self._conn.call(op, fields)
        except SecurerError as e:
            self._resumed(e.resumed)
            raise
        self._resumed(resumed_from(r))
        return r

    def execute(self, code: str, timeout: float | None = None,
                on_output: OutputHandler | None = None, *,
                echo: bool = False, sanitize: bool = False,
                max_tool_calls: int | None = None,
                max_output_lines: int | None = None,
                max_output_bytes: int | None = None,
                values: str | None = None) -> Result:
        """Runs R code in the session and returns its :class:`Result`.

        Args:
            code: R code; its last expression's value is returned.
            timeout: deadline in seconds (None: the session's; 0 or
                math.inf: none).  A timeout raises :class:`Timeout`, and
                the session goes on with a fresh worker (state gone).
            on_output: called as on_output(stream, text) for each piece
                of output while the code runs (stream is "stdout",
                "stderr", "message" or "warning").
            echo: print each top-level expression's visible value, as R's
                prompt would (except the last, which is returned).
            sanitize: remove host paths, pids, addresses, URLs and stack
                traces from an R error's message and call.
            max_tool_calls, max_output_lines, max_output_bytes: caps.
            values: this execution's value mode (default the session's).

        Tool calls run in this thread while the code waits for them.
        Raises :class:`RError`, :class:`RSyntaxError`, :class:`Timeout`
        and the other :class:`ExecutionError` classes; on a hibernated
        session, the :class:`ResumeError` classes when its state could
        not be restored.
        """
        self._check()
        fields = P.exec_fields(code, timeout, echo, sanitize,
                               max_tool_calls, max_output_lines,
                               max_output_bytes)
        fields["session"] = self.id
        self.last_resumed = None
        try:
            r = _execute(self._conn, "execute", fields, self.id,
                         self._by_name, values or self._values, on_output)
        except SecurerError as e:
            self._resumed(e.resumed)
            raise
        self._resumed(r.resumed)
        return r

    def put_file(self, name: str,
                 data: bytes | str | os.PathLike[str] | BinaryIO | None = None
                 ) -> int:
        """Puts a file in the session's input directory, read-only to the
        code at ``file.path(Sys.getenv("SECURER_INPUT"), name)``.

        data is the file's bytes (a str is written as UTF-8), a local
        path or a binary file object to read (from where it stands, left
        open); without it, name is a local file, put under its base name.
        Returns its size.

        The bytes go in chunks of 1 MiB, read as they go: the file may be
        as large as the daemon's file-size (securerd.conf(5)), past which
        :class:`FileTooLarge`.  While the daemon holds too much file data
        for all its sessions a chunk is tried again a few times, after
        short pauses, before :class:`MemoryBusy`.  The code sees the file
        only once the last chunk is in.
        """
        self._check()
        src = _files.Source(name, data)
        self.last_resumed = None
        return _files.put(self.id, src, lambda f: self._call("file.put", f))

    def get_file(self, name: str,
                 path: str | os.PathLike[str] | BinaryIO | None = None
                 ) -> bytes | int:
        """Gets a file the code wrote to its output directory
        (``Sys.getenv("SECURER_OUTPUT")``): its bytes, or, with path (a
        local path or a binary file object), its size once written there.

        The bytes come in ranges of 1 MiB, written to path as they come
        (to a hidden file beside it, renamed to path at the end: a failed
        get leaves no half file).  Files larger than the daemon's
        file-size are :class:`FileTooLarge`; :class:`MemoryBusy` is tried
        again as for :meth:`put_file`.
        """
        self._check()
        ranges = _files.Ranges(self.id, name, _files.Sink(path))
        self.last_resumed = None
        return _files.get(ranges, lambda f: self._call("file.get", f))

    def restart(self) -> None:
        """Replaces the session's worker with a fresh one: its R state is
        gone.  :class:`SessionBusy` while an execution runs."""
        self._check()
        self.last_resumed = None
        self._conn.call("session.restart", {"session": self.id})

    def hibernate(self) -> int:
        """Saves the session's state and frees its worker; returns the
        snapshot's size in bytes.

        The state is R's global environment (variables, functions,
        ``.Random.seed``), the attached and loaded packages, the working
        directory and the files of the session's HOME, serialized inside
        the sandbox and kept by the daemon.  The session keeps its id,
        tools and limits, holds no worker and no capacity while it
        sleeps, and :meth:`status` says "hibernated".  The next
        :meth:`execute`, :meth:`put_file` or :meth:`get_file` restores it
        first (see :attr:`last_resumed`).  Hibernating a hibernated
        session does nothing and returns its snapshot's size.

        Raises :class:`SessionBusy` unless the session is idle,
        :class:`SnapshotTooLarge`, :class:`SnapshotQuota` or
        :class:`SnapshotFailed` when the state could not be saved (the
        session then goes on as it was).  A pool's sessions are not
        hibernated.
        """
        self._check()
        self.last_resumed = None
        return P.hibernated(self._conn.call("session.hibernate",
                                            {"session": self.id}))

    def fork(self) -> Session:
        """Copies the session: a new :class:`Session` whose state is this
        one's as it is now, with the same tools (the same callables, run
        in this process), limits and value mode.

        This session may be idle or hibernated, and goes on at once.  The
        new one starts hibernated (its :meth:`status` says "hibernated"
        and names this one as ``forked_from``): its first
        :meth:`execute`, :meth:`put_file` or :meth:`get_file` restores
        the copy in a worker of its own, which its :attr:`last_resumed`
        (and the execution's :attr:`Result.resumed`) says, and from then
        on the two change independently.  Everything :meth:`hibernate`
        keeps is copied: the global environment (``.Random.seed``
        included: the random stream goes on in both as it would have
        here), the packages, the working directory, the files of HOME.

        The new session shares this one's connection, and may be used
        from another thread at the same time; either may be closed
        first, and the connection is closed with the last.

        Raises :class:`SessionBusy` while an execution runs here (or this
        session is being hibernated or forked), :class:`TooManySessions`
        at the owner's session limit, :class:`SnapshotTooLarge`,
        :class:`SnapshotQuota` or :class:`SnapshotFailed` when the state
        could not be saved, :class:`SnapshotMissing` or
        :class:`SnapshotTampered` when a hibernated session's snapshot
        could not be copied (it is left as it was, for its own next
        request to find), :class:`AuditUnavailable`, :class:`Closed` if
        this session was closed meanwhile.  No fork is made then, and
        this session goes on as it was.
        """
        self._check()
        self.last_resumed = None
        r = self._conn.call("session.fork", {"session": self.id})
        sid, sandbox = P.forked(r, self.id)
        return Session._fork_of(self, sid, sandbox)

    def status(self) -> SessionStatus:
        """The daemon's view of the session (state, executions, ...)."""
        self._check()
        r = self._conn.call("status", {"session": self.id})
        return P.session_status(r, self.id)

    def close(self) -> None:
        """Closes the session (an execution in progress ends with
        :class:`Closed`) and its connection, unless a fork (or the
        session forked) still uses it.  Closing twice is fine."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._conn.closed:
                self._conn.call("session.close", {"session": self.id})
        except SecurerError:
            pass
        finally:
            self._conn.release()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return (f"<securer.Session {self.id[:8]} {state} "
                f"sandbox={self.sandbox} tools={len(self._tools)}>")


class Pool:
    """A pool of sessions of the daemon (pool.create): executions run in
    parallel on its idle sessions, up to its size.

    Args:
        size: its number of sessions.
        tools, limits, timeout, sandbox_strict, max_executions: as for
            :class:`Session`, for every session of the pool.
        name: the pool's name (1 to 64 of letters, digits, "_", "-",
            "."), unique for the daemon's identity; a random one by
            default.
        reset_between_uses: give each execution a fresh worker.
        acquire_timeout: how long an execution waits for an idle session
            (None: fail at once with :class:`PoolBusy`).
        socket, token, autostart, securerd, values, binary: as for
            :class:`Session`.

    Tool calls of every running execution are answered, each in the
    thread that runs it (so tools must be thread-safe).  The pool is
    closed by close() or at the end of a ``with`` block.
    """

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
        fields = P.session_fields(self._tools, limits, timeout,
                                  max_executions, sandbox_strict)
        fields.update({"pool": self.name, "size": size})
        if reset_between_uses:
            fields["reset_between_uses"] = True
        self._conn = Connection.open(socket, autostart=autostart,
                                     securerd=securerd, token=token,
                                     client=client, binary=binary)
        try:
            self._conn.call("pool.create", fields)
        except BaseException:
            self._conn.close()
            raise
        self._closed = False

    @property
    def tools(self) -> list[Tool]:
        """The pool's tools."""
        return list(self._tools)

    def _check(self) -> None:
        if self._closed:
            raise ClientError("the pool is closed")

    def execute(self, code: str, timeout: float | None = None,
                on_output: OutputHandler | None = None, *,
                acquire_timeout: float | None = None, echo: bool = False,
                sanitize: bool = False, max_tool_calls: int | None = None,
                max_output_lines: int | None = None,
                max_output_bytes: int | None = None,
                values: str | None = None) -> Result:
        """Runs code on an idle session of the pool (see
        :meth:`Session.execute`); the result's ``session`` says which.
        Safe to call from several threads at once."""
        self._check()
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
        return _execute(self._conn, "pool.execute", fields, None,
                        self._by_name, values or self._values, on_output)

    def map(self, codes: Iterable[str], timeout: float | None = None, *,
            return_exceptions: bool = True,
            acquire_timeout: float | None = 600,
            max_workers: int | None = None) -> list[Result | SecurerError]:
        """Runs each code on the pool, in parallel up to its size.

        Returns one entry per code, in order: its :class:`Result`, or the
        :class:`SecurerError` it raised (return_exceptions=False raises
        the first error instead, once all have ended).  Each job waits up
        to acquire_timeout seconds for an idle session.
        """
        self._check()
        jobs: Sequence[str] = list(codes)
        if not jobs:
            return []
        workers = max_workers or min(self.size, len(jobs))
        out: list[Result | SecurerError] = []
        with concurrent.futures.ThreadPoolExecutor(workers) as tp:
            futs = [tp.submit(self.execute, c, timeout,
                              acquire_timeout=acquire_timeout)
                    for c in jobs]
            for f in futs:
                try:
                    out.append(f.result())
                except SecurerError as e:
                    out.append(e)
        if not return_exceptions:
            for r in out:
                if isinstance(r, SecurerError):
                    raise r
        return out

    def status(self) -> PoolStatus:
        """The pool's sessions: total, busy, idle, dead, waiting, ..."""
        self._check()
        return P.pool_status(self._conn.call("pool.status",
                                             {"pool": self.name}))

    def close(self) -> None:
        """Closes the pool's sessions (running executions end
        :class:`Closed`).  Closing twice is fine."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._conn.closed:
                self._conn.call("pool.close", {"pool": self.name})
        except SecurerError:
            pass
        finally:
            self._conn.close()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<securer.Pool {self.name} size={self.size} {state}>"


def execute_r(code: str, tools: Any = None, timeout: float | None = None,
              **kwargs: Any) -> Result:
    """Runs code once in a new session, closed afterwards.

    kwargs are those of :class:`Session` (socket, limits,
    sandbox_strict, values, ...).
    """
    with Session(tools=tools, **kwargs) as s:
        return s.execute(code, timeout=timeout)
