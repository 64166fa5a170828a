"""R values in Python, exactly, both ways.

securer-protocol(7) carries R values as JSON that reads back to the
identical R value; this module maps that encoding to Python objects that
map back to the same encoding, so that a value that goes from R to Python
and back is ``identical()`` in R, and one that goes from Python to R and
back compares equal in Python (:func:`identical` checks it bit for bit).
What is not data (functions, environments, S4 objects, ...) comes as a
typed stand-in that says what it was and carries none of its behaviour;
nothing decoded here is ever evaluated or called.

R to Python ("python" values, the default):

=========================  ===============================================
R                          Python
=========================  ===============================================
NULL                       ``None``
a vector of length 1 with  a scalar: ``bool``, ``int``, ``float``,
no attributes              ``complex``, ``str``, or an NA (below)
other logical vectors      :class:`Logical` (a ``list`` of ``bool``/NA)
integer                    :class:`Integer` (``int``/NA)
double                     :class:`Double` (``float``)
complex                    :class:`Complex` (``complex``)
character                  :class:`Character` (``str``/NA); a string
                           that is not valid UTF-8 is a
                           :class:`ByteString` (its bytes, never
                           repaired)
raw                        ``bytes`` (:class:`Raw` with attributes)
list with unique names     ``dict`` (in order)
other lists                :class:`List` (names and attributes kept)
pairlist                   :class:`Pairlist` (a :class:`List`)
factor                     :class:`Factor` (labels, ``.levels``)
Date                       :class:`RDate` (a ``datetime.date``), or
                           :class:`Dates` for other lengths
POSIXct                    :class:`RDateTime` (an aware ``datetime``), or
                           :class:`DateTimes`
data.frame                 :class:`DataFrame` (column name -> column)
symbol                     :class:`Symbol` (a ``str``: its name)
call, formula              :class:`Language`: its text, never evaluated
                           (a formula's class and environment in its
                           attributes)
closure, primitive         :class:`Function`: its source text, never
                           callable
environment                :class:`Environment`: its name only
external pointer, weak     :class:`Reference`: its type only
reference
S4 object                  :class:`S4`: its slots and its class
what cannot cross even so  :class:`Unsupported`: what the part is,
(byte code, an R6 object,  where, the value's class, its printed form
a ggplot, an expression)
=========================  ===============================================

Attributes other than those (dim, names of a vector, a class of the
code's own) are kept in the ``attributes`` mapping of the typed vector, in
R's order.  A classed value that does not convert exactly (a factor with a
code past its levels, a Date of NaN) stays a typed vector with its
attributes, so nothing is ever changed on the way.

NA: R's missing values are :data:`NA` (logical), :data:`NA_integer` and
:data:`NA_character`, instances of :class:`NAType` (in a vector any of
them will do); a double NA is the float :data:`NA_real`, a NaN with R's
payload (0x7FF00000000007A2), so that doubles stay floats and keep every
bit.  :func:`is_na` tells all of them apart from NaN.  ``None`` is R's
NULL, never NA.

Back to R go the values that R makes again exactly: the table
backwards for data, and :class:`Symbol`, :class:`Language` (R parses its
text, never evaluates it, and refuses what is not exactly one call),
:class:`Pairlist` and :class:`ByteString` (the same bytes, marked as
bytes in R).  What R would make something else of cannot be sent
(:class:`ConversionError`): a :class:`Function` (it would be a string),
an :class:`Environment` (a new, empty environment; so a formula from R,
whose ``.Environment`` is one, goes back only without it), an
:class:`S4` object (a list of its slots), a :class:`Reference` and
:class:`Unsupported`.

Python to R: the table backwards, and for plain Python values
``None`` is NULL, ``bool`` logical, ``int`` integer (double if it does
not fit 32 bits), ``float`` double, ``str`` character, ``bytes`` raw,
``dict`` a named list, ``datetime`` POSIXct (a naive one is taken as
UTC), ``date`` Date; a ``list`` or ``tuple`` of scalars of one kind (with
NAs) an atomic vector of that type, any other list an R list.  numpy
arrays and pandas objects cross too (see :mod:`securer._frames`).

Binary vectors: a logical, integer, double or complex vector may come as
"bin" (its elements' bytes, little-endian, in base64) in place of
"value"; the daemon sends them to a client whose hello asked
(``binary=True``, the default), for vectors of 16 elements or more.  They
decode to the same Python values as the JSON form, every double bit for
bit (a NaN's payload included, which the JSON form cannot carry).  The
hello reply does not say whether the daemon reads "bin" in what a client
sends, so the client sends its long vectors (tool results) as "bin" only
once the daemon has sent one on that connection, and as JSON before.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
import sys
from array import array
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import (Any, Callable, ClassVar, Iterable, Iterator, Mapping,
                    Sequence, TypeVar, cast)

from .errors import ConversionError, ProtocolViolation

__all__ = [
    "NAType", "NA", "NA_integer", "NA_character", "NA_real", "NA_complex",
    "is_na", "Vector", "Logical", "Integer", "Double", "Complex",
    "Character", "List", "Raw", "Factor", "RDate", "RDateTime", "Dates",
    "DateTimes", "DataFrame", "ByteString", "Symbol", "Language",
    "Function", "Environment", "Reference", "Pairlist", "S4", "Unsupported",
    "identical", "encode", "decode", "VALUE_MODES",
]

_T = TypeVar("_T")

INT_MIN = -2147483648          # R's NA_integer_
INT_MAX = 2147483647
NA_REAL_BITS = 0x7FF00000000007A2
R_NAN_BITS = 0x7FF8000000000000
_MAX_EXACT = 2 ** 53
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_SECOND = timedelta(seconds=1)
MAX_DEPTH = 512                # deeper than the worker nests

#: How values are given back: python objects, or numpy arrays and pandas
#: data frames where they apply.
VALUE_MODES = ("python", "numpy", "pandas")


# --- NA ----------------------------------------------------------------------

class NAType:
    """R's NA of a type: :data:`NA` (logical, R's bare NA),
    :data:`NA_integer` and :data:`NA_character`.

    One instance per type; in a vector any NA will do (it takes the
    vector's type).  Its truth value is unknown, as in R: ``bool(NA)``
    raises TypeError, so ``if x:`` cannot silently take NA for False.
    """

    __slots__ = ("_rtype",)
    _rtype: str
    _instances: ClassVar[dict[str, NAType]] = {}
    _names: ClassVar[dict[str, str]] = {
        "logical": "NA", "integer": "NA_integer_",
        "character": "NA_character_"}

    def __new__(cls, rtype: str = "logical") -> NAType:
        if rtype not in cls._names:
            raise ValueError(f"no NA of type {rtype!r}: logical, integer or "
                             "character (a double NA is the float NA_real)")
        inst = cls._instances.get(rtype)
        if inst is None:
            inst = super().__new__(cls)
            inst._rtype = rtype
            cls._instances[rtype] = inst
        return inst

    @property
    def rtype(self) -> str:
        """"logical", "integer" or "character"."""
        return self._rtype

    def __repr__(self) -> str:
        return str(self._names[self._rtype])

    def __bool__(self) -> bool:
        raise TypeError("the truth value of NA is unknown")

    def __eq__(self, other: object) -> bool:
        # In a vector any NA is the vector's NA: Character(["x", NA]) is
        # Character(["x", NA_character]).  identical() tells the types of
        # a lone NA apart.
        return isinstance(other, NAType)

    def __hash__(self) -> int:
        return hash(NAType)

    def __reduce__(self) -> tuple[type[NAType], tuple[str]]:
        return (NAType, (self._rtype,))

    def __copy__(self) -> NAType:
        return self

    def __deepcopy__(self, memo: Any) -> NAType:
        return self


NA = NAType("logical")
NA_integer = NAType("integer")
NA_character = NAType("character")
#: R's NA_real_: a NaN with R's payload, bit for bit.
NA_real: float = struct.unpack("<d", struct.pack("<Q", NA_REAL_BITS))[0]
#: R's NA_complex_: both parts NA_real.
NA_complex: complex = complex(NA_real, NA_real)


def float_bits(x: float) -> int:
    """The IEEE 754 bit pattern of a float."""
    return cast(int, struct.unpack("<Q", struct.pack("<d", x))[0])


def _is_na_real(x: float) -> bool:
    # R_IsNA(): a NaN whose low word is 1954, quiet bit or not.
    return x != x and (float_bits(x) & 0xFFFFFFFF) == 1954


def is_na(x: Any) -> bool:
    """Whether x is one of R's NAs (not NaN: R's is.na(x) & !is.nan(x)).

    True for the :class:`NAType` instances, a float with R's NA payload
    (:data:`NA_real`) and a complex with an NA part.
    """
    if isinstance(x, NAType):
        return True
    if isinstance(x, float):
        return _is_na_real(x)
    if isinstance(x, complex):
        return _is_na_real(x.real) or _is_na_real(x.imag)
    return False


# --- Vectors -----------------------------------------------------------------

class Vector(list[_T]):
    """An R atomic vector or list, as a Python list of its elements.

    Attributes:
        attributes: R's attributes other than what the class itself
            represents, in R's order (names, dim, dimnames, class, ...),
            each a Python value as this module maps it.

    Vectors compare equal to plain lists of the same elements; two
    vectors are equal only if their types and attributes are too.
    """

    rtype: ClassVar[str] = ""
    __hash__ = None

    def __init__(self, data: Iterable[_T] = (),
                 attributes: Mapping[str, Any] | None = None, *,
                 names: Sequence[Any] | None = None) -> None:
        super().__init__(data)
        self.attributes: dict[str, Any] = dict(attributes or {})
        if names is not None:
            self.names = list(names)

    @property
    def names(self) -> list[Any] | None:
        """The names attribute as a list (None without one)."""
        n = self.attributes.get("names")
        if n is None:
            return None
        return list(n) if isinstance(n, list) else [n]

    @names.setter
    def names(self, value: Sequence[Any] | None) -> None:
        if value is None:
            self.attributes.pop("names", None)
        else:
            if len(value) != len(self):
                raise ValueError(f"{len(value)} names for {len(self)} "
                                 "elements")
            self.attributes["names"] = Character(value)

    @property
    def dim(self) -> tuple[int, ...] | None:
        """The dim attribute (a matrix's rows and columns), or None."""
        d = self.attributes.get("dim")
        if d is None:
            return None
        return tuple(d) if isinstance(d, list) else (d,)

    def items(self) -> list[tuple[Any, _T]]:
        """(name, element) pairs of a named vector."""
        n = self.names
        if n is None:
            raise ValueError("the vector has no names")
        return list(zip(n, self))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Vector):
            return (type(self) is type(other) and list.__eq__(self, other)
                    and self.attributes == other.attributes)
        if isinstance(other, list):
            return list.__eq__(self, other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def copy(self) -> Vector[_T]:
        """A shallow copy, attributes included."""
        return type(self)(self, self.attributes)

    def __repr__(self) -> str:
        extra = f", names={self.names!r}" if "names" in self.attributes \
            else ""
        others = {k: v for k, v in self.attributes.items() if k != "names"}
        if others:
            extra += f", attributes={others!r}"
        elts = ", ".join(_show(e) for e in self)
        return f"{type(self).__name__}([{elts}]{extra})"


def _show(e: Any) -> str:
    """An element as repr() shows it, NA_real and NA_complex by name."""
    if isinstance(e, float) and _is_na_real(e):
        return "NA_real"
    if isinstance(e, complex) and is_na(e):
        return "NA_complex" if _is_na_real(e.real) and \
            _is_na_real(e.imag) else repr(e)
    return repr(e)


class Logical(Vector[Any]):
    """An R logical vector: ``True``, ``False`` and NA."""

    rtype = "logical"


class Integer(Vector[Any]):
    """An R integer vector: 32-bit ``int`` and NA."""

    rtype = "integer"


class Double(Vector[float]):
    """An R double vector: ``float`` (NA is :data:`NA_real`)."""

    rtype = "double"


class Complex(Vector[complex]):
    """An R complex vector: ``complex`` (NA is :data:`NA_complex`)."""

    rtype = "complex"


class Character(Vector[Any]):
    """An R character vector: ``str``, NA, and :class:`ByteString` for a
    string that is not valid UTF-8."""

    rtype = "character"


class List(Vector[Any]):
    """An R list that is not a plain named list (no names, names that
    are not unique, or other attributes); one with unique names comes as
    a ``dict``."""

    rtype = "list"


class Raw(bytes):
    """An R raw vector with attributes (one without is plain ``bytes``)."""

    attributes: dict[str, Any]

    def __new__(cls, data: bytes = b"",
                attributes: Mapping[str, Any] | None = None) -> Raw:
        obj = super().__new__(cls, data)
        obj.attributes = dict(attributes or {})
        return obj

    def __repr__(self) -> str:
        return f"Raw({bytes(self)!r}, attributes={self.attributes!r})"


class Factor(list[Any]):
    """An R factor, as the list of its labels (``str`` or NA).

    Attributes:
        levels: the levels, in order.
        ordered: an ordered factor (class c("ordered", "factor")).
        attributes: its attributes other than levels and class, in order
            (names, say).
    """

    __hash__ = None

    def __init__(self, values: Iterable[Any] = (),
                 levels: Sequence[str] | None = None, ordered: bool = False,
                 attributes: Mapping[str, Any] | None = None) -> None:
        super().__init__(values)
        if levels is None:
            levels = sorted({v for v in self if isinstance(v, str)})
        self.levels: list[str] = list(levels)
        self.ordered = ordered
        a = dict(attributes or {})
        # R's order of all the attributes, levels and class included.
        self._order: list[str] = list(a) if a else ["levels", "class"]
        a.pop("levels", None)
        a.pop("class", None)
        self.attributes: dict[str, Any] = a

    @property
    def codes(self) -> list[int | NAType]:
        """R's integer codes: 1 for the first level, NA for NA."""
        index = {lv: i + 1 for i, lv in enumerate(self.levels)}
        out: list[int | NAType] = []
        for v in self:
            if isinstance(v, NAType):
                out.append(NA_integer)
            elif isinstance(v, str) and v in index:
                out.append(index[v])
            else:
                raise ConversionError(f"factor label {v!r} is not one of "
                                      "its levels")
        return out

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Factor):
            return (list.__eq__(self, other) and self.levels == other.levels
                    and self.ordered == other.ordered
                    and self.attributes == other.attributes)
        if isinstance(other, list):
            return list.__eq__(self, other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __repr__(self) -> str:
        o = ", ordered=True" if self.ordered else ""
        return (f"Factor({list.__repr__(self)}, levels={self.levels!r}{o})")


class RDate(date):
    """An R Date: a ``datetime.date`` that remembers R's exact number of
    days since 1970-01-01 (a double, so it can have a fraction)."""

    _r_days: float | None

    def __new__(cls, *args: Any, **kwargs: Any) -> RDate:
        obj = super().__new__(cls, *args, **kwargs)
        obj._r_days = None
        return obj

    @classmethod
    def from_days(cls, days: float) -> RDate:
        """The date of R's day count (ValueError if out of range)."""
        if not math.isfinite(days):
            raise ValueError("not a finite day count")
        base = date.fromordinal(_EPOCH_ORDINAL + math.floor(days))
        obj = cls(base.year, base.month, base.day)
        obj._r_days = days
        return obj

    @property
    def days(self) -> float:
        """Days since 1970-01-01, as R stores them."""
        # Set only by from_days(): arithmetic, replace() and unpickling
        # make new objects through the constructor, without it.
        if self._r_days is not None:
            return self._r_days
        return float(self.toordinal() - _EPOCH_ORDINAL)


class RDateTime(datetime):
    """An R POSIXct time: an aware ``datetime`` (in the time's tzone, UTC
    when it has none) that remembers R's exact seconds since the epoch,
    which a datetime, to the microsecond, cannot always hold."""

    _r_seconds: float | None
    #: The attributes (class, tzone) of the R value it came from.
    r_attributes: dict[str, Any] | None

    def __new__(cls, *args: Any, **kwargs: Any) -> RDateTime:
        obj = super().__new__(cls, *args, **kwargs)
        obj._r_seconds = None
        obj.r_attributes = None
        return obj

    @classmethod
    def from_seconds(cls, seconds: float, tzone: str | None = None,
                     attributes: Mapping[str, Any] | None = None
                     ) -> RDateTime:
        """The time of R's seconds in R's tzone (ValueError if out of
        range); attributes, if given, are the R value's own."""
        if not math.isfinite(seconds):
            raise ValueError("not a finite time")
        tz = _zone(tzone)
        try:
            base = _EPOCH + timedelta(seconds=seconds)
        except OverflowError:
            raise ValueError("time out of range") from None
        base = base.astimezone(tz)
        obj = cls(base.year, base.month, base.day, base.hour, base.minute,
                  base.second, base.microsecond, tzinfo=base.tzinfo,
                  fold=base.fold)
        obj._r_seconds = seconds
        obj.r_attributes = dict(attributes) if attributes is not None \
            else None
        return obj

    @property
    def seconds(self) -> float:
        """Seconds since 1970-01-01 UTC, as R stores them."""
        # Set only by from_seconds(), as RDate's days.
        if self._r_seconds is not None:
            return self._r_seconds
        return _seconds_of(self)

    @property
    def tzone(self) -> str | None:
        """R's tzone attribute of the time it came from, or None."""
        a = self.r_attributes
        return _one_str(a.get("tzone")) if a is not None else None


def _one_str(v: Any) -> str | None:
    """A string attribute's value (a str, or a character vector of one)."""
    if isinstance(v, str):
        return v
    if isinstance(v, list) and len(v) == 1 and isinstance(v[0], str):
        return v[0]
    return None


def _seconds_of(t: datetime) -> float:
    if t.tzinfo is None or t.utcoffset() is None:
        t = t.replace(tzinfo=timezone.utc)
    return (t - _EPOCH) / _ONE_SECOND


_zone_cache: dict[str, tzinfo] = {}


def _zone(tzone: str | None) -> tzinfo:
    """The tzinfo of an R tzone: UTC for none, "" (the sandbox's zone is
    UTC), and names the system's zone database does not know."""
    if not tzone or tzone in ("UTC", "GMT"):
        return timezone.utc
    z = _zone_cache.get(tzone)
    if z is None:
        try:
            from zoneinfo import ZoneInfo
            z = ZoneInfo(tzone)
        except (ImportError, ValueError, OSError, KeyError):
            z = timezone.utc
        _zone_cache[tzone] = z
    return z


def _tzone_of(t: datetime) -> str:
    """R's tzone for a Python datetime's zone."""
    if isinstance(t, RDateTime) and t.tzone is not None:
        return t.tzone
    if t.tzinfo is None or t.tzinfo is timezone.utc:
        return "UTC"
    key = getattr(t.tzinfo, "key", None)
    if isinstance(key, str):
        return key
    return "UTC"


class Dates(Vector[Any]):
    """An R Date vector: :class:`RDate` and NA."""

    rtype = "double"


class DateTimes(Vector[Any]):
    """An R POSIXct vector: :class:`RDateTime` and NA."""

    rtype = "double"

    @property
    def tzone(self) -> str | None:
        """The tzone attribute, or None."""
        return _one_str(self.attributes.get("tzone"))


class DataFrame(dict[str, Any]):
    """An R data.frame: a mapping of column name to column (a vector,
    :class:`Factor`, :class:`Dates`, ...), in order.

    Args:
        columns: column name to column; a column is a vector (a list, a
            typed vector, a numpy array) or a scalar for one row.
        row_names: row names (strings), or None for R's automatic 1, 2, ...
        attributes: R's attributes, in order; a fresh data frame has
            names (None here: they are the keys), class and row.names
            (None: automatic).
    """

    __hash__ = None

    def __init__(self, columns: Mapping[str, Any] | None = None, *,
                 row_names: Sequence[str] | None = None,
                 attributes: Mapping[str, Any] | None = None) -> None:
        super().__init__(columns or {})
        if attributes is None:
            attributes = {"names": None,
                          "class": Character(["data.frame"]),
                          "row.names": None}
        self.attributes: dict[str, Any] = dict(attributes)
        if "names" not in self.attributes:
            self.attributes = {"names": None, **self.attributes}
        if row_names is not None:
            self.attributes["row.names"] = Character(row_names)

    @property
    def row_names(self) -> list[Any] | None:
        """The row names, or None for R's automatic 1, 2, ..."""
        rn = self.attributes.get("row.names")
        if rn is None or _compact_rownames(rn) is not None:
            return None
        return list(rn) if isinstance(rn, list) else [rn]

    @property
    def nrow(self) -> int:
        """The number of rows."""
        rn = self.attributes.get("row.names")
        if rn is not None:
            n = _compact_rownames(rn)
            if n is not None:
                return n
            return len(rn) if isinstance(rn, list) else 1
        for col in self.values():
            return _length(col)
        return 0

    @property
    def ncol(self) -> int:
        """The number of columns."""
        return len(self)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Each row as a dict of column name to element."""
        cols = list(self.items())
        for i in range(self.nrow):
            yield {k: v[i] for k, v in cols}

    def to_pandas(self) -> Any:
        """The data frame as a pandas DataFrame (needs pandas)."""
        from ._frames import df_to_pandas
        return df_to_pandas(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DataFrame):
            return dict.__eq__(self, other) and \
                list(self) == list(other) and \
                self.attributes == other.attributes
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __repr__(self) -> str:
        rn = self.row_names
        extra = f", row_names={rn!r}" if rn is not None else ""
        return f"DataFrame({dict.__repr__(self)}{extra})"


def _compact_rownames(rn: Any) -> int | None:
    """n for R's compact automatic row names c(NA, -n)."""
    if isinstance(rn, Integer) and len(rn) == 2 and \
            isinstance(rn[0], NAType) and isinstance(rn[1], int) and \
            rn[1] < 0:
        return -rn[1]
    return None


def _length(x: Any) -> int:
    """The length of a column as R would count it."""
    if x is None:
        return 0
    if isinstance(x, str):
        return 1
    try:
        return len(x)
    except TypeError:
        return 1


# --- What is not data: stand-ins -------------------------------------------

class ByteString(bytes):
    """An R string that is not valid UTF-8 (marked as bytes in R, or
    invalid in its encoding): its bytes exactly, never repaired.

    It is an element of a :class:`Character` (or a character scalar),
    where securer-protocol(7) sends it as ``{"bytes": base64}``.  It goes
    back to R as the same bytes, marked as bytes, so that it stays
    ``identical()``.  A plain ``bytes`` is R's raw vector: only this type
    is a string.  R strings hold no NUL byte, so one with a NUL cannot be
    sent.
    """

    rtype: ClassVar[str] = "character"

    def __repr__(self) -> str:
        return f"ByteString({bytes(self)!r})"


class Symbol(str):
    """An R symbol (a name: ``quote(x)``), as the ``str`` of its name.

    ``Symbol("")`` is R's empty symbol, the missing argument (the value
    of an argument without a default in ``formals()``).  A symbol goes
    back to R as the same symbol.
    """

    rtype: ClassVar[str] = "symbol"

    @property
    def missing(self) -> bool:
        """Whether it is the empty symbol (a missing argument)."""
        return self == ""

    def __repr__(self) -> str:
        return f"Symbol({str(self)!r})"


class Language:
    """An R call, a formula included, as its text: what R's ``deparse()``
    gave in the sandbox (17 significant digits, so its numbers are
    exact).  Nothing here parses or evaluates it.

    Attributes:
        text: the call's text, one call.
        attributes: its attributes, in R's order: a formula's ``class``
            (``Character(["formula"])``) and ``.Environment``
            (an :class:`Environment`).

    A call goes back to R as the same call (R parses the text, never
    evaluates it, and refuses what is not exactly one call); its
    attributes go with it, so a formula from R, whose ``.Environment`` is
    an :class:`Environment`, cannot go back until that attribute is
    dropped (``del f.attributes[".Environment"]``).
    """

    rtype: ClassVar[str] = "language"
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, text: str,
                 attributes: Mapping[str, Any] | None = None) -> None:
        self.text = text
        self.attributes: dict[str, Any] = dict(attributes or {})

    @property
    def is_formula(self) -> bool:
        """Whether it is a formula (class "formula")."""
        return _has_class(self.attributes.get("class"), "formula")

    @property
    def environment(self) -> Environment | None:
        """A formula's environment (its ``.Environment``), or None."""
        e = self.attributes.get(".Environment")
        return e if isinstance(e, Environment) else None

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        a = f", attributes={self.attributes!r}" if self.attributes else ""
        return f"{type(self).__name__}({self.text!r}{a})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Language):
            return NotImplemented
        return type(self) is type(other) and self.text == other.text and \
            self.attributes == other.attributes


