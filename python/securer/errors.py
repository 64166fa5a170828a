"""The exceptions of securer: one class per error code of securer-protocol(7).

Every exception this package raises is a :class:`SecurerError`.  An error
the daemon answers carries its protocol code in :attr:`SecurerError.code`
and the whole error object in :attr:`SecurerError.details`; errors found
by the client itself (it cannot connect, the daemon broke the protocol, an
argument is wrong) have codes of their own in lower case too, so that
``err.code`` always says what happened.

The classes group what a caller handles alike:

- :class:`ExecutionError`: the code ran, or tried to, and failed
  (:class:`RError`, :class:`RSyntaxError`, :class:`Timeout`,
  :class:`WorkerDied`, ...).  They carry the output the code wrote before
  it failed, its plots and the daemon's advisories.
- :class:`TryAgain`: a refusal that may go away by itself
  (:class:`RateLimited`, :class:`CapacityExhausted`, :class:`SessionBusy`,
  ...); :attr:`TryAgain.retry_after` says when, where the daemon says.
- :class:`LimitExceeded`: a limit of the daemon's configuration or of the
  session was reached.
- :class:`FileOpError`: file.put and file.get.
- :class:`SnapshotError`: session.hibernate (or session.fork) could not
  save the session's state (:class:`SnapshotTooLarge`,
  :class:`SnapshotQuota`, :class:`SnapshotFailed`); the session goes on
  as it was.
- :class:`ResumeError`: a hibernated session's state could not be
  restored for the request that woke it (:class:`SnapshotMissing`,
  :class:`SnapshotTampered`, :class:`ResumeFailed`); the request was not
  done.
- :class:`SessionStateLost`: a mix-in of the errors after which the
  session's worker was replaced and its R state is gone.

A resume that restored all but something (a connection, an external
pointer, a package that no longer loads) is no error: the request goes
on, its result says so (:attr:`securer.Result.resumed`) and a
:class:`ResumeWarning` is issued.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

if TYPE_CHECKING:
    from .results import Advisory, Output, Plot, PlotOmitted, Resumed

__all__ = [
    "SecurerError", "ClientError", "ConversionError", "ConnectError",
    "DaemonStartError", "ConnectionLost", "ProtocolViolation",
    "BadRequest", "TooLarge", "HelloRequired", "UnsupportedVersion",
    "Unauthorized", "TryAgain", "AuthThrottled", "RateLimited",
    "TooManyConnections", "HelloTimeout", "OverBudget", "SlowClient",
    "Aborted",
    "Unavailable",
    "LimitExceeded", "TooManySessions", "TooManyExecutions",
    "NoSuchPool", "PoolExists", "PoolTooLarge", "PoolBusy",
    "CapacityExhausted", "NoSuchSession", "SessionBusy", "NameInUse",
    "SessionInUse", "MaxExecutions",
    "CodeTooLong", "AuditUnavailable", "BadLimits", "BadTools",
    "SandboxUnavailable", "SpawnFailed", "SessionStateLost",
    "ExecutionError", "RSyntaxError", "RError", "Timeout", "WorkerDied",
    "TooManyMessages", "ToolCallsExceeded", "ResultTooLarge",
    "FileOpError", "BadFileName", "FileTooLarge", "TooManyFiles",
    "FileNotFound", "NotARegularFile", "FileIOError", "BadOffset",
    "ChunkTooLarge", "MemoryBusy", "WorkerProtocolError",
    "SnapshotError", "SnapshotTooLarge", "SnapshotQuota", "SnapshotFailed",
    "ResumeError", "SnapshotMissing", "SnapshotTampered", "ResumeFailed",
    "ResumeWarning",
    "Closed", "InternalError", "error_class", "ERROR_CLASSES",
]


class SecurerError(Exception):
    """The base of every error of securer.

    Attributes:
        code: the protocol's error code ("r_error", "timeout", ...), or a
            client-side one ("connect", "protocol_violation", "client").
        message: the daemon's message (or the client's).
        details: the daemon's whole error object (empty for client-side
            errors); members such as ``retry_after`` or ``cause`` are in it.
        resumed: the request woke the hibernated session, restoring its
            state, before it failed (:class:`securer.Resumed`), or None.
    """

    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, code: str | None = None,
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message: str = message
        self.details: dict[str, Any] = dict(details or {})
        self.resumed: Resumed | None = None
        if code is not None:
            # An instance-level code, for codes this version does not know.
            self.code = code  # type: ignore[misc]

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


# --- Errors found by the client ---------------------------------------------

class ClientError(SecurerError):
    """A wrong argument or a use of something closed, found before asking
    the daemon."""

    code = "client"


class ConversionError(ClientError, ValueError):
    """A Python value that cannot cross to R exactly (or an encoded value
    that does not follow securer-protocol(7))."""

    code = "conversion"


class ConnectError(SecurerError, ConnectionError):
    """No daemon answers at the socket, and none was (or could be) started."""

    code = "connect"


class DaemonStartError(ConnectError):
    """A private daemon was needed and could not be started; the message
    has the last line it logged."""

    code = "daemon_start"


class ConnectionLost(SecurerError, ConnectionError):
    """The connection to the daemon broke; its sessions are gone."""

    code = "connection_lost"


class ProtocolViolation(SecurerError):
    """The daemon sent something securer-protocol(7) does not allow (a line
    that is not JSON, an oversized line, a reply with no ok, ...)."""

    code = "protocol_violation"


# --- Refusals of a request -------------------------------------------------

class BadRequest(SecurerError):
    """bad_request: the daemon did not understand a request."""

    code = "bad_request"


class TooLarge(SecurerError):
    """too_large: a request line over 8 MiB; the daemon closed the
    connection."""

    code = "too_large"


class TooManyConnections(SecurerError, ConnectionError):
    """too_many_connections: the daemon refused the connection at once:
    this uid has as many as one uid may, or the daemon as many as it
    takes."""

    code = "too_many_connections"


class HelloTimeout(SecurerError, ConnectionError):
    """hello_timeout: no hello within the daemon's hello-timeout; the
    connection was closed."""

    code = "hello_timeout"


class OverBudget(SecurerError, ConnectionError):
    """over_budget: this connection held the most of what its uid (or
    every client) may have buffered in the daemon; it was closed, and
    with it its sessions: their R state is lost.

    The daemon says so in the connection's last line, after whole
    messages; the connection raises it for the request in flight and for
    every later use."""

    code = "over_budget"


class SlowClient(SecurerError, ConnectionError):
    """slow_client: securerd dropped this connection because it read none
    of its output for the daemon's client-grace (securerd.conf(5)) while
    more than 1 MiB of it waited; its sessions were closed and their R
    state is lost.

    A client that reads, however slowly, is never dropped: the daemon
    holds its code back instead.  Like :class:`OverBudget`, it comes in
    the connection's last line and is raised for every later use."""

    code = "slow_client"


