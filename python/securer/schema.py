"""An ``execute_r`` tool for a model's function calling.

:func:`tool_schema` describes the tool to the model (the JSON schema of
its one argument, ``code``); :func:`execute_r_tool` runs a call the model
made in a session and returns the text to give back to it::

    schema = securer.tool_schema(style="openai")   # in the request's tools
    ...
    with securer.Session() as s:
        text = securer.execute_r_tool(s, call.arguments)   # a JSON string
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from .errors import ExecutionError, SecurerError
from .results import Result

__all__ = ["tool_schema", "execute_r_tool", "format_result",
           "DESCRIPTION"]

#: What the model is told the tool does.
DESCRIPTION = (
    "Execute R code in a secure sandboxed R session. The session keeps "
    "its state (variables, loaded packages) between calls. The code has "
    "no network access and cannot write outside its temporary directory. "
    "Pass a single string of valid R code; what it prints and the value "
    "of its last expression are returned.")

STYLES = ("plain", "openai", "anthropic")


def tool_schema(name: str = "execute_r", description: str | None = None,
                style: str = "plain") -> dict[str, Any]:
    """The JSON schema of an execute_r tool.

    Args:
        name: the tool's name for the model.
        description: what the model is told (:data:`DESCRIPTION` by
            default).
        style: "plain" ``{"name", "description", "parameters"}``, as most
            function-calling APIs take it; "openai" wraps it in
            ``{"type": "function", "function": ...}``; "anthropic" names
            the schema ``input_schema``.
    """
    params: dict[str, Any] = {
        "type": "object",
        "properties": {
            "code": {
                "type": "string",
                "description": "The R code to run, one string; the value "
                               "of its last expression is returned.",
            },
        },
        "required": ["code"],
        "additionalProperties": False,
    }
    d = description if description is not None else DESCRIPTION
    if style == "plain":
        return {"name": name, "description": d, "parameters": params}
    if style == "openai":
        return {"type": "function",
                "function": {"name": name, "description": d,
                             "parameters": params}}
    if style == "anthropic":
        return {"name": name, "description": d, "input_schema": params}
    raise ValueError(f"style must be one of {STYLES}, not {style!r}")


def _lines(text: str, limit: int) -> list[str]:
    lines = text.rstrip("\n").split("\n") if text else []
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more lines)"]
    return lines


def _output_lines(output: list[Any]) -> list[str]:
    text = ""
    for o in output:
        if o.stream == "warning":
            if text and not text.endswith("\n"):
                text += "\n"
            text += f"Warning: {o.text}\n"
        else:
            text += o.text
    return text.rstrip("\n").split("\n") if text else []


def format_result(r: Result | SecurerError, max_lines: int = 50) -> str:
    """The text a model gets for a result or an error: the output, then
    the printed value (or the error's message), each cut to max_lines
    lines, and what a resume from hibernation could not restore."""
    out = _lines("\n".join(_output_lines(r.output)), max_lines) \
        if isinstance(r, (Result, ExecutionError)) else []
    if isinstance(r, Result):
        if r.visible and r.printed:
            out.extend(_lines(r.printed, max_lines))
        if r.plots:
            out.append(f"[{len(r.plots)} plot(s) drawn: "
                       f"{', '.join(p.name for p in r.plots)}]")
        if not out:
            out.append("(no output; the value is invisible)" if
                       not r.visible else "NULL")
        if r.resumed is not None and r.resumed.warning is not None:
            out.append("[the session was resumed from hibernation: "
                       f"{r.resumed.warning}]")
        return "\n".join(out)
    call = getattr(r, "call", None)
    where = f" in {call}" if isinstance(call, str) and call else ""
    out.append(f"Error{where} ({r.code}): {r.message}")
    return "\n".join(out)


def execute_r_tool(session: Any, arguments: str | Mapping[str, Any],
                   timeout: float | None = None) -> str:
    """Runs a model's execute_r call in session (a :class:`Session`):
    arguments is the call's JSON string or its parsed object.  Errors
    (R's, time-outs, a malformed call) come back as text for the model,
    not as exceptions: only the connection's loss is raised."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return "Error: the arguments are not JSON"
    if not isinstance(arguments, Mapping) or \
            not isinstance(arguments.get("code"), str):
        return "Error: the call needs one argument, code, a string of R code"
    try:
        return format_result(session.execute(arguments["code"],
                                             timeout=timeout))
    except ExecutionError as e:
        return format_result(e)
    except SecurerError as e:
        if getattr(e, "code", "") in ("connection_lost", "connect"):
            raise
        return format_result(e)
