"""Tools: Python callables the sandboxed R code can call while it runs.

A tool is an R function of the same name inside the session; calling it
sends its arguments to this process, where the Python callable runs
outside the sandbox, and its return value comes back as the R call's
value.  An exception it raises becomes an R error in the sandbox, its
message sanitized by the daemon (host paths, process ids, addresses and
stack traces removed, cut to 500 bytes), as securer-protocol(7) says.

    >>> import securer
    >>> def add(a: float, b: float) -> float:
    ...     "Add two numbers."
    ...     return a + b
    >>> with securer.Session(tools=[securer.tool(add)]) as s:
    ...     s.execute("add(0.1, 0.2)").value
    0.30000000000000004
"""

from __future__ import annotations

import collections.abc
import inspect
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .errors import BadTools
from . import values as V

__all__ = ["Tool", "tool", "ARG_TYPES"]

#: The R argument types of securer-protocol(7) "Tools": "" for any.
ARG_TYPES = ("numeric", "character", "logical", "integer", "list",
             "data.frame", "")

_IDENT = re.compile(r"^[A-Za-z.][A-Za-z0-9_.]*$")
_R_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next",
               "break", "TRUE", "FALSE", "NULL", "Inf", "NaN", "NA",
               "NA_integer_", "NA_real_", "NA_complex_", "NA_character_",
               "in"}


def _r_ident(name: str) -> bool:
    return bool(_IDENT.match(name)) and name not in _R_RESERVED and \
        not re.match(r"^\.[0-9]", name)


class ArgError(Exception):
    """An argument that does not fit the tool's Python type: the R code
    gets an error with this message."""


@dataclass(frozen=True)
class _Arg:
    name: str
    rtype: str                      # the daemon's check
    convert: Callable[[Any], Any] | None = field(default=None,
                                                 compare=False)


def _scalar(x: Any, what: str) -> Any:
    if isinstance(x, (list, tuple)) or V._is_numpy(x):
        try:
            n = len(x)
        except TypeError:
            return x
        if n != 1:
            raise ArgError(f"must be a single {what}, not {n} values")
        return x[0]
    return x


def _to_float(x: Any) -> float:
    x = _scalar(x, "number")
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        if V._is_numpy(x):
            return float(x)
        raise ArgError(f"must be a number, not {type(x).__name__}")
    return float(x)


def _to_int(x: Any) -> int:
    x = _scalar(x, "whole number")
    if isinstance(x, V.NAType):
        raise ArgError("must be a whole number, not NA")
    if V._is_numpy(x):
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ArgError(f"must be a whole number, not {type(x).__name__}")
    if isinstance(x, float):
        if not x.is_integer():
            raise ArgError(f"must be a whole number, not {x!r}")
        return int(x)
    return x


def _to_str(x: Any) -> str:
    x = _scalar(x, "string")
    if not isinstance(x, str):
        raise ArgError(f"must be a string, not {_shown(x)}")
    return x


def _to_bool(x: Any) -> bool:
    x = _scalar(x, "TRUE or FALSE")
    if V._is_numpy(x):
        x = x.item()
    if not isinstance(x, bool):
        raise ArgError(f"must be TRUE or FALSE, not {_shown(x)}")
    return x


def _shown(x: Any) -> str:
    return "NA" if isinstance(x, V.NAType) else type(x).__name__


def _to_list(x: Any) -> list[Any]:
    if x is None:
        return []
    if isinstance(x, dict):
        return list(x.values())
    if isinstance(x, (list, tuple)):
        return list(x)
    if V._is_numpy(x):
        return list(x.tolist()) if hasattr(x, "tolist") else [x]
    return [x]


def _to_dict(x: Any) -> dict[str, Any]:
    if isinstance(x, dict):
        return dict(x)
    if isinstance(x, V.Vector) and x.names is not None:
        return dict(zip(x.names, x))
    if x is None:
        return {}
    raise ArgError("must be a named list")


