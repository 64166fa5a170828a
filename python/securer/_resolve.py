"""Where the daemon is, and how a private one is started.

The same rules as libsecurer and the ``securer`` command (securer(1),
"Finding a daemon"):

1. a socket given by the caller, else ``$SECURER_SOCKET``: connected to
   and nothing else, no daemon is started there;
2. else the system daemon's socket, ``/run/securerd.sock``;
3. else the caller's private daemon, at
   ``$XDG_RUNTIME_DIR/securer/securerd.sock`` (an absolute
   XDG_RUNTIME_DIR) or ``/tmp/securer-UID/securerd.sock``; its directory
   is made mode 700 and refused unless it is a directory (not a symbolic
   link), owned by the caller and closed to everyone else.  If no daemon
   answers there and autostart is on, one is started: under a lock on
   ``securerd.lock`` in that directory (of two clients starting at once
   only one starts a daemon), a stale socket is replaced, the listening
   socket is made (mode 600) and handed to ``securerd -I 600 -s SOCKET``
   as descriptor 3 with LISTEN_FDS and LISTEN_PID, as systemd would.  The
   daemon exits after ten idle minutes; what it says before it goes to
   the background is appended to ``securerd.log`` there.

The securerd started is the caller's ``securerd`` argument, else
``$SECURERD``, else the installed one (``/usr/local/sbin/securerd``, then
``/usr/sbin/securerd``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
import subprocess
from typing import Final

from .errors import ConnectError, DaemonStartError

__all__ = ["SYSTEM_SOCKET", "private_socket", "connect", "start_daemon",
           "find_securerd"]

SOCKET_ENV: Final = "SECURER_SOCKET"
#: The system daemon's socket.
SYSTEM_SOCKET = "/run/securerd.sock"
SBINDIRS: Final = ("/usr/local/sbin", "/usr/sbin")
LOCK_NAME: Final = "securerd.lock"
LOG_NAME: Final = "securerd.log"
IDLE_SECONDS: Final = "600"
_SUN_PATH_MAX: Final = 107


def private_socket() -> str:
    """The caller's private daemon's socket path."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and xdg.startswith("/"):
        path = f"{xdg}/securer/securerd.sock"
    else:
        path = f"/tmp/securer-{os.geteuid()}/securerd.sock"
    if len(os.fsencode(path)) > _SUN_PATH_MAX:
        raise ConnectError(f"private socket path: {path}: "
                           f"{os.strerror(errno.ENAMETOOLONG)}")
    return path


def _unix_connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except BaseException:
        s.close()
        raise
    return s


def _connect_to(path: str) -> socket.socket:
    try:
        return _unix_connect(path)
    except OSError as e:
        raise ConnectError(f"cannot connect to {path}: "
                           f"{e.strerror or e}") from None


def connect(path: str | None = None, *, autostart: bool = True,
            securerd: str | None = None,
            system_socket: str | None = None) -> socket.socket:
    """A socket connected to the daemon, found (and started) as the
    module says; ConnectError (DaemonStartError) if none can be."""
    if path is not None:
        return _connect_to(os.fspath(path))
    env = os.environ.get(SOCKET_ENV)
    if env:
        return _connect_to(env)
    try:
        return _unix_connect(system_socket or SYSTEM_SOCKET)
    except OSError:
        pass
    return _connect_private(autostart, securerd)


def _connect_private(autostart: bool, securerd: str | None
                     ) -> socket.socket:
    path = private_socket()
    d = os.path.dirname(path) or "."
    if not autostart:
        # Nothing is made: a private daemon already running is fine.
        if not os.path.lexists(d):
            raise ConnectError(f"no daemon answers at {SYSTEM_SOCKET} or "
                               f"{path}, and autostart is off")
        os.close(_private_dir(d, make=False))
        try:
            return _unix_connect(path)
        except OSError as e:
            raise ConnectError(f"cannot connect to {path}: "
                               f"{e.strerror or e} (autostart is off)"
                               ) from None
    os.close(_private_dir(d, make=True))
    try:
        return _unix_connect(path)
    except OSError:
        pass
    start_daemon(path, securerd)
    return _connect_to(path)


def _private_dir(d: str, make: bool) -> int:
    """The private directory, open: a directory of ours, mode 700."""
    if make:
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise ConnectError(f"mkdir {d}: {e.strerror}") from None
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                     os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ConnectError(f"{d} is a symbolic link or not a "
                               "directory: refusing to use it") from None
        raise ConnectError(f"{d}: {e.strerror}") from None
    st = os.fstat(fd)
    if st.st_uid != os.geteuid():
        os.close(fd)
        raise ConnectError(f"{d} belongs to uid {st.st_uid}, not to you: "
                           "refusing to use it")
    if st.st_mode & 0o077:
        os.close(fd)
        raise ConnectError(f"{d} has mode {st.st_mode & 0o777:03o}: refusing "
                           "to use it unless only you can enter it "
                           "(mode 700)")
    return fd


