"""Autostart, as libsecurer and securer(1) do it: a private daemon for
the user when none answers, started once, detached, and nothing of it
left once it is stopped; none where a socket was named or autostart is
off; the private directory checked before anything is trusted in it.

Each test has a private XDG_RUNTIME_DIR of its own and a system socket
path where nothing answers (a system daemon must not be found instead).
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

import securer
from securer import _resolve

from conftest import BUILD, TOP

SCRIPT = """
import sys
import securer, securer._resolve as r
r.SYSTEM_SOCKET = sys.argv[1]
with securer.Session(autostart=sys.argv[2] == "1") as s:
    print(s.execute("6L * 7L").value)
"""


def running(pattern: str) -> list[int]:
    """Live (not zombie) securerd processes whose arguments contain
    pattern."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            args = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            st = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if pattern in args and st != "Z" and \
                os.path.basename(args.split(" ", 1)[0]) == "securerd":
            out.append(int(p.name))
    return out


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A runtime directory of this test's, and no daemon found elsewhere;
    the private daemon, if one was started, is stopped at the end."""
    d = tmp_path / "xdg"
    d.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(d))
    monkeypatch.delenv("SECURER_SOCKET", raising=False)
    monkeypatch.setenv("SECURERD", str(BUILD / "securerd"))
    monkeypatch.setattr(_resolve, "SYSTEM_SOCKET", str(tmp_path / "none"))
    yield d
    sock = d / "securer" / "securerd.sock"
    for p in running(f"-s {sock}"):
        os.kill(p, signal.SIGKILL)


def env(xdg: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(TOP / "python")
    return e


def stop_private(sock: Path) -> None:
    """SIGTERM to the daemon its pid file names; then nothing of it may
    be left: no process, no socket, no control socket, no pid file."""
    pidfile = Path(f"{sock}.pid")
    pid = int(pidfile.read_text())
    assert running(f"-s {sock}") == [pid]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while running(f"-s {sock}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running(f"-s {sock}") == []
    left = sorted(p.name for p in sock.parent.iterdir())
    assert left == ["securerd.lock", "securerd.log"], left


def test_private_daemon(xdg: Path, tmp_path: Path) -> None:
    sock = xdg / "securer" / "securerd.sock"
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "none"),
                        "1"], capture_output=True, text=True, env=env(xdg),
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "42\n"
    d = sock.parent
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    pid = int(Path(f"{sock}.pid").read_text())
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert args[:5] == [str(BUILD / "securerd").encode(), b"-I", b"600",
                        b"-s", str(sock).encode()]
    # Detached: in a session of its own, not a child of ours.
    st = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    assert int(st[3]) != os.getsid(0) and int(st[1]) != os.getpid()
    # A second client uses it: no other daemon starts.
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "none"),
                        "1"], capture_output=True, text=True, env=env(xdg),
                       timeout=60)
    assert r.stdout == "42\n" and int(Path(f"{sock}.pid").read_text()) == pid
    assert running(f"-s {sock}") == [pid]
    # So does this process, and the asyncio client.
    with securer.Session() as s:
        assert s.execute("1L").value == 1
    stop_private(sock)


async def test_private_daemon_async(xdg: Path) -> None:
    sock = xdg / "securer" / "securerd.sock"
    async with securer.AsyncSession() as s:
        assert (await s.execute("2L")).value == 2
    stop_private(sock)


def test_starts_once(xdg: Path, tmp_path: Path) -> None:
    """Four clients at once start one daemon."""
    ps = [subprocess.Popen([sys.executable, "-c", SCRIPT,
                            str(tmp_path / "none"), "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env(xdg)) for _ in range(4)]
    outs = [p.communicate(timeout=60) for p in ps]
    assert [o for o, _ in outs] == ["42\n"] * 4, outs
    sock = xdg / "securer" / "securerd.sock"
    assert len(running(f"-s {sock}")) == 1
    stop_private(sock)


def test_autostart_off(xdg: Path, tmp_path: Path) -> None:
    """autostart=False: refused, and nothing is made."""
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "none"),
                        "0"], capture_output=True, text=True, env=env(xdg),
                       timeout=60)
    assert r.returncode != 0
    assert "ConnectError" in r.stderr and "autostart is off" in r.stderr
    assert list(xdg.iterdir()) == []
    with pytest.raises(securer.ConnectError):
        securer.Session(autostart=False)
    assert list(xdg.iterdir()) == []


def test_named_socket_only(xdg: Path, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A socket named by the caller or SECURER_SOCKET is connected to and
    nothing else: no daemon is started for it."""
    with pytest.raises(securer.ConnectError) as ei:
        securer.Session(str(tmp_path / "dead.sock"))
    assert str(tmp_path / "dead.sock") in ei.value.message
    monkeypatch.setenv("SECURER_SOCKET", str(tmp_path / "dead2.sock"))
    with pytest.raises(securer.ConnectError):
        securer.Session()
    assert list(xdg.iterdir()) == []