class Aborted(SecurerError):
    """aborted: the connection was closing while the request waited."""

    code = "aborted"


class HelloRequired(SecurerError):
    """hello_required: a request before hello."""

    code = "hello_required"


class UnsupportedVersion(SecurerError):
    """unsupported_version: the daemon speaks another protocol version."""

    code = "unsupported_version"


class Unauthorized(SecurerError, PermissionError):
    """unauthorized: the daemon's rules do not let this client in (a wrong
    or missing token, a deny rule, no allow rule)."""

    code = "unauthorized"


class TryAgain(SecurerError):
    """A refusal that may go away by itself: retrying later can succeed."""

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait before retrying, when the daemon says."""
        v = self.details.get("retry_after")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        return None


class Unavailable(TryAgain, ConnectionError):
    """unavailable: the daemon is restarting its monitor; connect again
    in a moment."""

    code = "unavailable"


class AuthThrottled(TryAgain, PermissionError):
    """auth_throttled: too many refused hellos from this uid."""

    code = "auth_throttled"


class RateLimited(TryAgain):
    """rate_limited: the identity's request rate was exceeded; the
    request was not done."""

    code = "rate_limited"


class LimitExceeded(SecurerError):
    """A limit of the daemon's configuration or of the session was
    reached."""


class TooManySessions(LimitExceeded, TryAgain):
    """too_many_sessions: the identity has as many sessions as it may."""

    code = "too_many_sessions"


class TooManyExecutions(LimitExceeded, TryAgain):
    """too_many_executions: the identity runs as many executions as it
    may."""

    code = "too_many_executions"


class NoSuchPool(SecurerError, LookupError):
    """no_such_pool: no pool of that name for this identity."""

    code = "no_such_pool"


class PoolExists(SecurerError):
    """pool_exists: the identity already has a pool of that name."""

    code = "pool_exists"


class PoolTooLarge(LimitExceeded):
    """pool_too_large: the size is over the identity's pool-size."""

    code = "pool_too_large"


