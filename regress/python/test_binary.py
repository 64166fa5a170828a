"""Binary vectors ("bin", securer-protocol(7) "Values"): the codec
against synthetic values, the client against a stand-in daemon that
sends them, and the real daemon, which sends them to a client whose
hello asked, for vectors of 16 elements or more.
"""

from __future__ import annotations

import base64
import json
import math
import socket
import struct
from typing import Any

import pytest

import securer
from securer import (NA, NA_integer, NA_real, Complex, DataFrame, Double,
                     Factor, Integer, Logical, identical, is_na)
from securer._conn import Connection
from securer.values import Decoder, Encoder, decode, encode, float_bits

from conftest import Daemon

INT_MIN = -2147483648
NAN_PAYLOAD = 0x7FF8000000000001


def f64(*bits: int) -> str:
    return base64.b64encode(struct.pack(f"<{len(bits)}Q", *bits)).decode()


def i32(*vals: int) -> str:
    return base64.b64encode(struct.pack(f"<{len(vals)}i", *vals)).decode()


def dbl(x: float) -> int:
    return float_bits(x)


def from_bits(b: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", b))[0]


# --- The codec ----------------------------------------------------------------

def test_decode_double() -> None:
    v = decode({"type": "double",
                "bin": f64(dbl(1.5), 0x7FF00000000007A2, 0x8000000000000000,
                           NAN_PAYLOAD, 0xFFF8000000000000)})
    assert isinstance(v, Double) and len(v) == 5
    assert [dbl(x) for x in v] == [dbl(1.5), 0x7FF00000000007A2,
                                   0x8000000000000000, NAN_PAYLOAD,
                                   0xFFF8000000000000]
    assert is_na(v[1]) and not is_na(v[3])
    # One element is a scalar, none an empty vector, as with "value".
    assert dbl(decode({"type": "double", "bin": f64(NAN_PAYLOAD)})) == \
        NAN_PAYLOAD
    assert identical(decode({"type": "double", "bin": ""}), Double([]))


def test_decode_integer_logical_complex() -> None:
    assert identical(decode({"type": "integer",
                             "bin": i32(1, INT_MIN, 2147483647)}),
                     Integer([1, NA_integer, 2147483647]))
    assert decode({"type": "integer", "bin": i32(INT_MIN)}) is NA_integer
    assert identical(decode({"type": "logical", "bin": i32(0, 1, INT_MIN)}),
                     Logical([False, True, NA]))
    z = decode({"type": "complex",
                "bin": f64(dbl(1.0), 0x7FF00000000007A2, dbl(-0.0),
                           dbl(2.0))})
    assert isinstance(z, Complex)
    assert dbl(z[0].imag) == 0x7FF00000000007A2 and \
        dbl(z[1].real) == 0x8000000000000000


def test_decode_with_attributes() -> None:
    f = decode({"type": "integer", "bin": i32(2, 1, INT_MIN),
                "attributes": {
                    "levels": {"type": "character", "value": ["a", "b"]},
                    "class": {"type": "character", "value": ["factor"]}}})
    assert isinstance(f, Factor) and f == ["b", "a", NA]
    n = decode({"type": "double", "bin": f64(dbl(1.0), dbl(2.0)),
                "attributes": {"names": {"type": "character",
                                         "value": ["x", "y"]}}})
    assert isinstance(n, Double) and n.names == ["x", "y"]
    df = decode({"type": "list", "value": [
        {"type": "double", "bin": f64(dbl(0.5))},
        {"type": "integer", "bin": i32(7)}],
        "attributes": {
            "names": {"type": "character", "value": ["a", "b"]},
            "class": {"type": "character", "value": ["data.frame"]},
            "row.names": {"type": "integer", "bin": i32(INT_MIN, -1)}}})
    assert isinstance(df, DataFrame) and df.row_names is None
    assert identical(df["a"], Double([0.5])) and \
        identical(df["b"], Integer([7]))


BAD_BIN: list[tuple[str, dict[str, Any]]] = [
    ("bad alphabet", {"type": "double", "bin": "AAAA!AAAAAA="}),
    ("no padding", {"type": "double", "bin": "AAAAAAAAAAA"}),
    ("line break", {"type": "double", "bin": "AAAAAAAA\nAAA="}),
    ("url alphabet", {"type": "double", "bin": "____________"}),
    ("7 bytes", {"type": "double", "bin": base64.b64encode(b"1234567"
                                                           ).decode()}),
    ("5 bytes", {"type": "integer", "bin": base64.b64encode(b"12345"
                                                            ).decode()}),
    ("17 bytes", {"type": "complex",
                  "bin": base64.b64encode(b"x" * 17).decode()}),
    ("both", {"type": "double", "bin": f64(0), "value": [0]}),
    ("logical 2", {"type": "logical", "bin": i32(0, 2)}),
    ("logical -1", {"type": "logical", "bin": i32(-1)}),
    ("character", {"type": "character", "bin": ""}),
    ("list", {"type": "list", "bin": ""}),
    ("raw", {"type": "raw", "bin": ""}),
    ("not a string", {"type": "double", "bin": 5}),
]


@pytest.mark.parametrize("what,v", BAD_BIN, ids=[w for w, _ in BAD_BIN])
def test_decode_rejects(what: str, v: dict[str, Any]) -> None:
    for mode in ("python", "numpy"):
        with pytest.raises(securer.ProtocolViolation):
            Decoder(mode).decode(v)


def test_encode_binary() -> None:
    e = Encoder(binary=True)
    long = [float(i) for i in range(16)]
    assert "bin" in e.encode(long) and "value" not in e.encode(long)
    assert "value" in e.encode(long[:15])
    assert "value" in Encoder(binary=False).encode(long)
    nanp = from_bits(NAN_PAYLOAD)
    xs = Double([NA_real, -0.0, nanp, math.inf] + [1.0] * 12)
    out = e.encode(xs)
    raw = base64.b64decode(out["bin"])
    assert struct.unpack("<16Q", raw)[:3] == (0x7FF00000000007A2,
                                              0x8000000000000000,
                                              NAN_PAYLOAD)
    back = decode(out)
    assert identical(back, xs)
    ints = Integer([1, NA] + list(range(14)))
    assert base64.b64decode(e.encode(ints)["bin"])[4:8] == \
        struct.pack("<i", INT_MIN)
    assert identical(decode(e.encode(ints)), ints)
    lg = Logical([True, False, NA] * 6)
    assert identical(decode(e.encode(lg)), lg)
    cx = Complex([complex(1, NA_real)] * 16)
    assert identical(decode(e.encode(cx)), cx)
    f = Factor(["a", "b"] * 8)
    assert identical(decode(e.encode(f)), f)


def test_numpy_from_bin() -> None:
    np = pytest.importorskip("numpy")
    a = Decoder("numpy").decode({"type": "double",
                                 "bin": f64(NAN_PAYLOAD, dbl(2.0))})
    assert isinstance(a, np.ndarray) and a.view(np.uint64)[0] == NAN_PAYLOAD
    m = Decoder("numpy").decode({"type": "integer",
                                 "bin": i32(3, INT_MIN)})
    assert isinstance(m, np.ma.MaskedArray) and m.mask.tolist() == [False,
                                                                    True]
    assert Decoder("numpy").decode({"type": "integer", "bin": i32(3)}) == 3


# --- The client, against a stand-in daemon that sends "bin" -----------------

def test_client_with_binary_daemon(fake_daemon: Any) -> None:
    """hello says binary; "bin" in a result and in a tool call's arguments
    decodes; the tool's long result goes back binary once the daemon has
    shown it reads them."""
    sid = "ab" * 16
    sent: dict[str, Any] = {}

    def handler(req: dict[str, Any], send: Any) -> None:
        op = req.get("op")
        if op == "session.create":
            send({"id": req["id"], "ok": True, "session": sid,
                  "sandbox": "full"})
        elif op == "execute":
            sent["exec"] = req["id"]
            send({"id": req["id"], "event": "tool_call", "call": 1,
                  "tool": "twice", "args": {"x": {
                      "type": "double",
                      "bin": f64(*[dbl(float(i)) for i in range(16)])}}})
        elif op == "tool_result":
            sent["result"] = req
            send({"id": sent["exec"], "ok": True, "visible": True,
                  "printed": "", "truncated": False, "elapsed": 0,
                  "value": {"type": "double",
                            "bin": f64(0x7FF00000000007A2, NAN_PAYLOAD)}})
        elif op == "session.close":
            send({"id": req["id"], "ok": True})

    d = fake_daemon(handler)

    def twice(x: list[float]) -> list[float]:
        return [v * 2 for v in x]

    with securer.Session(d.path, tools=[securer.tool(twice)]) as s:
        r = s.execute("twice(as.double(0:15))")
        assert [dbl(x) for x in r.value] == [0x7FF00000000007A2,
                                             NAN_PAYLOAD]
    assert d.requests[0]["binary"] is True
    res = sent["result"]
    assert "bin" in res["value"] and "value" not in res["value"]
    assert struct.unpack("<16d", base64.b64decode(res["value"]["bin"])) == \
        tuple(float(2 * i) for i in range(16))


def test_client_without_binary(fake_daemon: Any) -> None:
    def handler(req: dict[str, Any], send: Any) -> None:
        send({"id": req["id"], "ok": True, "session": "cd" * 16})

    d = fake_daemon(handler)
    c = Connection.open(d.path, binary=False)
    c.close()
    assert "binary" not in d.requests[0]


def test_invalid_bin_from_daemon(fake_daemon: Any) -> None:
    """A daemon that sends a bad "bin" gets a ProtocolViolation, not a
    wrong value."""
    def handler(req: dict[str, Any], send: Any) -> None:
        if req.get("op") == "session.create":
            send({"id": req["id"], "ok": True, "session": "ef" * 16})
        elif req.get("op") == "execute":
            send({"id": req["id"], "ok": True, "visible": True,
                  "printed": "", "value": {"type": "logical",
                                           "bin": i32(7)}})
        else:
            send({"id": req["id"], "ok": True})

    d = fake_daemon(handler)
    with securer.Session(d.path) as s:
        with pytest.raises(securer.ProtocolViolation):
            s.execute("x")


# --- The real daemon ------------------------------------------------------------

def raw_value(conn: Connection, sid: str, code: str) -> dict[str, Any]:
    """An execution's final reply as the daemon sent it."""
    rid = conn.request("execute", {"session": sid, "code": code})
    try:
        while True:
            m = conn.wait(rid)
            if "ok" in m and "event" not in m:
                assert m["ok"] is True, m
                return m
    finally:
        conn.done(rid)


def hello_reply(path: str) -> dict[str, Any]:
    """The daemon's reply to a hello that asks for binary vectors."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(10)
        c.connect(path)
        c.sendall(b'{"id":1,"op":"hello","version":1,"binary":true}\n')
        with c.makefile("rb") as f:
            r: dict[str, Any] = json.loads(f.readline())
    assert r["ok"] is True and r["version"] == 1, r
    return r


def test_daemon_binary(daemon: Daemon) -> None:
    """Everything "bin" must do end to end, with the real daemon."""
    conn = Connection.open(daemon.sock, autostart=False, binary=True)
    try:
        sid = conn.call("session.create")["session"]
        # From 16 elements on, never below.
        for n, form in [(15, "value"), (16, "bin"), (32, "bin")]:
            v = raw_value(conn, sid, f"as.double(1:{n})")["value"]
            assert form in v and v["type"] == "double", (n, v)
            want = [float(i) for i in range(1, n + 1)]
            if form == "bin":
                assert "value" not in v and list(struct.unpack(
                    f"<{n}d", base64.b64decode(v["bin"]))) == want
            else:
                assert "bin" not in v and v["value"] == want
        # Character vectors and lists never.
        v = raw_value(conn, sid, "letters")["value"]
        assert "value" in v and "bin" not in v
        # Only clients that ask get it.
        plain = Connection.open(daemon.sock, autostart=False, binary=False)
        try:
            psid = plain.call("session.create")["session"]
            pm = raw_value(plain, psid, "as.double(1:32)")
            assert "bin" not in str(pm), pm
        finally:
            plain.close()
        for code, rtype in [("c(NA, NaN, -0, 1:29)", "double"),
                            ("c(NA, 1:31)", "integer"),
                            ("rep(c(TRUE, NA, FALSE), 11)", "logical"),
                            ("complex(real = c(NA, 1:31), imaginary = -0)",
                             "complex")]:
            v = raw_value(conn, sid, code)["value"]
            assert v["type"] == rtype and "bin" in v and "value" not in v, v
        df = raw_value(conn, sid, "data.frame(x = as.double(1:20), "
                                  "y = 1:20)")["value"]
        assert all("bin" in c for c in df["value"]), df
    finally:
        conn.close()

    def echo(x: Any) -> Any:
        return x

    nanp = from_bits(NAN_PAYLOAD)

    def payload() -> Any:
        return Double([nanp, -0.0, NA_real] + [0.5] * 13)

    hexbits = "paste(rev(as.character(writeBin(x[1], raw()))), " \
        "collapse = '')"
    with securer.Session(daemon.sock, tools=[echo, payload],
                         autostart=False) as s:
        # The hello reply does not say whether the daemon reads "bin": the
        # client sends it once the daemon has sent one.  Before, the
        # vector goes as JSON, where a NaN is R's NaN.
        assert "binary" not in hello_reply(daemon.sock)
        assert not s._conn.peer_binary
        assert s.execute(f"x <- payload(); {hexbits}").value == \
            "7ff8000000000000"
        v = s.execute("c(NA, NaN, -0, 1:29 / 7)").value
        assert s._conn.peer_binary
        assert dbl(v[0]) == 0x7FF00000000007A2 and \
            dbl(v[1]) == 0x7FF8000000000000 and \
            dbl(v[2]) == 0x8000000000000000
        assert v[3:] == [i / 7 for i in range(1, 30)]
        for code in ["c(NA, NaN, -0, runif(100))", "c(NA, 1:100)",
                     "rep(c(TRUE, NA, FALSE), 11)",
                     "complex(real = c(NA, 1:31), imaginary = c(-0, NA))",
                     "data.frame(x = runif(20), y = c(NA, 1:19), "
                     "z = factor(rep(c('a', 'b'), 10)))",
                     "matrix(runif(40), 4)", "structure(1:20, names = "
                     "letters[1:20])", "as.Date('2020-01-01') + 0:20"]:
            assert s.execute(f"x <- {code}; identical(echo(x), x)"
                             ).value is True, code
        # A NaN payload the JSON form cannot carry goes to R and back.
        r = s.execute(f"x <- payload(); {hexbits}")
        assert r.value == "7ff8000000000001"
        assert dbl(s.execute("payload()").value[0]) == NAN_PAYLOAD
    with securer.Session(daemon.sock, values="numpy", autostart=False) as s:
        np = pytest.importorskip("numpy")
        a = s.execute("c(NA, NaN, -0, 1:29)").value
        assert isinstance(a, np.ndarray) and a.view(np.uint64)[0] == \
            0x7FF00000000007A2
        m = s.execute("c(NA, 1:31)").value
        assert isinstance(m, np.ma.MaskedArray) and m.mask[0]
