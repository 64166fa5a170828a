"""Fixtures of the Python client's tests: private daemons of the build tree.

Every daemon is started from SECURER_BUILD (the build directory) in a
directory of the test's own, on a socket there, and stopped (SIGTERM,
then SIGKILL of what is left) when the test or module ends; the fixtures
check that nothing of it outlives them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

TOP = Path(os.environ.get("SECURER_TOP",
                          Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("SECURER_BUILD", TOP / "build"))
sys.path.insert(0, str(TOP / "python"))

import securer  # noqa: E402
from securer import Output  # noqa: E402


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                             text=True).stdout
    except OSError:
        return []
    return [int(p) for p in out.split()]


class Daemon:
    """A private securerd in directory d with configuration lines."""

    def __init__(self, d: Path, lines: tuple[str, ...] = (),
                 user: str | None = None) -> None:
        self.dir = d
        d.mkdir(parents=True, exist_ok=True)
        self.sock = str(d / "sock")
        self.audit = str(d / "audit.jsonl")
        self.log = d / "daemon.log"
        conf = [f'socket "{self.sock}"', f'audit "{self.audit}"',
                f'state-dir "{d / "state"}"', *lines]
        (d / "conf").write_text("\n".join(conf) + "\n")
        cmd = [str(BUILD / "securerd"), "-d", "-v", "-f", str(d / "conf")]
        if user is not None:
            uid, _, gid = user.partition(":")
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid or uid}",
                   "--clear-groups", "--inh-caps=-all", *cmd]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stderr=log, stdout=log)
        deadline = time.monotonic() + 15
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("securerd did not start:\n" +
                                   self.log.read_text(errors="replace"))
            time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def worker_pids(self) -> list[int]:
        """The sessions' workers (uid 200000 and up, not ready ones)."""
        out = []
        for p in _children(self.pid):
            try:
                uid = os.stat(f"/proc/{p}").st_uid
                comm = Path(f"/proc/{p}/comm").read_text().strip()
            except OSError:
                continue
            if uid >= 200000 and comm != "securer-ready":
                out.append(p)
        return out

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        kids = _children(self.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except OSError:
                pass

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def joined(output: list[Output]) -> list[Output]:
    """Output with adjacent pieces of one stream joined: how the text of
    each stream interleaves, whatever pieces it came in (the protocol
    says nothing of where one output event ends and the next begins)."""
    out: list[Output] = []
    for o in output:
        assert o.text != "", output
        if out and out[-1].stream == o.stream:
            out[-1] = Output(o.stream, out[-1].text + o.text)
        else:
            out.append(o)
    return out


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """The module's daemon, with the default configuration."""
    d = Daemon(tmp_path_factory.mktemp("d"))
    yield d
    d.stop()
    assert not _alive(d.pid), "securerd outlived its stop"


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[object]:
    """A factory of daemons with configuration lines of the test's own."""
    made: list[Daemon] = []

    def make(*lines: str, user: str | None = None) -> Daemon:
        d = Daemon(tmp_path / f"d{len(made)}", lines, user)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


@pytest.fixture
def sock(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> str:
    """The module daemon's socket, also as SECURER_SOCKET."""
    monkeypatch.setenv("SECURER_SOCKET", daemon.sock)
    return daemon.sock


@pytest.fixture
def session(sock: str) -> Iterator[securer.Session]:
    """A session of the module's daemon, closed at the end."""
    with securer.Session(sock, autostart=False) as s:
        yield s


class FakeDaemon:
    """A stand-in securerd on a socket of its own, for what the real one
    cannot be made to say: each request line goes to handler(request,
    send), which answers with send(message) as often as it likes."""

    def __init__(self, path: str, handler: object) -> None:
        import json
        import socket
        import threading
        self.path = path
        self.handler = handler
        self.requests: list[dict[str, object]] = []
        self._json = json
        self._srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._srv.bind(path)
        self._srv.listen(8)
        self._conns: list[socket.socket] = []
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self) -> None:
        import threading
        while True:
            try:
                c, _ = self._srv.accept()
            except OSError:
                return
            self._conns.append(c)
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c: object) -> None:
        import socket
        assert isinstance(c, socket.socket)
        f = c.makefile("rb")

        def send(msg: dict[str, object] | bytes) -> None:
            data = msg if isinstance(msg, bytes) else \
                (self._json.dumps(msg) + "\n").encode()
            try:
                c.sendall(data)
            except OSError:
                pass

        try:
            for line in f:
                req = self._json.loads(line)
                self.requests.append(req)
                if req.get("op") == "hello" and not getattr(
                        self.handler, "wants_hello", False):
                    send({"id": req["id"], "ok": True, "version": 1,
                          "server": "fake 0", "uid": 0, "pid": 1})
                    continue
                self.handler(req, send)  # type: ignore[operator]
        except (SystemExit, OSError, ValueError):
            pass
        finally:
            # A handler that gives up hangs up.
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def close(self) -> None:
        import socket
        try:
            self._srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._srv.close()
        for c in self._conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[object]:
    """A factory of FakeDaemons, closed at the end."""
    made: list[FakeDaemon] = []

    def make(handler: object) -> FakeDaemon:
        d = FakeDaemon(str(tmp_path / f"fake{len(made)}.sock"), handler)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()
