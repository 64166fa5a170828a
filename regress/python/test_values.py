"""Values both ways, exactly: every R type to Python and back, every Python
type to R and back, checked with R's identical() and bit for bit here."""

from __future__ import annotations

import math
import struct
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

import securer
from securer import (NA, NA_character, NA_complex, NA_integer, NA_real, S4,
                     ByteString, Character, Complex, DataFrame, Dates,
                     DateTimes, Double, Environment, Factor, Function,
                     Integer, Language, List, Logical, Pairlist, RDate,
                     RDateTime, Reference, Symbol, Unsupported, identical,
                     is_na)
from securer.values import Decoder, Encoder, decode, encode, float_bits


def bits(x: float) -> int:
    return float_bits(x)


def echo(x: Any) -> Any:
    """Gives its argument back."""
    return x


# --- R to Python: what each R value decodes to --------------------------------

R_TO_PY: list[tuple[str, Any]] = [
    ("NULL", None),
    ("TRUE", True),
    ("FALSE", False),
    ("NA", NA),
    ("1L", 1),
    ("-2147483647L", -2147483647),
    ("NA_integer_", NA_integer),
    ("c(1L, NA, 2147483647L)", Integer([1, NA_integer, 2147483647])),
    ("0.1", 0.1),
    ("0.1 + 0.2", 0.30000000000000004),
    ("-0", -0.0),
    ("NA_real_", NA_real),
    ("Inf", math.inf),
    ("-Inf", -math.inf),
    ("c(5e-324, 1e-310, .Machine$double.xmax, 1/3, 2^53 + 2, 1e15, 123)",
     Double([5e-324, 1e-310, 1.7976931348623157e308, 1 / 3, 2.0 ** 53 + 2,
             1e15, 123.0])),
    ("c(-0, 0)", Double([-0.0, 0.0])),
    ("c(NA, 1.5)", Double([NA_real, 1.5])),
    ("1+2i", 1 + 2j),
    ("NA_complex_", NA_complex),
    ("complex(real = NA, imaginary = 1)", complex(NA_real, 1.0)),
    ("c(1i, -0-1i)", Complex([1j, complex(-0.0, -1.0)])),
    ("'a'", "a"),
    ("NA_character_", NA_character),
    ("c('\u00e9', '\u65e5\u672c', '', NA, '\"\\\\\\n\\t', '\U0001F600')",
     Character(["\u00e9", "\u65e5\u672c", "", NA_character,
                "\"\\\n\t", "\U0001F600"])),
    ("as.raw(c(0, 1, 255))", b"\x00\x01\xff"),
    ("raw(0)", b""),
    ("logical(0)", Logical([])),
    ("integer(0)", Integer([])),
    ("double(0)", Double([])),
    ("complex(0)", Complex([])),
    ("character(0)", Character([])),
    ("list()", List([])),
    ("list(1, 'a', NULL)", List([1.0, "a", None])),
    ("list(a = 1, b = list(c = 2L, d = 'x'))",
     {"a": 1.0, "b": {"c": 2, "d": "x"}}),
    ("list(a = 1, a = 2)", List([1.0, 2.0], names=["a", "a"])),
    ("list(1, b = 2)", List([1.0, 2.0], names=["", "b"])),
    ("c(a = 1, b = 2)", Double([1.0, 2.0], names=["a", "b"])),
    ("c(a = 1)", Double([1.0], names=["a"])),
    ("matrix(1:6, 2)", Integer([1, 2, 3, 4, 5, 6],
                               {"dim": Integer([2, 3])})),
    ("factor(c('b', 'a', NA, 'b'))",
     Factor(["b", "a", NA_character, "b"], ["a", "b"])),
    ("factor(c('lo', 'hi'), levels = c('lo', 'hi'), ordered = TRUE)",
     Factor(["lo", "hi"], ["lo", "hi"], ordered=True)),
    ("factor(character(0))", Factor([], [])),
    ("as.Date('2024-02-29')", RDate(2024, 2, 29)),
    ("as.Date('1900-01-01')", RDate(1900, 1, 1)),
    ("as.Date(c('2020-01-01', NA))", Dates([RDate(2020, 1, 1), NA],
                                           {"class": Character(["Date"])})),
    ("data.frame(a = 1:2, b = c('x', NA))",
     DataFrame({"a": Integer([1, 2]), "b": Character(["x", NA])})),
    ("data.frame(x = 1)", DataFrame({"x": Double([1.0])})),
    ("data.frame(x = 1:2, row.names = c('r1', 'r2'))",
     DataFrame({"x": Integer([1, 2])}, row_names=["r1", "r2"])),
]