class Function:
    """An R function (a closure or a primitive) as its source text: never
    something that can be called.

    Attributes:
        source: the text R's ``deparse()`` gave of it in the sandbox
            (``".Primitive(\\"sum\\")"`` for a primitive).
        attributes: its attributes but its source reference (a class of
            its own, say), in R's order.

    It cannot be sent to R: there it would be text, not the function.
    """

    rtype: ClassVar[str] = "function"
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, source: str,
                 attributes: Mapping[str, Any] | None = None) -> None:
        self.source = source
        self.attributes: dict[str, Any] = dict(attributes or {})

    @property
    def primitive(self) -> bool:
        """Whether it is one of R's primitives (sum, `if`, ...)."""
        return self.source.startswith(".Primitive(")

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        a = f", attributes={self.attributes!r}" if self.attributes else ""
        return f"Function({self.source!r}{a})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Function):
            return NotImplemented
        return self.source == other.source and \
            self.attributes == other.attributes


class Environment:
    """An R environment, by its name only: nothing of its contents
    crosses.

    Attributes:
        name: "R_GlobalEnv", "base", "R_EmptyEnv", "package:NAME",
            "namespace:NAME", or "" for any other (a function's
            environment, ``new.env()``).

    It cannot be sent to R: R would make a new, empty environment of it,
    not the one it names.  An environment with a class (an R6 object, a
    ggproto part) is an object with behaviour and does not come as this
    but as :class:`Unsupported`.
    """

    rtype: ClassVar[str] = "environment"

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Environment({self.name!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Environment):
            return NotImplemented
        return self.name == other.name

    def __hash__(self) -> int:
        return hash((Environment, self.name))


class Reference:
    """An R external pointer or weak reference: only its type crosses.

    Attributes:
        rtype: "externalptr" or "weakref".

    It cannot be sent to R: the pointer means nothing outside the
    sandbox.  (A data.table's self-reference pointer is not sent at all.)
    """

    def __init__(self, rtype: str) -> None:
        self.rtype = rtype

    def __repr__(self) -> str:
        return f"Reference({self.rtype!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reference):
            return NotImplemented
        return self.rtype == other.rtype

    def __hash__(self) -> int:
        return hash((Reference, self.rtype))


class Pairlist(List):
    """An R pairlist (a function's ``formals()``, say): a :class:`List`
    whose names are its tags.  It goes back to R as the same pairlist."""

    rtype = "pairlist"


class S4:
    """An R S4 object, as its slots and its class.

    Attributes:
        slots: slot name to value, in R's order; an object that extends
            a basic type (``contains = "numeric"``) has its data in slot
            ``.Data``.
        rclass: the object's class attribute, a :class:`Character` with
            the attribute ``package`` where R has one, or None (an object
            with no class).

    It cannot be sent to R: there it would be a list of its slots, not an
    S4 object.
    """

    rtype: ClassVar[str] = "S4"
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, slots: Mapping[str, Any],
                 rclass: Character | None = None) -> None:
        self.slots: dict[str, Any] = dict(slots)
        self.rclass = rclass

    @property
    def class_name(self) -> str | None:
        """The class's name ("lm4", "dgCMatrix", ...), or None."""
        c = self.rclass
        return c[0] if c and isinstance(c[0], str) else None

    @property
    def package(self) -> str | None:
        """The package that defines the class, where R says."""
        c = self.rclass
        return _one_str(c.attributes.get("package")) if c is not None \
            else None

    def __getitem__(self, slot: str) -> Any:
        return self.slots[slot]

    def __repr__(self) -> str:
        return f"S4({self.slots!r}, rclass={self.rclass!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, S4):
            return NotImplemented
        return list(self.slots) == list(other.slots) and \
            self.slots == other.slots and self.rclass == other.rclass


