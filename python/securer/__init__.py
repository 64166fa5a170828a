"""securer: run untrusted R code in securerd's sandbox, from Python.

A client of securerd(8) over securer-protocol(7), on the standard library
alone::

    import securer

    def add(a: float, b: float) -> float:
        "Add two numbers."
        return a + b

    with securer.Session(tools=[securer.tool(add)]) as s:
        r = s.execute("cat('hi\\n'); add(0.1, 0.2)")
        r.value        # 0.30000000000000004
        r.stdout       # 'hi\\n'

The main names: :class:`Session` and :class:`Pool` (threads),
:class:`AsyncSession` and :class:`AsyncPool` (asyncio),
:func:`execute_r` (one-shot), :func:`tool` (a Python callable the R code
may call), :class:`Result`, :class:`SecurerError` (the base of every
error; one class per error code of the protocol), :func:`tool_schema`
(an execute_r tool for a model's function calling), and the value types
of :mod:`securer.values` (:data:`NA`, :class:`DataFrame`, ...).
"""

from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .results import (Advisory, Output, Plot, PlotOmitted, PoolStatus,
                      Result, Resumed, SessionStatus)
from .values import (NA, S4, ByteString, Character, Complex, DataFrame,
                     Dates, DateTimes, Double, Environment, Factor, Function,
                     Integer, Language, List, Logical, NA_character,
                     NA_complex, NA_integer, NA_real, NAType, Pairlist, Raw,
                     RDate, RDateTime, Reference, Symbol, Unsupported,
                     Vector, identical, is_na)
from .tools import Tool, tool
from .session import Pool, Session, execute_r
from .aio import AsyncPool, AsyncSession, execute_r_async
from .schema import execute_r_tool, format_result, tool_schema

__version__ = "0.1.0"

__all__ = [
    "Session", "Pool", "AsyncSession", "AsyncPool", "execute_r",
    "execute_r_async", "tool", "Tool", "tool_schema", "execute_r_tool",
    "format_result", "Result", "Output", "Plot", "PlotOmitted", "Advisory",
    "Resumed",
    "SessionStatus", "PoolStatus", "NA", "NA_integer", "NA_character",
    "NA_real", "NA_complex", "NAType", "is_na", "identical", "Vector",
    "Logical", "Integer", "Double", "Complex", "Character", "List", "Raw",
    "Factor", "RDate", "RDateTime", "Dates", "DateTimes", "DataFrame",
    "ByteString", "Symbol", "Language", "Function", "Environment",
    "Reference", "Pairlist", "S4", "Unsupported", "__version__",
    *_errors_all,
]