@pytest.mark.parametrize("code,want", R_TO_PY, ids=[c for c, _ in R_TO_PY])
def test_r_to_python(session: securer.Session, code: str, want: Any) -> None:
    got = session.execute(code).value
    assert identical(got, want), f"{code}: {got!r} is not {want!r}"


def test_double_bits(session: securer.Session) -> None:
    """NA_real_, NaN and -0 keep their bits; every double of a long random
    vector comes back exact."""
    assert bits(session.execute("NA_real_").value) == 0x7FF00000000007A2
    assert bits(session.execute("NaN").value) == 0x7FF8000000000000
    assert bits(session.execute("-0").value) == 0x8000000000000000
    v = session.execute("set.seed(1); x <- c(runif(2000) * 10^(-300:300)[1:"
                        "2000 %% 601 + 1], rnorm(2000)); x").value
    # R's %a and Python's float.hex may write the same bits differently:
    # compare what they read back to.
    got_hex = session.execute("paste(sprintf('%a', x), collapse = ' ')"
                              ).value.split(" ")
    assert len(got_hex) == len(v) == 4000
    for h, x in zip(got_hex, v):
        assert bits(float.fromhex(h)) == bits(x), h


def test_posixct(session: securer.Session) -> None:
    t = session.execute("as.POSIXct(1700000000.123456789, origin = "
                        "'1970-01-01', tz = 'UTC')").value
    assert isinstance(t, RDateTime) and isinstance(t, datetime)
    assert t.seconds == 1700000000.123456789
    assert t.tzinfo is not None and t.utcoffset() == timedelta(0)
    assert t.tzone == "UTC"
    assert (t.year, t.month, t.day, t.hour) == (2023, 11, 14, 22)
    now = session.execute("Sys.time()").value
    assert isinstance(now, RDateTime)
    assert abs(now.timestamp() - datetime.now(timezone.utc).timestamp()) < 60
    v = session.execute("as.POSIXct(c('2020-07-01 12:00', NA), "
                        "tz = 'America/New_York')").value
    assert isinstance(v, DateTimes) and v.tzone == "America/New_York"
    assert v[0].utcoffset() == timedelta(hours=-4)
    assert v[0].hour == 12 and is_na(v[1])


def test_language(session: securer.Session) -> None:
    """Symbols and calls come as their text, never evaluated; numbers in
    a call are exact (17 digits); a formula keeps its class and its
    environment, by name."""
    x = session.execute("quote(x)").value
    assert type(x) is Symbol and x == "x" and not x.missing
    assert repr(x) == "Symbol('x')"
    c = session.execute("quote(f(x, 1.5, 'a'))").value
    assert type(c) is Language and c.text == 'f(x, 1.5, "a")' and \
        c.attributes == {} and not c.is_formula
    assert str(c) == c.text
    c = session.execute("as.call(list(as.name('f'), 1e-300, 1/3))").value
    assert c.text == "f(1e-300, 0.33333333333333331)"
    assert float(c.text.split(", ")[1][:-1]) == 1 / 3
    # Code in a call is text here: this one stops nothing.
    assert session.execute("quote(stop('ran'))").value.text == \
        'stop("ran")'
    f = session.execute("y ~ x + log(z)").value
    assert type(f) is Language and f.text == "y ~ x + log(z)"
    assert f.is_formula and f.environment == Environment("R_GlobalEnv")
    assert list(f.attributes) == ["class", ".Environment"]
    assert identical(f.attributes["class"], Character(["formula"]))
    v = session.execute("list(a = quote(x), b = quote(f(y)), "
                        "c = structure(1:2, lang = quote(a + b)))").value
    assert identical(v, {"a": Symbol("x"), "b": Language("f(y)"),
                         "c": Integer([1, 2],
                                      {"lang": Language("a + b")})})


