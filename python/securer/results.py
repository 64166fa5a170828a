"""What an execution gives back: :class:`Result` and its parts."""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .errors import ProtocolViolation

__all__ = ["Output", "Plot", "PlotOmitted", "Advisory", "Resumed",
           "Result", "SessionStatus", "PoolStatus"]

#: The output streams of securer-protocol(7), in no particular order.
STREAMS = ("stdout", "stderr", "message", "warning")


class Output(NamedTuple):
    """A piece of output, in the order the code wrote it: its stream
    ("stdout", "stderr", "message" or "warning") and text (a line or
    more; a message's text ends with its newline, a warning's has none).

    Where one piece ends and the next begins is the daemon's choice: it
    batches what one stream writes close together (``print(1);
    cat('c')`` may be one piece) and cuts what is very long, so compare
    the text of each stream (:meth:`Result.text`) or the order of the
    streams, not the pieces.  The worker sends each message() and each
    warning as a piece of its own.
    """

    stream: str
    text: str


@dataclass(frozen=True)
class Plot:
    """A page the code drew: a PNG file.

    Attributes:
        name: "plot-001.png", "plot-002.png", ...
        mime_type: "image/png".
        data: the file's bytes.
    """

    name: str
    mime_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> tuple[int, int] | None:
        """Width and height in pixels, from the PNG header."""
        d = self.data
        if len(d) < 24 or d[:8] != b"\x89PNG\r\n\x1a\n":
            return None
        w, h = struct.unpack(">II", d[16:24])
        return (w, h)

    def save(self, path: str) -> str:
        """Writes the PNG file to path; returns path."""
        with open(path, "wb") as f:
            f.write(self.data)
        return path

    def _repr_png_(self) -> bytes:
        """Shown as an image by Jupyter."""
        return self.data


class PlotOmitted(NamedTuple):
    """A page over the daemon's caps, not returned: name, size and reason
    ("count", "size", "total" or "not_png")."""

    name: str
    size: int
    reason: str


class Advisory(NamedTuple):
    """The daemon's advice on the code, for whoever reviews it: code
    ("risky_call") and call (the risky name, such as "system")."""

    code: str
    call: str


@dataclass(frozen=True)
class Resumed:
    """The session was hibernated and the request woke it: its state was
    restored in a fresh worker first (the reply's ``resumed``, see
    securer-protocol(7)).

    Attributes:
        ms: how long the restore took, in milliseconds.
        bytes: the size of the snapshot it was restored from.
        warning: what could not be restored (connections, external
            pointers, a package that no longer loads), or None if
            everything was.
    """

    ms: float
    bytes: int
    warning: str | None = None


@dataclass
class Result:
    """The result of an execution.

    Attributes:
        value: the R value of the code's last expression, in Python
            (see :mod:`securer.values`).
        printed: the value as R's print() shows it ("" when invisible).
        visible: whether R would print it at its prompt.
        output: everything the code wrote, in order, as :class:`Output`.
        plots: the pages it drew, as PNG files.
        plots_omitted: pages over the daemon's caps.
        advisories: risky calls the daemon found in the code.
        truncated: the output went past max_output_lines or
            max_output_bytes and was cut.
        elapsed: seconds the daemon took.
        session: the session it ran on (for pool executions).
        resumed: the session was hibernated and this execution woke it
            (:class:`Resumed`), or None.
    """

    value: Any
    printed: str = ""
    visible: bool = True
    output: list[Output] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    plots_omitted: list[PlotOmitted] = field(default_factory=list)
    advisories: list[Advisory] = field(default_factory=list)
    truncated: bool = False
    elapsed: float = 0.0
    session: str | None = None
    resumed: Resumed | None = None

    def text(self, stream: str) -> str:
        """All the text written on one stream, joined."""
        return "".join(o.text for o in self.output if o.stream == stream)

    @property
    def stdout(self) -> str:
        """What the code wrote on standard output (cat(), print())."""
        return self.text("stdout")

    @property
    def stderr(self) -> str:
        """What it wrote on standard error (cat(file = stderr()))."""
        return self.text("stderr")

    @property
    def messages(self) -> list[str]:
        """Its messages (message()), each without its final newline."""
        return [o.text[:-1] if o.text.endswith("\n") else o.text
                for o in self.output if o.stream == "message"]

    @property
    def warnings(self) -> list[str]:
        """Its R warnings (warning()), one string each."""
        return [o.text for o in self.output if o.stream == "warning"]

    def lines(self, stream: str | None = None) -> list[str]:
        """The output as lines: of one stream, or of all of them.

        stdout and stderr are split on newlines (a last line without one
        counts); each message and warning is its own line(s).
        """
        out: list[str] = []
        # A line without its newline yet, and where it began.
        partial: dict[str, tuple[int, str]] = {}
        for i, o in enumerate(self.output):
            if stream is not None and o.stream != stream:
                continue
            if o.stream in ("stdout", "stderr"):
                start, text = partial.pop(o.stream, (i, ""))
                parts = (text + o.text).split("\n")
                if parts[-1] != "":
                    partial[o.stream] = (start if len(parts) == 1 else i,
                                         parts[-1])
                out.extend(parts[:-1])
            else:
                text = o.text[:-1] if o.text.endswith("\n") else o.text
                out.extend(text.split("\n"))
        # Lines never ended, in the order they began.
        out.extend(t for _, t in sorted(partial.values()))
        return out

    def __repr__(self) -> str:
        extra = ""
        if self.output:
            extra += f", output={len(self.output)} pieces"
        if self.plots:
            extra += f", plots={len(self.plots)}"
        if self.advisories:
            extra += f", advisories={[a.call for a in self.advisories]}"
        if self.resumed is not None:
            extra += ", resumed"
        return f"Result(value={self.value!r}, visible={self.visible}{extra})"


