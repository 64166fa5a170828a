"""numpy arrays and pandas data frames for R vectors and data.frames.

Imported only when they are asked for (``values="numpy"`` or
``"pandas"``) or when a numpy or pandas object is sent; the package
itself needs neither.

R to numpy ("numpy" and "pandas" values), for vectors without attributes
other than dim:

========================  ================================================
R                         numpy
========================  ================================================
double                    float64, bit for bit (NA is a NaN with R's
                          payload: :func:`securer.is_na` tells it)
integer                   int32; with NAs a masked array (NA masked)
logical                   bool; with NAs a masked array
complex                   complex128
a matrix or array (dim)   the same, in its shape (R's column-major order)
========================  ================================================

Character vectors and classed values stay as in "python" values.  With
"pandas" values a data.frame is a pandas DataFrame: double, integer and
logical columns as float64, int32 and bool (Int32 and boolean when they
have NAs), character as object (None for NA), factors as Categorical,
Dates as period[D], POSIXct as datetime64[ns, tz] when the nanoseconds
hold the time exactly (else objects of :class:`securer.RDateTime`), R's
automatic row names as the default RangeIndex and others as the index.
What the dtypes cannot say (the tzone attribute's absence, a class of the
frame's own, a column's extra attributes) is kept in the frame's
``attrs["r_attributes"]`` so that the frame goes back identical.

numpy and pandas to R: arrays by dtype (floats double, integers integer
if they fit 32 bits and double otherwise, bool logical, complex complex,
str and object of str character, datetime64[D] Date and other datetime64
POSIXct), masked elements NA, more than one dimension a dim attribute;
pandas Series as vectors (their index as names unless it is the default),
Categorical as factors, DataFrames as data.frames.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from .errors import ClientError, ConversionError, ProtocolViolation
from . import values as V

__all__ = ["require", "np_from_bin", "np_from_elements", "df_to_pandas",
           "encode_array", "np_identical", "pd_identical"]

_INT_MIN = V.INT_MIN


def require(mode: str) -> None:
    """Import what values=mode needs, or say what to install."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise ClientError(f"values={mode!r} needs numpy (Debian's "
                          "python3-numpy)") from None
    if mode == "pandas":
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise ClientError("values='pandas' needs pandas (Debian's "
                              "python3-pandas)") from None


def _np() -> Any:
    import numpy
    return numpy


def _pd() -> Any:
    import pandas
    return pandas


# --- R to numpy ---------------------------------------------------------------

def np_from_bin(rtype: str, raw: bytes) -> Any:
    """The array of a binary vector's bytes."""
    np = _np()
    if rtype == "double":
        return np.frombuffer(raw, dtype="<f8").astype(np.float64)
    if rtype == "complex":
        return np.frombuffer(raw, dtype="<c16").astype(np.complex128)
    a = np.frombuffer(raw, dtype="<i4").astype(np.int32)
    if rtype == "logical":
        bad = (a != 0) & (a != 1) & (a != _INT_MIN)
        if bad.any():
            raise ProtocolViolation("securerd sent an invalid value: "
                                      f"{int(a[bad][0])} in a binary "
                                      "logical vector")
        na = a == _INT_MIN
        vals = a == 1
        return np.ma.MaskedArray(vals, mask=na) if na.any() else vals
    na = a == _INT_MIN
    return np.ma.MaskedArray(a, mask=na) if na.any() else a


def np_from_elements(rtype: str, elts: list[Any], dim: Any = None) -> Any:
    """The array of decoded elements, or None when numpy has no exact
    form (character, list)."""
    np = _np()
    if rtype == "double":
        a = np.array(elts, dtype=np.float64)
    elif rtype == "complex":
        a = np.array(elts, dtype=np.complex128)
    elif rtype in ("integer", "logical"):
        na = np.array([isinstance(e, V.NAType) for e in elts], dtype=bool)
        if rtype == "integer":
            vals = np.array([_INT_MIN if m else e for e, m in
                             zip(elts, na)], dtype=np.int32)
        else:
            vals = np.array([False if m else e for e, m in zip(elts, na)],
                            dtype=bool)
        a = np.ma.MaskedArray(vals, mask=na) if na.any() else vals
    else:
        return None
    if dim is not None:
        shape = tuple(dim) if isinstance(dim, list) else (dim,)
        if not all(isinstance(d, int) for d in shape) or \
                math.prod(shape) != len(elts):
            return None
        a = a.reshape(shape, order="F")
    return a