def test_functions_and_environments(session: securer.Session) -> None:
    """A function is its source text; an environment its name."""
    f = session.execute("function(x) x + 1").value
    assert type(f) is Function and f.source == "function (x) \nx + 1"
    assert f.attributes == {} and not f.primitive and str(f) == f.source
    p = session.execute("sum").value
    assert type(p) is Function and p.source == '.Primitive("sum")' and \
        p.primitive
    g = session.execute("structure(function() 1, class = 'myfn')").value
    assert type(g) is Function and \
        identical(g.attributes, {"class": Character(["myfn"])})
    for code, name in [("environment()", "R_GlobalEnv"), ("new.env()", ""),
                       ("emptyenv()", "R_EmptyEnv"), ("baseenv()", "base"),
                       ("asNamespace('stats')", "namespace:stats"),
                       ("as.environment('package:stats')",
                        "package:stats")]:
        e = session.execute(code).value
        assert type(e) is Environment and e.name == name, (code, e)
    v = session.execute("f <- function() { x <- 1; structure(list(), "
                        "class = 'q', env = environment()) }; f()").value
    assert identical(v, List([], {"class": Character(["q"]),
                                  "env": Environment("")}))


def test_pairlist_s4_reference(session: securer.Session) -> None:
    p = session.execute("formals(function(x, y = 2) NULL)").value
    assert identical(p, Pairlist([Symbol(""), 2.0], names=["x", "y"]))
    assert p[0].missing and p != List([Symbol(""), 2.0], names=["x", "y"])
    p = session.execute("pairlist(a = 1, b = 'x')").value
    assert identical(p, Pairlist([1.0, "x"], names=["a", "b"]))
    o = session.execute("setClass('P', representation(name = 'character', "
                        "age = 'numeric')); new('P', name = 'a', "
                        "age = 1)").value
    assert type(o) is S4 and o.class_name == "P" and \
        o.package == ".GlobalEnv"
    assert list(o.slots) == ["name", "age"] and o["name"] == "a" and \
        identical(o["age"], 1.0)
    assert identical(o.rclass, Character(
        ["P"], {"package": Character([".GlobalEnv"])}))
    n = session.execute("setClass('N', contains = 'numeric', "
                        "representation(u = 'character')); "
                        "new('N', c(1.5, 2.5), u = 'm')").value
    assert type(n) is S4 and list(n.slots) == ["u", ".Data"]
    assert identical(n[".Data"], Double([1.5, 2.5]))
    # A class representation has slots of every kind, a class-less
    # prototype and an external pointer among them.
    c = session.execute("getClass('P')").value
    assert type(c) is S4 and c.class_name == "classRepresentation" and \
        c.package == "methods"
    assert type(c["prototype"]) is S4 and c["prototype"].rclass is None
    assert c["versionKey"] == Reference("externalptr")
    r = session.execute("list(p = new('externalptr'))").value
    assert r == {"p": Reference("externalptr")}
    assert r["p"].rtype == "externalptr"


def test_unsupported(session: securer.Session) -> None:
    """A value with a part that cannot cross even as a stand-in comes
    whole: what the part is, where, the value's class, its printed
    form."""
    u = session.execute("e <- new.env(); class(e) <- 'R6'; e").value
    assert type(u) is Unsupported
    assert u.rtype == "environment with a class" and u.path == "" and \
        u.classes == ("R6",)
    assert 'attr(,"class")' in u.printed and str(u) == u.printed
    u = session.execute("list(a = 1, e = structure(new.env(), "
                        "class = 'foo'))").value
    assert type(u) is Unsupported and u.path == "$e" and u.classes == ()
    assert u.printed.startswith("$a\n[1] 1\n")
    u = session.execute("expression(1 + 2)").value
    assert type(u) is Unsupported and u.rtype == "expression" and \
        u.printed == "expression(1 + 2)\n"


def test_byte_strings(session: securer.Session) -> None:
    """A string that is not valid UTF-8 comes as its bytes, never
    repaired; valid ones in other encodings as text."""
    v = session.execute("'caf\\xe9'").value
    assert type(v) is ByteString and v == b"caf\xe9"
    v = session.execute("c('ok', NA, 'caf\\xe9')").value
    assert identical(v, Character(["ok", NA_character,
                                   ByteString(b"caf\xe9")]))
    v = session.execute("setNames(1:2, c('a', '\\xff'))").value
    assert identical(v.names, ["a", ByteString(b"\xff")])
    assert session.execute("iconv('caf\\xe9', 'latin1', 'UTF-8')"
                           ).value == "caf\u00e9"
    # A name that is not UTF-8 in a list is not a dict key.
    v = session.execute("list(`caf\\xe9` = 1)").value
    assert type(v) is List and v.names == [ByteString(b"caf\xe9")]


