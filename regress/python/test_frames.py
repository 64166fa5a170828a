"""numpy arrays and pandas data frames: R values as them and back,
exactly (Debian's python3-numpy and python3-pandas; bootstrap.sh installs
them, so their absence fails these tests rather than skipping them)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

import securer
from securer import NA_real, Character, Double, identical
from securer.values import float_bits as bits


class _Box:
    value: Any = None


def test_numpy_values(sock: str) -> None:
    with securer.Session(values="numpy") as s:
        a = s.execute("c(1.5, NA, -0, NaN)").value
        assert isinstance(a, np.ndarray) and a.dtype == np.float64
        assert [bits(x) for x in a.tolist()] == [
            bits(1.5), 0x7FF00000000007A2, 0x8000000000000000,
            0x7FF8000000000000]
        i = s.execute("c(1L, NA, 3L)").value
        assert isinstance(i, np.ma.MaskedArray) and i.dtype == np.int32
        assert i.mask.tolist() == [False, True, False]
        assert s.execute("1:3").value.dtype == np.int32
        b = s.execute("c(TRUE, FALSE)").value
        assert b.dtype == bool and b.tolist() == [True, False]
        m = s.execute("matrix(1:6, 2)").value
        assert m.shape == (2, 3) and m[1, 2] == 6 and m[0, 1] == 3
        assert s.execute("1+1").value == 2.0
        assert isinstance(s.execute("letters[1:3]").value, Character)
        # Attributes other than dim: the python form.
        assert isinstance(s.execute("c(a = 1, b = 2)").value, Double)


def test_numpy_to_r(sock: str) -> None:
    box = _Box()

    def val() -> Any:
        return box.value

    cases = [
        (np.array([1.5, 2.0]), "c(1.5, 2)"),
        (np.arange(3, dtype=np.int32), "0:2"),
        (np.arange(3, dtype=np.int64), "0:2"),
        (np.array([2 ** 40], dtype=np.int64), "2^40"),
        (np.ma.MaskedArray([1, 2], mask=[False, True], dtype=np.int32),
         "c(1L, NA)"),
        (np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32),
         "matrix(c(1L, 4L, 2L, 5L, 3L, 6L), 2)"),
        (np.array([True, False]), "c(TRUE, FALSE)"),
        (np.array(["a", "b"]), "c('a', 'b')"),
        (np.array(["2020-01-01", "NaT"], dtype="datetime64[D]"),
         "as.Date(c('2020-01-01', NA))"),
        (np.float64(0.25), "0.25"),
        (np.int32(7), "7L"),
        (np.bool_(True), "TRUE"),
        (np.array([1 + 1j]), "1+1i"),
    ]
    with securer.Session(tools=[securer.tool(val)], values="numpy") as s:
        bad = []
        for v, expr in cases:
            box.value = v
            if s.execute(f"identical(val(), {expr})").value is not True:
                bad.append((v, expr))
        assert bad == []
        # Back again: the same arrays.
        for v in [np.array([1.5, NA_real, -0.0]), np.arange(5,
                                                            dtype=np.int32),
                  np.ma.MaskedArray([1, 2, 3], mask=[0, 1, 0],
                                    dtype=np.int32),
                  np.array([[1.0, 2.0], [3.0, 4.0]])]:
            box.value = v
            assert identical(s.execute("val()").value, v), v


def test_pandas_frames(sock: str) -> None:
    with securer.Session(values="pandas") as s:
        df = s.execute(
            "data.frame(a = c(1L, NA), b = c('x', NA), c = c(TRUE, NA), "
            "d = c(0.5, NA), f = factor(c('u', NA)), "
            "t = as.Date(c('2020-01-01', NA)), "
            "p = as.POSIXct(c('2020-01-01 12:00', NA), tz = 'UTC'), "
            "stringsAsFactors = FALSE)").value
        assert isinstance(df, pd.DataFrame)
        assert str(df["a"].dtype) == "Int32" and df["a"].isna().tolist() == [
            False, True]
        assert df["b"].tolist() == ["x", None]
        assert str(df["c"].dtype) == "boolean"
        assert df["d"].dtype == np.float64 and bits(df["d"][1]) == \
            0x7FF00000000007A2
        assert isinstance(df["f"].dtype, pd.CategoricalDtype)
        assert str(df["t"].dtype) == "period[D]"
        assert str(df["p"].dtype) == "datetime64[ns, UTC]"
        assert isinstance(df.index, pd.RangeIndex)
        rn = s.execute("data.frame(x = 1:2, row.names = c('r1', 'r2'))"
                       ).value
        assert list(rn.index) == ["r1", "r2"]
        m = s.execute("mtcars").value
        assert m.shape == (32, 11) and m.index[0] == "Mazda RX4"


def test_pandas_round_trip(sock: str) -> None:
    """R frames to pandas and back are identical in R; pandas frames made
    here cross as the data.frame they describe."""
    got: dict[str, Any] = {}

    def keep(x: Any) -> Any:
        got["x"] = x
        return x

    codes = [
        "mtcars", "iris", "airquality",
        "data.frame(a = c(1L, NA), b = c('x', NA), c = c(TRUE, NA), "
        "f = factor(c('u', NA)), t = as.Date(c('2020-01-01', NA)), "
        "p = as.POSIXct(c('2020-01-01 12:00:00.25', NA), tz = 'UTC'), "
        "stringsAsFactors = FALSE)",
        "data.frame(p = Sys.time() + 0:1)",
        "data.frame(x = 1:2, row.names = c('r1', 'r2'))",
    ]
    with securer.Session(tools=[securer.tool(keep, args={"x": "data.frame"})],
                         values="pandas") as s:
        for code in codes:
            assert s.execute(f"x <- {code}; identical(keep(x), x)"
                             ).value is True, code
            assert isinstance(got["x"], pd.DataFrame), code
        box = _Box()

        def val() -> Any:
            return box.value

    with securer.Session(tools=[securer.tool(val)], values="pandas") as s:
        cases = [
            (pd.DataFrame({"x": [1, 2], "y": ["a", None]}),
             "data.frame(x = 1:2, y = c('a', NA))"),
            (pd.DataFrame({"x": pd.array([1, None], dtype="Int32")}),
             "data.frame(x = c(1L, NA))"),
            (pd.DataFrame({"c": pd.Categorical(["a", "b", "a"])}),
             "data.frame(c = factor(c('a', 'b', 'a')))"),
            (pd.DataFrame({"x": [1.5]}, index=["r"]),
             "data.frame(x = 1.5, row.names = 'r')"),
            (pd.Series([1.0, 2.0], index=["a", "b"]), "c(a = 1, b = 2)"),
            (pd.Series([1, 2]), "c(1L, 2L)"),
        ]
        bad = []
        for v, expr in cases:
            box.value = v
            if s.execute(f"identical(val(), {expr})").value is not True:
                bad.append(expr)
        assert bad == []