def test_refused_directories(xdg: Path) -> None:
    d = xdg / "securer"
    (xdg / "elsewhere").mkdir(mode=0o700)
    d.symlink_to(xdg / "elsewhere")
    with pytest.raises(securer.ConnectError) as ei:
        securer.Session()
    assert "symbolic link" in ei.value.message
    d.unlink()
    d.mkdir(mode=0o700)
    os.chmod(d, 0o755)
    with pytest.raises(securer.ConnectError) as ei:
        securer.Session()
    assert "mode 755" in ei.value.message
    os.chmod(d, 0o700)
    os.chown(d, 65534, 65534)
    with pytest.raises(securer.ConnectError) as ei:
        securer.Session()
    assert "belongs to uid 65534" in ei.value.message
    assert running(f"-s {d}") == []


def test_start_failures(xdg: Path, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECURERD", "/nonexistent/securerd")
    with pytest.raises(securer.DaemonStartError) as ei:
        securer.Session()
    assert "cannot execute /nonexistent/securerd" in ei.value.message
    fake = tmp_path / "fake"
    fake.write_text("#!/bin/sh\necho starting >&2\n"
                    "echo 'securerd: cannot open the audit log' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SECURERD", str(fake))
    with pytest.raises(securer.DaemonStartError) as ei:
        securer.Session()
    d = xdg / "securer"
    assert ei.value.message == (
        "securerd exited with status 1: securerd: cannot open the audit "
        f"log (see {d}/securerd.log)")
    assert not (d / "securerd.sock").exists()
    # Not a socket: not ours to remove.
    (d / "securerd.sock").write_text("")
    with pytest.raises(securer.DaemonStartError) as ei:
        securer.Session()
    assert "exists and is not a socket" in ei.value.message
    assert (d / "securerd.sock").exists()


def test_handover(xdg: Path, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon gets the socket as descriptor 3 with LISTEN_FDS=1 and
    LISTEN_PID its own pid, and a stale socket is replaced."""
    fake = tmp_path / "fake"
    fake.write_text(
        "#!/bin/sh\n"
        f"echo \"$@\" >> {tmp_path}/args\n"
        f"echo \"$LISTEN_FDS $LISTEN_PID $$\" >> {tmp_path}/env\n"
        "[ -S /proc/$$/fd/3 ] || { echo 'fd 3: not a socket' >&2; exit 3; }\n"
        f"[ -e /proc/$$/fd/4 ] && {{ echo 'fd 4 open' >&2; exit 4; }}\n"
        "exit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SECURERD", str(fake))
    sock = xdg / "securer" / "securerd.sock"
    # The fake answers nobody: the connection after it is refused.
    with pytest.raises(securer.ConnectError):
        securer.Session()
    assert (tmp_path / "args").read_text() == f"-I 600 -s {sock}\n"
    fds, lpid, self_pid = (tmp_path / "env").read_text().split()
    assert fds == "1" and lpid == self_pid
    assert stat.S_ISSOCK(sock.stat().st_mode)
    # Stale now (nobody holds it): replaced by the next start.
    with pytest.raises(securer.ConnectError):
        securer.Session()
    assert len((tmp_path / "args").read_text().splitlines()) == 2


def test_library_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1234")
    assert _resolve.private_socket() == "/run/user/1234/securer/securerd.sock"
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative")
    assert _resolve.private_socket() == \
        f"/tmp/securer-{os.geteuid()}/securerd.sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert _resolve.private_socket() == \
        f"/tmp/securer-{os.geteuid()}/securerd.sock"
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/" + "x" * 200)
    with pytest.raises(securer.ConnectError):
        _resolve.private_socket()
    monkeypatch.setenv("SECURERD", "/some/securerd")
    assert _resolve.find_securerd() == "/some/securerd"
    assert _resolve.find_securerd("/given") == "/given"
    monkeypatch.delenv("SECURERD")
    assert _resolve.find_securerd().endswith("sbin/securerd")