def test_standins_that_cannot_go_back(sock: str) -> None:
    """What R would make something else of is refused, as an R error in
    the sandbox: a function, an environment (and so a formula with
    one), an S4 object, a reference, what could not cross."""
    with securer.Session(tools=[echo], autostart=False) as s:
        for code in ["function(x) x", "sum", "environment()", "y ~ x",
                     "new('externalptr')", "setClass('Q', "
                     "representation(a = 'numeric')); new('Q', a = 1)",
                     "expression(1)", "list(1, f = mean)"]:
            r = s.execute(f"x <- {code}; tryCatch(echo(x), error = "
                          "function(e) conditionMessage(e))").value
            assert isinstance(r, str) and "cannot be sent to R" in r, \
                (code, r)
        assert s.execute("1L").value == 1
    for x in [Function("function() 1"), Environment("R_GlobalEnv"),
              S4({"a": 1.0}), Reference("externalptr"),
              Unsupported("expression", "x"),
              Language("y ~ x", {".Environment": Environment("")}),
              [Function("sum")]]:
        with pytest.raises(securer.ConversionError):
            encode(x)


# --- R to Python to R: identical() in R ---------------------------------------

ROUND_TRIP = [c for c, _ in R_TO_PY] + [
    "NaN", "c(NaN, NA, -0, Inf)", "complex(real = 1, imaginary = NA)",
    "structure(19000.5, class = 'Date')",
    "structure(NaN, class = 'Date')",
    "as.POSIXct(1700000000.123456789, origin = '1970-01-01', tz = 'UTC')",
    "Sys.time()",
    "as.POSIXct(c('2020-07-01 12:00', NA), tz = 'America/New_York')",
    "structure(1e300, class = c('POSIXct', 'POSIXt'))",
    "structure(5L, levels = 'a', class = 'factor')",
    "structure(1:3, class = 'myclass', extra = 'yes')",
    "as.difftime(90, units = 'mins')",
    "array(1:24, 2:4)",
    "matrix(1:4, 2, dimnames = list(c('a', 'b'), NULL))",
    "list(list(list(1, list(2L))))",
    "data.frame(a = 1:3, b = c('x', 'y', NA), c = c(TRUE, NA, FALSE), "
    "d = factor(c('u', 'v', 'u')), e = as.Date('2020-01-01') + 0:2, "
    "stringsAsFactors = FALSE)",
    "data.frame(x = integer(0))",
    "data.frame()",
    "{df <- data.frame(a = 1:2); df$l <- list(1, 'a'); df}",
    "mtcars",
    "iris",
    "airquality",
    "structure(list(1), names = NA_character_)",
    "setNames(1:3, c('a', NA, ''))",
    "runif(1e5)",
    "sample(c(1:1e4, NA))",
    "c(TRUE, NA, FALSE)",
    "as.raw(0:255)",
    "letters",
    "quote(x)",
    "quote(f(x, 1.5, 'a'))",
    "as.call(list(as.name('f'), 1e-300, 1/3, 2^60 + 1))",
    "quote(function(x, y = 1) x + y)",
    "quote(`my var`[[1]]$b@c)",
    "quote(if (a) b else -1L)",
    "quote(f(NA_character_, NA_integer_, NA, NA_real_))",
    "structure(quote(y ~ x), class = 'formula')",
    "formals(function(x, y = 2, ...) NULL)",
    "pairlist(a = 1, b = 'x')",
    "list(a = quote(x), b = quote(f(y)))",
    "structure(1:3, lang = quote(a + b))",
    "{x <- c('caf\\xe9', NA, 'b', '\\xff\\xfe'); Encoding(x) <- 'bytes'; x}",
]


def test_r_python_r(sock: str) -> None:
    """Each value, through a tool that returns its argument, is identical
    in R to what it was."""
    with securer.Session(tools=[echo], autostart=False) as s:
        bad = []
        for code in ROUND_TRIP:
            r = s.execute(f"x <- {code}; identical(echo(x), x)").value
            if r is not True:
                bad.append(code)
        assert bad == []


# --- Python to R: identical() in R to an R expression -------------------------

class _Box:
    value: Any = None