class Unsupported:
    """An R value with a part that cannot cross even as a stand-in (byte
    code, an environment with a class such as an R6 object or a ggplot's
    ggproto parts, an expression vector, nesting past 200 levels, a name
    that is not UTF-8): the whole value comes as this.

    Attributes:
        rtype: what the part is ("environment with a class",
            "expression", "nesting", ...).
        path: where the part is in the value, as R would reach it
            (``$layers[[1]]``, `` attr("code")``; "" for the value
            itself).
        classes: the value's class, if it has one (else empty).
        printed: the value's printed form, made in the sandbox (a
            :class:`ByteString` if it is not valid UTF-8).

    It cannot be sent to R.
    """

    def __init__(self, rtype: str, printed: str | ByteString = "",
                 path: str = "",
                 classes: Sequence[str | ByteString | NAType] = ()) -> None:
        self.rtype = rtype
        self.printed = printed
        self.path = path
        self.classes: tuple[str | ByteString | NAType, ...] = tuple(classes)

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        cl = f" of class {'/'.join(map(str, self.classes))}" \
            if self.classes else ""
        return f"<Unsupported{cl}: {self.rtype}{where}>"

    def __str__(self) -> str:
        p = self.printed
        return p if isinstance(p, str) else p.decode("utf-8", "replace")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Unsupported):
            return NotImplemented
        return (self.rtype, self.printed, self.path, self.classes) == \
            (other.rtype, other.printed, other.path, other.classes)

    def __hash__(self) -> int:
        return hash((self.rtype, self.printed, self.path, self.classes))