def _list_of(conv: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def f(x: Any) -> list[Any]:
        return [conv(e) for e in _to_list(x)]
    return f


def _to_pandas(x: Any) -> Any:
    if isinstance(x, V.DataFrame):
        pdf = x.to_pandas()
        if pdf is None:
            raise ArgError("has columns pandas cannot hold")
        return pdf
    return x


_SIMPLE: dict[Any, tuple[str, Callable[[Any], Any] | None]] = {
    float: ("numeric", _to_float),
    int: ("numeric", _to_int),
    str: ("character", _to_str),
    bool: ("logical", _to_bool),
    list: ("", _to_list),
    dict: ("list", _to_dict),
    V.DataFrame: ("data.frame", None),
    typing.Any: ("", None),
}
_ELEMENTS: dict[Any, tuple[str, Callable[[Any], Any]]] = {
    float: ("numeric", _to_float),
    int: ("numeric", _to_int),
    str: ("character", _to_str),
    bool: ("logical", _to_bool),
}


def _from_annotation(ann: Any) -> tuple[str, Callable[[Any], Any] | None]:
    """The R type and the conversion of a Python annotation."""
    if ann is inspect.Parameter.empty:
        return ("", None)
    if ann in _SIMPLE:
        return _SIMPLE[ann]
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        # Optional[X]: NULL (None) or what X takes.
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            _, conv = _from_annotation(rest[0])
            if conv is None:
                return ("", None)
            inner = conv
            return ("", lambda x: None if x is None else inner(x))
        return ("", None)
    if origin in (list, collections.abc.Sequence):
        if len(args) == 1 and args[0] in _ELEMENTS:
            rtype, conv = _ELEMENTS[args[0]]
            return (rtype, _list_of(conv))
        return ("", _to_list)
    if origin is dict:
        return ("list", _to_dict)
    pd = sys.modules.get("pandas")
    if pd is not None and ann is pd.DataFrame:
        return ("data.frame", _to_pandas)
    if isinstance(ann, str):
        # A postponed annotation that could not be resolved.
        simple = {"float": float, "int": int, "str": str, "bool": bool,
                  "list": list, "dict": dict}.get(ann)
        if simple is not None:
            return _SIMPLE[simple]
    return ("", None)


class Tool:
    """A Python callable for the sandboxed code, with its R signature.

    Args:
        fn: the callable; it gets the R arguments as keyword arguments,
            converted as :mod:`securer.values` says (and to its annotated
            types); it may be a coroutine function for
            :class:`securer.AsyncSession`.
        name: its name in R (a valid R identifier); fn.__name__ by default.
        description: what it does (for the daemon's listing and for a
            model); fn's docstring by default.
        args: argument name to R type ("numeric", "character", "logical",
            "integer", "list", "data.frame" or "" for any), or to a Python
            type; by default fn's parameters, typed from their
            annotations (float and int as numeric, str character, bool
            logical, dict list, DataFrame data.frame, others any).

    The daemon checks each call's argument names and R types before the
    tool runs; an annotated float, int, str or bool argument must also be
    a single value (an int a whole number) or the R code gets an error.
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None,
                 description: str | None = None,
                 args: Mapping[str, Any] | Sequence[str] | None = None
                 ) -> None:
        if not callable(fn):
            raise BadTools(f"a tool must be callable, not "
                           f"{type(fn).__name__}")
        self.fn = fn
        self.name = name if name is not None else getattr(fn, "__name__",
                                                          "")
        if not isinstance(self.name, str) or not _r_ident(self.name):
            raise BadTools(f"tool name {self.name!r} is not a valid R "
                           "identifier")
        if description is None:
            description = inspect.getdoc(fn) or ""
        if not isinstance(description, str):
            raise BadTools("a tool's description must be a str")
        self.description = description
        self.args: list[_Arg] = self._args(args)
        self.is_async = inspect.iscoroutinefunction(fn) or \
            inspect.iscoroutinefunction(getattr(fn, "__call__", None))

    def _args(self, args: Mapping[str, Any] | Sequence[str] | None
              ) -> list[_Arg]:
        hints: dict[str, Any] = {}
        try:
            sig: inspect.Signature | None = inspect.signature(self.fn)
        except (TypeError, ValueError):
            sig = None
        try:
            hints = typing.get_type_hints(self.fn)
        except Exception:
            hints = {}
        out: list[_Arg] = []
        if args is None:
            if sig is None:
                raise BadTools(f"tool {self.name!r}: cannot read its "
                               "parameters; give args")
            for p in sig.parameters.values():
                if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                    continue
                if p.kind == p.POSITIONAL_ONLY:
                    raise BadTools(f"tool {self.name!r}: positional-only "
                                   f"parameter {p.name!r}")
                ann = hints.get(p.name, p.annotation)
                rtype, conv = _from_annotation(ann)
                out.append(_Arg(p.name, rtype, conv))
        elif isinstance(args, Mapping):
            for n, t in args.items():
                if isinstance(t, str) or t is None:
                    rtype = t or ""
                    if rtype not in ARG_TYPES:
                        raise BadTools(f"tool {self.name!r}: argument {n!r} "
                                       f"has type {t!r}, not one of "
                                       f"{ARG_TYPES}")
                    out.append(_Arg(n, rtype, None))
                else:
                    rtype, conv = _from_annotation(t)
                    out.append(_Arg(n, rtype, conv))
        else:
            for n in args:
                ann = hints.get(n, inspect.Parameter.empty)
                rtype, conv = _from_annotation(ann)
                out.append(_Arg(n, rtype, conv))
        seen: set[str] = set()
        for a in out:
            if not isinstance(a.name, str) or not _r_ident(a.name):
                raise BadTools(f"tool {self.name!r}: argument name "
                               f"{a.name!r} is not a valid R identifier")
            if a.name in seen:
                raise BadTools(f"tool {self.name!r}: argument {a.name!r} "
                               "twice")
            seen.add(a.name)
        return out

    def spec(self) -> dict[str, Any]:
        """The tool specification of session.create."""
        return {"name": self.name, "description": self.description,
                "args": {a.name: a.rtype for a in self.args}}

    def prepare(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments of a call: converted to the annotated
        types (ArgError if they do not fit)."""
        out: dict[str, Any] = {}
        by_name = {a.name: a for a in self.args}
        for k, v in args.items():
            a = by_name.get(k)
            if a is not None and a.convert is not None:
                try:
                    v = a.convert(v)
                except ArgError as e:
                    raise ArgError(f"tool '{self.name}': argument '{k}' "
                                   f"{e}") from None
            out[k] = v
        return out

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        a = ", ".join(f"{x.name}: {x.rtype or 'any'}" for x in self.args)
        return f"<Tool {self.name}({a})>"


def tool(fn: Callable[..., Any] | None = None, name: str | None = None,
         description: str | None = None,
         args: Mapping[str, Any] | Sequence[str] | None = None) -> Any:
    """Makes a :class:`Tool` of fn; as a decorator too::

        @securer.tool
        def lookup(key: str) -> str: ...

        @securer.tool(name="fetch", description="Fetch a row")
        def get_row(i: int) -> dict: ...
    """
    if fn is None:
        def deco(f: Callable[..., Any]) -> Tool:
            return Tool(f, name, description, args)
        return deco
    return Tool(fn, name, description, args)


def as_tools(tools: Any) -> list[Tool]:
    """Tools from a list of Tool objects and callables, or a mapping of
    name to callable."""
    if tools is None:
        return []
    out: list[Tool] = []
    if isinstance(tools, Mapping):
        for n, f in tools.items():
            out.append(f if isinstance(f, Tool) and f.name == n
                       else Tool(f.fn if isinstance(f, Tool) else f, n))
    else:
        if isinstance(tools, (Tool,)) or callable(tools):
            tools = [tools]
        for t in tools:
            out.append(t if isinstance(t, Tool) else Tool(t))
    names = [t.name for t in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise BadTools(f"tool names used twice: {sorted(dup)}")
    return out


def error_text(exc: BaseException) -> str:
    """What a tool's exception says to the R code (the daemon sanitizes
    it): its message, or its class name when it has none."""
    msg = str(exc)
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        # str() of a KeyError is only the key's repr.
        msg = f"KeyError: {exc.args[0]!r}"
    if not msg:
        msg = type(exc).__name__
    # Bounded: the daemon cuts at 500 bytes anyway.
    if len(msg) > 4096:
        msg = msg[:4096]
    return msg