PY_TO_R: list[tuple[Any, str]] = [
    (None, "NULL"),
    (True, "TRUE"),
    (NA, "NA"),
    (5, "5L"),
    (-2147483647, "-2147483647L"),
    (2 ** 31, "2147483648"),
    (-(2 ** 31), "-2147483648"),
    (2 ** 53, "2^53"),
    (0.1, "0.1"),
    (-0.0, "-0"),
    (math.nan, "NaN"),
    (NA_real, "NA_real_"),
    (math.inf, "Inf"),
    (1 + 2j, "1+2i"),
    ("\u00e9\U0001F600", "'\u00e9\U0001F600'"),
    (NA_character, "NA_character_"),
    (NA_integer, "NA_integer_"),
    (b"\x00\x01\xff", "as.raw(c(0, 1, 255))"),
    ([1, 2, 3], "1:3"),
    ((1, 2), "1:2"),
    ([1.0, 2], "c(1, 2)"),
    ([2 ** 40, 1], "c(2^40, 1)"),
    ([True, NA], "c(TRUE, NA)"),
    ([NA, NA], "c(NA, NA)"),
    (["a", NA], "c('a', NA)"),
    ([1, NA_integer], "c(1L, NA)"),
    ([1j, 2], "c(1i, 2)"),
    ([], "list()"),
    ([1, "a"], "list(1L, 'a')"),
    ([[1, 2], [3]], "list(1:2, 3L)"),
    ([None], "list(NULL)"),
    ({"a": 1, "b": [1.5, 2.5]}, "list(a = 1L, b = c(1.5, 2.5))"),
    ({}, "list()"),
    (Integer([1, NA]), "c(1L, NA)"),
    (Double([1.0], names=["a"]), "c(a = 1)"),
    (Logical([]), "logical(0)"),
    (Character(["x"]), "'x'"),
    (List([1.0]), "list(1)"),
    (Integer([1, 2, 3, 4], {"dim": Integer([2, 2])}), "matrix(1:4, 2)"),
    (date(2024, 2, 29), "as.Date('2024-02-29')"),
    ([date(2020, 1, 1), NA], "as.Date(c('2020-01-01', NA))"),
    (datetime(2020, 1, 1, 12, tzinfo=timezone.utc),
     "as.POSIXct('2020-01-01 12:00', tz = 'UTC')"),
    (datetime(2020, 1, 1, 12), "as.POSIXct('2020-01-01 12:00', tz = 'UTC')"),
    (datetime(2020, 1, 1, 12, 0, 0, 500000, tzinfo=timezone.utc),
     "as.POSIXct('2020-01-01 12:00', tz = 'UTC') + 0.5"),
    (Factor(["a", "b", "a"]), "factor(c('a', 'b', 'a'))"),
    (Factor(["lo", NA], ["lo", "hi"], ordered=True),
     "factor(c('lo', NA), levels = c('lo', 'hi'), ordered = TRUE)"),
    (DataFrame({"x": [1, 2], "y": ["a", "b"]}),
     "data.frame(x = 1:2, y = c('a', 'b'))"),
    (DataFrame({"x": [1.5]}, row_names=["r"]),
     "data.frame(x = 1.5, row.names = 'r')"),
    (DataFrame({"x": Integer([])}), "data.frame(x = integer(0))"),
    (DataFrame({"f": Factor(["u", "v"]), "d": [date(2020, 1, 1), NA]}),
     "data.frame(f = factor(c('u', 'v')), d = as.Date(c('2020-01-01', NA)))"),
    (Symbol("x"), "quote(x)"),
    (Symbol(""), "quote(expr = )"),
    (Language("f(x, 1.5)"), "quote(f(x, 1.5))"),
    (Language("stop('evaluated')"), "quote(stop('evaluated'))"),
    (Language("y ~ x", {"class": Character(["formula"])}),
     "structure(quote(y ~ x), class = 'formula')"),
    (Pairlist([Symbol(""), 2.0], names=["x", "y"]),
     "formals(function(x, y = 2) NULL)"),
    (ByteString(b"caf\xe9"), "{x <- 'caf\\xe9'; Encoding(x) <- 'bytes'; x}"),
    (Character(["a", ByteString(b"\xff"), NA]),
     "{x <- c('a', '\\xff', NA); Encoding(x) <- 'bytes'; x}"),
    ([Symbol("a"), Language("g()")], "list(quote(a), quote(g()))"),
]