# --- identical ----------------------------------------------------------------

def identical(a: Any, b: Any) -> bool:
    """Whether a and b are the same value as this module sees it: same
    types, same attributes, doubles bit for bit (NA, NaN and -0 apart)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return float_bits(a) == float_bits(b)
    if isinstance(a, complex):
        return (float_bits(a.real) == float_bits(b.real) and
                float_bits(a.imag) == float_bits(b.imag))
    if isinstance(a, RDateTime):
        return (a == b and identical(a.seconds, b.seconds) and
                a.tzone == b.tzone)
    if isinstance(a, RDate):
        return identical(a.days, b.days)
    if isinstance(a, (Vector, Factor)):
        if len(a) != len(b) or not identical(a.attributes, b.attributes):
            return False
        if isinstance(a, Factor) and (a.levels != b.levels or
                                      a.ordered != b.ordered):
            return False
        return all(identical(x, y) or (isinstance(x, NAType) and
                                       isinstance(y, NAType))
                   for x, y in zip(a, b))
    if isinstance(a, NAType):
        return a is b
    if isinstance(a, (Language, Function)):
        return a == b and identical(a.attributes, b.attributes)
    if isinstance(a, S4):
        return identical(a.slots, b.slots) and identical(a.rclass, b.rclass)
    if isinstance(a, Raw):
        return bytes(a) == bytes(b) and identical(a.attributes, b.attributes)
    if isinstance(a, dict):
        if list(a) != list(b):
            return False
        if isinstance(a, DataFrame) and \
                not identical(a.attributes, b.attributes):
            return False
        return all(identical(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(identical(x, y)
                                        for x, y in zip(a, b))
    if _is_numpy(a):
        from ._frames import np_identical
        return np_identical(a, b)
    if _is_pandas(a):
        from ._frames import pd_identical
        return pd_identical(a, b)
    return bool(a == b)


def _is_numpy(x: Any) -> bool:
    m = sys.modules.get("numpy")
    return m is not None and isinstance(x, (m.ndarray, m.generic))


def _is_pandas(x: Any) -> bool:
    m = sys.modules.get("pandas")
    return m is not None and isinstance(
        x, (m.DataFrame, m.Series, m.Categorical))


# --- Decoding: JSON values to Python ------------------------------------------

class _NegZero(int):
    """The JSON number "-0", which json reads as the int 0."""


_NEG_ZERO = _NegZero(0)
_NEG_ZERO_RE = re.compile(rb'(?<![0-9.eE"])-0(?![0-9.eE])')


def _parse_int(s: str) -> int:
    if s == "-0":
        return _NEG_ZERO
    return int(s)


def loads(line: bytes) -> Any:
    """A line of JSON, with "-0" kept apart from 0 (R's -0 as a double is
    written so).  Only lines that may hold one take the slow path."""
    # The regular expression costs 19 ms on a file chunk's 1.4 MB of
    # base64; a line without "-0" at all (a memchr-fast test) skips it.
    if b"-0" not in line or _NEG_ZERO_RE.search(line) is None:
        return json.loads(line)
    return json.loads(line, parse_int=_parse_int)


def _bad(what: str) -> ProtocolViolation:
    return ProtocolViolation(f"securerd sent an invalid value: {what}")


def _double(v: Any) -> float:
    t = type(v)
    if t is float:
        return cast(float, v)
    if t is int:
        return float(v)
    if v is None:
        return NA_real
    if t is _NegZero:
        return -0.0
    if v == "NaN":
        return math.nan
    if v == "Inf":
        return math.inf
    if v == "-Inf":
        return -math.inf
    raise _bad(f"{v!r} in a double vector")


def _integer(v: Any) -> int | NAType:
    if v is None:
        return NA_integer
    if (type(v) is int or type(v) is _NegZero) and INT_MIN < v <= INT_MAX:
        return int(v)
    raise _bad(f"{v!r} in an integer vector")


def _logical(v: Any) -> bool | NAType:
    if v is True or v is False:
        return bool(v)
    if v is None:
        return NA
    raise _bad(f"{v!r} in a logical vector")


def _complex(v: Any) -> complex:
    if v is None:
        return NA_complex
    if isinstance(v, list) and len(v) == 2:
        return complex(_double(v[0]), _double(v[1]))
    raise _bad(f"{v!r} in a complex vector")


def _character(v: Any) -> str | NAType | ByteString:
    if type(v) is str:
        return str(v)
    if v is None:
        return NA_character
    if type(v) is dict:
        return _bytestring(v)
    raise _bad(f"{v!r} in a character vector")


def _bytestring(v: dict[str, Any]) -> ByteString:
    """A string that is not valid UTF-8: {"bytes": base64}, exactly."""
    b = v.get("bytes")
    if len(v) != 1 or not isinstance(b, str):
        raise _bad(f"{v!r} in a character vector")
    try:
        data = base64.b64decode(b.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _bad("a string's bytes that are not base64") from None
    if b"\x00" in data:
        raise _bad("a string's bytes that hold a NUL")
    return ByteString(data)


def _text(v: Any, what: str) -> str:
    """The text of a symbol, call or function: a string, as the protocol
    says (one that is not valid UTF-8 has no such form)."""
    if type(v) is not str:
        raise _bad(f"{what} that is not a string: {_short(v)}")
    return str(v)


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."


_ELEMENT: dict[str, Callable[[Any], Any]] = {
    "logical": _logical, "integer": _integer, "double": _double,
    "complex": _complex, "character": _character,
}
_VECTOR_CLASS: dict[str, type[Vector[Any]]] = {
    "logical": Logical, "integer": Integer, "double": Double,
    "complex": Complex, "character": Character, "list": List,
}
_ELEMENT_SIZE = {"logical": 4, "integer": 4, "double": 8, "complex": 16}


def decode_bin(rtype: str, b64: Any) -> bytes:
    """The bytes of a binary vector ("bin"), checked: strict base64, a
    whole number of elements."""
    size = _ELEMENT_SIZE.get(rtype)
    if size is None:
        raise _bad(f"\"bin\" in a {rtype} vector")
    if not isinstance(b64, str):
        raise _bad("\"bin\" is not a string")
    try:
        raw = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _bad("\"bin\" is not base64") from None
    if len(raw) % size != 0:
        raise _bad(f"\"bin\" of {len(raw)} bytes in a {rtype} vector")
    return raw


def _array(code: str, raw: bytes) -> array[Any]:
    a = array(code)
    a.frombytes(raw)
    if sys.byteorder != "little":
        a.byteswap()
    return a


def bin_elements(rtype: str, raw: bytes) -> list[Any]:
    """The elements of a binary vector's bytes, as the JSON form gives
    them (NA as the NA constants, doubles bit for bit)."""
    if rtype == "double":
        return list(_array("d", raw))
    if rtype == "integer":
        return [NA_integer if v == INT_MIN else v
                for v in _array("i", raw)]
    if rtype == "logical":
        out: list[Any] = []
        for v in _array("i", raw):
            if v == 0:
                out.append(False)
            elif v == 1:
                out.append(True)
            elif v == INT_MIN:
                out.append(NA)
            else:
                raise _bad(f"{v} in a binary logical vector")
        return out
    if rtype == "complex":
        d = _array("d", raw)
        return [complex(d[i], d[i + 1]) for i in range(0, len(d), 2)]
    raise _bad(f"\"bin\" in a {rtype} vector")


class Decoder:
    """Decodes JSON values to Python in one of :data:`VALUE_MODES`.

    Attributes:
        saw_bin: a binary vector was decoded (so the daemon speaks them).
    """

    def __init__(self, mode: str = "python") -> None:
        if mode not in VALUE_MODES:
            raise ValueError(f"values must be one of {VALUE_MODES}, not "
                             f"{mode!r}")
        self.mode = mode
        self.saw_bin = False
        if mode != "python":
            from . import _frames
            _frames.require(mode)

    def decode(self, v: Any, unwrap: bool = True, depth: int = 0) -> Any:
        """The Python value of the encoded value v."""
        if v is None:
            return None
        if not isinstance(v, dict):
            raise _bad("neither null nor an object")
        if depth > MAX_DEPTH:
            raise _bad(f"nested deeper than {MAX_DEPTH}")
        rtype = v.get("type")
        if rtype == "unsupported" or rtype == "reference":
            return _standin(rtype, v)
        if not isinstance(rtype, str):
            raise _bad("no type")
        a = v.get("attributes")
        attrs: dict[str, Any] = {}
        if a is not None:
            if not isinstance(a, dict):
                raise _bad("attributes that are not an object")
            for k, av in a.items():
                attrs[k] = self._attr(av, depth + 1)
        has_value = "value" in v
        if "bin" in v:
            if has_value:
                raise _bad("both \"value\" and \"bin\"")
            raw = decode_bin(rtype, v["bin"])
            self.saw_bin = True
            if self.mode != "python" and not attrs:
                from ._frames import np_from_bin
                arr = np_from_bin(rtype, raw)
                if len(arr) != 1 or not unwrap:
                    return arr
            return self._vector(rtype, bin_elements(rtype, raw), attrs,
                                unwrap, depth)
        if not has_value:
            raise _bad(f"a {rtype} value with no \"value\"")
        value = v["value"]
        if rtype == "raw":
            data = _raw(value)
            return Raw(data, attrs) if attrs else data
        conv = _ELEMENT.get(rtype)
        if conv is not None:
            if not isinstance(value, list):
                raise _bad(f"a {rtype} vector that is not an array")
            if rtype == "double" and all(type(x) is float for x in value):
                elts: list[Any] = value
            else:
                elts = [conv(x) for x in value]
            return self._vector(rtype, elts, attrs, unwrap, depth)
        if rtype == "list":
            if not isinstance(value, list):
                raise _bad("a list that is not an array")
            # A data frame's columns stay vectors, even of one row.
            cols = _has_class(attrs.get("class"), "data.frame")
            return self._list([self.decode(x, not cols, depth + 1)
                               for x in value], attrs, depth)
        if rtype in ("pairlist", "S4"):
            if not isinstance(value, list):
                raise _bad(f"a {rtype} that is not an array")
            elts = [self.decode(x, True, depth + 1) for x in value]
            if rtype == "pairlist":
                return Pairlist(elts, attrs)
            return _s4(elts, attrs)
        if rtype == "symbol":
            if attrs:
                raise _bad("a symbol with attributes")
            return Symbol(_text(value, "a symbol"))
        if rtype == "language":
            return Language(_text(value, "a call"), attrs)
        if rtype == "function":
            return Function(_text(value, "a function's source"), attrs)
        if rtype == "environment":
            if attrs:
                raise _bad("an environment with attributes")
            return Environment(_text(value, "an environment's name"))
        raise _bad(f"unknown type {rtype!r}")

    def _attr(self, v: Any, depth: int) -> Any:
        # Attributes are typed vectors, never scalars, and python values
        # whatever the mode, so that they compare alike.
        if self.mode == "python":
            return self.decode(v, False, depth)
        saved = self.mode
        self.mode = "python"
        try:
            return self.decode(v, False, depth)
        finally:
            self.mode = saved

    def _vector(self, rtype: str, elts: list[Any], attrs: dict[str, Any],
                unwrap: bool, depth: int) -> Any:
        if not attrs:
            if unwrap and len(elts) == 1:
                return elts[0]
            if self.mode != "python":
                from ._frames import np_from_elements
                arr = np_from_elements(rtype, elts)
                if arr is not None:
                    return arr
            return _VECTOR_CLASS[rtype](elts)
        cls = attrs.get("class")
        if cls is not None:
            x = _classed(rtype, elts, attrs, cls, unwrap)
            if x is not None:
                return x
        elif self.mode != "python" and list(attrs) == ["dim"]:
            from ._frames import np_from_elements
            arr = np_from_elements(rtype, elts, attrs["dim"])
            if arr is not None:
                return arr
        return _VECTOR_CLASS[rtype](elts, attrs)

    def _list(self, elts: list[Any], attrs: dict[str, Any], depth: int
              ) -> Any:
        if not attrs:
            return List(elts)
        names = attrs.get("names")
        ns = names if isinstance(names, list) else [names]
        if list(attrs) == ["names"]:
            if len(ns) == len(elts) and _unique_names(ns):
                return dict(zip(ns, elts))
        if _has_class(attrs.get("class"), "data.frame") and \
                names is not None and len(ns) == len(elts) and \
                _unique_names(ns):
            a = dict(attrs)
            a["names"] = None
            rn = a.get("row.names")
            n = _compact_rownames(rn)
            if isinstance(rn, Integer) and not rn:
                n = 0       # what R's data.frame() gives 0 rows
            if n is not None and elts and \
                    all(_length(c) == n for c in elts):
                a["row.names"] = None
            df = DataFrame(dict(zip(ns, elts)), attributes=a)
            if self.mode == "pandas":
                from ._frames import df_to_pandas
                pdf = df_to_pandas(df)
                if pdf is not None:
                    return pdf
            return df
        return List(elts, attrs)


def _standin(rtype: str, v: dict[str, Any]) -> Unsupported | Reference:
    """An unsupported value or a reference: members, no value."""
    if "value" in v or "bin" in v or "attributes" in v:
        raise _bad(f"a{'n' if rtype[0] == 'u' else ''} {rtype} value with "
                   "a value or attributes")
    rt = v.get("rtype")
    if not isinstance(rt, str):
        raise _bad(f"a{'n' if rtype[0] == 'u' else ''} {rtype} value "
                   "with no rtype")
    if rtype == "reference":
        return Reference(rt)
    path = v.get("path")
    if not isinstance(path, str):
        raise _bad("an unsupported value with no path")
    printed = v.get("printed")
    if type(printed) is dict:
        printed = _bytestring(printed)
    elif not isinstance(printed, str):
        raise _bad("an unsupported value with no printed form")
    cl = v.get("class")
    classes: list[Any] = []
    if cl is not None:
        if not isinstance(cl, list):
            raise _bad("an unsupported value's class that is not an array")
        classes = [_character(c) for c in cl]
    return Unsupported(rt, printed, path, classes)


def _s4(elts: list[Any], attrs: dict[str, Any]) -> S4:
    """An S4 object: its slots, named by the attribute names, and its
    class; no other attribute."""
    names = attrs.get("names")
    cls = attrs.get("class")
    if not set(attrs) <= {"names", "class"} or "names" not in attrs:
        raise _bad("an S4 object whose attributes are not names and class")
    ns = names if isinstance(names, list) else [names]
    if len(ns) != len(elts) or not _unique_names(ns):
        raise _bad("an S4 object whose slot names are not one unique "
                   "name a slot")
    if cls is not None and not isinstance(cls, Character):
        raise _bad("an S4 object whose class is not a character vector")
    return S4(dict(zip(ns, elts)), cls)


def _unique_names(ns: list[Any]) -> bool:
    seen: set[str] = set()
    for n in ns:
        if not isinstance(n, str) or n == "" or n in seen:
            return False
        seen.add(n)
    return True


def _has_class(cls: Any, name: str) -> bool:
    if isinstance(cls, str):
        return cls == name
    return isinstance(cls, list) and name in cls


def _class_list(cls: Any) -> list[Any]:
    return cls if isinstance(cls, list) else [cls]


def _classed(rtype: str, elts: list[Any], attrs: dict[str, Any], cls: Any,
             unwrap: bool) -> Any:
    """A factor, Date or POSIXct, if it converts exactly; else None."""
    cl = _class_list(cls)
    if rtype == "integer" and cl in (["factor"], ["ordered", "factor"]):
        levels = attrs.get("levels")
        lv = levels if isinstance(levels, list) else \
            ([levels] if levels is not None else [])
        if not all(isinstance(x, str) for x in lv) or len(set(lv)) != len(lv):
            return None
        labels: list[Any] = []
        for c in elts:
            if isinstance(c, NAType):
                labels.append(NA_character)
            elif 1 <= c <= len(lv):
                labels.append(lv[c - 1])
            else:
                return None
        return Factor(labels, list(lv), cl[0] == "ordered", attrs)
    if rtype == "double" and cl == ["Date"]:
        ds: list[Any] = []
        for d in elts:
            if _is_na_real(d):
                ds.append(NA)
                continue
            try:
                ds.append(RDate.from_days(d))
            except (ValueError, OverflowError):
                return None
        if unwrap and len(ds) == 1 and list(attrs) == ["class"] and \
                not isinstance(ds[0], NAType):
            return ds[0]
        return Dates(ds, attrs)
    if rtype == "double" and cl == ["POSIXct", "POSIXt"] and \
            set(attrs) <= {"class", "tzone"}:
        tz = _one_str(attrs.get("tzone"))
        if "tzone" in attrs and tz is None:
            return None
        ts: list[Any] = []
        for s in elts:
            if _is_na_real(s):
                ts.append(NA)
                continue
            try:
                t = RDateTime.from_seconds(s, tz)
            except (ValueError, OverflowError, OSError):
                return None
            ts.append(t)
        if unwrap and len(ts) == 1 and not isinstance(ts[0], NAType):
            # One time: its attributes go with it.
            t = RDateTime.from_seconds(elts[0], tz, attrs)
            return t
        return DateTimes(ts, attrs)
    return None


def _raw(value: Any) -> bytes:
    if not isinstance(value, str):
        raise _bad("a raw vector that is not a string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _bad("a raw vector that is not base64") from None


def decode(v: Any, mode: str = "python") -> Any:
    """The Python value of an encoded value (parsed JSON)."""
    return Decoder(mode).decode(v)


# --- Encoding: Python to JSON values ------------------------------------------

#: Vectors this long or longer go binary when the daemon speaks it.
BIN_MIN = 16


class Encoder:
    """Encodes Python values as securer-protocol(7) values (JSON-ready
    Python objects).

    Args:
        binary: the peer reads binary vectors ("bin"); long logical,
            integer, double and complex vectors are sent so.
    """

    def __init__(self, binary: bool = False) -> None:
        self.binary = binary

    def encode(self, x: Any, depth: int = 0) -> Any:
        """The encoded value of x; ConversionError if it cannot cross."""
        if depth > MAX_DEPTH:
            raise ConversionError(f"nested deeper than {MAX_DEPTH}")
        if x is None:
            return None
        t = type(x)
        if t is bool:
            return {"type": "logical", "value": [x]}
        if t is int:
            return self._int_scalar(x)
        if t is float:
            return {"type": "double", "value": [_enc_double(x)]}
        if t is str:
            return {"type": "character", "value": [_enc_str(x)]}
        if isinstance(x, NAType):
            return {"type": x.rtype, "value": [None]}
        if isinstance(x, _STANDINS):
            return self._standin(x, depth)
        if isinstance(x, Vector):
            return self._vector(x, depth)
        if isinstance(x, Factor):
            return self._factor(x, depth)
        if isinstance(x, DataFrame):
            return self._dataframe(x, depth)
        if isinstance(x, ByteString):
            return {"type": "character", "value": _characters([x])}
        if isinstance(x, Raw):
            return self._with_attrs({"type": "raw", "value": _b64(x)},
                                    x.attributes, depth)
        if isinstance(x, (bytes, bytearray, memoryview)):
            return {"type": "raw", "value": _b64(bytes(x))}
        if isinstance(x, datetime):
            return self._datetimes([x], None, depth)
        if isinstance(x, date):
            return self._dates([x], None, depth)
        if isinstance(x, complex):
            return {"type": "complex", "value": [_enc_complex(x)]}
        if isinstance(x, bool):
            return {"type": "logical", "value": [bool(x)]}
        if isinstance(x, int):
            return self._int_scalar(int(x))
        if isinstance(x, float):
            return {"type": "double", "value": [_enc_double(float(x))]}
        if isinstance(x, str):
            return {"type": "character", "value": [_enc_str(str(x))]}
        if isinstance(x, Mapping):
            return self._dict(x, depth)
        if isinstance(x, (list, tuple)):
            return self._sequence(x, depth)
        if "numpy" in sys.modules or "pandas" in sys.modules:
            from ._frames import encode_array
            r = encode_array(self, x, depth)
            if r is not None:
                return r
        raise ConversionError(f"a {t.__module__}.{t.__qualname__} cannot "
                              "be sent to R")

    def _int_scalar(self, n: int) -> dict[str, Any]:
        if INT_MIN < n <= INT_MAX:
            return {"type": "integer", "value": [n]}
        return {"type": "double", "value": [_enc_double(_exact_float(n))]}

    def _with_attrs(self, out: dict[str, Any], attrs: Mapping[str, Any],
                    depth: int) -> dict[str, Any]:
        if attrs:
            out["attributes"] = {_attr_name(k): self.encode(v, depth + 1)
                                 for k, v in attrs.items()}
        return out

    def _standin(self, x: Any, depth: int) -> dict[str, Any]:
        """A symbol or a call, which R makes again exactly; what R would
        make something else of (a function, an environment, ...) cannot
        be sent."""
        if isinstance(x, Symbol):
            return {"type": "symbol", "value": _enc_str(str(x))}
        if isinstance(x, Language):
            if not isinstance(x.text, str):
                raise ConversionError("a Language's text is not a str")
            return self._with_attrs(
                {"type": "language", "value": _enc_str(x.text)},
                x.attributes, depth)
        for t, why in _NOT_SENT.items():
            if isinstance(x, t):
                raise ConversionError(why)
        raise ConversionError(f"a {type(x).__qualname__} cannot be sent to "
                              "R")

    def _vector(self, x: Vector[Any], depth: int) -> dict[str, Any]:
        if isinstance(x, Dates):
            return self._dates(list(x), x.attributes, depth)
        if isinstance(x, DateTimes):
            return self._datetimes(list(x), x.attributes, depth)
        if x.rtype in ("list", "pairlist"):
            out: dict[str, Any] = {
                "type": x.rtype,
                "value": [self.encode(e, depth + 1) for e in x]}
        else:
            out = self.atomic(x.rtype, x)
        return self._with_attrs(out, x.attributes, depth)

    def atomic(self, rtype: str, elts: Sequence[Any]) -> dict[str, Any]:
        """An atomic vector of rtype from Python elements."""
        if self.binary and len(elts) >= BIN_MIN and rtype in _ELEMENT_SIZE:
            return {"type": rtype, "bin": _enc_bin(rtype, elts)}
        return {"type": rtype, "value": _ENC_ELEMENTS[rtype](elts)}

    def _factor(self, x: Factor, depth: int) -> dict[str, Any]:
        codes = x.codes
        own = {"levels": Character(x.levels),
               "class": Character(["ordered", "factor"] if x.ordered
                                  else ["factor"])}
        attrs: dict[str, Any] = {}
        for k in x._order:
            if k in own:
                attrs[k] = own.pop(k)
            elif k in x.attributes:
                attrs[k] = x.attributes[k]
        attrs.update(own)
        for k, v in x.attributes.items():
            attrs.setdefault(k, v)
        return self._with_attrs(self.atomic("integer", codes), attrs, depth)

    def _dates(self, xs: Sequence[Any], attrs: Mapping[str, Any] | None,
               depth: int) -> dict[str, Any]:
        days: list[float] = []
        for d in xs:
            if is_na(d):
                days.append(NA_real)
            elif isinstance(d, RDate):
                days.append(d.days)
            elif isinstance(d, date) and not isinstance(d, datetime):
                days.append(float(d.toordinal() - _EPOCH_ORDINAL))
            else:
                raise ConversionError(f"{d!r} in a Date vector")
        a = dict(attrs) if attrs else {"class": Character(["Date"])}
        return self._with_attrs(self.atomic("double", days), a, depth)

    def _datetimes(self, xs: Sequence[Any], attrs: Mapping[str, Any] | None,
                   depth: int) -> dict[str, Any]:
        secs: list[float] = []
        zone: str | None = None
        for t in xs:
            if is_na(t):
                secs.append(NA_real)
            elif isinstance(t, datetime):
                secs.append(t.seconds if isinstance(t, RDateTime)
                            else _seconds_of(t))
                if zone is None:
                    zone = _tzone_of(t)
            else:
                raise ConversionError(f"{t!r} in a POSIXct vector")
        if attrs:
            a = dict(attrs)
        elif len(xs) == 1 and isinstance(xs[0], RDateTime) and \
                xs[0].r_attributes is not None:
            a = dict(xs[0].r_attributes)
        else:
            a = {"class": Character(["POSIXct", "POSIXt"]),
                 "tzone": zone if zone is not None else "UTC"}
        return self._with_attrs(self.atomic("double", secs), a, depth)

    def _dataframe(self, x: DataFrame, depth: int) -> dict[str, Any]:
        vals = [self.encode(col, depth + 1) for col in x.values()]
        rn = x.attributes.get("row.names")
        n = x.nrow if rn is not None else (
            _encoded_length(vals[0]) if vals else 0)
        for name, v in zip(x, vals):
            if _encoded_length(v) != n:
                raise ConversionError(f"column {name!r} has "
                                      f"{_encoded_length(v)} rows, not {n}")
        attrs: dict[str, Any] = {}
        for k, v in x.attributes.items():
            if k == "names":
                v = Character(list(x))
            elif k == "row.names" and v is None:
                v = Integer([NA_integer, -n]) if n > 0 else Integer([])
            attrs[k] = v
        return self._with_attrs({"type": "list", "value": vals}, attrs,
                                depth)

    def _dict(self, x: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        names = []
        for k in x:
            if not isinstance(k, str):
                raise ConversionError(f"a dict key {k!r} that is not a str "
                                      "cannot be an R name")
            names.append(k)
        out: dict[str, Any] = {
            "type": "list",
            "value": [self.encode(v, depth + 1) for v in x.values()]}
        if names:
            out["attributes"] = {"names": self.atomic("character", names)}
        return out

    def _sequence(self, x: Sequence[Any], depth: int) -> dict[str, Any]:
        kind = _infer(x)
        if kind == "Date":
            return self._dates(x, None, depth)
        if kind == "POSIXct":
            return self._datetimes(x, None, depth)
        if kind is not None:
            return self.atomic(kind, x)
        return {"type": "list",
                "value": [self.encode(e, depth + 1) for e in x]}


#: What each stand-in that cannot go back would be in R instead.
_NOT_SENT: dict[type[Any], str] = {
    Function: "an R function cannot be sent to R: it crossed as its "
    "source text only, and R would make a string of it (send the text "
    "as a str)",
    Environment: "an R environment cannot be sent to R: only its name "
    "crossed, and R would make a new, empty environment of it (drop it, "
    "a formula's .Environment attribute included)",
    S4: "an R S4 object cannot be sent to R: R would make a list of its "
    "slots (send S4.slots)",
    Reference: "an R external pointer or weak reference cannot be sent "
    "to R: it means nothing outside the sandbox",
    Unsupported: "an R value that could not cross (Unsupported) cannot be "
    "sent to R",
}
_STANDINS = (Symbol, Language, Function, Environment, S4, Reference,
             Unsupported)


def _encoded_length(v: Any) -> int:
    if v is None:
        return 0
    if "bin" in v:
        return len(base64.b64decode(v["bin"])) // _ELEMENT_SIZE[v["type"]]
    val = v.get("value")
    if v.get("type") == "raw":
        return len(base64.b64decode(val))
    return len(val) if isinstance(val, list) else 1


def _attr_name(k: Any) -> str:
    if not isinstance(k, str) or k == "":
        raise ConversionError(f"an attribute name {k!r} is not a non-empty "
                              "str")
    return k


def _infer(x: Sequence[Any]) -> str | None:
    """The atomic type a plain list of scalars makes, or None for a list."""
    if not x:
        return None
    kinds: set[str] = set()
    for e in x:
        t = type(e)
        if t is bool:
            kinds.add("logical")
        elif t is int:
            kinds.add("integer" if INT_MIN < e <= INT_MAX else "double")
        elif t is float:
            kinds.add("double")
        elif t is str:
            kinds.add("character")
        elif t is complex:
            kinds.add("complex")
        elif t is ByteString:
            kinds.add("character")
        elif isinstance(e, NAType):
            if e.rtype != "logical":
                kinds.add(e.rtype)
        elif isinstance(e, datetime):
            kinds.add("POSIXct")
        elif isinstance(e, date):
            kinds.add("Date")
        else:
            return None
        if len(kinds) > 1 and not kinds <= {"integer", "double", "complex"}:
            return None
    if not kinds:
        return "logical"
    if len(kinds) == 1:
        return kinds.pop()
    return "complex" if "complex" in kinds else "double"


def _exact_float(n: int) -> float:
    if abs(n) > _MAX_EXACT:
        f = float(n)
        if int(f) != n:
            raise ConversionError(f"the integer {n} does not fit an R double "
                                  "exactly")
        return f
    return float(n)


def _enc_double(d: float) -> Any:
    if d != d:
        return None if _is_na_real(d) else "NaN"
    if d == math.inf:
        return "Inf"
    if d == -math.inf:
        return "-Inf"
    return d


def _enc_str(s: str) -> str:
    if "\x00" in s:
        raise ConversionError("an R string cannot hold a NUL character")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ConversionError("a string that is not valid Unicode "
                              "(a lone surrogate) cannot be sent to R"
                              ) from None
    return s


def _enc_complex(z: Any) -> Any:
    if isinstance(z, NAType):
        return None
    if isinstance(z, (int, float)) and not isinstance(z, bool):
        z = complex(z)
    if not isinstance(z, complex):
        raise ConversionError(f"{z!r} in a complex vector")
    if _is_na_real(z.real) and _is_na_real(z.imag):
        return None
    return [_enc_double(z.real), _enc_double(z.imag)]


def _logicals(xs: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in xs:
        if v is True or v is False:
            out.append(v)
        elif isinstance(v, NAType):
            out.append(None)
        elif _np_bool(v):
            out.append(bool(v))
        else:
            raise ConversionError(f"{v!r} in a logical vector")
    return out


def _np_bool(v: Any) -> bool:
    m = sys.modules.get("numpy")
    return m is not None and isinstance(v, m.bool_)


def _integers(xs: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in xs:
        if isinstance(v, NAType):
            out.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, int):
            if not (_is_numpy(v) and hasattr(v, "dtype") and
                    v.dtype.kind in "iu"):
                raise ConversionError(f"{v!r} in an integer vector")
            v = int(v)
        if not INT_MIN < v <= INT_MAX:
            raise ConversionError(f"{v} does not fit an R integer")
        out.append(int(v))
    return out


def _doubles(xs: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in xs:
        if type(v) is float:
            out.append(_enc_double(v))
        elif isinstance(v, NAType):
            out.append(None)
        elif isinstance(v, bool):
            raise ConversionError(f"{v!r} in a double vector")
        elif isinstance(v, int):
            out.append(_exact_float(v))
        elif isinstance(v, float):
            out.append(_enc_double(float(v)))
        else:
            raise ConversionError(f"{v!r} in a double vector")
    return out


def _characters(xs: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in xs:
        if isinstance(v, str):
            out.append(_enc_str(str(v)))
        elif isinstance(v, NAType):
            out.append(None)
        elif isinstance(v, ByteString):
            if v.find(b"\x00") != -1:
                raise ConversionError("an R string cannot hold a NUL byte")
            out.append({"bytes": _b64(bytes(v))})
        else:
            raise ConversionError(f"{v!r} in a character vector")
    return out


def _complexes(xs: Sequence[Any]) -> list[Any]:
    return [_enc_complex(v) for v in xs]


_ENC_ELEMENTS: dict[str, Callable[[Sequence[Any]], list[Any]]] = {
    "logical": _logicals, "integer": _integers, "double": _doubles,
    "character": _characters, "complex": _complexes,
}


def _enc_bin(rtype: str, elts: Sequence[Any]) -> str:
    """The base64 of a binary vector; NaN payloads and -0 kept."""
    a: array[Any]
    if rtype == "double":
        vals = [NA_real if isinstance(v, NAType) else
                (_exact_float(v) if isinstance(v, int) and
                 not isinstance(v, bool) else v) for v in elts]
        for v in vals:
            if not isinstance(v, float):
                raise ConversionError(f"{v!r} in a double vector")
        a = array("d", vals)
    elif rtype == "integer":
        a = array("i", [INT_MIN if v is None else v
                        for v in _integers(elts)])
    elif rtype == "logical":
        a = array("i", [INT_MIN if v is None else int(v)
                        for v in _logicals(elts)])
    else:
        flat: list[float] = []
        for z in elts:
            if isinstance(z, NAType):
                flat += [NA_real, NA_real]
            else:
                if isinstance(z, (int, float)) and not isinstance(z, bool):
                    z = complex(z)
                if not isinstance(z, complex):
                    raise ConversionError(f"{z!r} in a complex vector")
                flat += [z.real, z.imag]
        a = array("d", flat)
    if sys.byteorder != "little":
        a.byteswap()
    return base64.b64encode(a.tobytes()).decode("ascii")


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def encode(x: Any, binary: bool = False) -> Any:
    """The securer-protocol(7) value of x (JSON-ready), or ConversionError."""
    return Encoder(binary).encode(x)


def dumps(obj: Any) -> str:
    """One line of JSON, as the daemon reads it."""
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":"))
    except ValueError as e:
        raise ConversionError(f"cannot encode as JSON: {e}") from None