class PoolBusy(TryAgain):
    """pool_busy: no session of the pool became idle in time."""

    code = "pool_busy"


class CapacityExhausted(TryAgain):
    """capacity_exhausted: the daemon has no room for another session."""

    code = "capacity_exhausted"


class NoSuchSession(SecurerError, LookupError):
    """no_such_session: the session does not exist (any more) for this
    connection; the daemon may have closed it (idle-ttl, lifetime)."""

    code = "no_such_session"


class SessionBusy(TryAgain):
    """session_busy: an execution is already running in the session, or
    its state is being saved (session.hibernate, session.fork)."""

    code = "session_busy"


class NameInUse(SecurerError):
    """name_in_use: the owner has a session of that name already, on a
    connection or kept by the daemon (session.attach takes it back)."""

    code = "name_in_use"


class SessionInUse(TryAgain):
    """session_in_use: session.attach of a named session that is open on
    another connection."""

    code = "session_in_use"


class MaxExecutions(LimitExceeded):
    """max_executions: the session's max_executions was reached."""

    code = "max_executions"


class CodeTooLong(LimitExceeded):
    """code_too_long: the code is over the daemon's code-size."""

    code = "code_too_long"


class AuditUnavailable(TryAgain):
    """audit_unavailable: the daemon's audit log cannot be written; no
    execution starts until it can.  The daemon recovers by itself."""

    code = "audit_unavailable"


class BadLimits(ClientError):
    """bad_limits: limits the daemon refuses (over its maxima, not a
    positive number).  Also raised by the client for limits it can tell
    are wrong."""

    code = "bad_limits"


class BadTools(ClientError):
    """bad_tools: tool specifications the daemon refuses.  Also raised by
    the client for tools it can tell are wrong."""

    code = "bad_tools"


class SandboxUnavailable(SecurerError):
    """sandbox_unavailable: sandbox_strict was asked and the daemon cannot
    give the full sandbox."""

    code = "sandbox_unavailable"


class SpawnFailed(TryAgain):
    """spawn_failed: no worker could be started."""

    code = "spawn_failed"


# --- Failed executions -------------------------------------------------------

class SessionStateLost:
    """Mix-in: the session's worker was replaced; its R state is gone."""

    state_lost: ClassVar[bool] = True


class ExecutionError(SecurerError):
    """An execution failed.

    Attributes:
        output: what the code wrote before it failed, in order.
        plots: the pages it drew.
        plots_omitted: pages over the daemon's caps.
        advisories: the daemon's advice on the code (risky calls).
        session: the session it ran on (for pool executions).
    """

    state_lost: ClassVar[bool] = False

    def __init__(self, message: str, *, code: str | None = None,
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, code=code, details=details)
        self.output: list[Output] = []
        self.plots: list[Plot] = []
        self.plots_omitted: list[PlotOmitted] = []
        self.advisories: list[Advisory] = []
        self.session: str | None = None

    @property
    def stdout(self) -> str:
        """The standard output the code wrote before it failed."""
        return "".join(o.text for o in self.output if o.stream == "stdout")


class RSyntaxError(ExecutionError, SyntaxError):
    """parse_error: the code did not parse; nothing ran.

    Attributes:
        line: the line R's parser stopped at (1-based).
        column: the column (as R counts: 0 when it stopped at the line's
            start).
    """

    code = "parse_error"

    def __init__(self, message: str, *, code: str | None = None,
                 details: Mapping[str, Any] | None = None) -> None:
        ExecutionError.__init__(self, message, code=code, details=details)
        d = self.details
        self.line: int | None = _int_or_none(d.get("line"))
        self.column: int | None = _int_or_none(d.get("column"))
        # What SyntaxError's own attributes mean to Python tools.
        self.msg = message
        self.lineno = self.line
        self.offset = self.column
        self.filename = "<R code>"
        self.text = None

    def __str__(self) -> str:
        return self.message


class RError(ExecutionError):
    """r_error: the R code raised an error.

    Attributes:
        call: the call the error came from, deparsed, or None (an error
            at the top level of the code).
        classes: the R condition's classes, in R's order, but R's own
            ("simpleError", "error", "condition"): the reply's
            ``classes``.  Empty for a plain ``stop("...")``;
            ``("http_404",)`` for ``stop(structure(class = c("http_404",
            "error", "condition"), list(message = ..., call = ...)))``,
            so that code can tell the errors of its tools apart.
    """

    code = "r_error"

    def __init__(self, message: str, *, code: str | None = None,
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, code=code, details=details)
        call = self.details.get("call")
        self.call: str | None = call if isinstance(call, str) else None
        cls = self.details.get("classes")
        self.classes: tuple[str, ...] = tuple(
            c for c in cls if isinstance(c, str)) if isinstance(
                cls, list) else ()