def find_securerd(securerd: str | None = None) -> str:
    """The securerd to start: the argument, $SECURERD, else the
    installed one."""
    if securerd:
        return securerd
    env = os.environ.get("SECURERD")
    if env:
        return env
    for d in SBINDIRS:
        p = os.path.join(d, "securerd")
        if os.access(p, os.X_OK):
            return p
    return os.path.join(SBINDIRS[0], "securerd")


def start_daemon(path: str, securerd: str | None = None) -> None:
    """Starts a private securerd on a new socket at path, unless one
    answers there by the time the lock is ours."""
    d = os.path.dirname(path) or "."
    dfd = _private_dir(d, make=False)
    try:
        try:
            lock = os.open(LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW |
                           os.O_CLOEXEC, 0o600, dir_fd=dfd)
        except OSError as e:
            raise ConnectError(f"{d}/{LOCK_NAME}: {e.strerror}") from None
        try:
            # Of two clients starting a daemon at once, the second waits
            # here and then finds the first one's daemon answering.
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                _unix_connect(path).close()
                return
            except OSError:
                pass
            _spawn(dfd, d, path, find_securerd(securerd))
        finally:
            os.close(lock)
    finally:
        os.close(dfd)


def _listen_at(path: str) -> socket.socket:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        # A socket left by a daemon that died may go; nothing else.
        if not stat.S_ISSOCK(st.st_mode):
            raise DaemonStartError(f"{path} exists and is not a socket")
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(path)
        # The directory is closed to others: no window before the chmod.
        os.chmod(path, 0o600)
        s.listen(socket.SOMAXCONN)
    except OSError as e:
        s.close()
        try:
            os.unlink(path)
        except OSError:
            pass
        raise DaemonStartError(f"{path}: {e.strerror or e}") from None
    return s


# LISTEN_PID must be the daemon's own pid, known only in the child: a
# shell takes the socket as its standard input, moves it to descriptor 3,
# sets LISTEN_PID to its $$ and execs the daemon in its place.
_EXEC_SCRIPT: Final = ('exec 3<&0 </dev/null; '
                       'LISTEN_PID=$$; export LISTEN_PID; exec "$@"')


def _spawn(dfd: int, d: str, path: str, binary: str) -> None:
    if not os.access(binary, os.X_OK):
        raise DaemonStartError(f"cannot execute {binary}: "
                               f"{os.strerror(errno.EACCES if os.path.exists(binary) else errno.ENOENT)}")
    try:
        log = os.open(LOG_NAME, os.O_RDWR | os.O_CREAT | os.O_APPEND |
                      os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
    except OSError as e:
        raise DaemonStartError(f"{d}/{LOG_NAME}: {e.strerror}") from None
    try:
        logoff = os.lseek(log, 0, os.SEEK_END)
        sock = _listen_at(path)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LISTEN_")}
        env["LISTEN_FDS"] = "1"
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", _EXEC_SCRIPT, "securerd", binary, "-I",
                 IDLE_SECONDS, "-s", path],
                stdin=sock.fileno(), stdout=log, stderr=log, env=env,
                close_fds=True, start_new_session=True,
                restore_signals=True)
        except OSError as e:
            sock.close()
            os.unlink(path)
            raise DaemonStartError(f"cannot start {binary}: "
                                   f"{e.strerror or e}") from None
        # Only the daemon may hold the socket, or a dead daemon's socket
        # would take connections that nobody answers.
        sock.close()
        # securerd goes to the background once it is up: its first
        # process exits 0 then, or non-zero having logged why not.
        status = proc.wait()
        if status == 0:
            return
        why = (f"exited with status {status}" if status > 0 else
               f"was killed by signal {-status}")
        line = _log_tail(log, logoff)
        try:
            os.unlink(path)
        except OSError:
            pass
        raise DaemonStartError(f"securerd {why}{': ' if line else ''}{line} "
                               f"(see {d}/{LOG_NAME})")
    finally:
        os.close(log)


def _log_tail(fd: int, start: int) -> str:
    """The last line the daemon logged since start."""
    end = os.lseek(fd, 0, os.SEEK_END)
    if end <= start:
        return ""
    start = max(start, end - 511)
    data = os.pread(fd, end - start, start)
    text = data.decode("utf-8", "replace").rstrip("\r\n")
    return text.rsplit("\n", 1)[-1]
