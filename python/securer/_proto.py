"""securer-protocol(7) without I/O: requests, replies, executions.

The sync and asyncio clients share this; they only read and write lines.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .errors import (BadLimits, ClientError, ConversionError,
                     ProtocolViolation, ResumeWarning, SecurerError,
                     from_error)
from .results import (STREAMS, Output, PoolStatus, Result, Resumed,
                      SessionStatus, advisories_from, plots_from,
                      resumed_from)
from .tools import ArgError, Tool, error_text
from . import values as V

__all__ = ["PROTO_VERSION", "CLIENT_NAME", "LINE_MAX", "hello_fields",
           "check_hello", "raise_for", "session_fields", "exec_fields",
           "Execution", "ToolCall", "session_status", "pool_status",
           "hibernated", "forked", "warn_resumed"]

PROTO_VERSION = 1
CLIENT_NAME = "securer-python 0.1.0"
#: The longest line either side sends (CLIENT_LINE_MAX).
LINE_MAX = 8 * 1024 * 1024

#: What "for ever" is sent as where 0 does not mean none (acquire_timeout).
FOREVER = 10 ** 9
LIMIT_NAMES = ("cpu", "memory", "fsize", "stack", "nproc", "nofile")
OutputHandler = Callable[[str, str], Any]


def hello_fields(token: str | None, client: str | None, binary: bool
                 ) -> dict[str, Any]:
    """The members of hello."""
    f: dict[str, Any] = {"version": PROTO_VERSION,
                         "client": client or CLIENT_NAME}
    if token is not None:
        f["token"] = token
    if binary:
        f["binary"] = True
    return f


def check_hello(reply: dict[str, Any]) -> dict[str, Any]:
    """The hello reply, checked."""
    if reply.get("version") != PROTO_VERSION:
        raise ProtocolViolation(f"securerd does not speak protocol version "
                                f"{PROTO_VERSION}")
    return reply


def raise_for(msg: dict[str, Any]) -> dict[str, Any]:
    """msg if it is a success, else its error raised."""
    ok = msg.get("ok")
    if ok is True:
        return msg
    if ok is False:
        exc = from_error(msg.get("error"))
        exc.resumed = resumed_from(msg)
        raise exc
    raise ProtocolViolation("securerd sent a reply with no boolean ok")


def _positive(name: str, v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or \
            not math.isfinite(v) or v <= 0:
        raise ClientError(f"{name} must be a positive number, not {v!r}")
    return v


def _limits(limits: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(limits, Mapping):
        raise BadLimits("limits must be a mapping of name to a positive "
                        "number or None")
    out: dict[str, Any] = {}
    for k, v in limits.items():
        if not isinstance(k, str):
            raise BadLimits(f"limit name {k!r} is not a str")
        if v is None:
            out[k] = None
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or \
                not math.isfinite(v) or v <= 0:
            raise BadLimits(f"limit {k!r} must be a positive number or "
                            f"None (no limit), not {v!r}")
        else:
            out[k] = v
    return out


def _timeout(t: float | None) -> float | None:
    """None: the default; 0 or inf: none (sent as 0)."""
    if t is None:
        return None
    if isinstance(t, bool) or not isinstance(t, (int, float)) or \
            math.isnan(t) or t < 0:
        raise ClientError(f"timeout must be a number of seconds >= 0 (0 or "
                          f"math.inf for none), not {t!r}")
    return 0 if math.isinf(t) else t


def session_fields(tools: list[Tool], limits: Mapping[str, Any] | None,
                   timeout: float | None, max_executions: int | None,
                   sandbox_strict: bool) -> dict[str, Any]:
    """The members of session.create (and pool.create)."""
    f: dict[str, Any] = {}
    if tools:
        f["tools"] = [t.spec() for t in tools]
    if limits is not None:
        f["limits"] = _limits(limits)
    t = _timeout(timeout)
    if t is not None:
        f["timeout"] = t
    if max_executions is not None:
        if isinstance(max_executions, bool) or \
                not isinstance(max_executions, int) or max_executions < 1:
            raise ClientError("max_executions must be a positive int, not "
                              f"{max_executions!r}")
        f["max_executions"] = max_executions
    if sandbox_strict:
        f["sandbox_strict"] = True
    return f


def exec_fields(code: str, timeout: float | None, echo: bool,
                sanitize: bool, max_tool_calls: int | None,
                max_output_lines: int | None,
                max_output_bytes: int | None) -> dict[str, Any]:
    """The members of execute (and pool.execute) but session or pool."""
    if not isinstance(code, str):
        raise ClientError(f"code must be a str, not {type(code).__name__}")
    try:
        code.encode("utf-8")
    except UnicodeEncodeError:
        raise ConversionError("the code is not valid Unicode") from None
    f: dict[str, Any] = {"code": code}
    t = _timeout(timeout)
    if t is not None:
        f["timeout"] = t
    if echo:
        f["echo"] = True
    if sanitize:
        f["sanitize"] = True
    for name, v in (("max_tool_calls", max_tool_calls),
                    ("max_output_lines", max_output_lines),
                    ("max_output_bytes", max_output_bytes)):
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ClientError(f"{name} must be a positive int, not "
                                  f"{v!r}")
            f[name] = v
    return f


@dataclass
class ToolCall:
    """A tool_call event to answer."""

    call: Any
    session: str
    tool: str
    args: Any


class Execution:
    """One execution's events and end.

    feed() takes each message of the request (events, the final reply,
    refusals of its tool results) and returns a :class:`ToolCall` to
    answer, the :class:`Result` at the end, or None to go on; an error
    at the end is raised.
    """

    def __init__(self, session: str | None, tools: Mapping[str, Tool],
                 decoder: V.Decoder, on_output: OutputHandler | None
                 ) -> None:
        self.session = session
        self.tools = tools
        self.decoder = decoder
        self.on_output = on_output
        self.output: list[Output] = []
        self.truncated = False
        self.failed: SecurerError | None = None
        self.callback_error: BaseException | None = None
        #: The final reply came.
        self.ended = False

    def feed(self, msg: dict[str, Any]) -> ToolCall | Result | None:
        """One message of the request (its id the request's)."""
        ev = msg.get("event")
        if ev is not None:
            if ev == "output":
                self._output(msg)
            elif ev == "tool_call":
                return self._tool_call(msg)
            elif ev == "truncated":
                self.truncated = True
            # Newer events are ignored.
            return None
        if "ok" not in msg:
            return None
        return self._end(msg)

    def refused(self, msg: dict[str, Any]) -> None:
        """A refusal of one of this execution's tool results."""
        if msg.get("ok") is False and self.failed is None:
            self.failed = from_error(msg.get("error"))

    def _output(self, msg: dict[str, Any]) -> None:
        stream, text = msg.get("stream"), msg.get("text")
        if not isinstance(stream, str) or not isinstance(text, str):
            if self.failed is None:
                self.failed = ProtocolViolation("securerd sent a malformed "
                                                "output event")
            return
        if stream not in STREAMS:
            stream = str(stream)
        self.output.append(Output(stream, text))
        if self.on_output is not None:
            try:
                self.on_output(stream, text)
            except Exception as e:
                # Raised after the execution ends, which it must first.
                if self.callback_error is None:
                    self.callback_error = e

    def _tool_call(self, msg: dict[str, Any]) -> ToolCall | None:
        call = msg.get("call")
        session = msg.get("session", self.session)
        if not isinstance(call, (int, float)) or isinstance(call, bool) or \
                not isinstance(session, str):
            if self.failed is None:
                self.failed = ProtocolViolation("securerd sent a tool_call "
                                                "with no call number")
            return None
        return ToolCall(call, session, str(msg.get("tool")), msg.get("args"))

    def _end(self, msg: dict[str, Any]) -> Result:
        self.ended = True
        if self.callback_error is not None:
            raise self.callback_error
        ok = msg.get("ok")
        if ok is False:
            err = msg.get("error")
            e = err if isinstance(err, dict) else {}
            plots, omitted = plots_from(e)
            exc = from_error(err, output=self.output, plots=plots,
                             plots_omitted=omitted,
                             advisories=advisories_from(e))
            exc.resumed = resumed_from(msg)
            if self.failed is not None:
                self.failed.resumed = exc.resumed
                raise self.failed from exc
            raise exc
        if ok is not True:
            raise ProtocolViolation("securerd sent a reply with no boolean "
                                    "ok")
        if self.failed is not None:
            self.failed.resumed = resumed_from(msg)
            raise self.failed
        if "value" not in msg:
            raise ProtocolViolation("securerd's reply to execute has no "
                                    "value")
        plots, omitted = plots_from(msg)
        printed = msg.get("printed")
        elapsed = msg.get("elapsed")
        session = msg.get("session", self.session)
        return Result(
            value=self.decoder.decode(msg["value"]),
            printed=printed if isinstance(printed, str) else "",
            visible=msg.get("visible") is True,
            output=self.output, plots=plots, plots_omitted=omitted,
            advisories=advisories_from(msg),
            truncated=msg.get("truncated") is True or self.truncated,
            elapsed=float(elapsed) if isinstance(elapsed, (int, float))
            else 0.0,
            session=session if isinstance(session, str) else None,
            resumed=resumed_from(msg))

    # The tool side: prepare(), run the callable, answer().

    def prepare(self, tc: ToolCall) -> tuple[Tool, dict[str, Any]] | str:
        """The tool and its keyword arguments, or the error message the R
        code gets."""
        t = self.tools.get(tc.tool)
        if t is None:
            return f"no tool named '{tc.tool}' in this client"
        if not isinstance(tc.args, dict):
            return f"tool '{tc.tool}': malformed arguments"
        try:
            args = {k: self.decoder.decode(v) for k, v in tc.args.items()}
            return t, t.prepare(args)
        except ArgError as e:
            return str(e)
        except SecurerError as e:
            return f"tool '{tc.tool}': arguments that cannot be read: {e}"


def tool_result(tc: ToolCall, encoder: V.Encoder, value: Any = None,
                error: BaseException | str | None = None) -> dict[str, Any]:
    """The tool_result request (but id) for a tool's value or error; a
    value that cannot cross becomes an error for the R code."""
    f: dict[str, Any] = {"op": "tool_result", "session": tc.session,
                         "call": tc.call}
    if error is None:
        try:
            f["value"] = encoder.encode(value)
            return f
        except ConversionError as e:
            error = f"tool '{tc.tool}' returned a value that cannot be sent " \
                f"to R: {e}"
    f["error"] = error if isinstance(error, str) else error_text(error)
    f["error"] = _clean(f["error"])
    return f


def _clean(s: str) -> str:
    s = s.replace("\x00", "")
    return s.encode("utf-8", "replace").decode("utf-8")


#: What a tool call of an execution the client gave up on gets.
ABANDONED = "the client stopped waiting for this execution"
INTERRUPTED = "the client was interrupted during this tool call"


def abandoned_result(msg: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to a tool call of an execution nobody waits for."""
    if msg.get("event") != "tool_call" or not isinstance(
            msg.get("session"), str) or "call" not in msg:
        return None
    return {"op": "tool_result", "session": msg["session"],
            "call": msg["call"],
            "error": ABANDONED}


def _num(d: dict[str, Any], k: str) -> float:
    v = d.get(k)
    return float(v) if isinstance(v, (int, float)) else 0.0


def session_status(reply: dict[str, Any], session: str) -> SessionStatus:
    """This session's entry of a status reply."""
    for s in reply.get("sessions") or []:
        if isinstance(s, dict) and s.get("session") == session:
            tools = s.get("tools")
            src = s.get("forked_from")
            return SessionStatus(
                session=session, state=str(s.get("state", "")),
                executions=int(_num(s, "executions")),
                tools=[t for t in tools if isinstance(t, str)]
                if isinstance(tools, list) else [],
                sandbox=str(s.get("sandbox", "")), age=_num(s, "age"),
                forked_from=src if isinstance(src, str) and src else None)
    raise from_error({"code": "no_such_session",
                      "message": "no such session"})


def pool_status(r: dict[str, Any]) -> PoolStatus:
    """A pool.status (or pool.create) reply."""
    return PoolStatus(
        pool=str(r.get("pool", "")), size=int(_num(r, "size")),
        total=int(_num(r, "total")), busy=int(_num(r, "busy")),
        idle=int(_num(r, "idle")), dead=int(_num(r, "dead")),
        starting=int(_num(r, "starting")),
        waiting=int(_num(r, "waiting")),
        executions=int(_num(r, "executions")),
        reset_between_uses=r.get("reset_between_uses") is True)


def hibernated(reply: dict[str, Any]) -> int:
    """The snapshot's size in a reply to session.hibernate."""
    n = reply.get("bytes")
    if reply.get("hibernated") is not True or isinstance(n, bool) or \
            not isinstance(n, (int, float)) or n < 0:
        raise ProtocolViolation("securerd's reply to session.hibernate "
                                "does not say it hibernated, or how many "
                                "bytes")
    return int(n)


def forked(reply: dict[str, Any], source: str) -> tuple[str, str]:
    """The new session's id and sandbox in a reply to session.fork of
    the session source, checked: it names a session other than source,
    says it was forked from source and is hibernated, and how many bytes
    its snapshot has."""
    sid = reply.get("session")
    n = reply.get("bytes")
    if not isinstance(sid, str) or not sid or sid == source or \
            reply.get("forked_from") != source or \
            reply.get("hibernated") is not True or isinstance(n, bool) or \
            not isinstance(n, (int, float)) or n < 0:
        raise ProtocolViolation("securerd's reply to session.fork does not "
                                "name the new session hibernated, its "
                                "source, or how many bytes")
    sb = reply.get("sandbox")
    return sid, sb if isinstance(sb, str) else ""


def warn_resumed(r: Resumed | None, stacklevel: int = 4) -> None:
    """A ResumeWarning if the resume r could not restore everything."""
    if r is not None and r.warning is not None:
        warnings.warn(ResumeWarning("the session was resumed from "
                                    f"hibernation: {r.warning}"),
                      stacklevel=stacklevel)