class Timeout(ExecutionError, SessionStateLost, TimeoutError):
    """timeout: the deadline passed; the worker was killed and replaced."""

    code = "timeout"
    state_lost = True

    @property
    def timeout(self) -> float | None:
        """The deadline that passed, in seconds."""
        v = self.details.get("timeout")
        return float(v) if isinstance(v, (int, float)) else None


class WorkerDied(ExecutionError, SessionStateLost):
    """worker_died: the worker died during the execution (a signal, its
    memory or CPU limit); the session has a fresh one."""

    code = "worker_died"
    state_lost = True

    @property
    def cause(self) -> str:
        """Why it died, as the daemon says ("memory limit exceeded")."""
        v = self.details.get("cause")
        return v if isinstance(v, str) else self.message


class TooManyMessages(ExecutionError, SessionStateLost):
    """too_many_messages: the worker sent more messages than the daemon
    allows and was killed."""

    code = "too_many_messages"
    state_lost = True


class ToolCallsExceeded(ExecutionError, LimitExceeded):
    """tool_calls_exceeded: the execution made more tool calls than
    allowed."""

    code = "tool_calls_exceeded"


class ResultTooLarge(ExecutionError, LimitExceeded):
    """result_too_large: the value is over the daemon's result-size; the
    session keeps its state."""

    code = "result_too_large"


class WorkerProtocolError(ExecutionError, SessionStateLost):
    """protocol: the worker broke the protocol and was killed."""

    code = "protocol"
    state_lost = True


class Closed(ExecutionError):
    """closed: the session (or pool) was closed during the request."""

    code = "closed"


# --- Files -------------------------------------------------------------------

class FileOpError(SecurerError):
    """An error of file.put or file.get."""


class BadFileName(FileOpError, ClientError):
    """bad_file_name: not one safe path component."""

    code = "bad_file_name"


class FileTooLarge(FileOpError, LimitExceeded):
    """file_too_large: over the daemon's file-size (securerd.conf(5)): a
    put whose chunks would pass it, or a file to get larger than it.  A
    whole-file get (no range) of a file over one chunk's 4 MiB is refused
    so too, the file's size in ``details["size"]`` (this client always
    asks in ranges)."""

    code = "file_too_large"

    @property
    def size(self) -> int | None:
        """The file's size in bytes, where the daemon says."""
        return _int_or_none(self.details.get("size"))


class BadOffset(FileOpError):
    """bad_offset: a chunk of file.put did not start at the bytes the
    upload holds so far (or no upload was unfinished), or a file.get
    range started past the file's end.  The clients' own chunking never
    causes it unless the upload was discarded meanwhile: an execution, a
    timeout or a restart of the session discards an unfinished upload."""

    code = "bad_offset"


class ChunkTooLarge(FileOpError, LimitExceeded):
    """chunk_too_large: one chunk of file.put, or one range of file.get,
    over the daemon's 4 MiB per chunk (the clients send 1 MiB)."""

    code = "chunk_too_large"


class MemoryBusy(FileOpError, TryAgain):
    """memory_busy: the daemon holds as much file data in flight for all
    its sessions as it may (result-memory); the chunk was not taken.  The
    clients try a few times, after short pauses, before raising it."""

    code = "memory_busy"


class TooManyFiles(FileOpError, LimitExceeded):
    """too_many_files: the session has had as many files put as it may."""

    code = "too_many_files"


class FileNotFound(FileOpError, FileNotFoundError):
    """file_not_found: no such file in the session's output directory."""

    code = "file_not_found"


class NotARegularFile(FileOpError):
    """not_a_regular_file: a symbolic link, directory, FIFO, ..."""

    code = "not_a_regular_file"


class FileIOError(FileOpError, OSError):
    """file_error: the file could not be written or read."""

    code = "file_error"


# --- Hibernation -------------------------------------------------------------

class SnapshotError(SecurerError):
    """session.hibernate could not save the session's state, or
    session.fork could not copy it; the session goes on as it was, with
    its worker and its state (and no fork is made)."""