def test_python_to_r(sock: str) -> None:
    box = _Box()

    def val() -> Any:
        return box.value

    with securer.Session(tools=[securer.tool(val)]) as s:
        bad = []
        for v, expr in PY_TO_R:
            box.value = v
            if s.execute(f"identical(val(), {expr})").value is not True:
                bad.append((v, expr, s.execute("val()").printed))
        assert bad == []
        box.value = -0.0
        assert s.execute("1 / val()").value == -math.inf


# What each value of PY_TO_R comes back as, where it is not itself.
BACK: dict[int, Any] = {
    5: 2147483648.0, 6: -2147483648.0, 7: 9007199254740992.0,
    18: Integer([1, 2, 3]), 19: Integer([1, 2]), 20: Double([1.0, 2.0]),
    21: Double([2.0 ** 40, 1.0]), 22: Logical([True, NA]),
    23: Logical([NA, NA]), 24: Character(["a", NA]),
    25: Integer([1, NA]), 26: Complex([1j, 2 + 0j]), 27: List([]),
    28: List([1, "a"]), 29: List([Integer([1, 2]), 3]), 30: List([None]),
    31: {"a": 1, "b": Double([1.5, 2.5])}, 32: List([]), 36: "x",
    39: RDate(2024, 2, 29),
    40: Dates([RDate(2020, 1, 1), NA], {"class": Character(["Date"])}),
    46: DataFrame({"x": Integer([1, 2]), "y": Character(["a", "b"])}),
    47: DataFrame({"x": Double([1.5])}, row_names=["r"]),
    49: DataFrame({"f": Factor(["u", "v"]),
                   "d": Dates([RDate(2020, 1, 1), NA],
                              {"class": Character(["Date"])})}),
    53: Language('stop("evaluated")'),
    58: List([Symbol("a"), Language("g()")]),
}


def test_python_r_python(sock: str) -> None:
    """What goes to R comes back as it was, or as the typed value it
    made (a plain list of ints: Integer, which equals it)."""
    box = _Box()

    def val() -> Any:
        return box.value

    with securer.Session(tools=[securer.tool(val)]) as s:
        bad = []
        for i, (v, _) in enumerate(PY_TO_R):
            box.value = v
            got = s.execute("val()").value
            want = BACK.get(i, v)
            if isinstance(v, datetime):
                ok = isinstance(got, RDateTime) and got == v.replace(
                    tzinfo=v.tzinfo or timezone.utc) and got.tzone == "UTC"
            elif isinstance(v, float) and math.isnan(v) and not is_na(v):
                ok = bits(got) == 0x7FF8000000000000
            else:
                ok = identical(got, want)
            if not ok:
                bad.append((i, v, got))
            # A flat list comes back equal to itself (a length-1 vector in
            # a list comes back a scalar: R has no scalars to tell).
            if isinstance(v, list) and not isinstance(v, securer.Vector) \
                    and not any(isinstance(e, list) for e in v):
                assert got == v
        assert bad == []


def test_python_values_that_cannot_cross(sock: str) -> None:
    """A value with no R form is an R error in the sandbox, not a crash."""
    box = _Box()

    def val() -> Any:
        return box.value

    with securer.Session(tools=[securer.tool(val)]) as s:
        for v in [{1, 2}, object(), 2 ** 60 + 1, "a\x00b", "\ud800",
                  {1: "x"}, Integer([2 ** 31]), Factor(["z"], ["a"]),
                  ByteString(b"a\x00"), Symbol("a\x00")]:
            box.value = v
            with pytest.raises(securer.RError) as ei:
                s.execute("val()")
            assert "cannot be sent to R" in ei.value.message, v
        # The session goes on.
        assert s.execute("1L").value == 1
        # R takes exactly one call, and never evaluates it.
        for text in ["1 +", "a; b", "x", "1", ""]:
            box.value = Language(text)
            with pytest.raises(securer.RError) as ei:
                s.execute("val()")
            assert "not one call" in ei.value.message, text


# --- The codec alone ------------------------------------------------------------