# --- R data frames to pandas ---------------------------------------------------

def _exact_ns(seconds: float) -> int | None:
    """The nanoseconds of R's seconds if they go back to the same double."""
    if not math.isfinite(seconds):
        return None
    ns = round(Fraction(seconds) * 10 ** 9)
    if not -(2 ** 63) < ns < 2 ** 63:
        return None
    if float(Fraction(ns, 10 ** 9)) != seconds:
        return None
    return ns


def _column(col: Any) -> tuple[Any, dict[str, Any] | None] | None:
    """A data frame's column as pandas data and the R attributes to
    remember, or None if it has no pandas form."""
    np = _np()
    pd = _pd()
    if isinstance(col, np.ma.MaskedArray):
        if col.ndim != 1:
            return None
        mask = np.ma.getmaskarray(col)
        if col.dtype == np.int32:
            return pd.arrays.IntegerArray(col.data.copy(), mask.copy()), None
        if col.dtype == bool:
            return pd.arrays.BooleanArray(col.data.copy(), mask.copy()), None
        return None
    if isinstance(col, np.ndarray):
        return (col, None) if col.ndim == 1 else None
    if isinstance(col, V.Factor):
        if col.attributes:
            return None
        codes = [-1 if isinstance(c, V.NAType) else c - 1
                 for c in col.codes]
        return pd.Categorical.from_codes(codes, categories=col.levels,
                                         ordered=col.ordered), None
    if isinstance(col, V.Dates):
        if list(col.attributes) != ["class"]:
            return None
        ords: list[int | None] = []
        for d in col:
            if isinstance(d, V.NAType):
                ords.append(None)
            elif d.days != math.floor(d.days):
                return None
            else:
                ords.append(int(d.days))
        return pd.array([pd.NaT if o is None else
                         pd.Period(ordinal=o, freq="D") for o in ords],
                        dtype="period[D]"), None
    if isinstance(col, V.DateTimes):
        tz = col.tzone or "UTC"
        zone = V._zone(tz)
        ns: list[int | None] = []
        for t in col:
            if isinstance(t, V.NAType):
                ns.append(None)
                continue
            n = _exact_ns(t.seconds)
            if n is None:
                return pd.array(list(col), dtype=object), dict(
                    col.attributes)
            ns.append(n)
        vals = np.array([np.iinfo(np.int64).min if n is None else n
                         for n in ns], dtype=np.int64)
        s = pd.to_datetime(vals.view("datetime64[ns]"), utc=True)
        s = s.tz_convert(zone)
        want = {"class": V.Character(["POSIXct", "POSIXt"]), "tzone": tz}
        keep = None if col.attributes == want else dict(col.attributes)
        return s, keep
    if isinstance(col, V.Character) and not col.attributes:
        return np.array([None if isinstance(v, V.NAType) else v
                         for v in col], dtype=object), None
    if isinstance(col, (V.Double, V.Integer, V.Logical, V.Complex)) and \
            not col.attributes:
        arr = np_from_elements(col.rtype, list(col))
        return _column(arr)
    return None


def df_to_pandas(df: V.DataFrame) -> Any:
    """A pandas DataFrame of df, or None if a column has no pandas form."""
    pd = _pd()
    data: dict[str, Any] = {}
    keep: dict[str, Any] = {}
    for name, col in df.items():
        c = _column(col)
        if c is None:
            return None
        data[name] = c[0]
        if c[1] is not None:
            keep[name] = c[1]
    rn = df.row_names
    index = None
    if rn is not None:
        if any(isinstance(r, V.NAType) for r in rn):
            return None
        index = pd.Index(rn, dtype=object if all(
            isinstance(r, str) for r in rn) else None)
    out = pd.DataFrame(data, index=index)
    if not data and rn is None:
        out = pd.DataFrame(index=pd.RangeIndex(df.nrow))
    frame = {k: v for k, v in df.attributes.items() if k != "names"}
    default = {"class": "data.frame", "row.names": None}
    r_attrs: dict[str, Any] = {}
    if frame != default or list(df.attributes) != \
            ["names", "class", "row.names"]:
        r_attrs["frame"] = dict(df.attributes)
    if keep:
        r_attrs["columns"] = keep
    if r_attrs:
        out.attrs["r_attributes"] = r_attrs
    return out