class SnapshotTooLarge(SnapshotError, LimitExceeded):
    """snapshot_too_large: the session's state is over the daemon's
    snapshot-size (securerd.conf(5)); the session goes on as it was."""

    code = "snapshot_too_large"


class SnapshotQuota(SnapshotError, LimitExceeded):
    """snapshot_quota: the owner's snapshots would be over the daemon's
    snapshot-quota; the session goes on as it was.  Closing (or waking)
    other hibernated sessions gives their room back."""

    code = "snapshot_quota"


class SnapshotFailed(SnapshotError):
    """snapshot_failed: the state could not be written or stored (the
    message says why); the session goes on as it was."""

    code = "snapshot_failed"


class ResumeError(SecurerError):
    """The hibernated session's state could not be restored for the
    request that woke it (an execution, file.put or file.get): the
    request was not done."""


class SnapshotMissing(ResumeError, SessionStateLost):
    """snapshot_missing: the hibernated session's snapshot is not on the
    daemon's disk; the session was restarted with a fresh worker and its
    state is gone."""

    code = "snapshot_missing"


class SnapshotTampered(ResumeError, SessionStateLost):
    """snapshot_tampered: an integrity refusal: the hibernated session's
    snapshot was changed on the daemon's disk, or is another session's or
    another owner's, and its MAC does not check.  It was not read; the
    session was restarted with a fresh worker and its state is gone."""

    code = "snapshot_tampered"


class ResumeFailed(ResumeError):
    """resume_failed: the worker that was to restore the session's state
    died, or could not read it.  If it died, the session stays hibernated
    and the next request tries again; if it could not read the state, the
    session was restarted and its state is gone.  The message says
    which."""

    code = "resume_failed"


class ResumeWarning(UserWarning):
    """A hibernated session woke with not all of its state: the warning
    names what could not be restored (connections, external pointers, a
    package that no longer loads).  The request went on without it."""


class InternalError(SecurerError):
    """internal: the daemon failed in a way it did not expect."""

    code = "internal"


def _int_or_none(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return int(v)


#: Every error code of securer-protocol(7), to its class.
ERROR_CLASSES: dict[str, type[SecurerError]] = {
    c.code: c for c in (
        BadRequest, TooLarge, HelloRequired, UnsupportedVersion,
        Unauthorized, AuthThrottled, RateLimited, TooManySessions,
        TooManyExecutions, NoSuchPool, PoolExists, PoolTooLarge, PoolBusy,
        CapacityExhausted, NoSuchSession, SessionBusy, NameInUse,
        SessionInUse, MaxExecutions,
        CodeTooLong, AuditUnavailable, BadLimits, BadTools,
        SandboxUnavailable, SpawnFailed, RSyntaxError, RError, Timeout,
        WorkerDied, TooManyMessages, ToolCallsExceeded, ResultTooLarge,
        BadFileName, FileTooLarge, TooManyFiles, FileNotFound,
        NotARegularFile, FileIOError, BadOffset, ChunkTooLarge, MemoryBusy,
        WorkerProtocolError, Closed, SnapshotTooLarge, SnapshotQuota,
        SnapshotFailed, SnapshotMissing, SnapshotTampered, ResumeFailed,
        InternalError, TooManyConnections, HelloTimeout, OverBudget,
        SlowClient, Aborted, Unavailable)
}


def error_class(code: str) -> type[SecurerError]:
    """The class of an error code (:class:`SecurerError` for one this
    version does not know)."""
    return ERROR_CLASSES.get(code, SecurerError)


def from_error(error: Any, *, output: Sequence[Output] = (),
               plots: Sequence[Plot] = (),
               plots_omitted: Sequence[PlotOmitted] = (),
               advisories: Sequence[Advisory] = ()) -> SecurerError:
    """The exception for an error object of a reply (``{"code": ...,
    "message": ...}``)."""
    if not isinstance(error, dict):
        return ProtocolViolation("securerd sent a refusal with no error "
                                 "object")
    code = error.get("code")
    msg = error.get("message")
    if not isinstance(code, str):
        code = "unknown"
    if not isinstance(msg, str):
        msg = "securerd refused without saying why"
    cls = error_class(code)
    exc = cls(msg, code=None if cls is not SecurerError else code,
              details=error)
    if isinstance(exc, ExecutionError):
        exc.output = list(output)
        exc.plots = list(plots)
        exc.plots_omitted = list(plots_omitted)
        exc.advisories = list(advisories)
        s = error.get("session")
        exc.session = s if isinstance(s, str) else None
    return exc