def test_na() -> None:
    assert NA is securer.NAType() and NA_integer is securer.NAType("integer")
    assert repr(NA) == "NA" and repr(NA_character) == "NA_character_"
    with pytest.raises(TypeError):
        bool(NA)
    with pytest.raises(ValueError):
        securer.NAType("double")
    assert bits(NA_real) == 0x7FF00000000007A2
    assert is_na(NA_real) and not is_na(math.nan) and not is_na(None)
    assert is_na(struct.unpack("<d", struct.pack("<Q",
                                                 0x7FF80000000007A2))[0])
    assert is_na(NA_complex) and is_na(complex(1, NA_real))
    import copy
    import pickle
    assert copy.deepcopy(NA) is NA and pickle.loads(pickle.dumps(NA_integer)) \
        is NA_integer


def test_vector_equality() -> None:
    assert Double([1.0]) == [1.0]
    assert Double([1.0]) != Integer([1])
    assert Double([1.0], names=["a"]) != Double([1.0])
    assert Factor(["a"]) == ["a"] and Factor(["a"]) != Factor(["a"], ["a",
                                                                      "b"])
    assert not identical(Double([-0.0]), Double([0.0]))
    assert identical(Double([NA_real]), Double([NA_real]))
    assert repr(Double([NA_real, 1.0])) == "Double([NA_real, 1.0])"


def test_decode_rejects_bad_values() -> None:
    bad: list[Any] = [
        5, "x", {"type": "double"}, {"type": "double", "value": ["x"]},
        {"type": "integer", "value": [2 ** 31]},
        {"type": "integer", "value": [-(2 ** 31)]},
        {"type": "integer", "value": [1.5]},
        {"type": "logical", "value": [1]},
        {"type": "character", "value": [1]},
        {"type": "complex", "value": [[1]]},
        {"type": "raw", "value": "###"},
        {"type": "list", "value": {}},
        {"type": "nope", "value": []},
        {"type": "double", "value": [], "attributes": []},
        {"type": "character", "value": [{"bytes": "##"}]},
        {"type": "character", "value": [{"bytes": "YQ==", "x": 1}]},
        {"type": "character", "value": [{"bytes": "YQA="}]},
        {"type": "character", "value": [{}]},
        {"type": "symbol", "value": {"bytes": "Yf8="}},
        {"type": "symbol", "value": 1},
        {"type": "symbol"},
        {"type": "symbol", "value": "x", "attributes": {
            "a": {"type": "logical", "value": [True]}}},
        {"type": "language", "value": ["f()"]},
        {"type": "function", "value": None},
        {"type": "environment", "value": 5},
        {"type": "environment", "value": "", "attributes": {
            "class": {"type": "character", "value": ["R6"]}}},
        {"type": "pairlist", "value": "x"},
        {"type": "S4", "value": [None]},
        {"type": "S4", "value": [None], "attributes": {
            "names": {"type": "character", "value": ["a", "b"]}}},
        {"type": "S4", "value": [None, None], "attributes": {
            "names": {"type": "character", "value": ["a", "a"]}}},
        {"type": "S4", "value": [None], "attributes": {
            "names": {"type": "character", "value": ["a"]},
            "class": {"type": "integer", "value": [1]}}},
        {"type": "S4", "value": [None], "attributes": {
            "names": {"type": "character", "value": ["a"]},
            "dim": {"type": "integer", "value": [1]}}},
        {"type": "symbol", "bin": ""},
        {"type": "reference"},
        {"type": "reference", "rtype": "externalptr", "value": []},
        {"type": "unsupported", "path": "", "printed": ""},
        {"type": "unsupported", "rtype": "x", "printed": ""},
        {"type": "unsupported", "rtype": "x", "path": ""},
        {"type": "unsupported", "rtype": "x", "path": "", "printed": "",
         "class": "c"},
        {"type": "unsupported", "rtype": "x", "path": "", "printed": "",
         "class": [1]},
        {"type": "unsupported", "rtype": "x", "path": "", "printed": "",
         "attributes": {}},
    ]
    for v in bad:
        with pytest.raises(securer.ProtocolViolation):
            decode(v)