# --- numpy and pandas to R -----------------------------------------------------

def encode_array(enc: V.Encoder, x: Any, depth: int) -> Any:
    """The encoded value of a numpy or pandas object, or None if x is
    neither."""
    np = __import__("sys").modules.get("numpy")
    pd = __import__("sys").modules.get("pandas")
    if pd is not None:
        if isinstance(x, pd.DataFrame):
            return _encode_pandas_df(enc, x, depth)
        if isinstance(x, pd.Series):
            return _encode_series(enc, x, depth)
        if isinstance(x, pd.Categorical):
            return _encode_categorical(enc, x, depth)
        if isinstance(x, pd.Timestamp):
            return enc.encode(x.to_pydatetime(warn=False)
                              if x.nanosecond == 0 else
                              _ts_list([x.value], x.tz), depth)
        if x is pd.NaT:
            return enc.atomic("double", [V.NA_real]) | {
                "attributes": {"class": enc.encode(
                    V.Character(["POSIXct", "POSIXt"]))}}
        if x is pd.NA:
            return {"type": "logical", "value": [None]}
    if np is not None:
        if isinstance(x, np.generic):
            if isinstance(x, np.bool_):
                return {"type": "logical", "value": [bool(x)]}
            if isinstance(x, np.datetime64):
                return encode_ndarray(enc, np.array([x]), depth)
            return enc.encode(x.item(), depth)
        if isinstance(x, np.ndarray):
            return encode_ndarray(enc, x, depth)
    return None


def _ts_list(ns: list[int | None], tz: Any) -> V.DateTimes:
    vals = [V.NA if n is None else V.RDateTime.from_seconds(
        float(Fraction(n, 10 ** 9)), None) for n in ns]
    zone = getattr(tz, "key", None) or (str(tz) if tz is not None
                                         else "UTC")
    return V.DateTimes(vals, {"class": V.Character(["POSIXct", "POSIXt"]),
                              "tzone": zone})


def _ns_to_seconds(ns: Any) -> list[float]:
    np = _np()
    nat = np.iinfo(np.int64).min
    return [V.NA_real if int(n) == nat else float(Fraction(int(n), 10 ** 9))
            for n in ns]