@dataclass(frozen=True)
class SessionStatus:
    """A session as the daemon's status reports it; its state is
    "starting", "idle", "busy", "dead", "hibernating" (its state is being
    saved), "hibernated" (saved, no worker), "resuming" (being restored
    for a request) or "forking" (its state is being copied for a fork,
    or it is that fork and its copy is being stored).  forked_from is
    the session a fork's state was copied from (None for a session that
    is no fork)."""

    session: str
    state: str
    executions: int
    tools: list[str]
    sandbox: str
    age: float
    forked_from: str | None = None


@dataclass(frozen=True)
class PoolStatus:
    """A pool as pool.status reports it."""

    pool: str
    size: int
    total: int
    busy: int
    idle: int
    dead: int
    starting: int
    waiting: int
    executions: int
    reset_between_uses: bool


def b64decode_strict(s: Any, what: str) -> bytes:
    """RFC 4648 base64, standard alphabet, padded, nothing else."""
    if not isinstance(s, str):
        raise ProtocolViolation(f"securerd sent {what} that is not a "
                                "base64 string")
    try:
        return base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ProtocolViolation(f"securerd sent {what} that is not "
                                "base64") from None


def plots_from(reply: dict[str, Any]) -> tuple[list[Plot], list[PlotOmitted]]:
    """The plots and omitted plots of a final reply (or error object)."""
    plots: list[Plot] = []
    omitted: list[PlotOmitted] = []
    ps = reply.get("plots")
    if ps is not None:
        if not isinstance(ps, list):
            raise ProtocolViolation("securerd sent plots that are not a list")
        for p in ps:
            if not isinstance(p, dict) or not isinstance(p.get("name"), str):
                raise ProtocolViolation("securerd sent a malformed plot")
            mt = p.get("mime_type")
            plots.append(Plot(p["name"], mt if isinstance(mt, str)
                              else "image/png",
                              b64decode_strict(p.get("data"), "a plot")))
    om = reply.get("plots_omitted")
    if isinstance(om, list):
        for p in om:
            if isinstance(p, dict):
                size = p.get("size")
                omitted.append(PlotOmitted(
                    str(p.get("name", "")),
                    int(size) if isinstance(size, (int, float)) else 0,
                    str(p.get("reason", ""))))
    return plots, omitted


def advisories_from(reply: dict[str, Any]) -> list[Advisory]:
    """The warnings array of a final reply (or error object)."""
    ws = reply.get("warnings")
    out: list[Advisory] = []
    if isinstance(ws, list):
        for w in ws:
            if isinstance(w, dict) and isinstance(w.get("call"), str):
                code = w.get("code")
                out.append(Advisory(code if isinstance(code, str)
                                    else "risky_call", w["call"]))
    return out


def resumed_from(reply: dict[str, Any]) -> Resumed | None:
    """The ``resumed`` of a final reply (a success or a refusal), or None
    if the request did not wake the session."""
    r = reply.get("resumed")
    if not isinstance(r, dict):
        return None
    ms = r.get("ms")
    n = r.get("bytes")
    w = r.get("warning")
    return Resumed(
        float(ms) if isinstance(ms, (int, float)) and
        not isinstance(ms, bool) else 0.0,
        int(n) if isinstance(n, (int, float)) and
        not isinstance(n, bool) else 0,
        w if isinstance(w, str) and w else None)
