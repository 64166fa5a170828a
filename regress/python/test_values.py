"""Values both ways, exactly: every R type to Python and back, every Python
type to R and back, checked with R's identical() and bit for bit here."""

from __future__ import annotations

import math
import struct
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

import securer
from securer import (NA, NA_character, NA_complex, NA_integer, NA_real,
                     Character, Complex, DataFrame, Dates, DateTimes, Double,
                     Factor, Integer, List, Logical, RDate, RDateTime,
                     identical, is_na)
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


def test_unsupported(session: securer.Session) -> None:
    e = session.execute("environment()").value
    assert isinstance(e, securer.Environment)
    assert e.rtype == "environment" and "R_GlobalEnv" in e.printed
    f = session.execute("function(x) x + 1").value
    assert isinstance(f, securer.Function) and f.rtype == "closure"
    assert "x + 1" in f.printed
    assert isinstance(session.execute("sum").value, securer.Function)
    s = session.execute("quote(x)").value
    assert type(s) is securer.Unsupported and s.rtype == "symbol"
    # They cannot go back.
    with pytest.raises(securer.ConversionError):
        encode(e)


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
                  {1: "x"}, Integer([2 ** 31]), Factor(["z"], ["a"])]:
            box.value = v
            with pytest.raises(securer.RError) as ei:
                s.execute("val()")
            assert "cannot be sent to R" in ei.value.message, v
        # The session goes on.
        assert s.execute("1L").value == 1


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
    ]
    for v in bad:
        with pytest.raises(securer.ProtocolViolation):
            decode(v)


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