def encode_ndarray(enc: V.Encoder, a: Any, depth: int,
                   attrs: dict[str, Any] | None = None) -> Any:
    """An array's vector (a dim attribute past one dimension)."""
    np = _np()
    mask = None
    if isinstance(a, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(a).ravel(order="F")
        a = a.data
    shape = a.shape
    flat = a.ravel(order="F")
    kind = a.dtype.kind
    if kind == "f":
        vals: list[Any] = flat.astype(np.float64).tolist()
        rtype = "double"
        if mask is not None:
            vals = [V.NA_real if m else v for v, m in zip(vals, mask)]
        out = enc.atomic(rtype, vals)
    elif kind in "iu":
        ints = flat.tolist()
        if mask is not None:
            ints = [V.NA_integer if m else v for v, m in zip(ints, mask)]
        fits = all(isinstance(v, V.NAType) or _INT_MIN < v <= V.INT_MAX
                   for v in ints)
        if fits:
            out = enc.atomic("integer", ints)
        else:
            out = enc.atomic("double", [
                V.NA_real if isinstance(v, V.NAType) else
                V._exact_float(v) for v in ints])
    elif kind == "b":
        bools: list[Any] = flat.tolist()
        if mask is not None:
            bools = [V.NA if m else v for v, m in zip(bools, mask)]
        out = enc.atomic("logical", bools)
    elif kind == "c":
        zs: list[Any] = flat.astype(np.complex128).tolist()
        if mask is not None:
            zs = [V.NA_complex if m else v for v, m in zip(zs, mask)]
        out = enc.atomic("complex", zs)
    elif kind in "USO":
        strs: list[Any] = []
        for i, v in enumerate(flat.tolist()):
            if (mask is not None and mask[i]) or v is None or \
                    (pd_na(v)):
                strs.append(V.NA_character)
            elif isinstance(v, str):
                strs.append(v)
            elif kind == "O":
                if len(shape) != 1 or mask is not None:
                    raise ConversionError(f"{v!r} in an object array")
                return enc.encode(list(flat.tolist()), depth)
            else:
                raise ConversionError(f"{v!r} in a string array")
        out = enc.atomic("character", strs)
    elif kind == "M":
        unit = np.datetime_data(a.dtype)[0]
        if unit == "D":
            days = flat.astype("datetime64[D]").astype(np.int64)
            nat = np.iinfo(np.int64).min
            dv = [V.NA_real if int(d) == nat or (mask is not None and m)
                  else float(d) for d, m in zip(
                      days, mask if mask is not None else [False] *
                      len(days))]
            out = enc.atomic("double", dv)
            attrs = {"class": "Date", **(attrs or {})}
        else:
            ns = flat.astype("datetime64[ns]").astype(np.int64)
            out = enc.atomic("double", _ns_to_seconds(ns))
            attrs = {"class": V.Character(["POSIXct", "POSIXt"]),
                     "tzone": "UTC", **(attrs or {})}
    else:
        raise ConversionError(f"a numpy array of dtype {a.dtype} cannot be "
                              "sent to R")
    a_out: dict[str, Any] = dict(attrs or {})
    if len(shape) > 1:
        a_out = {"dim": V.Integer(list(shape)), **a_out}
    elif len(shape) == 0:
        pass
    if a_out:
        out["attributes"] = {k: enc.encode(v, depth + 1)
                             for k, v in a_out.items()}
    return out


def pd_na(v: Any) -> bool:
    pd = __import__("sys").modules.get("pandas")
    if pd is not None and (v is pd.NA or v is pd.NaT):
        return True
    return isinstance(v, float) and v != v


def _series_values(enc: V.Encoder, s: Any, depth: int,
                   keep: dict[str, Any] | None) -> Any:
    """A Series' (or column's) vector, without names."""
    np = _np()
    pd = _pd()
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return _encode_categorical(enc, s.array, depth)
    if isinstance(dt, pd.PeriodDtype):
        if dt.freq.freqstr != "D":
            raise ConversionError(f"periods of {dt.freq.freqstr} cannot be "
                                  "sent to R (only days, as Date)")
        ords = s.array.asi8
        nat = np.iinfo(np.int64).min
        days = [V.NA_real if int(o) == nat else float(o) for o in ords]
        out = enc.atomic("double", days)
        out["attributes"] = {"class": enc.encode("Date")}
        return out
    if isinstance(dt, pd.DatetimeTZDtype):
        ns = s.array.asi8
        out = enc.atomic("double", _ns_to_seconds(ns))
        attrs = keep if keep is not None else {
            "class": V.Character(["POSIXct", "POSIXt"]),
            "tzone": getattr(dt.tz, "key", None) or str(dt.tz)}
        out["attributes"] = {k: enc.encode(v, depth + 1)
                             for k, v in attrs.items()}
        return out
    if isinstance(dt, (pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype,
                       pd.Int64Dtype, pd.UInt8Dtype, pd.UInt16Dtype,
                       pd.UInt32Dtype, pd.UInt64Dtype)):
        arr = np.ma.MaskedArray(s.array._data, mask=s.array._mask)
        return encode_ndarray(enc, arr, depth)
    if isinstance(dt, pd.BooleanDtype):
        arr = np.ma.MaskedArray(s.array._data, mask=s.array._mask)
        return encode_ndarray(enc, arr, depth)
    if isinstance(dt, (pd.Float32Dtype, pd.Float64Dtype)):
        data = s.array._data.astype(np.float64)
        arr = np.ma.MaskedArray(data, mask=s.array._mask)
        return encode_ndarray(enc, arr, depth)
    if isinstance(dt, pd.StringDtype):
        return enc.atomic("character", [
            V.NA_character if pd_na(v) else v for v in s.tolist()])
    if dt == object and keep is not None and \
            V._has_class(keep.get("class"), "POSIXct"):
        return enc._datetimes(list(s), keep, depth)
    if dt == object:
        vals = s.tolist()
        if all(isinstance(v, str) or v is None or pd_na(v) for v in vals):
            return enc.atomic("character", [
                V.NA_character if (v is None or pd_na(v)) else v
                for v in vals])
        if all(isinstance(v, V.RDate) or v is None or pd_na(v)
               for v in vals) or all(
                   (hasattr(v, "toordinal") and not hasattr(v, "hour")) or
                   v is None or pd_na(v) for v in vals):
            return enc._dates([V.NA if (v is None or pd_na(v)) else v
                               for v in vals], None, depth)
        return enc.encode(V.List(vals), depth)
    return encode_ndarray(enc, s.to_numpy(), depth)


def _encode_series(enc: V.Encoder, s: Any, depth: int) -> Any:
    pd = _pd()
    out = _series_values(enc, s, depth, None)
    idx = s.index
    if not (isinstance(idx, pd.RangeIndex) and idx.start == 0 and
            idx.step == 1):
        names = [str(i) for i in idx]
        out.setdefault("attributes", {})
        out["attributes"] = {"names": enc.atomic("character", names),
                             **out["attributes"]}
    return out


def _encode_categorical(enc: V.Encoder, c: Any, depth: int) -> Any:
    cats = list(c.categories)
    if not all(isinstance(x, str) for x in cats):
        cats = [str(x) for x in cats]
    codes = [V.NA_integer if k < 0 else int(k) + 1 for k in c.codes]
    out = enc.atomic("integer", codes)
    out["attributes"] = {
        "levels": enc.atomic("character", cats),
        "class": enc.encode(V.Character(
            ["ordered", "factor"] if c.ordered else ["factor"]))}
    return out


def _encode_pandas_df(enc: V.Encoder, df: Any, depth: int) -> Any:
    pd = _pd()
    r_attrs = df.attrs.get("r_attributes") if isinstance(
        df.attrs, dict) else None
    r_attrs = r_attrs if isinstance(r_attrs, dict) else {}
    keep_cols = r_attrs.get("columns") or {}
    names = []
    vals = []
    for name in df.columns:
        if not isinstance(name, str):
            raise ConversionError(f"a column name {name!r} that is not a "
                                  "str cannot be an R name")
        if name in names:
            raise ConversionError(f"two columns named {name!r}")
        names.append(name)
        col = df[name]
        vals.append(_series_values(enc, col, depth + 1,
                                   keep_cols.get(name)))
    n = len(df.index)
    idx = df.index
    if isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1:
        rn: Any = None
    elif idx.dtype.kind in "iu":
        rn = V.Integer([int(i) for i in idx])
    else:
        rn = V.Character([str(i) for i in idx])
    frame = r_attrs.get("frame")
    attrs: dict[str, Any] = {}
    if isinstance(frame, dict):
        for k, v in frame.items():
            attrs[k] = v
        if rn is not None or attrs.get("row.names") is None:
            attrs["row.names"] = rn
    else:
        attrs = {"names": None, "class": "data.frame", "row.names": rn}
    out_attrs: dict[str, Any] = {}
    for k, v in attrs.items():
        if k == "names":
            out_attrs[k] = enc.atomic("character", names)
        elif k == "row.names" and v is None:
            out_attrs[k] = enc.encode(V.Integer([V.NA_integer, -n]) if n > 0
                                      else V.Integer([]))
        else:
            out_attrs[k] = enc.encode(v, depth + 1)
    return {"type": "list", "value": vals, "attributes": out_attrs}


# --- identical -----------------------------------------------------------------

def np_identical(a: Any, b: Any) -> bool:
    """Arrays of the same dtype, shape, mask and bits."""
    np = _np()
    if isinstance(a, np.generic):
        return type(a) is type(b) and a.tobytes() == b.tobytes()
    if type(a) is not type(b) or a.dtype != b.dtype or a.shape != b.shape:
        return False
    if isinstance(a, np.ma.MaskedArray):
        ma, mb = np.ma.getmaskarray(a), np.ma.getmaskarray(b)
        if not (ma == mb).all():
            return False
        return bool((np.asarray(a.data)[~ma].tobytes() ==
                     np.asarray(b.data)[~mb].tobytes()))
    return bool(np.ascontiguousarray(a).tobytes() ==
                np.ascontiguousarray(b).tobytes())


def pd_identical(a: Any, b: Any) -> bool:
    """pandas objects equal in values, dtypes, index and attrs."""
    pd = _pd()
    if type(a) is not type(b):
        return False
    try:
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
            return bool(a.attrs == b.attrs)
        if isinstance(a, pd.Series):
            pd.testing.assert_series_equal(a, b, check_exact=True)
            return True
        return bool(a.equals(b))
    except AssertionError:
        return False