def test_standins_codec() -> None:
    """Each stand-in goes back to the JSON it came as (those R makes
    again), the same in every value mode."""
    for mode in ("python", "numpy"):
        d = Decoder(mode)
        assert identical(d.decode({"type": "pairlist", "value": [
            {"type": "symbol", "value": ""},
            {"type": "double", "value": [1.5]}], "attributes": {
            "names": {"type": "character", "value": ["x", "y"]}}}),
            Pairlist([Symbol(""), 1.5], names=["x", "y"]))
        assert identical(d.decode({"type": "S4", "value": [
            {"type": "character", "value": ["v"]}], "attributes": {
            "names": {"type": "character", "value": ["a"]},
            "class": None}}), S4({"a": "v"}))
        assert identical(d.decode({"type": "language", "value": "f()"}),
                         Language("f()"))
    for v in [{"type": "symbol", "value": "x"},
              {"type": "symbol", "value": ""},
              {"type": "language", "value": "y ~ x", "attributes": {
                  "class": {"type": "character", "value": ["formula"]}}},
              {"type": "pairlist", "value": [
                  {"type": "symbol", "value": ""},
                  {"type": "double", "value": [2.0]}], "attributes": {
                  "names": {"type": "character", "value": ["x", "y"]}}},
              {"type": "character", "value": [
                  "a", None, {"bytes": "Y2Fm6Q=="}]},
              {"type": "character", "value": [{"bytes": ""}]},
              {"type": "list", "value": [
                  {"type": "symbol", "value": "f"},
                  {"type": "language", "value": "f(1)"}]}]:
        assert encode(decode(v)) == v, v
    u = decode({"type": "unsupported", "rtype": "nesting", "path":
                "[[1]][[1]]", "class": ["a", None, {"bytes": "/w=="}],
                "printed": {"bytes": "/w=="}})
    assert u == Unsupported("nesting", ByteString(b"\xff"), "[[1]][[1]]",
                            ["a", NA_character, ByteString(b"\xff")])
    assert str(u) == "\ufffd" and "nesting at [[1]][[1]]" in repr(u)
    assert decode({"type": "reference", "rtype": "weakref"}) == \
        Reference("weakref")
    assert encode(ByteString(b"\xe9")) == {
        "type": "character", "value": [{"bytes": "6Q=="}]}
    assert encode([ByteString(b"\xe9"), "a"])["type"] == "character"
    assert not identical(Symbol("x"), "x") and Symbol("x") == "x"
    assert not identical(ByteString(b"x"), b"x")
    assert not identical(Language("f()", {"a": Double([-0.0])}),
                         Language("f()", {"a": Double([0.0])}))
    assert Language("f()") != Function("f()") and \
        Language("f()") == Language("f()")


def test_negative_zero_json() -> None:
    from securer.values import loads
    v = Decoder().decode(loads(b'{"type":"double","value":[-0,0,-0.0]}'))
    assert [bits(x) for x in v] == [0x8000000000000000, 0,
                                    0x8000000000000000]
    i = Decoder().decode(loads(b'{"type":"integer","value":[-0,1]}'))
    assert i == [0, 1] and type(i[0]) is int
    # "-0" in a string is a string.
    assert loads(b'{"a":"-0","b":[-0]}')["a"] == "-0"


def test_dates_exact() -> None:
    d = decode({"type": "double", "value": [19000.5],
                "attributes": {"class": {"type": "character",
                                         "value": ["Date"]}}})
    assert isinstance(d, RDate) and d.days == 19000.5
    assert encode(d)["value"] == [19000.5]
    # Arithmetic gives a date that is what it says.
    e = d + timedelta(days=1)
    assert encode(e)["value"] == [float(e.toordinal() -
                                        date(1970, 1, 1).toordinal())]
    t = decode({"type": "double", "value": [1700000000.123456789],
                "attributes": {"class": {"type": "character",
                                         "value": ["POSIXct", "POSIXt"]}}})
    assert isinstance(t, RDateTime) and t.seconds == 1700000000.123456789
    assert encode(t)["value"] == [1700000000.123456789]
    u = t + timedelta(seconds=1)
    assert isinstance(u, RDateTime) and u.seconds == pytest.approx(
        1700000001.123457, abs=1e-6)


def test_infer_plain_lists() -> None:
    assert encode([1, 2])["type"] == "integer"
    assert encode([1, 2.5])["type"] == "double"
    assert encode([1, 1j])["type"] == "complex"
    assert encode([True, 1])["type"] == "list"
    assert encode(["a", 1])["type"] == "list"
    assert encode([NA])["type"] == "logical"
    assert encode([NA_character, NA])["type"] == "character"
    assert encode([datetime(2020, 1, 1), NA])["attributes"]["class"][
        "value"] == ["POSIXct", "POSIXt"]


